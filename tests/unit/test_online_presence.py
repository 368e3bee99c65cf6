"""The pass's presence snapshot through the optional ``OnlinePresence`` capability: one
``online`` read for the members (no statuses of every member), the per-conversation
confirmations still through ``statuses``, the same assignments as without it, and a
failing ``online`` degrading as a failing ``statuses`` does."""

from __future__ import annotations

from typing import Any

from autoassign import AssignmentPolicy, Degradation, SkipReason
from autoassign.adapters.memory import InMemoryOnlinePresence, InMemoryPresence
from autoassign.ports import OnlinePresence

ACCOUNT, INBOX = 1, 10
MEMBERS = ["ann", "bob", "cy", "dee"]


def _presence(kind: type[InMemoryPresence]) -> InMemoryPresence:
    presence = kind()
    for agent, status in zip(
        MEMBERS, ["online", "busy", "online", "offline"], strict=True
    ):
        presence.set_status(ACCOUNT, agent, status)
    return presence


def _run(scenario: Any, presence: Any) -> Any:
    return scenario.build(presence=presence).service.perform_bulk_assignment(INBOX)


def test_the_snapshot_reads_online_once_and_statuses_only_to_confirm(
    scenario: Any, wrap: Any
) -> None:
    scenario.setup(
        members=MEMBERS,
        online=[],
        policy=AssignmentPolicy(id=1, account=ACCOUNT, fair_distribution_limit=10),
    )
    scenario.convs([1, 2, 3, 4, 5])
    presence = wrap(_presence(InMemoryOnlinePresence))
    assert isinstance(presence, OnlinePresence)
    result = _run(scenario, presence)
    assert [a.agent for a in result.assignments] == ["ann", "cy", "ann", "cy", "ann"]
    assert [list(call[0][1]) for call in presence.called("online")] == [MEMBERS]
    # Only the confirmations before each claim but the first: the chosen agent and
    # the offline agents ahead of it, never every member.
    reads = [list(call[0][1]) for call in presence.called("statuses")]
    assert len(reads) == 4
    assert all(len(agents) < len(MEMBERS) for agents in reads)


def test_the_same_assignments_as_through_statuses(scenario: Any, wrap: Any) -> None:
    scenario.setup(members=MEMBERS, online=[])
    scenario.convs([1, 2, 3])
    plain = wrap(_presence(InMemoryPresence))
    assert not isinstance(plain, OnlinePresence)
    first = _run(scenario, plain)
    assert list(plain.called("statuses")[0][0][1]) == MEMBERS
    scenario.convs(["a", "b", "c"])
    again = _run(scenario, _presence(InMemoryOnlinePresence))
    assert [a.agent for a in first.assignments] == ["ann", "cy", "ann"]
    assert [a.agent for a in again.assignments] == ["cy", "ann", "cy"]


def test_nobody_online_touches_nothing_else(scenario: Any, wrap: Any) -> None:
    scenario.setup(members=MEMBERS, online=[])
    scenario.convs([1, 2])
    presence = InMemoryOnlinePresence()
    presence.set_status(ACCOUNT, "ann", "busy")
    presence.set_status(2, "bob", "online")  # another account
    before = scenario.snapshot()
    result = _run(scenario, presence)
    assert result.assigned_count == 0
    assert {s.reason for s in result.skips} == {SkipReason.NO_AGENT_ONLINE}
    assert scenario.snapshot() == before


def test_a_failing_online_read_means_nobody_online(
    scenario: Any, wrap: Any, boom: Any
) -> None:
    scenario.setup(members=MEMBERS, online=[])
    scenario.convs([1, 2])

    def fail(original: Any, *args: Any, **kwargs: Any) -> Any:
        raise boom("down")

    presence = wrap(_presence(InMemoryOnlinePresence), online=fail)
    result = _run(scenario, presence)
    assert result.assigned_count == 0
    assert result.degraded == {Degradation.PRESENCE_UNAVAILABLE}
    assert {s.reason for s in result.skips} == {SkipReason.NO_AGENT_ONLINE}
    assert presence.called("statuses") == []
