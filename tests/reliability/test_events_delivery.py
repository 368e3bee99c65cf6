"""Issue 14, item 6: no assignment event is lost, proven by killing a real worker.

A worker process is killed (``os._exit`` from a fault hook: no cleanup, no
confirmation) at each step of an assignment: after its outbox record is staged, after
the claim committed, after the events were published but before the record was
confirmed. Another worker then runs, past the outbox grace. Every assignment must have
at least one ``AssigneeChanged`` and one ``ConversationUpdated``, each with one stable
``event_id``; no event may name an assignment that did not happen; no conversation is
assigned twice; the outbox ends empty. On PostgreSQL (the record written in the
claim's own statement) and on Redis (the record staged before the claim), with
``CI=true`` required.

Also: a claim that commits and then loses its reply (the repository raises after the
commit) is re-read, counted and published.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa

from autoassign import (
    Account,
    AssignmentPolicy,
    BackendUnavailable,
    Conversation,
    ConversationStatus,
    Inbox,
    build_autoassign,
)
from autoassign.adapters.memory import (
    InMemoryEventBus,
    InMemoryInboxLease,
    InMemoryJobQueue,
    InMemoryPresence,
    InMemoryRateLimitLedger,
    InMemoryRotationStore,
)
from autoassign.adapters.redis import RedisEventOutbox
from autoassign.adapters.sql import (
    SqlConversationRepository,
    SqlDirectory,
    SqlEventOutbox,
    SqlSchema,
    SqlWriter,
)
from autoassign.events import AssigneeChanged, ConversationUpdated
from autoassign.model import ASSIGNMENT_V2_FEATURE
from autoassign.outbox import DEFAULT_OUTBOX_GRACE, OutboxRecord
from autoassign.ports import ConversationRepository
from autoassign.testing import EPOCH, FakeClock

from .conftest import POSTGRES_URL, REDIS_URL

WORKER = Path(__file__).with_name("_delivery_worker.py")
AGENTS = ["ann", "bob", "cid"]
CONVERSATIONS = 7
BULK = 3
CRASHED = 70


def _seed(schema_name: str) -> tuple[sa.Engine, SqlSchema]:
    engine = sa.create_engine(POSTGRES_URL, pool_size=2, max_overflow=0)
    schema = SqlSchema(ids="mixed", schema=schema_name)
    schema.create_all(engine)
    writer = SqlWriter(engine, schema)
    writer.put_account(Account(id=1, features=frozenset({ASSIGNMENT_V2_FEATURE})))
    writer.put_inbox(Inbox(id=10, account=1), AGENTS)
    writer.put_policy(AssignmentPolicy(id=1, account=1))
    writer.link_policy(10, 1)
    writer.put_conversations(
        [
            Conversation(
                id=n,
                inbox=10,
                account=1,
                status=ConversationStatus.OPEN,
                assignee=None,
                created_at=EPOCH + timedelta(seconds=n),
                last_activity_at=EPOCH + timedelta(seconds=n),
            )
            for n in range(1, CONVERSATIONS + 1)
        ]
    )
    return engine, schema


def _run_worker(config: dict[str, Any], **changes: Any) -> int:
    done = subprocess.run(
        [sys.executable, str(WORKER), json.dumps({**config, **changes})],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode in {0, CRASHED}, done.stderr[-3000:]
    return done.returncode


def _events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def _redis_left(prefix: str) -> int:
    client: Any = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        outbox = RedisEventOutbox(client, prefix=prefix)
        return len(outbox.due(10, staged_before=EPOCH + timedelta(days=1), limit=99))
    finally:
        client.close()


def _check(engine: sa.Engine, schema: SqlSchema, events: list[dict[str, Any]]) -> None:
    conv = schema.conversations
    with engine.connect() as conn:
        stored = dict(conn.execute(sa.select(conv.c.id, conv.c.assignee_id)).all())
        left = conn.execute(sa.select(sa.func.count()).select_from(schema.event_outbox))
        assert left.scalar() == 0, "the outbox ends empty"
    # everything was assigned in the end (the second worker finished the job)
    assert all(agent is not None for agent in stored.values()), stored
    ids: dict[tuple[str, Any], set[str]] = defaultdict(set)
    for entry in events:
        ids[entry["kind"], entry["conversation"]].add(entry["event_id"])
        if entry["kind"] == AssigneeChanged.name:
            # never an event for an assignment that did not happen
            assert stored[entry["conversation"]] == entry["agent"], entry
    for conversation in stored:
        for kind in (AssigneeChanged.name, ConversationUpdated.name):
            # at least one, always with the same id (hosts deduplicate on it)
            assert len(ids[kind, conversation]) == 1, (kind, conversation, ids)
    # one assignment per conversation: one id per conversation and kind, all distinct
    changed = [
        i for (k, _), found in ids.items() if k == AssigneeChanged.name for i in found
    ]
    assert len(changed) == len(set(changed)) == CONVERSATIONS


@pytest.mark.postgres
@pytest.mark.parametrize("outbox", ["sql", "redis"])
@pytest.mark.parametrize("crash", ["staged", "claimed", "published"])
def test_a_worker_killed_at_each_step_loses_no_event(
    pg_schema: str, redis_prefix: str, tmp_path: Path, outbox: str, crash: str
) -> None:
    engine, schema = _seed(pg_schema)
    events_path = tmp_path / "events.jsonl"
    config = {
        "pg_url": POSTGRES_URL,
        "pg_schema": pg_schema,
        "redis_url": REDIS_URL,
        "prefix": redis_prefix,
        "outbox": outbox,
        "events_path": str(events_path),
        "agents": AGENTS,
        "bulk_limit": BULK,
        "crash_on": 2,
    }
    try:
        first = _run_worker(config, crash=crash, worker="first", now=EPOCH.isoformat())
        assert first == CRASHED, "the fault hook fired"
        with engine.connect() as conn:
            conv = schema.conversations
            assigned = conn.execute(
                sa.select(sa.func.count()).where(conv.c.assignee_id.is_not(None))
            ).scalar()
        assert assigned == (
            1 if crash == "staged" else 2 if crash == "claimed" else BULK
        )
        later = EPOCH + DEFAULT_OUTBOX_GRACE + timedelta(seconds=1)
        second = _run_worker(config, crash=None, worker="second", now=later.isoformat())
        assert second == 0
        _check(engine, schema, _events(events_path))
        assert _redis_left(redis_prefix) == 0, "the Redis outbox ends empty"
    finally:
        engine.dispose()


class _ReplyLost:
    """A repository whose claims commit and then raise (the reply was lost)."""

    def __init__(self, inner: SqlConversationRepository) -> None:
        self.inner = inner
        self.lost = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def claim(self, conversation: Any, agent: Any, **options: Any) -> bool:
        claimed = self.inner.claim(conversation, agent, **options)
        self.lost += 1
        raise BackendUnavailable(f"reply lost (claimed={claimed})")


class _ReplyLostOutbox(SqlEventOutbox):
    """The in-claim SQL outbox whose claims commit and then raise."""

    def claim(
        self,
        conversations: ConversationRepository,
        record: OutboxRecord,
        *,
        capacity_limit: int | None,
    ) -> bool:
        claimed = super().claim(conversations, record, capacity_limit=capacity_limit)
        raise BackendUnavailable(f"reply lost (claimed={claimed})")


@pytest.mark.postgres
@pytest.mark.parametrize("where", ["repository", "in-claim outbox"])
def test_a_claim_whose_reply_is_lost_is_counted_and_published(
    pg_schema: str, where: str
) -> None:
    engine, schema = _seed(pg_schema)
    repository = SqlConversationRepository(engine, schema)
    clock = FakeClock()
    presence = InMemoryPresence()
    for agent in AGENTS:
        presence.set_status(1, agent, "online")
    bus = InMemoryEventBus()
    conversations: Any = repository
    outbox: SqlEventOutbox
    if where == "repository":
        conversations = _ReplyLost(repository)
        outbox = SqlEventOutbox(repository)  # staged: the repository is a wrapper
    else:
        outbox = _ReplyLostOutbox(repository)
    app = build_autoassign(
        directory=SqlDirectory(engine, schema),
        conversations=conversations,
        presence=presence,
        ledger=InMemoryRateLimitLedger(),
        rotation=InMemoryRotationStore(),
        lease=InMemoryInboxLease(clock),
        events=bus,
        jobs=InMemoryJobQueue(),
        clock=clock,
        outbox=outbox,
        strict=True,
        environ={},
    )
    try:
        result = app.service.perform_bulk_assignment(10)
        assert result.assigned_count == CONVERSATIONS
        assert result.skips == ()
        changed = bus.of_type(AssigneeChanged)
        assert sorted(e.conversation for e in changed) == list(
            range(1, CONVERSATIONS + 1)
        )
        assert len({e.event_id for e in changed}) == CONVERSATIONS
        assert (
            list(outbox.due(10, staged_before=EPOCH + timedelta(days=1), limit=99))
            == []
        )
        _check(
            engine,
            schema,
            [
                {
                    "kind": e.name,
                    "event_id": e.event_id,
                    "conversation": e.conversation,
                    "agent": getattr(e, "agent", None),
                }
                for e in bus.events
            ],
        )
    finally:
        engine.dispose()
