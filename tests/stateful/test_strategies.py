"""The shipped strategies build valid, loadable worlds."""

from __future__ import annotations

from hypothesis import given, settings

from autoassign.model import ONLINE, AssignmentPolicy, CapacityPolicy, Conversation
from autoassign.testing import FakeClock, InMemoryBackend, build_in_memory
from autoassign.testing.strategies import (
    World,
    assignment_policies,
    capacity_policies,
    conversations,
    load_world,
    worlds,
)


@settings(max_examples=50, deadline=None)
@given(worlds())
def test_a_world_loads_and_a_pass_only_assigns_online_members(world: World) -> None:
    backend = InMemoryBackend(clock=FakeClock(world.now))
    load_world(backend, world)
    app = build_in_memory(backend, strict=True, environ={})
    for inbox in world.inboxes:
        assert backend.world.inbox(inbox.id) == inbox
        result = app.service.perform_bulk_assignment(inbox.id)
        for assignment in result.assignments:
            assert assignment.agent in world.members[inbox.id]
            assert world.presence[(inbox.account, assignment.agent)] == ONLINE
    assert len(backend.world.conversations) == len(world.conversations)


@settings(max_examples=50, deadline=None)
@given(
    assignment_policies(account=1),
    capacity_policies(account=1, inboxes=[10, 11], agents=["ann", 2]),
    conversations(inbox=10, account=1, teams=[5], assignees=["ann"]),
)
def test_value_strategies(
    policy: AssignmentPolicy, capacity: CapacityPolicy, conversation: Conversation
) -> None:
    assert policy.account == 1
    assert set(capacity.inbox_limits) <= {10, 11}
    assert capacity.agents <= {"ann", 2}
    assert conversation.inbox == 10
    assert conversation.created_at <= conversation.last_activity_at
    assert conversation.team in (None, 5)
