"""The pass's snapshot: taken once, taken again when membership changes mid-pass, and
the ranking's state persisted before the new snapshot reads it."""

from __future__ import annotations

from typing import Any

import pytest

from autoassign import AssigneeChanged, AssignmentPolicy

from .conftest import ACCOUNT, INBOX


def _order(scenario: Any) -> list[Any]:
    members = scenario.world.inbox_members(INBOX)
    return list(scenario.backend.rotation.order(INBOX, members=members))


def test_a_member_joining_mid_pass_takes_a_turn_after_the_moves_so_far(
    scenario: Any,
) -> None:
    """Round robin writes its moves before re-reading the queue (without that, A, already
    served in this pass, would be first in line again); the newcomer joins at the back."""
    scenario.setup(members=["A", "B"])
    scenario.set_status("C", "online")
    scenario.convs([1, 2, 3, 4])

    def on_event(event: object) -> None:
        if isinstance(event, AssigneeChanged) and event.conversation == 1:
            scenario.world.add_member(INBOX, "C")
            scenario.clock.advance(1)  # seen within recheck_interval (1 s)

    scenario.backend.events.subscribe(on_event)
    result = scenario.run()
    assert [a.agent for a in result.assignments] == ["A", "B", "A", "C"]
    assert _order(scenario) == ["B", "A", "C"]


@pytest.mark.parametrize("limit", [None, 10])
def test_without_a_membership_change_the_snapshot_is_taken_once(
    scenario: Any, wrap: Any, limit: int | None
) -> None:
    """Presence of every member is read once per pass, the ledger's usage at most once
    (lazily, for the agents the walk reaches: one batch covers them here; not at all
    without a rate limit); per conversation only the chosen agent's presence is read,
    and a ledger slot is taken for every assignment."""
    scenario.setup(
        members=["A", "B", "C"],
        policy=AssignmentPolicy(
            id=1, account=ACCOUNT, name="p", fair_distribution_limit=limit
        ),
    )
    scenario.convs([1, 2, 3, 4, 5])
    presence = wrap(scenario.backend.presence)
    ledger = wrap(scenario.backend.ledger)
    app = scenario.build(presence=presence, ledger=ledger)
    result = app.service.perform_bulk_assignment(INBOX)
    assert result.assigned_count == 5
    reads = [list(call[0][1]) for call in presence.called("statuses")]
    assert reads[0] == ["A", "B", "C"]
    assert [len(agents) for agents in reads[1:]] == [1, 1, 1, 1]
    usage = [sorted(call[0][1]) for call in ledger.called("usage")]
    assert usage == ([] if limit is None else [["A", "B", "C"]])
    assert len(ledger.called("try_record")) == 5
    assert ledger.called("last_assigned") == []  # round robin does not need it
