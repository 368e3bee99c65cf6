"""Conversation weights in simulation scenarios (issue 18): weighted capacity."""

from __future__ import annotations

from autoassign import AssignmentPolicy, CapacityPolicy
from autoassign.decisions import AgentFilter
from autoassign.explain import inbox_verdicts
from autoassign.service import InboxState
from autoassign.testing import FakeClock, InMemoryBackend, build_in_memory


def test_inbox_verdicts_judge_capacity_for_a_conversation_of_a_weight() -> None:
    """An agent holding 1.5 of a limit of 2 is at capacity for a conversation of
    weight 1, not for one of 0.5 (the held-back counts judge with the weight)."""
    backend = InMemoryBackend(clock=FakeClock())
    backend.add_account(1)
    backend.add_inbox(1, account=1, members=["ann"])
    backend.add_policy(AssignmentPolicy(id=1, account=1), inboxes=[1])
    backend.add_capacity_policy(
        CapacityPolicy(id=1, account=1, inbox_limits={1: 2}, agents={"ann"})
    )
    backend.set_status(1, "ann", "online")
    app = build_in_memory(backend)
    backend.add_conversation("held", inbox=1, assignee="ann", weight=1.5)
    state = app.service.load_inbox(1)
    assert isinstance(state, InboxState)
    removed = {
        weight: inbox_verdicts(app.service, state, weight=weight)[0][0].removed_by
        for weight in (1, 0.5)
    }
    assert removed == {1: AgentFilter.AT_CAPACITY, 0.5: None}
    assert (
        inbox_verdicts(app.service, state)[0][0].removed_by is AgentFilter.AT_CAPACITY
    )
