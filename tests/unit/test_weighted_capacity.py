"""Weighted capacity (issue 18): a conversation has a weight (a chat may count 1, an
email 0.5); capacity compares the sum of an agent's open weights plus the
conversation's with the limit, exactly in thousandths; a conversation too heavy for
everyone's room never holds back a lighter one behind it; with every weight 1 nothing
changes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoassign import CapacityPolicy, ConfigurationError, Conversation, SkipReason
from autoassign.decisions import AgentFilter, AgentVerdict, evaluate_agent
from autoassign.explain import explain_conversation
from autoassign.model import (
    ONLINE,
    add_load,
    check_weight,
    fits,
    stored_load,
    stored_weight,
)
from autoassign.testing import EPOCH, FakeClock, InMemoryBackend

from .conftest import Scenario

ACCOUNT, INBOX, SALES = 1, 10, 20

WEIGHTS = [0.1, 0.25, 0.3, 0.5, 0.7, 1, 1.5, 2]


def _limits(
    scenario: Scenario, limits: dict[str, int], *, total: int | None = None
) -> None:
    for number, (agent, limit) in enumerate(sorted(limits.items()), start=1):
        scenario.backend.add_capacity_policy(
            CapacityPolicy(
                id=number,
                account=ACCOUNT,
                inbox_limits={INBOX: limit, SALES: limit},
                agents=[agent],
                total_limit=total,
            )
        )


def _load(scenario: Scenario, agent: str, inbox: Any = None) -> float:
    return sum(
        c.weight
        for c in scenario.world.conversations.values()
        if c.assignee == agent
        and c.status.value == "open"
        and (inbox is None or c.inbox == inbox)
    )


# -- the numbers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [(1, 1), (1.0, 1), (0.5, 0.5), (0.001, 0.001), (1000, 1000)]
)
def test_a_weight_is_a_whole_number_of_thousandths(value: Any, expected: Any) -> None:
    checked = check_weight(value)
    assert checked == expected
    assert type(checked) is type(expected)  # whole weights are ints


@pytest.mark.parametrize(
    "value",
    [0, -1, 0.0004, 0.0015, 1000.5, float("nan"), float("inf"), True, "1", None],
)
def test_a_bad_weight_is_refused_at_the_model(value: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        Conversation(
            id=1,
            inbox=1,
            account=1,
            created_at=EPOCH,
            last_activity_at=EPOCH,
            weight=value,
        )
    assert info.value.field == "weight"


@pytest.mark.parametrize("value", [None, 0, -2, "x", 10_000, float("nan")])
def test_a_bad_stored_weight_counts_one(value: Any) -> None:
    assert stored_weight(value) == 1


def test_loads_are_exact_in_thousandths() -> None:
    assert add_load(add_load(0.1, 0.2), 0.7) == 1
    assert fits(add_load(0.1, 0.2), 0.7, 1)
    assert not fits(0.1 + 0.2, 0.701, 1)
    assert fits(2, 1, 3)  # ints: the count of Assignment v2
    assert not fits(3, 1, 3)
    assert stored_load(2) == 2
    assert stored_load(0.30000000000000004) == 0.3


def _verdict(
    load: Any,
    limit: int,
    weight: Any = 1,
    *,
    total: Any = None,
    total_limit: Any = None,
) -> AgentVerdict:
    """ann's verdict, online and with nothing but capacity (and, given a
    ``total_limit``, her ``total``) to judge."""
    limited = total_limit is not None
    return evaluate_agent(
        "ann",
        statuses={"ann": ONLINE},
        team=None,
        recent=None,
        rate_limit=None,
        now=EPOCH,
        open_counts={"ann": load},
        limits={"ann": limit},
        totals={"ann": total} if limited else None,
        total_limits={"ann": total_limit} if limited else None,
        weight=weight,
    )


@settings(max_examples=200, deadline=None)
@given(
    held=st.lists(st.sampled_from(WEIGHTS), max_size=8),
    weight=st.sampled_from(WEIGHTS),
    limit=st.integers(0, 6),
)
def test_the_capacity_filter_is_the_exact_sum(
    held: list[float], weight: float, limit: int
) -> None:
    """The verdict says "at capacity" exactly when the held weights plus this one's,
    summed in thousandths, pass the limit; ``has_room`` exactly when the agent is
    under the limit but this weight does not fit."""
    load: Any = 0
    for each in held:
        load = add_load(load, each)
    units = sum(round(w * 1000) for w in held)
    verdict = _verdict(load, limit, weight)
    over = units + round(weight * 1000) > limit * 1000
    assert (verdict.removed_by is AgentFilter.AT_CAPACITY) == over
    assert verdict.has_room == (over and units < limit * 1000)


def test_unit_weights_judge_as_counts() -> None:
    verdict = _verdict(2, 2)
    assert verdict.removed_by is AgentFilter.AT_CAPACITY
    assert not verdict.has_room  # full: a verdict for every conversation


def test_a_full_total_leaves_no_room_when_the_inbox_limit_removed_the_agent() -> None:
    """The inbox's limit (1) removes ann for a conversation of 1.5 while she holds
    nothing; her total limit (0) is full, so no lighter conversation fits either: no
    room (the total is read although the inbox's limit removed her first). Found by
    the state machine: the pass read another page for a lighter one."""
    verdict = _verdict(0, 1, 1.5, total=0, total_limit=0)
    assert verdict.removed_by is AgentFilter.AT_CAPACITY
    assert verdict.total_open_conversations == 0
    assert not verdict.has_room


# -- passes ------------------------------------------------------------------------------


def test_a_heavy_conversation_does_not_hold_back_a_lighter_one(
    scenario: Scenario,
) -> None:
    """ann (limit 2) holds 1.5: the older chat (1) does not fit, the email behind it
    (0.5) does. The chat's skip holds for it alone, not for the rest of the pass."""
    scenario.setup(members=["ann"])
    _limits(scenario, {"ann": 2})
    scenario.conv("held", assignee="ann", weight=1.5)
    scenario.conv("chat", ago=20, weight=1)
    scenario.conv("email", ago=10, weight=0.5)
    scenario.conv("chat-2", ago=5, weight=1)
    result = scenario.run(INBOX)
    assert [a.conversation for a in result.assignments] == ["email"]
    assert {s.conversation: s.reason for s in result.skips} == {
        "chat": SkipReason.ALL_AT_CAPACITY,
        "chat-2": SkipReason.ALL_AT_CAPACITY,
    }
    assert result.stopped is SkipReason.ALL_AT_CAPACITY  # she is full now
    assert _load(scenario, "ann") == 2


def test_a_later_page_is_read_for_a_lighter_conversation(scenario: Scenario) -> None:
    """Pages of one: the heavy conversation at the front never starves the light one
    on the next page (no head-of-line blocking by weight)."""
    scenario.setup(members=["ann"])
    _limits(scenario, {"ann": 1})
    scenario.conv("held", assignee="ann", weight=0.5)
    scenario.conv("heavy", ago=20, weight=1)
    scenario.conv("light", ago=10, weight=0.5)
    result = scenario.run(INBOX, limit=1)
    assert [a.conversation for a in result.assignments] == ["light"]


def test_unit_weights_stop_the_pass_as_before(scenario: Scenario) -> None:
    """With every weight 1 an agent at their limit is full: the pass stops at the
    first conversation, as Assignment v2's does."""
    scenario.setup(members=["ann"])
    _limits(scenario, {"ann": 1})
    scenario.conv("held", assignee="ann")
    scenario.convs([1, 2, 3])
    result = scenario.run(INBOX)
    assert result.assigned_count == 0
    assert result.stopped is SkipReason.ALL_AT_CAPACITY


def test_explain_shows_the_weight_and_the_load(scenario: Scenario) -> None:
    scenario.setup(members=["ann", "bob"])
    _limits(scenario, {"ann": 2, "bob": 2})
    scenario.conv("held-1", assignee="ann", weight=0.75)
    scenario.conv("held-2", assignee="ann", weight=0.75)
    scenario.conv("email", weight=0.5)
    scenario.conv("chat", weight=1)
    email = explain_conversation(scenario.app, "email")
    chat = explain_conversation(scenario.app, "chat")
    assert email.to_dict()["weight"] == 0.5
    assert "weight" not in chat.to_dict()  # 1: left out
    ann_email = next(a for a in email.agents if a.agent == "ann")
    ann_chat = next(a for a in chat.agents if a.agent == "ann")
    assert (ann_email.open_conversations, ann_email.eligible) == (1.5, True)
    assert (ann_chat.open_conversations, ann_chat.removed_by) == (
        1.5,
        AgentFilter.AT_CAPACITY.value,
    )
    assert chat.chosen == "bob"


def _world(clock: FakeClock) -> Scenario:
    scenario = Scenario(InMemoryBackend(clock=clock), clock)
    scenario.setup(members=["ann", "bob"])
    scenario.backend.add_inbox(SALES, account=ACCOUNT, members=["ann", "bob"])
    scenario.world.link_policy(SALES, scenario.POLICY)
    return scenario


@settings(max_examples=80, deadline=None)
@given(
    limits=st.tuples(st.integers(0, 4), st.integers(0, 4)),
    total=st.none() | st.integers(0, 5),
    arrivals=st.lists(
        st.tuples(st.sampled_from([INBOX, SALES]), st.sampled_from(WEIGHTS)),
        max_size=14,
    ),
    resolved=st.sets(st.integers(0, 13), max_size=5),
    online=st.sampled_from([("ann", "bob"), ("ann",), ("bob",)]),
)
def test_no_pass_takes_an_agent_past_a_weighted_limit(
    limits: tuple[int, int],
    total: int | None,
    arrivals: list[tuple[int, float]],
    resolved: set[int],
    online: tuple[str, ...],
) -> None:
    """Whatever arrives with whatever weights (resolutions between passes included),
    no pass takes an agent past their inbox limit or their total in weight, and a
    conversation waits only when no online agent has room for its weight."""
    clock = FakeClock()
    scenario = _world(clock)
    caps = dict(zip(("ann", "bob"), limits, strict=True))
    _limits(scenario, caps, total=total)
    for agent in ("ann", "bob"):
        if agent not in online:
            scenario.set_status(agent, "offline")
    for number, (inbox, weight) in enumerate(arrivals):
        scenario.conv(number, inbox=inbox, weight=weight, ago=100 - number)
        if number in resolved:
            held = sorted(
                (
                    c.id
                    for c in scenario.world.conversations.values()
                    if c.assignee is not None and c.status.value == "open"
                ),
                key=str,
            )
            if held:
                scenario.world.update_conversation(held[0], status="resolved")
        for each in (INBOX, SALES):
            scenario.run(each)
        for agent, limit in caps.items():
            for each in (INBOX, SALES):
                assert round(_load(scenario, agent, each) * 1000) <= limit * 1000
            if total is not None:
                assert round(_load(scenario, agent) * 1000) <= total * 1000
        for waiting in scenario.world.conversations.values():
            if not waiting.is_assignable:
                continue
            for agent in online:
                room_in_inbox = fits(
                    _load(scenario, agent, waiting.inbox), waiting.weight, caps[agent]
                )
                room_in_total = total is None or fits(
                    _load(scenario, agent), waiting.weight, total
                )
                assert not (room_in_inbox and room_in_total), (
                    f"{waiting.id} ({waiting.weight}) waits while {agent} has room"
                )


def test_the_cli_table_shows_weights_loads_and_totals(scenario: Scenario) -> None:
    """``autoassign explain``'s table: the conversation's weight, each agent's load in
    weight and (with a total limit) their total; none of it without weights."""
    import io  # noqa: PLC0415

    from rich.console import Console  # noqa: PLC0415

    from autoassign.simulate.render import render_conversation  # noqa: PLC0415

    def rendered(conversation: str) -> str:
        buffer = io.StringIO()
        explained = explain_conversation(scenario.app, conversation)
        render_conversation(Console(file=buffer, width=200), explained)
        return buffer.getvalue()

    scenario.setup(members=["ann"])
    _limits(scenario, {"ann": 2}, total=3)
    scenario.conv("held", assignee="ann", weight=0.25)
    scenario.conv("email", weight=0.5)
    scenario.conv("chat")
    email = rendered("email")
    assert "weight 0.5 (capacity" in email
    assert "total / limit" in email
    assert "0.25 / 2" in email  # her load in the inbox, exact
    assert "0.25 / 3" in email  # and across the account's inboxes
    assert "weight 1" not in rendered("chat")
