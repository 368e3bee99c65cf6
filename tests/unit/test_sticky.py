"""Sticky agents (issue 18): a returning contact's conversation goes first to the
agent of their previous conversation within the window, if the filter chain keeps
that agent; otherwise the policy chooses. Off, nothing changes."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from autoassign import CapacityPolicy, ConfigurationError, build_autoassign
from autoassign.explain import explain_conversation
from autoassign.simulate.render import render_conversation
from autoassign.sticky import InMemoryContactHistory, StickyRouting
from autoassign.testing import FakeClock, InMemoryBackend

from .conftest import Scenario

ACCOUNT, INBOX = 1, 10
HOUR = timedelta(hours=1)


class _Counting(InMemoryContactHistory):
    def __init__(self, *args: Any, fail: bool = False) -> None:
        super().__init__(*args)
        self.calls: list[int] = []
        self.fail = fail

    def previous_agents(self, account: Any, conversations: Any, *, since: Any) -> Any:
        self.calls.append(len(conversations))
        if self.fail:
            raise ConnectionError("history down")
        return super().previous_agents(account, conversations, since=since)


def _sticky(scenario: Scenario, *, window: timedelta = HOUR, **kw: Any) -> _Counting:
    history = _Counting(scenario.world.get, **kw)
    scenario.build(sticky=StickyRouting(history=history, window=window))
    return history


def _returning(scenario: Scenario, history: _Counting, *, agent: str = "bob") -> None:
    """The contact's first conversation, resolved with ``agent``, an hour ago at
    most; then a new one from the same contact."""
    scenario.conv("old", ago=1800, assignee=agent, status="resolved")
    history.set_contact(ACCOUNT, "old", "carol")
    scenario.conv("new")
    history.set_contact(ACCOUNT, "new", "carol")


def test_a_returning_contact_goes_to_their_previous_agent(scenario: Scenario) -> None:
    scenario.setup(members=["ann", "bob", "cy"])  # round robin would pick ann
    history = _sticky(scenario)
    _returning(scenario, history)
    scenario.conv("other")  # another contact: round robin
    result = scenario.run()
    assert scenario.assignee("new") == "bob"
    assert scenario.assignee("other") == "ann"
    assert history.calls == [2]  # one read for the page
    assert [a.conversation for a in result.assignments] == ["new", "other"]


@pytest.mark.parametrize("why", ["offline", "at_capacity", "outside_window"])
def test_an_ineligible_previous_agent_leaves_the_choice_to_the_policy(
    scenario: Scenario, why: str
) -> None:
    scenario.setup(members=["ann", "bob", "cy"])
    history = _sticky(
        scenario, window=timedelta(minutes=10 if why == "outside_window" else 60)
    )
    _returning(scenario, history)
    if why == "offline":
        scenario.set_status("bob", "offline")
    if why == "at_capacity":
        scenario.backend.add_capacity_policy(
            CapacityPolicy(
                id=1, account=ACCOUNT, inbox_limits={INBOX: 1}, agents=["bob"]
            )
        )
        scenario.conv("held", assignee="bob")
    scenario.run()
    assert scenario.assignee("new") == "ann"


def test_a_failing_history_lets_the_policy_choose(scenario: Scenario) -> None:
    scenario.setup(members=["ann", "bob"])
    history = _sticky(scenario, fail=True)
    _returning(scenario, history)
    result = scenario.run()
    assert scenario.assignee("new") == "ann"
    assert not result.skips


def test_explain_names_the_sticky_agent(scenario: Scenario) -> None:
    scenario.setup(members=["ann", "bob"])
    history = _sticky(scenario)
    _returning(scenario, history)
    explained = explain_conversation(scenario.app, "new")
    assert explained.sticky_agent == "bob"
    assert explained.chosen == "bob"
    assert explained.to_dict()["sticky_agent"] == "bob"
    buffer = io.StringIO()
    render_conversation(Console(file=buffer, width=200), explained)
    assert "sticky agent (the contact's previous): 'bob'" in buffer.getvalue()
    scenario.set_status("bob", "offline")
    explained = explain_conversation(scenario.app, "new")
    assert (explained.sticky_agent, explained.chosen) == ("bob", "ann")


def test_without_sticky_routing_explain_adds_nothing(scenario: Scenario) -> None:
    scenario.setup()
    scenario.conv(1)
    assert "sticky_agent" not in explain_conversation(scenario.app, 1).to_dict()


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"history": object(), "window": HOUR}, "history"),
        ({"window": timedelta(0)}, "window"),
        ({"window": timedelta(days=366)}, "window"),
        ({"window": 3600}, "window"),
    ],
)
def test_bad_sticky_settings_are_refused(options: dict[str, Any], field: str) -> None:
    history = InMemoryContactHistory(lambda conversation: None)
    with pytest.raises(ConfigurationError) as info:
        StickyRouting(**{"history": history, **options})
    assert info.value.field == field


def test_build_refuses_what_is_not_a_sticky_routing(backend: InMemoryBackend) -> None:
    with pytest.raises(ConfigurationError) as info:
        build_autoassign(
            directory=backend.directory,
            conversations=backend.conversations,
            presence=backend.presence,
            ledger=backend.ledger,
            rotation=backend.rotation,
            lease=backend.lease,
            events=backend.events,
            jobs=backend.jobs,
            clock=backend.clock,
            sticky=HOUR,  # type: ignore[arg-type]
            environ={},
        )
    assert info.value.field == "sticky"


@settings(max_examples=60, deadline=None)
@given(
    online=st.frozensets(st.sampled_from(["ann", "bob", "cy"]), min_size=1),
    previous=st.sampled_from(["ann", "bob", "cy", "zed"]),
    age_minutes=st.integers(1, 120),
)
def test_sticky_never_overrides_the_filters(
    online: frozenset[str], previous: str, age_minutes: int
) -> None:
    """Whoever had the contact, and however long ago: the conversation goes to the
    previous agent exactly when they are an online member and the previous
    conversation is within the window; otherwise to an online member by the policy."""
    clock = FakeClock()
    scenario = Scenario(InMemoryBackend(clock=clock), clock)
    scenario.setup(members=["ann", "bob", "cy"], online=online)
    history = _sticky(scenario)
    scenario.conv("old", ago=age_minutes * 60, assignee=previous, status="resolved")
    history.set_contact(ACCOUNT, "old", "carol")
    scenario.conv("new")
    history.set_contact(ACCOUNT, "new", "carol")
    scenario.run()
    got = scenario.assignee("new")
    assert got in online
    if previous in online and age_minutes <= 60:
        assert got == previous
