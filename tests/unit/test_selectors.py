"""Selectors (issue 2, behaviour 7): round robin (selected agent to the back, ineligible
agents keep their place, membership drift reconciled, new members at the back); balanced
(fewest open conversations in the inbox; ties: the round-robin queue, which both
selectors advance); a host's own selector."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoassign import (
    AssigneeChanged,
    AssignmentOrder,
    AssignmentPolicy,
    Degradation,
    RankingInput,
    SelectionContext,
    SkipReason,
)
from autoassign.selection import reconcile_queue
from autoassign.testing import build_in_memory

ACCOUNT, INBOX = 1, 10


def _order(scenario: Any, inbox: Any = INBOX) -> list[Any]:
    members = scenario.world.inbox_members(inbox)
    return list(scenario.backend.rotation.order(inbox, members=members))


def _one(scenario: Any, conversation: Any) -> Any:
    scenario.conv(conversation)
    result = scenario.run()
    assert result.assigned_count == 1, result.skips
    return result.assignments[0].agent


# -- round robin ---------------------------------------------------------------------------


def test_round_robin_spec_example(scenario: Any) -> None:
    scenario.setup(members=["A", "B", "C"])
    assert _order(scenario) == ["A", "B", "C"]
    assert _one(scenario, 1) == "A"
    assert _order(scenario) == ["B", "C", "A"]
    assert _one(scenario, 2) == "B"
    assert _order(scenario) == ["C", "A", "B"]
    assert _one(scenario, 3) == "C"
    assert _order(scenario) == ["A", "B", "C"]


def test_round_robin_within_one_pass(scenario: Any) -> None:
    scenario.setup(members=["A", "B", "C"])
    scenario.convs(range(1, 8))
    result = scenario.run()
    assert [a.agent for a in result.assignments] == ["A", "B", "C", "A", "B", "C", "A"]


def test_an_ineligible_agent_keeps_its_place(scenario: Any) -> None:
    scenario.setup(members=["A", "B", "C"])
    scenario.set_status("B", "busy")
    assert _one(scenario, 1) == "A"
    assert _order(scenario) == ["B", "C", "A"]
    assert _one(scenario, 2) == "C"
    assert _order(scenario) == ["B", "A", "C"]  # B was skipped, not rotated
    scenario.set_status("B", "online")
    assert _one(scenario, 3) == "B"
    assert _order(scenario) == ["A", "C", "B"]


def test_membership_drift_removed_leave_new_join_at_the_back(scenario: Any) -> None:
    scenario.setup(members=["A", "B", "C"])
    assert _one(scenario, 1) == "A"  # queue B, C, A
    scenario.world.remove_member(INBOX, "B")
    scenario.world.add_member(INBOX, "D")
    scenario.set_status("D", "online")
    assert _order(scenario) == ["C", "A", "D"]
    assert _one(scenario, 2) == "C"
    assert _one(scenario, 3) == "A"
    assert _one(scenario, 4) == "D"
    # B comes back: at the back, behind everyone.
    scenario.world.add_member(INBOX, "B")
    assert _order(scenario) == ["C", "A", "D", "B"]


def test_reconcile_queue_drops_duplicates_and_strangers() -> None:
    assert reconcile_queue(["C", "X", "A", "C", "B"], ["A", "B", "C", "D"]) == [
        "C",
        "A",
        "B",
        "D",
    ]
    assert reconcile_queue([], ["A", "B"]) == ["A", "B"]
    assert reconcile_queue(["A"], []) == []
    # A one-shot iterator is read once, not twice.
    assert reconcile_queue(iter(["B", "X"]), ["A", "B"]) == ["B", "A"]


def test_round_robin_queues_are_per_inbox(scenario: Any) -> None:
    scenario.setup(members=["A", "B"])
    scenario.backend.add_inbox(20, account=ACCOUNT, members=["A", "B"])
    scenario.world.link_policy(20, 1)
    assert _one(scenario, 1) == "A"
    scenario.conv(2, inbox=20)
    assert scenario.run(20).assignments[0].agent == "A"


def test_round_robin_preview_does_not_rotate(scenario: Any) -> None:
    scenario.setup(members=["A", "B"])
    selector = scenario.app.service.selector_for(AssignmentOrder.ROUND_ROBIN)
    conversation = scenario.conv(1)
    context = SelectionContext(
        inbox=INBOX,
        conversation=conversation,
        members=["A", "B"],
        eligible=["B"],
        open_counts={},
        last_assigned={},
    )
    assert selector.preview(context) == "B"
    assert selector.preview(context) == "B"
    assert scenario.backend.rotation._queues == {}
    # A pass's ranking writes nothing until it finishes, and then the moves it made.
    ranking = selector.rank(
        RankingInput(
            inbox=INBOX,
            members=["A", "B"],
            open_counts={},
            last_assigned={},
        )
    )
    assert list(ranking.candidates()) == ["A", "B"]
    ranking.update("B", assigned=True)
    ranking.update("A", assigned=False)
    assert list(ranking.candidates()) == ["A", "B"]
    ranking.update("A", assigned=True)
    assert list(ranking.candidates()) == ["B", "A"]
    assert scenario.backend.rotation._queues == {}
    ranking.finish()
    assert _order(scenario) == ["B", "A"]


@given(
    agents=st.integers(1, 5),
    passes=st.lists(st.integers(0, 9), max_size=6),
)
@settings(max_examples=60)
def test_round_robin_spread_is_at_most_one(
    make_scenario: Any, agents: int, passes: list[int]
) -> None:
    """Continuously eligible agents never differ by more than one assignment."""
    scenario = make_scenario()
    names = [f"a{i}" for i in range(agents)]
    scenario.setup(members=names)
    counts: Counter[str] = Counter(dict.fromkeys(names, 0))
    next_id = 1
    for size in passes:
        for _ in range(size):
            scenario.conv(next_id)
            next_id += 1
        for assignment in scenario.run().assignments:
            counts[assignment.agent] += 1
            assert max(counts.values()) - min(counts.values()) <= 1


# -- balanced ------------------------------------------------------------------------------


def _balanced(scenario: Any, members: list[str], **kw: Any) -> None:
    scenario.setup(
        members=members,
        policy=AssignmentPolicy(id=1, account=ACCOUNT, assignment_order="balanced"),
        **kw,
    )


def test_balanced_spec_example_5_3_8(scenario: Any) -> None:
    _balanced(scenario, ["A", "B", "C"])
    for agent, held, start in (("A", 5, 100), ("B", 3, 200), ("C", 8, 300)):
        for number in range(start, start + held):
            scenario.conv(number, assignee=agent)
    assert _one(scenario, 1) == "B"  # A 5, B 4, C 8
    assert _one(scenario, 2) == "B"  # A 5, B 5, C 8


def test_balanced_ties_go_to_the_agent_waiting_longest(scenario: Any) -> None:
    _balanced(scenario, ["a", "b"], online=["b"])
    assert _one(scenario, 1) == "b"
    scenario.clock.advance(60)
    scenario.set_status("a", "online")
    scenario.set_status("b", "offline")
    assert _one(scenario, 2) == "a"
    scenario.world.update_conversation(1, status="resolved")
    scenario.world.update_conversation(2, status="resolved")
    scenario.set_status("b", "online")
    scenario.clock.advance(60)
    # 0 open each: b's last assignment is older than a's, though "a" < "b".
    assert _order(scenario) == ["b", "a"]
    assert _one(scenario, 3) == "b"


def test_balanced_a_member_not_yet_assigned_goes_before_one_just_assigned(
    scenario: Any,
) -> None:
    _balanced(scenario, ["a", "z"], online=["a"])
    assert _one(scenario, 1) == "a"
    scenario.world.update_conversation(1, status="resolved")
    scenario.set_status("z", "online")
    assert _one(scenario, 2) == "z"


def test_balanced_ties_within_a_pass_count_the_pass_own_assignments(
    scenario: Any,
) -> None:
    """The pass keeps open counts and the queue current as it assigns."""
    _balanced(scenario, ["a", "b"], online=["a"])
    assert _one(scenario, 1) == "a"
    scenario.world.update_conversation(1, status="resolved")
    scenario.clock.advance(60)
    scenario.set_status("b", "online")
    scenario.convs([2, 3, 4])
    result = scenario.run()
    # 2: 0 open each, b ahead in the queue; 3: b has 1 open, a 0; 4: 1 open each,
    # and b has waited since 2 while a was just assigned.
    assert [a.agent for a in result.assignments] == ["b", "a", "b"]
    assert _order(scenario) == ["a", "b"]


def test_balanced_full_tie_in_a_new_inbox_follows_member_order(scenario: Any) -> None:
    _balanced(scenario, ["cho", "ann", "bob"])
    assert _one(scenario, 1) == "cho"
    assert _order(scenario) == ["ann", "bob", "cho"]


def test_balanced_and_round_robin_share_the_queue(scenario: Any) -> None:
    """Switching an inbox between the two keeps everyone's place in line."""
    _balanced(scenario, ["A", "B", "C"])
    scenario.convs([1, 2])
    assert [a.agent for a in scenario.run().assignments] == ["A", "B"]
    scenario.backend.add_policy(
        AssignmentPolicy(id=2, account=ACCOUNT, assignment_order="round_robin"),
        inboxes=[INBOX],
    )
    assert _one(scenario, 3) == "C"  # not A: A and B had their turns under balanced


