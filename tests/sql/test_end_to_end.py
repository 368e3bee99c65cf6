"""End to end: 4 OS processes run ``AssignmentJob``\\ s for the same inboxes, with
conversations and the directory on PostgreSQL (``SqlConversationRepository``,
``SqlDirectory``) and presence, rate-limit ledger, rotation and inbox lease on real
Redis (``RedisBackend``).

Two phases, each at one fixed instant of a shared fake clock (no sleeps): the second
starts past the fair-distribution window, after the test resolved the conversations
assigned in the capacity-bound inbox and opened more everywhere. After each phase:

* every conversation was assigned at most once, by exactly one worker, and the stored
  assignee is that worker's agent; exactly as many were assigned as the agents had
  room for (``min(waiting, room)`` per inbox), so nothing was left while room remained;
* no agent holds more open conversations of an inbox than its capacity (counted in
  the database), and no agent got more assignments of an inbox within the window than
  the limit (counted from the events, by phase);
* one ``AssigneeChanged`` and one ``ConversationUpdated`` event per assignment, and
  no other events.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa

from autoassign.adapters.redis import RedisBackend
from autoassign.adapters.sql import SqlConversationRepository, SqlWriter
from autoassign.model import (
    ASSIGNMENT_V2_FEATURE,
    Account,
    AgentId,
    AssignmentPolicy,
    CapacityPolicy,
    Conversation,
    ConversationStatus,
    Inbox,
    InboxId,
)
from autoassign.testing import EPOCH, FakeClock

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

REDIS_URL = os.environ.get("AUTOASSIGN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
WORKERS = 4
ACCOUNT = 1
AGENTS = [1, 2, 3, 4, 5, 6]
CAPPED = [1, 2, 3, 4]  # on the capacity policy; 5 and 6 have no capacity limit
INBOXES = [10, 11, 12]
LIMIT = 5  # fair distribution: per inbox and agent, per window
WINDOW = 3600
CAPACITY: dict[InboxId, int] = {10: 3, 11: 8}  # inbox 12 has no capacity limit
BULK_LIMIT = 5  # small pages, so that a job runs many passes


def _room(inbox: int, open_held: Mapping[AgentId, int]) -> int:
    """How many more conversations ``inbox`` can take in one window."""
    total = 0
    for agent in AGENTS:
        room = LIMIT
        if agent in CAPPED and inbox in CAPACITY:
            room = min(room, CAPACITY[inbox] - open_held.get(agent, 0))
        total += max(room, 0)
    return total


@pytest.fixture
def redis_client(
    require_service: Callable[[str, bool, str], None],
) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=10)
    try:
        client.ping()
        reachable, detail = True, REDIS_URL
    except redis.RedisError as exc:
        reachable, detail = False, f"{REDIS_URL}: {exc}"
    require_service("Redis", reachable, detail)
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A unique key prefix; every key under it is deleted afterwards."""
    value = f"aa-sql-e2e-{uuid.uuid4().hex[:12]}"
    yield value
    stale = list(redis_client.scan_iter(match=f"{value}*", count=500))
    for key in stale:
        redis_client.delete(key)


