"""Measurement 8: the host path. ``SqlConversationRepository`` + ``SqlDirectory`` on
PostgreSQL with presence, ledger, reservations, rotation and lease on Redis, against
the floor measured in the same run: one autocommit conditional ``UPDATE ... WHERE id =
:id AND assignee_id IS NULL`` by key on the same table.

PostgreSQL round trips are counted exactly from SQLAlchemy's events
(:class:`PgRoundTrips`): one per statement sent (``before_cursor_execute``), one per
``BEGIN`` the driver sends before a transaction's first statement, one per ``COMMIT``
or ``ROLLBACK`` of a transaction that is open on the server (a connection in
autocommit sends none of the three). Redis round trips as in measurement 2.

Everything lives in its own PostgreSQL schema (``aa_bench_<hex>``, dropped at the
end) and under one Redis prefix (deleted at the end).
"""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from autoassign import AssignmentOrder, build_autoassign
from autoassign.adapters.memory import InMemoryEventBus, InMemoryJobQueue
from autoassign.adapters.sql import (
    SqlConversationRepository,
    SqlDirectory,
    SqlSchema,
    SqlWriter,
)
from autoassign.model import (
    MAX_FAIR_DISTRIBUTION_LIMIT,
    Account,
    AssignmentPolicy,
    CapacityPolicy,
    ConversationStatus,
    ExclusionRules,
    Inbox,
)

from ._common import ACCOUNT
from ._world import CONVERSATIONS, EXCLUDED_LABEL, WINDOW
from .redis_pass import RedisBench

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
OTHER_INBOX = 1
BACKGROUND_CHUNK = 100_000