def test_balanced_skips_a_busier_agent_without_moving_it(scenario: Any) -> None:
    _balanced(scenario, ["A", "B", "C"])
    scenario.conv(100, assignee="A")
    assert _one(scenario, 1) == "B"
    # A was passed over (busier), so it keeps its place at the front.
    assert _order(scenario) == ["A", "C", "B"]


def test_balanced_after_the_spec_example_continues_to_balance(scenario: Any) -> None:
    _balanced(scenario, ["A", "B", "C"])
    for agent, held, start in (("A", 5, 100), ("B", 3, 200), ("C", 8, 300)):
        for number in range(start, start + held):
            scenario.conv(number, assignee=agent)
    scenario.convs(range(1, 8))
    result = scenario.run()
    # B, B, then A/B alternate at equal load, then C joins at 8.
    counts = Counter(a.agent for a in result.assignments)
    assert counts == Counter({"A": 3, "B": 4})
    assert [a.agent for a in result.assignments][:2] == ["B", "B"]


def test_balanced_counts_only_open_in_this_inbox(scenario: Any) -> None:
    _balanced(scenario, ["A", "B"])
    scenario.backend.add_inbox(20, account=ACCOUNT, members=["A", "B"])
    for number in range(100, 110):
        scenario.conv(number, assignee="A", inbox=20)
        scenario.conv(number + 100, assignee="A", status="resolved")
    scenario.conv(300, assignee="B")
    assert _one(scenario, 1) == "A"