class World:
    """The test's own view: seeds PostgreSQL, sets presence, reads the outcome."""

    def __init__(
        self,
        pg: Any,
        redis_client: redis.Redis,
        prefix: str,
        *,
        capacity: CapacityPolicy | None = None,
    ) -> None:
        self.engine, self.schema = pg.make()
        self.url: str = pg.url
        self.redis = redis_client
        self.prefix = prefix
        self.events_key = f"{prefix}:events"
        self.writer = SqlWriter(self.engine, self.schema)
        self.repo = SqlConversationRepository(self.engine, self.schema)
        self.next_id = 1
        self.writer.put_account(Account(id=ACCOUNT, features={ASSIGNMENT_V2_FEATURE}))
        for inbox in INBOXES:
            self.writer.put_inbox(Inbox(id=inbox, account=ACCOUNT), AGENTS)
        self.writer.put_policy(
            AssignmentPolicy(
                id=1,
                account=ACCOUNT,
                fair_distribution_limit=LIMIT,
                fair_distribution_window=WINDOW,
            )
        )
        for inbox in INBOXES:
            self.writer.link_policy(inbox, 1)
        self.writer.put_capacity_policy(
            capacity
            or CapacityPolicy(
                id=2, account=ACCOUNT, inbox_limits=CAPACITY, agents=frozenset(CAPPED)
            )
        )

    def open_conversations(
        self, per_inbox: int, at: datetime, *, weights: Sequence[float] = (1,)
    ) -> None:
        """``per_inbox`` conversations in each inbox, oldest first, their weights
        taken in turn from ``weights``."""
        batch = []
        for inbox in INBOXES:
            for n in range(per_inbox):
                created = at - timedelta(seconds=per_inbox - n)
                batch.append(
                    Conversation(
                        id=self.next_id,
                        inbox=inbox,
                        account=ACCOUNT,
                        created_at=created,
                        last_activity_at=created,
                        weight=weights[self.next_id % len(weights)],
                    )
                )
                self.next_id += 1
        self.writer.put_conversations(batch, ensure_inbox=False)

    def everyone_online(self, at: datetime) -> None:
        backend = RedisBackend(self.redis, prefix=self.prefix, clock=FakeClock(at))
        for agent in AGENTS:
            backend.presence.set_status(ACCOUNT, agent, "online")
            backend.presence.heartbeat(ACCOUNT, agent)

    def rows(self) -> list[Any]:
        conv = self.schema.conversations
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(
                        conv.c.id,
                        conv.c.inbox_id,
                        conv.c.status,
                        conv.c.assignee_id,
                        sa.func.coalesce(conv.c.weight, 1).label("weight"),
                    ).order_by(conv.c.id)
                )
            )

    def resolve_assigned(self, inbox: int) -> None:
        conv = self.schema.conversations
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(conv)
                .where(conv.c.inbox_id == inbox, conv.c.assignee_id.is_not(None))
                .values(status=ConversationStatus.RESOLVED.value)
            )

    def open_held(self, inbox: int) -> dict[AgentId, int]:
        return dict(self.repo.open_counts(inbox, AGENTS))

    def events(self) -> list[list[Any]]:
        return [json.loads(raw) for raw in self.redis.lrange(self.events_key, 0, -1)]

    def config(self, now: datetime) -> dict[str, Any]:
        return {
            "pg_url": self.url,
            "pg_schema": self.schema.schema,
            "redis_url": REDIS_URL,
            "prefix": self.prefix,
            "events_key": self.events_key,
            "now": now.isoformat(),
            "inboxes": INBOXES,
            "bulk_limit": BULK_LIMIT,
        }


def _run_phase(pool: Any, manager: Any, config: dict[str, Any]) -> list[dict[str, Any]]:
    import _sql_e2e_worker  # noqa: PLC0415  # the spawned children import it by name

    start = manager.Barrier(WORKERS)
    jobs = [
        pool.apply_async(_sql_e2e_worker.run_worker, (config, n), {"start": start})
        for n in range(WORKERS)
    ]
    return [job.get(timeout=180) for job in jobs]


