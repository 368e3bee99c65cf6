"""The SQL outbox costs no round trip per assignment: the claim's statement writes the
record (PostgreSQL), and a pass adds two statements (what is due, at its start; the
confirmation, at its end)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from autoassign import (
    Account,
    AssignmentPolicy,
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
from autoassign.adapters.sql import (
    SqlConversationRepository,
    SqlDirectory,
    SqlEventOutbox,
    SqlWriter,
)
from autoassign.model import ASSIGNMENT_V2_FEATURE
from autoassign.testing import EPOCH, FakeClock

AGENTS = ["ann", "bob"]
N = 6


@pytest.mark.postgres
def test_the_outbox_adds_no_statement_per_assignment(
    pg: Any, statement_counter: Callable[..., Any]
) -> None:
    engine, schema = pg.make(ids="mixed")
    writer = SqlWriter(engine, schema)
    writer.put_account(Account(id=1, features=frozenset({ASSIGNMENT_V2_FEATURE})))
    for inbox in (10, 11):
        writer.put_inbox(Inbox(id=inbox, account=1), AGENTS)
    writer.put_policy(AssignmentPolicy(id=1, account=1))
    writer.link_policy(10, 1)
    writer.link_policy(11, 1)
    writer.put_conversations(
        [
            Conversation(
                id=f"{inbox}-{n}",
                inbox=inbox,
                account=1,
                status=ConversationStatus.OPEN,
                assignee=None,
                created_at=EPOCH + timedelta(seconds=n),
                last_activity_at=EPOCH + timedelta(seconds=n),
            )
            for inbox in (10, 11)
            for n in range(N)
        ]
    )
    repository = SqlConversationRepository(engine, schema)
    clock = FakeClock()
    presence = InMemoryPresence()
    for agent in AGENTS:
        presence.set_status(1, agent, "online")
    bus = InMemoryEventBus()

    def build(**options: Any) -> Any:
        return build_autoassign(
            directory=SqlDirectory(engine, schema),
            conversations=repository,
            presence=presence,
            ledger=InMemoryRateLimitLedger(),
            rotation=InMemoryRotationStore(),
            lease=InMemoryInboxLease(clock),
            events=bus,
            jobs=InMemoryJobQueue(),
            clock=clock,
            strict=True,
            environ={},
            **options,
        ).service

    plain, outboxed = build(), build(outbox=SqlEventOutbox(repository))
    counter = statement_counter(engine)
    assert plain.perform_bulk_assignment(11).assigned_count == N
    without = list(counter.statements)
    counter.reset()
    assert outboxed.perform_bulk_assignment(10).assigned_count == N
    statements = list(counter.statements)
    assert len(statements) == len(without) + 2
    claims = [s for s in statements if "UPDATE" in s]
    assert len(claims) == N
    assert all(s.lstrip().upper().startswith("WITH CLAIMED AS") for s in claims)
    with engine.connect() as conn:
        left = conn.execute(sa.select(sa.func.count()).select_from(schema.event_outbox))
        assert left.scalar() == 0
    assert len(bus.events) == 4 * N