@given(
    held=st.dictionaries(
        st.sampled_from(["ann", "bob", "cho", "dee"]), st.integers(0, 6), min_size=1
    ),
    backlog=st.integers(0, 10),
)
@settings(max_examples=60)
def test_balanced_always_picks_a_least_loaded_agent(
    make_scenario: Any, held: dict[str, int], backlog: int
) -> None:
    scenario = make_scenario()
    _balanced(scenario, list(held))
    next_id = 1000
    for agent, count in held.items():
        for _ in range(count):
            scenario.conv(next_id, assignee=agent)
            next_id += 1
    scenario.convs(range(1, backlog + 1))
    load = dict(held)
    result = scenario.run()
    for assignment in result.assignments:
        assert load[assignment.agent] == min(load.values())
        load[assignment.agent] += 1
    # Everyone is online and unlimited: the whole backlog goes.
    assert result.assigned_count == backlog


class _Broken:
    def __init__(self, order: list[Any]) -> None:
        self.order = order

    def candidates(self) -> Iterator[Any]:
        raise RuntimeError("ranking broke")

    def update(self, agent: Any, *, assigned: bool) -> None:
        return None

    def finish(self) -> None:
        return None


# -- a host's own selector -------------------------------------------------------------------


@attrs.define
class _Fixed:
    order: list[Any]
    finished: int = 0

    def candidates(self) -> Iterator[Any]:
        return iter(self.order)

    def update(self, agent: Any, *, assigned: bool) -> None:
        return None

    def finish(self) -> None:
        self.finished += 1


@attrs.define
class LastEligible:
    """Prefers the last member: a ranking in reverse member order."""

    name: str = "last_eligible"
    needs_open_counts: bool = False
    seen: list[RankingInput] = attrs.field(factory=list)
    rankings: list[_Fixed] = attrs.field(factory=list)

    def rank(self, source: RankingInput) -> _Fixed:
        self.seen.append(source)
        self.rankings.append(_Fixed(list(reversed(source.members))))
        return self.rankings[-1]

    def preview(self, context: SelectionContext) -> Any:
        return context.eligible[-1]