def _check_phase(
    world: World,
    results: list[dict[str, Any]],
    *,
    at: datetime,
    waiting: dict[int, int],
    room: dict[int, int],
    assigned_before: dict[int, Any],
) -> dict[int, Any]:
    """Check one phase; returns the assignee of every conversation after it."""
    made = [tuple(entry) for result in results for entry in result["made"]]
    by_conversation = Counter(conversation for conversation, _, _ in made)
    assert not made or max(by_conversation.values()) == 1, "a double assignment"
    rows = world.rows()
    after = {row.id: row.assignee_id for row in rows}
    # nothing assigned before this phase was touched
    for conversation, agent in assigned_before.items():
        assert after[conversation] == agent
    new = {c: a for c, a in after.items() if a is not None and c not in assigned_before}
    assert new == {c: a for c, a, _ in made}, "stored assignees are the workers'"
    inbox_of = {row.id: row.inbox_id for row in rows}
    for inbox in INBOXES:
        mine = [c for c in new if inbox_of[c] == inbox]
        assert len(mine) == min(waiting[inbox], room[inbox]), inbox
        # capacity, in the database: open conversations per agent and inbox
        held = world.open_held(inbox)
        if inbox in CAPACITY:
            for agent in CAPPED:
                assert held.get(agent, 0) <= CAPACITY[inbox], (inbox, agent, held)
    # events: one AssigneeChanged and one ConversationUpdated per new assignment
    events = [e for e in world.events() if e[4] == at.isoformat()]
    changed = [(e[1], e[2], e[3]) for e in events if e[0] == "assigned"]
    updated = [(e[1], e[3]) for e in events if e[0] == "updated"]
    assert Counter(changed) == Counter((c, a, inbox_of[c]) for c, a in new.items())
    assert Counter(updated) == Counter((c, inbox_of[c]) for c in new)
    assert len(events) == 2 * len(new)
    # the rate limit, from the events: per inbox and agent within this window
    per_window = Counter((inbox, agent) for _, agent, inbox in changed)
    assert max(per_window.values()) <= LIMIT, per_window
    return after


def test_four_processes_on_postgres_and_redis(
    pg: Any, redis_client: redis.Redis, prefix: str
) -> None:
    world = World(pg, redis_client, prefix)
    here = str(Path(__file__).parent)
    if here not in sys.path:
        sys.path.insert(0, here)  # the spawned children import the worker by name

    first = EPOCH
    second = EPOCH + timedelta(seconds=WINDOW + 60)  # phase 1 is out of the window
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(WORKERS) as pool:
        # Phase 1: 40 waiting per inbox. Room: inbox 10 is capacity-bound (3 each
        # for the 4 capped agents, 5 each for the others: 22), 11 and 12 are bound
        # by the rate limit (6 x 5 = 30).
        world.open_conversations(40, first)
        world.everyone_online(first)
        waiting = dict.fromkeys(INBOXES, 40)
        room = {inbox: _room(inbox, {}) for inbox in INBOXES}
        assert room == {10: 22, 11: 30, 12: 30}
        results = _run_phase(pool, manager, world.config(first))
        assert sum(1 for r in results if r["made"]) >= 2, "the work was shared"
        after = _check_phase(
            world, results, at=first, waiting=waiting, room=room, assigned_before={}
        )

        # Phase 2, past the window: resolve inbox 10's assignments (capacity frees
        # up), open 20 more per inbox; agents heartbeat again at the new time.
        world.resolve_assigned(10)
        world.open_conversations(20, second)
        world.everyone_online(second)
        assigned = {c: a for c, a in after.items() if a is not None}
        rows = world.rows()
        waiting = {
            inbox: sum(
                1 for row in rows if row.inbox_id == inbox and row.assignee_id is None
            )
            for inbox in INBOXES
        }
        assert waiting == {10: 38, 11: 30, 12: 30}
        room = {inbox: _room(inbox, world.open_held(inbox)) for inbox in INBOXES}
        assert room == {10: 22, 11: 22, 12: 30}  # 11: the capped hold 5 of 8 each
        results = _run_phase(pool, manager, world.config(second))
        _check_phase(
            world,
            results,
            at=second,
            waiting=waiting,
            room=room,
            assigned_before=assigned,
        )


TOTAL = 4  # the capped agents' limit across the three inboxes


