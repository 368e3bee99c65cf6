"""The agent filter chain (issue 2, behaviour 2): inbox members → status exactly
``online`` → team → fair-distribution limit → capacity → selector, checked per
conversation."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoassign import (
    AgentFilter,
    AssigneeChanged,
    AssignmentPolicy,
    CapacityPolicy,
    SkipReason,
    Team,
    evaluate_agents,
)
from autoassign.decisions import RecentAssignments, skip_reason_for

ACCOUNT, INBOX = 1, 10


def test_only_inbox_members_are_assigned(scenario: Any) -> None:
    scenario.setup(members=["ann"], online=["ann"])
    scenario.set_status("outsider", "online")
    scenario.set_status("ann", "busy")
    scenario.convs([1, 2])
    result = scenario.run()
    assert result.assigned_count == 0
    assert scenario.assigned_to("outsider") == []
    # The online outsider does not count: no member is online.
    assert [s.reason for s in result.skips] == [SkipReason.NO_AGENT_ONLINE] * 2


@pytest.mark.parametrize(
    "status", ["busy", "offline", "Online", "ONLINE", " online", "online ", "away", ""]
)
def test_only_status_exactly_online_is_eligible(scenario: Any, status: str) -> None:
    scenario.setup(members=["ann", "bob"], online=["ann"])
    scenario.set_status("bob", status)
    scenario.convs([1, 2, 3, 4])
    result = scenario.run()
    assert result.assigned_count == 4
    assert scenario.assigned_to("bob") == []
    assert scenario.assigned_to("ann") == [1, 2, 3, 4]


def test_an_agent_without_any_status_is_offline(scenario: Any) -> None:
    scenario.setup(members=["ann", "ghost"], online=["ann"])
    scenario.convs([1, 2])
    result = scenario.run()
    assert scenario.assigned_to("ghost") == []
    assert scenario.assigned_to("ann") == [1, 2]
    assert result.skips == ()


def test_key_scenario_agent_availability(scenario: Any) -> None:
    """Key test scenario 6: busy or offline → not eligible; online → eligible."""
    scenario.setup(members=["ann"], online=[])
    scenario.conv(1)
    for status in ("busy", "offline"):
        scenario.set_status("ann", status)
        result = scenario.run()
        assert result.assigned_count == 0
        assert [s.reason for s in result.skips] == [SkipReason.NO_AGENT_ONLINE]
    scenario.set_status("ann", "online")
    assert scenario.run().assigned_count == 1
    assert scenario.assignee(1) == "ann"


def test_an_agent_going_offline_mid_pass_gets_nothing_more(scenario: Any) -> None:
    scenario.setup(members=["ann", "bob"])
    scenario.convs([1, 2, 3, 4, 5])

    def on_event(event: object) -> None:
        if isinstance(event, AssigneeChanged) and event.agent == "ann":
            scenario.set_status("ann", "offline")

    scenario.backend.events.subscribe(on_event)
    result = scenario.run()
    # Round robin would have given ann 1, 3 and 5; she left after her first.
    assert result.assigned_count == 5
    assert scenario.assigned_to("ann") == [1]
    assert scenario.assigned_to("bob") == [2, 3, 4, 5]


def test_an_agent_removed_from_the_inbox_mid_pass_gets_nothing_more(
    scenario: Any,
) -> None:
    scenario.setup(members=["ann", "bob"])
    scenario.convs([1, 2, 3, 4])

    def on_event(event: object) -> None:
        if isinstance(event, AssigneeChanged) and event.agent == "ann":
            scenario.world.remove_member(INBOX, "ann")
            scenario.clock.advance(1)  # seen within recheck_interval (1 s)

    scenario.backend.events.subscribe(on_event)
    scenario.run()
    assert scenario.assigned_to("ann") == [1]
    assert scenario.assigned_to("bob") == [2, 3, 4]


def test_an_agent_coming_online_mid_pass_is_used(scenario: Any) -> None:
    scenario.setup(members=["ann", "bob"], online=["ann"])
    scenario.convs([1, 2, 3])

    def on_event(event: object) -> None:
        if isinstance(event, AssigneeChanged) and event.conversation == 1:
            scenario.set_status("bob", "online")

    scenario.backend.events.subscribe(on_event)
    result = scenario.run()
    assert scenario.assigned_to("bob") != []
    # bob's presence is read again when his turn comes: he takes 2, then ann 3.
    assert [a.agent for a in result.assignments] == ["ann", "bob", "ann"]
    assert scenario.assigned_to("bob") == [2]


def test_everyone_going_offline_mid_pass_stops_it(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.convs([1, 2, 3])

    def on_event(event: object) -> None:
        if isinstance(event, AssigneeChanged):
            scenario.set_status("ann", "offline")

    scenario.backend.events.subscribe(on_event)
    result = scenario.run()
    assert result.assigned_count == 1
    assert [(s.conversation, s.reason) for s in result.skips] == [
        (2, SkipReason.NO_AGENT_ONLINE),
        (3, SkipReason.NO_AGENT_ONLINE),
    ]


# -- teams ---------------------------------------------------------------------------------


def test_a_team_conversation_goes_only_to_team_members(scenario: Any) -> None:
    scenario.setup(members=["ann", "bob", "cho"])
    scenario.backend.add_team(5, account=ACCOUNT, members=["bob", "zed"])
    scenario.convs([1, 2, 3], team=5)
    result = scenario.run()
    assert result.assigned_count == 3
    assert scenario.assigned_to("bob") == [1, 2, 3]
    # "zed" is in the team but not in the inbox.
    assert scenario.assigned_to("zed") == []


def test_a_team_with_nobody_online_is_skipped_without_fallback(scenario: Any) -> None:
    scenario.setup(members=["ann", "bob"], online=["ann"])
    scenario.backend.add_team(5, account=ACCOUNT, members=["bob"])
    scenario.conv(1, team=5)
    result = scenario.run()
    assert result.assigned_count == 0
    assert result.skips[0].reason is SkipReason.NO_TEAM_MEMBER_ONLINE


def test_a_team_that_does_not_allow_auto_assign_is_skipped(scenario: Any) -> None:
    scenario.setup(members=["ann", "bob"])
    scenario.backend.add_team(
        5, account=ACCOUNT, members=["ann", "bob"], allow_auto_assign=False
    )
    scenario.conv(1, team=5, ago=20)
    scenario.conv(2, ago=10)
    result = scenario.run()
    assert [a.conversation for a in result.assignments] == [2]
    assert [(s.conversation, s.reason) for s in result.skips] == [
        (1, SkipReason.TEAM_NOT_AUTO_ASSIGNABLE)
    ]
    assert scenario.assignee(1) is None


@pytest.mark.parametrize("where", ["missing", "other_account"])
def test_a_missing_team_is_skipped(scenario: Any, where: str) -> None:
    scenario.setup(members=["ann"])
    if where == "other_account":
        scenario.backend.add_team(5, account=2, members=["ann"])
    scenario.conv(1, team=5)
    result = scenario.run()
    assert result.assigned_count == 0
    assert result.skips[0].reason is SkipReason.TEAM_NOT_FOUND


# -- the filter order ------------------------------------------------------------------------

NOW = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)


def _evaluate(**overrides: Any) -> dict[Any, AgentFilter | None]:
    now = NOW
    recent = RecentAssignments(window=timedelta(hours=1))
    for agent in ("busy-full", "limited-full", "limited"):
        recent.add(agent, now - timedelta(minutes=1))
    options: dict[str, Any] = {
        "members": ["busy-full", "outsider", "limited-full", "limited", "full", "ok"],
        "statuses": {
            "busy-full": "busy",
            "outsider": "online",
            "limited-full": "online",
            "limited": "online",
            "full": "online",
            "ok": "online",
        },
        "team": Team(
            id=5,
            account=ACCOUNT,
            members=["busy-full", "limited-full", "limited", "full", "ok"],
        ),
        "recent": recent,
        "rate_limit": 1,
        "now": now,
        "open_counts": {"busy-full": 3, "limited-full": 3, "full": 3, "outsider": 3},
        "limits": {"busy-full": 3, "limited-full": 3, "full": 3, "outsider": 3},
    }
    options.update(overrides)
    return {v.agent: v.removed_by for v in evaluate_agents(**options)}


def test_each_agent_is_removed_by_the_first_filter_it_fails() -> None:
    assert _evaluate() == {
        "busy-full": AgentFilter.NOT_ONLINE,
        "outsider": AgentFilter.NOT_IN_TEAM,
        "limited-full": AgentFilter.RATE_LIMITED,
        "limited": AgentFilter.RATE_LIMITED,
        "full": AgentFilter.AT_CAPACITY,
        "ok": None,
    }


def test_skip_reason_names_the_furthest_filter() -> None:
    verdicts = evaluate_agents(
        members=["off", "full"],
        statuses={"off": "offline", "full": "online"},
        team=None,
        recent=None,
        rate_limit=None,
        now=NOW,
        open_counts={"full": 1},
        limits={"full": 1},
    )
    assert skip_reason_for(verdicts) is SkipReason.ALL_AT_CAPACITY
    assert skip_reason_for([]) is SkipReason.NO_AGENT_ONLINE


def test_rate_limit_is_checked_before_capacity_in_a_pass(scenario: Any) -> None:
    """ann is both at her rate limit and at capacity: the rate limit removes her,
    and the pass reports the later filter only when it removed someone."""
    scenario.setup(
        members=["ann", "bob"],
        policy=AssignmentPolicy(id=1, account=ACCOUNT, fair_distribution_limit=1),
    )
    scenario.backend.add_capacity_policy(
        CapacityPolicy(id=1, account=ACCOUNT, inbox_limits={INBOX: 1}, agents=["bob"])
    )
    scenario.conv(99, assignee="bob")  # bob is full
    scenario.convs([1, 2])
    result = scenario.run()
    # ann takes 1 and is then rate limited; bob is at capacity.
    assert [a.agent for a in result.assignments] == ["ann"]
    assert [(s.conversation, s.reason) for s in result.skips] == [
        (2, SkipReason.ALL_AT_CAPACITY)
    ]
    assert "rate_limited=1" in result.skips[0].detail
    assert "at_capacity=1" in result.skips[0].detail


statuses = st.sampled_from(["online", "busy", "offline", "Online", "away", None])


@given(
    member_status=st.dictionaries(
        st.sampled_from(["ann", "bob", "cho", "dee"]), statuses, min_size=1
    ),
    outsiders=st.lists(st.sampled_from(["x1", "x2"]), unique=True),
    teams=st.lists(st.sampled_from([None, 5, 6, 7]), min_size=1, max_size=8),
    team5=st.sets(st.sampled_from(["ann", "bob", "cho", "dee", "x1"])),
)
@settings(max_examples=80)
def test_every_assignee_is_an_online_member_in_the_team(
    make_scenario: Any,
    member_status: dict[str, str | None],
    outsiders: list[str],
    teams: list[int | None],
    team5: set[str],
) -> None:
    scenario = make_scenario()
    scenario.setup(members=list(member_status), online=[])
    for agent, status in member_status.items():
        if status is not None:
            scenario.set_status(agent, status)
    for agent in outsiders:
        scenario.set_status(agent, "online")
    scenario.backend.add_team(5, account=ACCOUNT, members=team5)
    scenario.backend.add_team(
        6, account=ACCOUNT, members=list(member_status), allow_auto_assign=False
    )
    for number, team in enumerate(teams, start=1):
        scenario.conv(number, team=team, ago=100 - number)

    result = scenario.run()

    online = {a for a, s in member_status.items() if s == "online"}
    by_id = dict(enumerate(teams, start=1))
    for assignment in result.assignments:
        assert assignment.agent in online
        team = by_id[assignment.conversation]
        assert team not in (6, 7)
        if team == 5:
            assert assignment.agent in team5
    # Liveness: whatever could be assigned was.
    for skip in result.skips:
        team = by_id[skip.conversation]
        assert team in (6, 7) or not (online & team5 if team == 5 else online)