class PgRoundTrips:
    """Counts the PostgreSQL round trips an engine's connections make (see the module
    docstring); ``statements`` lists what was sent, in order."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        self.statements: list[str] = []
        event.listen(engine, "before_cursor_execute", self._execute)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "rollback", self._rollback)

    def reset(self) -> None:
        self.count = 0
        self.statements.clear()

    @staticmethod
    def _driver(conn: sa.Connection) -> Any:
        return conn.connection.dbapi_connection

    @staticmethod
    def _idle(driver: Any) -> bool:
        return bool(driver.info.transaction_status.name == "IDLE")

    def _execute(self, conn: sa.Connection, *args: Any) -> None:
        driver = self._driver(conn)
        if not driver.autocommit and self._idle(driver):
            self.count += 1  # psycopg sends BEGIN before the transaction's first one
            self.statements.append("BEGIN")
        self.count += 1
        self.statements.append(str(args[1]).split(None, 1)[0].upper())

    def _end(self, conn: sa.Connection, name: str) -> None:
        if not self._idle(self._driver(conn)):  # else the driver sends nothing
            self.count += 1
            self.statements.append(name)

    def _commit(self, conn: sa.Connection) -> None:
        self._end(conn, "COMMIT")

    def _rollback(self, conn: sa.Connection) -> None:
        self._end(conn, "ROLLBACK")


class SqlWorld:
    """One PostgreSQL schema holding ``rows`` conversations (the backlog of a busy
    host: resolved ones in the measured inboxes, an open backlog in another) and one
    inbox per member count, all on one Redis (:class:`RedisBench`)."""

    def __init__(self, url: str, redis: RedisBench, rows: int) -> None:
        self.rows = rows
        self.redis = redis
        self.pg_schema = f"aa_bench_{uuid.uuid4().hex[:12]}"
        self.engine = sa.create_engine(url, pool_size=2)
        with self.engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{self.pg_schema}"'))
        self.schema = SqlSchema(schema=self.pg_schema)
        self.schema.create_all(self.engine)
        self.writer = SqlWriter(self.engine, self.schema)
        self.writer.put_account(Account(id=ACCOUNT, features={"assignment_v2"}))
        self.writer.put_inbox(Inbox(id=OTHER_INBOX, account=ACCOUNT))
        self.serial = 0
        self.inboxes: dict[int, int] = {}  # inbox -> members
        self.round_trips = PgRoundTrips(self.engine)
        self.repository = SqlConversationRepository(
            self.engine, self.schema, clock=redis.clock
        )
        self.directory = SqlDirectory(self.engine, self.schema)

    def server_version(self) -> str:
        with self.engine.connect() as conn:
            return str(conn.execute(sa.text("show server_version")).scalar())

    def add_inbox(self, members: int, order: AssignmentOrder) -> int:
        """An inbox with ``members`` online agents and fair distribution that never
        blocks (:meth:`add_capacity` adds the rest of measurement 2's filters)."""
        inbox = self.redis.new_inbox()
        agents = list(range(1, members + 1))
        for agent in agents:
            self.writer.put_agent(ACCOUNT, agent)
        self.writer.put_inbox(Inbox(id=inbox, account=ACCOUNT), agents)
        policy = 100 + inbox
        self.writer.put_policy(
            AssignmentPolicy(
                id=policy,
                account=ACCOUNT,
                name=f"bench {inbox}",
                assignment_order=order,
                fair_distribution_limit=MAX_FAIR_DISTRIBUTION_LIMIT,
                fair_distribution_window=WINDOW,
            )
        )
        self.writer.link_policy(inbox, policy)
        self.redis.go_online(members)
        self.inboxes[inbox] = members
        return inbox

    def add_capacity(self) -> None:
        """One capacity policy over every inbox and agent (an agent has at most one):
        a limit of 1,000,000 (never blocks, but every claim counts) and an excluded
        label."""
        self.writer.put_capacity_policy(
            CapacityPolicy(
                id=1,
                account=ACCOUNT,
                name="bench",
                inbox_limits=dict.fromkeys(self.inboxes, 1_000_000),
                agents=frozenset(range(1, max(self.inboxes.values()) + 1)),
                exclusion_rules=ExclusionRules(
                    excluded_labels=frozenset({EXCLUDED_LABEL})
                ),
            )
        )

    def fill_background(self) -> None:
        """Up to ``rows`` conversations in all: half resolved in the measured inboxes
        (assigned to their members), half an open, unassigned backlog elsewhere."""
        conv = self.schema.conversations
        table = f'"{self.pg_schema}"."{conv.name}"'
        resolved = self.schema.status.encode(ConversationStatus.RESOLVED)
        opened = self.schema.status.encode(ConversationStatus.OPEN)
        inboxes = sorted(self.inboxes)
        total = self.rows - self.serial
        with self.engine.begin() as conn:
            for start in range(0, total, BACKGROUND_CHUNK):
                first = self.serial + start + 1
                last = self.serial + min(total, start + BACKGROUND_CHUNK)
                conn.execute(
                    sa.text(
                        f"INSERT INTO {table} (id, account_id, inbox_id, status, "
                        "assignee_id, team_id, created_at, last_activity_at) "
                        "SELECT g, :account, CASE WHEN g % 2 = 0 THEN :other ELSE "
                        "(CAST(:inboxes AS bigint[]))[1 + (g / 2) % :n] END, CASE WHEN g % 2 = 0 "
                        "THEN :open ELSE :resolved END, CASE WHEN g % 2 = 0 THEN NULL "
                        "ELSE 1 + (g / 2) % 10 END, NULL, "
                        "timestamptz '2000-01-01' + g * interval '1 second', "
                        "timestamptz '2000-01-01' + g * interval '1 second' "
                        "FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g"
                    ),
                    {
                        "account": ACCOUNT,
                        "other": OTHER_INBOX,
                        "inboxes": inboxes,
                        "n": len(inboxes),
                        "open": opened,
                        "resolved": resolved,
                        "first": first,
                        "last": last,
                    },
                )
        self.serial = max(self.serial, self.rows)
        with self.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(sa.text(f'VACUUM ANALYZE "{self.pg_schema}"."{conv.name}"'))

    def feed(self, inbox: int, size: int) -> list[int]:
        """``size`` open, unassigned conversations (and a tenth as many carrying the
        excluded label) created now; their ids."""
        conv = self.schema.conversations
        labels = self.schema.conversation_labels
        now = self.redis.clock.now()
        fresh, excluded = [], []
        for _ in range(size):
            self.serial += 1
            fresh.append(self.serial)
        for _ in range(max(1, size // 10)):
            self.serial += 1
            excluded.append(self.serial)
        opened = self.schema.status.encode(ConversationStatus.OPEN)
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(conv),
                [
                    {
                        "id": n,
                        "account_id": ACCOUNT,
                        "inbox_id": inbox,
                        "status": opened,
                        "assignee_id": None,
                        "team_id": None,
                        "created_at": now,
                        "last_activity_at": now,
                    }
                    for n in fresh + excluded
                ],
            )
            conn.execute(
                sa.insert(labels),
                [{"conversation_id": n, "label": EXCLUDED_LABEL} for n in excluded],
            )
        return fresh

    def wire(self) -> Any:
        backend = self.redis.backend
        return build_autoassign(
            directory=self.directory,
            conversations=self.repository,
            presence=backend.presence,
            ledger=backend.ledger,
            reservations=backend.reservations,
            rotation=backend.rotation,
            lease=backend.lease,
            events=InMemoryEventBus(),
            jobs=InMemoryJobQueue(),
            clock=self.redis.clock,
            bulk_limit=CONVERSATIONS,
        )

    def close(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{self.pg_schema}" CASCADE'))
        self.engine.dispose()


class SqlPassRuns:
    """Timed passes over one inbox of a :class:`SqlWorld`."""

    def __init__(self, world: SqlWorld, inbox: int, order: AssignmentOrder) -> None:
        self.world = world
        self.inbox = inbox
        self.order = order
        self.app = world.wire()
        self.times: list[float] = []
        self.passes: list[tuple[int, int, int, list[str]]] = []

    def _pass(self, size: int) -> None:
        world = self.world
        world.feed(self.inbox, size)
        world.round_trips.reset()
        world.redis.client.reset_count()
        start = time.perf_counter()
        result = self.app.service.perform_bulk_assignment(self.inbox)
        elapsed = time.perf_counter() - start
        self.passes.append(
            (
                result.assigned_count,
                world.round_trips.count,
                world.redis.client.round_trips,
                list(world.round_trips.statements),
            )
        )
        world.redis.clock.advance(1)
        self.last_elapsed = elapsed

    def once(self, *, timed: bool = True) -> None:
        """Feed a fresh batch (untimed), then one pass (timed unless warming up)."""
        self._pass(CONVERSATIONS)
        if timed:
            self.times.append(self.last_elapsed)

    def result(self) -> dict[str, Any]:
        seconds = statistics.median(self.times)
        assigned, pg, redis_trips, statements = self.passes[-1]
        if assigned != CONVERSATIONS:
            raise RuntimeError(f"expected {CONVERSATIONS} assignments, got {assigned}")
        # A pass of half the size splits the counts into per conversation + per pass.
        self._pass(CONVERSATIONS // 2)
        half, half_pg, half_redis, _ = self.passes[-1]
        per_conversation = (pg - half_pg) / (assigned - half)
        kinds: dict[str, int] = {}
        for name in statements:
            kinds[name] = kinds.get(name, 0) + 1
        return {
            "rows": self.world.rows,
            "members": self.world.inboxes[self.inbox],
            "order": self.order.value,
            "assigned": assigned,
            "pass_seconds": seconds,
            "per_assignment_us": seconds / assigned * 1e6,
            "assignments_per_second": assigned / seconds,
            "pg_round_trips": pg,
            "pg_round_trips_per_assignment": pg / assigned,
            "pg_round_trips_per_conversation": per_conversation,
            "pg_round_trips_per_pass": pg - per_conversation * assigned,
            "pg_statements": kinds,
            "redis_round_trips_per_assignment": redis_trips / assigned,
            "redis_round_trips_per_conversation": (redis_trips - half_redis)
            / (assigned - half),
            "runs_seconds": list(self.times),
        }


class FloorRuns:
    """The floor: ``CONVERSATIONS`` single autocommit ``UPDATE ... WHERE id = :id AND
    assignee_id IS NULL`` statements by key on the same table, through the same
    engine (SQLAlchemy Core, one round trip each, each on a connection taken from the
    pool, as the pass's own statements are)."""

    def __init__(self, world: SqlWorld, inbox: int) -> None:
        self.world = world
        self.inbox = inbox
        conv = world.schema.conversations
        self.statement = (
            sa.update(conv)
            .where(conv.c.id == sa.bindparam("key"), conv.c.assignee_id.is_(None))
            .values(assignee_id=sa.bindparam("agent"))
        )
        self.times: list[float] = []
        self.trips: list[int] = []

    def once(self, *, timed: bool = True) -> None:
        world = self.world
        ids = world.feed(self.inbox, CONVERSATIONS)
        members = world.inboxes[self.inbox]
        world.round_trips.reset()
        start = time.perf_counter()
        for n, key in enumerate(ids):
            # a connection from the pool per statement, as a host's request would
            with world.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT")
                updated = conn.execute(
                    self.statement, {"key": key, "agent": 1 + n % members}
                ).rowcount
            if updated != 1:
                raise RuntimeError("the floor's UPDATE did not assign")
        elapsed = time.perf_counter() - start
        self.trips.append(world.round_trips.count)
        if timed:
            self.times.append(elapsed)

    def result(self) -> dict[str, Any]:
        seconds = statistics.median(self.times)
        return {
            "rows": self.world.rows,
            "updates": CONVERSATIONS,
            "per_update_us": seconds / CONVERSATIONS * 1e6,
            "pg_round_trips_per_update": self.trips[-1] / CONVERSATIONS,
            "runs_seconds": list(self.times),
        }


def postgres_problem(url: str) -> str | None:
    """Why PostgreSQL at ``url`` cannot be used (``None``: it can)."""
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as exc:  # any failure means "not reachable"
        return f"{type(exc).__name__}: {exc}"
    finally:
        engine.dispose()
    return None


def build_worlds(
    url: str, redis: RedisBench, rows: list[int], members: list[int]
) -> list[tuple[SqlWorld, list[Any]]]:
    """One world per table size, each with an inbox per member count (round robin)
    and the floor on the smallest inbox's table."""
    worlds: list[tuple[SqlWorld, list[Any]]] = []
    try:
        for size in rows:
            world = SqlWorld(url, redis, size)
            worlds.append((world, []))
            inboxes = [
                world.add_inbox(count, AssignmentOrder.ROUND_ROBIN) for count in members
            ]
            world.add_capacity()
            world.fill_background()
            worlds[-1][1].extend(
                SqlPassRuns(world, inbox, AssignmentOrder.ROUND_ROBIN)
                for inbox in inboxes
            )
            worlds[-1][1].append(FloorRuns(world, inboxes[0]))
    except BaseException:
        for world, _ in worlds:
            world.close()
        raise
    return worlds
