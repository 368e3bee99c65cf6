"""Head-of-line blocking: conversations nobody can take at the front of the queue never
starve the assignable ones behind them, and paging past them stays cheap."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoassign import AssignmentPolicy, SkipReason
from autoassign.errors import ConfigurationError

BLOCKING_TEAMS = {
    "closed": SkipReason.TEAM_NOT_AUTO_ASSIGNABLE,
    "gone": SkipReason.TEAM_NOT_FOUND,
    "away": SkipReason.NO_TEAM_MEMBER_ONLINE,
}


def _world(scenario: Any) -> None:
    scenario.setup(members=["ann", "bob", "cy"], online=["ann", "bob"])
    backend = scenario.backend
    backend.add_team(
        "closed", account=scenario.ACCOUNT, members=["ann"], allow_auto_assign=False
    )
    backend.add_team("away", account=scenario.ACCOUNT, members=["cy"])
    backend.add_team("open", account=scenario.ACCOUNT, members=["ann", "bob"])


@pytest.mark.parametrize("team", sorted(BLOCKING_TEAMS))
def test_a_full_page_nobody_can_take_does_not_starve_the_rest(
    scenario: Any, wrap: Any, team: str
) -> None:
    _world(scenario)
    for number in range(250):  # two and a half pages at the front
        scenario.conv(f"blocked-{number:03}", ago=100_000 - number, team=team)
    for number in range(30):
        scenario.conv(f"ok-{number:02}", ago=1_000 - number)
    repository = wrap(scenario.backend.conversations)
    scenario.build(conversations=repository)

    result = scenario.run(limit=100)

    assert result.assigned_count == 30
    assert {a.conversation for a in result.assignments} == {
        f"ok-{n:02}" for n in range(30)
    }
    # in priority order
    assert [a.conversation for a in result.assignments] == [
        f"ok-{n:02}" for n in range(30)
    ]
    blocked = [s for s in result.skips if s.conversation.startswith("blocked")]
    assert {s.reason for s in blocked} == {BLOCKING_TEAMS[team]}
    # the team is left out of the second page by the query: two reads in all
    pages = repository.called("unassigned_open")
    assert len(pages) == 2
    assert pages[1][1]["exclude_teams"] == (team,)
    assert pages[1][1]["after"].id == "blocked-099"
    assert result.fetched == 130


def test_the_team_verdict_is_reused_not_recomputed(scenario: Any, wrap: Any) -> None:
    _world(scenario)
    for number in range(50):
        scenario.conv(f"closed-{number:02}", ago=10_000 - number, team="closed")
    scenario.conv("ok", ago=1)
    directory = wrap(scenario.backend.directory)
    presence = wrap(scenario.backend.presence)
    scenario.build(directory=directory, presence=presence)

    result = scenario.run()

    assert [a.conversation for a in result.assignments] == ["ok"]
    assert len(directory.called("team")) == 1
    assert len(presence.called("statuses")) <= 2


def test_teams_people_can_take_keep_their_place(scenario: Any) -> None:
    _world(scenario)
    scenario.conv("closed-1", ago=500, team="closed")
    scenario.conv("open-1", ago=400, team="open")
    scenario.conv("plain-1", ago=300)
    scenario.conv("closed-2", ago=200, team="closed")
    scenario.conv("open-2", ago=100, team="open")

    result = scenario.run(limit=2)

    # two pages of two; the closed team is skipped, the order kept among the rest
    assert [a.conversation for a in result.assignments] == ["open-1", "plain-1"]
    assert scenario.assignee("open-2") is None


def test_no_further_page_once_nobody_can_take_any(scenario: Any, wrap: Any) -> None:
    scenario.setup(
        members=["ann"],
        policy=AssignmentPolicy(
            id=scenario.POLICY, account=scenario.ACCOUNT, fair_distribution_limit=1
        ),
    )
    scenario.convs(range(1, 31))
    repository = wrap(scenario.backend.conversations)
    scenario.build(conversations=repository)

    result = scenario.run(limit=10)

    assert result.assigned_count == 1
    assert len(repository.called("unassigned_open")) == 1
    assert {s.reason for s in result.skips} == {SkipReason.ALL_RATE_LIMITED}


def test_pages_are_bounded(scenario: Any, wrap: Any) -> None:
    """Conversations that vanish between the read and the claim (another worker)
    are not a team's fault: the pass pages on, but at most ``max_pages`` pages."""
    scenario.setup(members=["ann"])
    scenario.convs(range(1, 101))
    repository = wrap(
        scenario.backend.conversations,
        get=lambda original, conversation: None,  # every one is gone by now
    )
    scenario.build(conversations=repository, max_pages=3)

    result = scenario.run(limit=10)

    assert result.assigned_count == 0
    assert len(repository.called("unassigned_open")) == 3
    assert result.fetched == 30


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_max_pages_is_validated(scenario: Any, bad: Any) -> None:
    scenario.setup()
    with pytest.raises(ConfigurationError, match="max_pages"):
        scenario.build(max_pages=bad)


@settings(max_examples=60)
@given(
    fronts=st.lists(
        st.sampled_from(["closed", "gone", "away", None, "open"]), max_size=40
    ),
    limit=st.integers(1, 8),
)
def test_every_assignable_conversation_is_reached(
    make_scenario: Any, fronts: list[str | None], limit: int
) -> None:
    """With capacity to spare, repeated passes never leave an assignable conversation
    waiting, whatever sits in front of it; each pass assigns in priority order."""
    scenario = make_scenario()
    _world(scenario)
    for number, team in enumerate(fronts):
        scenario.conv(number, ago=1_000 - number, team=team)
    assignable = [n for n, team in enumerate(fronts) if team in (None, "open")]
    app = scenario.build(max_pages=len(fronts) + 1)
    assigned: list[Any] = []
    for _round in range(len(fronts) + 1):
        result = app.service.perform_bulk_assignment(scenario.INBOX, limit=limit)
        order = [a.conversation for a in result.assignments]
        assert order == sorted(order)
        assigned.extend(order)
        if result.assigned_count < limit:
            break
    assert sorted(assigned) == assignable