def _one_shared_phase(
    world: World, per_inbox: int, *, weights: Sequence[float] = (1,)
) -> list[tuple[Any, ...]]:
    """Open ``per_inbox`` conversations in each inbox, everyone online, and let 4
    processes assign them at once; the assignments made, each made once, by at least
    two of the processes."""
    here = str(Path(__file__).parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(WORKERS) as pool:
        world.open_conversations(per_inbox, EPOCH, weights=weights)
        world.everyone_online(EPOCH)
        results = _run_phase(pool, manager, world.config(EPOCH))
    made = [tuple(entry) for result in results for entry in result["made"]]
    assert sum(1 for r in results if r["made"]) >= 2, "the work was shared"
    assert len({conversation for conversation, _, _ in made}) == len(made)
    return made


def test_four_processes_keep_the_total_limit(
    pg: Any, redis_client: redis.Redis, prefix: str
) -> None:
    """A capacity policy with ``total_limit`` 4 over the three inboxes (no inbox
    limit): 4 processes assign all three at once, so an agent's last slots are
    contended across inboxes. Room: each capped agent 4 in all, each other agent 5 per
    inbox (the rate limit), 46 in all; 40 wait in each inbox. Every slot is used, no
    capped agent holds more than 4 open conversations (counted in the database), no
    conversation is assigned twice."""
    policy = CapacityPolicy(
        id=2,
        account=ACCOUNT,
        inbox_limits=dict.fromkeys(INBOXES),
        agents=frozenset(CAPPED),
        total_limit=TOTAL,
    )
    world = World(pg, redis_client, prefix, capacity=policy)
    made = _one_shared_phase(world, 40)
    rows = world.rows()
    held = Counter(row.assignee_id for row in rows if row.assignee_id is not None)
    assert sum(held.values()) == len(made) == len(CAPPED) * TOTAL + 2 * 3 * LIMIT
    for agent in CAPPED:
        assert held[agent] == TOTAL, held
    assert dict(world.repo.open_totals(ACCOUNT, AGENTS)) == dict(held)


WEIGHTED_LIMIT = 3  # every agent's limit per inbox, in weight
WEIGHTED_TOTAL = 5  # and across the three inboxes
WEIGHTS = (0.5, 1, 1.5, 0.25, 0.7)


def test_four_processes_keep_weighted_limits(
    pg: Any, redis_client: redis.Redis, prefix: str
) -> None:
    """Weighted capacity under contention: every agent may hold a weight of 3 per
    inbox and 5 in all; 30 conversations of mixed weights (0.25 to 1.5) wait in each
    inbox and 4 processes assign the three inboxes at once. No agent passes either
    limit in weight (summed in the database), no conversation is assigned twice, and
    every conversation left waiting is one that no agent has room for (in weight, or
    under the rate limit of 5 per inbox)."""
    policy = CapacityPolicy(
        id=2,
        account=ACCOUNT,
        inbox_limits=dict.fromkeys(INBOXES, WEIGHTED_LIMIT),
        agents=frozenset(AGENTS),
        total_limit=WEIGHTED_TOTAL,
    )
    world = World(pg, redis_client, prefix, capacity=policy)
    made = _one_shared_phase(world, 30, weights=WEIGHTS)
    rows = world.rows()
    units: Counter[tuple[AgentId, int]] = Counter()
    counts: Counter[tuple[AgentId, int]] = Counter()
    for row in rows:
        if row.assignee_id is not None:
            units[row.assignee_id, row.inbox_id] += round(float(row.weight) * 1000)
            counts[row.assignee_id, row.inbox_id] += 1
    assert sum(counts.values()) == len(made) > 0
    for agent in AGENTS:
        total = sum(units[agent, inbox] for inbox in INBOXES)
        assert total <= WEIGHTED_TOTAL * 1000, (agent, total)
        for inbox in INBOXES:
            assert units[agent, inbox] <= WEIGHTED_LIMIT * 1000, (agent, inbox)
    for row in rows:
        if row.assignee_id is not None:
            continue
        need = round(float(row.weight) * 1000)
        for agent in AGENTS:
            total = sum(units[agent, inbox] for inbox in INBOXES)
            assert (
                counts[agent, row.inbox_id] >= LIMIT
                or units[agent, row.inbox_id] + need > WEIGHTED_LIMIT * 1000
                or total + need > WEIGHTED_TOTAL * 1000
            ), f"conversation {row.id} ({row.weight}) waits while {agent} has room"
