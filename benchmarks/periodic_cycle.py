"""The periodic cycle on PostgreSQL + Redis (issue 17): ``SqlDirectory`` (inboxes read
with their policies, one statement per page) and ``RedisInboxLease`` (each page marked
pending in one pipeline), against the per-account, per-inbox calls of the fallback path.

Every account has ``assignment_v2``, one enabled policy and :data:`PER_ACCOUNT` inboxes
linked to it (written in bulk, then ANALYZEd), so every inbox is enqueued; the job queue
is in memory (the host's engine is not measured). Counts are exact: statements from SQLAlchemy's
``before_cursor_execute``, Redis round trips from a counting client (one per command,
one per pipeline). Each timed cycle marks fresh keys (its own key prefix), so it always
enqueues every inbox.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from autoassign import AssignmentPolicy, PeriodicAssignmentJob
from autoassign.adapters.memory import InMemoryJobQueue
from autoassign.adapters.redis import RedisInboxLease
from autoassign.adapters.sql import SqlDirectory, SqlSchema

from ._common import make_counting_client, median_time

POSTGRES_URL = os.environ.get(
    "AUTOASSIGN_BENCH_POSTGRES_URL",
    "postgresql+psycopg://postgres@127.0.0.1:5432/test",
)
PER_ACCOUNT = 10
PAGES = 10
DEFAULT_BATCH = 1000
"""``PeriodicAssignmentJob``'s default ``batch_size``: the timed cycle uses it."""
"""Pages of inboxes in each world: 10,000 inboxes in pages of 1,000 (the cycle's
default batch), 1,000 in pages of 100."""


class Forwarding:
    """A port behind ``__getattr__``: its class declares no optional capability, so the
    cycle takes the per-account, per-inbox path (what it did before issue 17)."""

    def __init__(self, target: Any) -> None:
        self._target = target

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