def test_a_host_selector_replaces_round_robin(scenario: Any) -> None:
    scenario.setup(members=["A", "B", "C"])
    scenario.set_status("C", "busy")
    scenario.convs([1, 2])
    selector = LastEligible()
    app = build_in_memory(
        scenario.backend, selectors={AssignmentOrder.ROUND_ROBIN: selector}, strict=True
    )
    result = app.service.perform_bulk_assignment(INBOX)
    assert [a.agent for a in result.assignments] == ["B", "B"]
    assert [e.selector for e in scenario.backend.events.of_type(AssigneeChanged)] == [
        "last_eligible"
    ] * 2
    assert list(selector.seen[0].members) == ["A", "B", "C"]
    assert [ranking.finished for ranking in selector.rankings] == [1]
    assert scenario.backend.rotation._queues == {}


def test_a_host_selector_for_balanced_leaves_round_robin_alone(scenario: Any) -> None:
    scenario.setup(members=["A", "B"])
    scenario.build(selectors={AssignmentOrder.BALANCED: LastEligible()})
    scenario.convs([1, 2])
    assert [a.agent for a in scenario.run().assignments] == ["A", "B"]


@pytest.mark.parametrize(
    ("choice", "reason"),
    [
        (lambda source: _Fixed([]), SkipReason.NO_AGENT_SELECTED),
        (lambda source: _Fixed(["stranger"]), SkipReason.NO_AGENT_SELECTED),
        (lambda source: _Broken([]), SkipReason.BACKEND_ERROR),
    ],
)
def test_a_misbehaving_selector_assigns_nothing(
    scenario: Any, choice: Any, reason: SkipReason
) -> None:
    """A ranking that names nobody, names a non-member (online, but never assigned), or
    raises while walked: nothing is assigned and nothing is written."""

    @attrs.define
    class Bad:
        name: str = "bad"
        needs_open_counts: bool = False

        def rank(self, source: RankingInput) -> Any:
            return choice(source)

        def preview(self, context: SelectionContext) -> Any:
            return None

    scenario.setup(members=["A"])
    scenario.set_status("stranger", "online")
    scenario.convs([1, 2])
    app = scenario.build(selectors={AssignmentOrder.ROUND_ROBIN: Bad()})
    result = app.service.perform_bulk_assignment(INBOX)
    assert result.assigned_count == 0
    assert [s.reason for s in result.skips] == [reason, reason]
    assert scenario.assignee(1) is None
    assert scenario.backend.events.events == []
    # No ledger entry survives a selection that did not end in a claim.
    assert scenario.snapshot()["ledger"] == {}


@pytest.mark.parametrize("order", list(AssignmentOrder))
def test_a_selector_that_cannot_rank_degrades_to_membership_order(
    scenario: Any, order: AssignmentOrder
) -> None:
    """The rotation store (or a host selector) fails to rank: the pass ranks the
    members in membership order (balanced, and most-available with no limits:
    fewest open first), reports
    ``rotation_unavailable`` and writes nothing to the rotation."""

    @attrs.define
    class Down:
        name: str = "down"
        needs_open_counts: bool = order is not AssignmentOrder.ROUND_ROBIN
        needs_last_assigned: bool = False

        def rank(self, source: RankingInput) -> Any:
            raise ConnectionError("rotation store down")

        def preview(self, context: SelectionContext) -> Any:
            return None

    scenario.setup(
        members=["C", "A", "B"],
        policy=AssignmentPolicy(
            id=scenario.POLICY, account=scenario.ACCOUNT, assignment_order=order
        ),
    )
    scenario.conv("held", assignee="C")  # C has one open conversation already
    scenario.convs([1, 2, 3, 4])
    app = scenario.build(selectors={order: Down()})
    result = app.service.perform_bulk_assignment(INBOX)
    assert result.degraded == {Degradation.ROTATION_UNAVAILABLE}
    expected = (
        ["C", "A", "B", "C"]
        if order is AssignmentOrder.ROUND_ROBIN
        else ["A", "B", "C", "A"]
    )
    assert [a.agent for a in result.assignments] == expected
    assert scenario.backend.rotation._queues == {}
