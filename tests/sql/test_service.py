"""A full pass over the SQL repository and directory assigns exactly what the same
pass over the in-memory world assigns."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from autoassign import build_autoassign
from autoassign.adapters.sql import SqlConversationRepository, SqlDirectory, SqlWriter
from autoassign.model import (
    AssignmentPolicy,
    CapacityPolicy,
    ExclusionRules,
)
from autoassign.testing import FakeClock, InMemoryBackend, build_in_memory


def test_bulk_pass_matches_in_memory(db: Any) -> None:
    clock = FakeClock()
    memory = InMemoryBackend(clock=clock)
    sql_side = InMemoryBackend(clock=clock)  # presence, ledger, rotation, lease, events
    engine, schema = db.make()
    writer = SqlWriter(engine, schema)

    for backend in (memory, sql_side):
        backend.add_account(1)
        backend.add_inbox(10, account=1, members=[1, 2, 3])
        backend.add_team(5, account=1, members=[2, 3])
        backend.add_policy(
            AssignmentPolicy(
                id=7,
                account=1,
                assignment_order="balanced",
                fair_distribution_limit=4,
                fair_distribution_window=600,
            ),
            inboxes=[10],
        )
        backend.add_capacity_policy(
            CapacityPolicy(
                id=3,
                account=1,
                inbox_limits={10: 3},
                agents={1, 2},
                exclusion_rules=ExclusionRules(excluded_labels={"skip"}),
            )
        )
        for agent in (1, 2, 3):
            backend.set_status(1, agent, "online")
        for i in range(20):
            backend.add_conversation(
                100 + i,
                inbox=10,
                team=5 if i % 4 == 0 else None,
                labels={"skip"} if i % 7 == 3 else (),
                assignee=1 if i == 19 else None,
                created_at=clock.now() - timedelta(minutes=i % 5),
            )

    world = sql_side.world
    writer.put_account(world.accounts[1])
    writer.put_inbox(world.inboxes[10], world.members[10])
    writer.put_team(world.teams[5])
    writer.put_policy(world.policies[7])
    writer.link_policy(10, 7)
    writer.put_capacity_policy(world.capacity_policies[3])
    writer.put_conversations(world.conversations.values())

    repo = SqlConversationRepository(engine, schema)
    directory = SqlDirectory(engine, schema)
    sql_app = build_autoassign(
        directory=directory,
        conversations=repo,
        presence=sql_side.presence,
        ledger=sql_side.ledger,
        rotation=sql_side.rotation,
        lease=sql_side.lease,
        events=sql_side.events,
        jobs=sql_side.jobs,
        clock=clock,
        strict=True,
    )
    memory_app = build_in_memory(memory, strict=True)

    for _ in range(3):
        expected = memory_app.service.perform_bulk_assignment(10)
        got = sql_app.service.perform_bulk_assignment(10)
        assert got == expected
        clock.advance(120)
    assert len(memory.events.events) == len(sql_side.events.events) > 0
    for conversation in memory.world.conversations.values():
        assert repo.get(conversation.id) == conversation