class CycleBench:
    """PostgreSQL schemas and Redis keys of one run, removed by :meth:`cleanup`."""

    def __init__(self, redis_url: str, prefix: str, pg_url: str = POSTGRES_URL) -> None:
        self.prefix = prefix
        self.client = make_counting_client(redis_url)
        self.engine: Engine = sa.create_engine(pg_url)
        self.statements = 0
        sa.event.listen(self.engine, "before_cursor_execute", self._count)
        self._schemas: list[str] = []
        self._runs = 0

    def _count(self, *_args: Any) -> None:
        self.statements += 1

    def server_version(self) -> str:
        with self.engine.connect() as conn:
            return str(conn.execute(sa.text("show server_version")).scalar())

    def world(self, accounts: int) -> SqlDirectory:
        """``accounts`` accounts of :data:`PER_ACCOUNT` linked inboxes each, in a fresh
        schema, written in bulk."""
        name = f"aa_bench_{uuid.uuid4().hex[:10]}"
        with self.engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
        self._schemas.append(name)
        schema = SqlSchema(schema=name)
        schema.create_all(self.engine)
        ids = range(1, accounts + 1)
        policy = AssignmentPolicy(id=0, account=0)
        with self.engine.begin() as conn:
            conn.execute(sa.insert(schema.accounts), [{"id": a} for a in ids])
            conn.execute(
                sa.insert(schema.account_features),
                [{"account_id": a, "feature": "assignment_v2"} for a in ids],
            )
            conn.execute(
                sa.insert(schema.assignment_policies),
                [
                    {"id": a, "account_id": a, **schema.policy_columns(policy)}
                    for a in ids
                ],
            )
            inboxes = [(a * 1000 + n, a) for a in ids for n in range(PER_ACCOUNT)]
            conn.execute(
                sa.insert(schema.inboxes),
                [
                    {"id": i, "account_id": a, "enable_auto_assignment": True}
                    for i, a in inboxes
                ],
            )
            conn.execute(
                sa.insert(schema.inbox_assignment_policies),
                [{"inbox_id": i, "assignment_policy_id": a} for i, a in inboxes],
            )
        with self.engine.begin() as conn:
            # statistics, as a live database has them (autovacuum would gather them
            # later): the planner then walks the indexes instead of sorting
            for table in (
                schema.accounts,
                schema.account_features,
                schema.assignment_policies,
                schema.inboxes,
                schema.inbox_assignment_policies,
            ):
                conn.execute(sa.text(f'ANALYZE "{name}"."{table.name}"'))
        return SqlDirectory(self.engine, schema)

    def measure(
        self, accounts: int, *, batch_size: int, repeat: int, legacy: bool = False
    ) -> dict[str, Any]:
        """One world of ``accounts`` accounts; the median time of ``repeat`` cycles and
        the counts of the last one."""
        directory = self.world(accounts)
        inboxes = accounts * PER_ACCOUNT
        last: dict[str, int] = {}
        cpu: list[float] = []

        def cycle() -> None:
            self._runs += 1
            lease = RedisInboxLease(self.client, prefix=f"{self.prefix}:{self._runs}")
            job = PeriodicAssignmentJob(
                directory=Forwarding(directory) if legacy else directory,
                lease=Forwarding(lease) if legacy else lease,
                jobs=InMemoryJobQueue(),
                batch_size=batch_size,
                strict=True,
            )
            self.statements = 0
            self.client.reset_count()
            started = time.process_time()
            outcome = job.run()
            cpu.append(time.process_time() - started)
            last["statements"] = self.statements
            last["round_trips"] = self.client.round_trips
            assert len(outcome.enqueued) == inboxes, "every inbox is enqueued"

        seconds, times = median_time(cycle, repeat=repeat)
        pages = -(-inboxes // batch_size)
        total = last["statements"] + last["round_trips"]
        return {
            "path": "per inbox (fallback)" if legacy else "paged",
            "accounts": accounts,
            "inboxes": inboxes,
            "batch_size": batch_size,
            "pages": pages,
            "seconds": seconds,
            "times": times,
            # this process only (not PostgreSQL's or Redis's); the warm-up run excluded
            "cpu_seconds": statistics.median(cpu[-len(times) :]),
            "statements": last["statements"],
            "redis_round_trips": last["round_trips"],
            "round_trips_per_page": total / pages,
        }

    def cleanup(self) -> int:
        """Drop the schemas and delete the Redis keys; returns how many keys."""
        with self.engine.begin() as conn:
            for name in self._schemas:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        self.engine.dispose()
        keys = list(self.client.scan_iter(match=f"{self.prefix}:*", count=1000))
        for start in range(0, len(keys), 1000):
            self.client.delete(*keys[start : start + 1000])
        return len(keys)


def run(
    redis_url: str, *, sizes: tuple[int, int], repeat: int, log: Any = print
) -> dict[str, Any]:
    """``sizes``: accounts of the small and the big world. Each is cycled in
    :data:`PAGES` pages (a batch of a tenth of its inboxes: 1,000, the default, for
    10,000), so O(1) round trips per page shows as equal counts at both sizes (and
    O(inboxes) as counts 10x apart). The fallback path runs on the small world for
    comparison. The time target is judged on the big world at the default batch (in
    quick mode, where the 10-page batch is smaller, one more cycle)."""
    small, big = sizes
    bench = CycleBench(redis_url, f"aa-bench-periodic-{uuid.uuid4().hex[:12]}")
    started = time.perf_counter()
    out: dict[str, Any] = {}
    try:
        out["postgres_server"] = bench.server_version()
        small_batch = max(1, small * PER_ACCOUNT // PAGES)
        big_batch = max(1, big * PER_ACCOUNT // PAGES)
        rows = [
            {
                "role": "small",
                **bench.measure(small, batch_size=small_batch, repeat=repeat),
            },
            {"role": "big", **bench.measure(big, batch_size=big_batch, repeat=repeat)},
        ]
        if big_batch != DEFAULT_BATCH:
            rows.append(
                {
                    "role": "timed",
                    **bench.measure(big, batch_size=DEFAULT_BATCH, repeat=repeat),
                }
            )
        rows.append(
            {
                "role": "fallback",
                **bench.measure(small, batch_size=small_batch, repeat=1, legacy=True),
            }
        )
        for row in rows:
            log(
                f"  periodic {row['path']:<20} inboxes={row['inboxes']:>6} "
                f"batch={row['batch_size']:>5}  {row['seconds'] * 1000:>8.1f} ms "
                f"({row['cpu_seconds'] * 1000:.0f} ms CPU)  "
                f"{row['statements']:>6} statements  "
                f"{row['redis_round_trips']:>6} Redis round trips  "
                f"{row['round_trips_per_page']:.1f} per page"
            )
        out["rows"] = rows
    finally:
        out["redis_keys_deleted"] = bench.cleanup()
    out["seconds"] = time.perf_counter() - started
    return out
