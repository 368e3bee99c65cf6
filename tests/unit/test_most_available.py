"""The third assignment order, ``most_available`` (issue 18): the agent whose share of
their capacity limit in the inbox would be lowest once they take the conversation.

What it guarantees, checked against every allocation of the same conversations: at
every step the highest share of the team is as low as any allocation could make it (it
takes, in turn, the smallest of the shares ``k / limit``). With equal limits it picks as
balanced does. A smallest spread at *every* step is not something any order
can keep when limits differ and nothing is reassigned: with limits 1, 1 and 3, the
best two conversations are both the third agent's (shares 0, 0, 2/3), the best three
are one each (1, 1, 1/3), and the first cannot grow into the second."""

from __future__ import annotations

import itertools
from collections import Counter
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoassign import (
    AssignmentOrder,
    AssignmentPolicy,
    CapacityPolicy,
    Degradation,
    MostAvailableSelector,
    RankingInput,
)
from autoassign.adapters.memory import InMemoryRotationStore
from autoassign.explain import explain_conversation
from autoassign.selection import fallback_ranking

from .conftest import ACCOUNT, INBOX, POLICY

ORDER = AssignmentOrder.MOST_AVAILABLE


def _team(scenario: Any, limits: dict[str, int | None], **options: Any) -> None:
    """An inbox whose members each have their own capacity policy (``None``: none)."""
    scenario.setup(
        members=list(limits),
        policy=AssignmentPolicy(id=POLICY, account=ACCOUNT, assignment_order=ORDER),
        **options,
    )
    for number, (agent, limit) in enumerate(limits.items(), start=1):
        if limit is not None:
            scenario.backend.add_capacity_policy(
                CapacityPolicy(
                    id=100 + number,
                    account=ACCOUNT,
                    inbox_limits={INBOX: limit},
                    agents={agent},
                )
            )


def _held(scenario: Any, agent: str, count: int, start: int) -> None:
    for number in range(start, start + count):
        scenario.conv(number, assignee=agent)


def _assigned(scenario: Any, ids: Any) -> list[Any]:
    scenario.convs(ids)
    return [a.agent for a in scenario.run().assignments]


def test_the_lowest_share_after_taking_wins(scenario: Any) -> None:
    # ann 2 of 4 open (would be 3/4), bob 1 of 2 (would be 2/2), cy 3 of 10 (4/10)
    _team(scenario, {"ann": 4, "bob": 2, "cy": 10})
    _held(scenario, "ann", 2, 100)
    _held(scenario, "bob", 1, 200)
    _held(scenario, "cy", 3, 300)
    assert _assigned(scenario, [1]) == ["cy"]


def test_agents_with_different_limits_fill_up_evenly(scenario: Any) -> None:
    _team(scenario, {"small": 2, "big": 6})
    assigned = _assigned(scenario, range(1, 9))
    # big (1/6), big (2/6), small (1/2 = 3/6, fewer open), big (3/6), ...
    assert assigned[:4] == ["big", "big", "small", "big"]
    assert Counter(assigned) == Counter({"small": 2, "big": 6})


def test_equal_shares_go_to_fewer_open(scenario: Any) -> None:
    _team(scenario, {"ann": 2, "bob": 4})
    _held(scenario, "bob", 1, 100)
    assert _assigned(scenario, [1]) == ["ann"]  # 1/2 == 2/4: ann has fewer open


def test_full_ties_go_to_the_queue(scenario: Any) -> None:
    _team(scenario, {"ann": 2, "bob": 2})
    # 1: both 1/2 with 0 open: ann first in line; 3: both 2/2 with 1 open: ann again,
    # since bob took 2 after her
    assert _assigned(scenario, [1, 2, 3, 4]) == ["ann", "bob", "ann", "bob"]


def test_an_agent_without_a_limit_counts_as_empty(scenario: Any) -> None:
    _team(scenario, {"free": None, "capped": 5})
    _held(scenario, "free", 3, 100)
    # capped would be at 1/5; free at 0: free takes it (then balanced among the free)
    assert _assigned(scenario, [1]) == ["free"]


def test_without_capacity_policies_it_is_balanced(scenario: Any) -> None:
    _team(scenario, {"A": None, "B": None, "C": None})
    for agent, held, start in (("A", 5, 100), ("B", 3, 200), ("C", 8, 300)):
        _held(scenario, agent, held, start)
    assert _assigned(scenario, [1, 2]) == ["B", "B"]  # the spec's 5/3/8 example


def test_full_agents_are_not_chosen(scenario: Any) -> None:
    _team(scenario, {"ann": 1, "bob": 1})
    assert sorted(_assigned(scenario, [1, 2, 3])) == ["ann", "bob"]
    left = scenario.world.get(3)
    assert left is not None
    assert left.assignee is None


def test_the_chosen_agent_moves_to_the_back_of_the_shared_queue(scenario: Any) -> None:
    _team(scenario, {"A": 3, "B": 3, "C": 3})
    assert _assigned(scenario, [1]) == ["A"]
    assert list(scenario.backend.rotation.order(INBOX, members=["A", "B", "C"])) == [
        "B",
        "C",
        "A",
    ]


def test_explain_previews_the_same_agent(scenario: Any) -> None:
    _team(scenario, {"ann": 4, "bob": 2, "cy": 10})
    _held(scenario, "ann", 2, 100)
    _held(scenario, "cy", 5, 300)
    scenario.conv(1)
    app = scenario.build()
    explained = explain_conversation(app.service, 1)
    assert explained.selector == "most_available"
    # ann would be at 3/4, bob at 1/2, cy at 6/10: bob
    assert explained.chosen == "bob"
    assert [
        a.agent for a in app.service.perform_bulk_assignment(INBOX).assignments
    ] == ["bob"]


def test_it_degrades_to_membership_order_by_share(scenario: Any) -> None:
    """A rotation store that cannot rank: the same shares, membership order for ties,
    nothing written to the rotation."""
    source = RankingInput(
        inbox=INBOX,
        members=["C", "A", "B"],
        open_counts={"C": 1},
        last_assigned={},
        limits={"C": 4, "A": 2, "B": 2},
    )
    ranking = fallback_ranking(source, balanced=True, most_available=True)
    # C 2/4, A 1/2, B 1/2: C has more open, so A then B then C
    assert list(ranking.candidates()) == ["A", "B", "C"]

    class Down(InMemoryRotationStore):
        def order(self, *args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("down")

    _team(scenario, {"C": 4, "A": 2, "B": 2})
    _held(scenario, "C", 1, 100)
    scenario.convs([1])
    app = scenario.build(rotation=Down())
    result = app.service.perform_bulk_assignment(INBOX)
    assert result.degraded == {Degradation.ROTATION_UNAVAILABLE}
    assert [a.agent for a in result.assignments] == ["A"]


def test_the_selector_is_public_and_named() -> None:
    selector = MostAvailableSelector(InMemoryRotationStore())
    assert selector.name == ORDER.value
    assert selector.needs_open_counts
    assert not selector.needs_last_assigned


def test_no_order_keeps_the_smallest_spread_at_every_step() -> None:
    """Why the guarantee is about the highest share: the counterexample above."""
    limits = (1, 1, 3)

    def best(total: int) -> set[tuple[int, ...]]:
        allocations = [
            a
            for a in itertools.product(*(range(limit + 1) for limit in limits))
            if sum(a) == total
        ]
        spread = {a: _spread(a, limits) for a in allocations}
        low = min(spread.values())
        return {a for a, s in spread.items() if s == low}

    assert best(2) == {(0, 0, 2)}
    assert best(3) == {(1, 1, 1)}


def _spread(opens: tuple[int, ...], limits: tuple[int, ...]) -> Fraction:
    shares = [Fraction(o, limit) for o, limit in zip(opens, limits, strict=True)]
    return max(shares) - min(shares)


@given(
    limits=st.lists(st.integers(1, 6), min_size=1, max_size=5),
    held=st.lists(st.integers(0, 6), min_size=5, max_size=5),
    batches=st.lists(st.integers(1, 6), min_size=1, max_size=5),
)
@settings(max_examples=80)
def test_every_step_keeps_the_highest_share_as_low_as_possible(
    make_scenario: Any, limits: list[int], held: list[int], batches: list[int]
) -> None:
    """A static team (everyone online, limits fixed) starting from any open counts:
    after every assignment, the highest share ``open / limit`` of the team is the
    lowest any allocation of the same new conversations could reach (the same total,
    nobody's open count lowered, nobody over their limit), and nobody with room is
    left while a conversation waits."""
    scenario = make_scenario()
    names = [f"a{i}" for i in range(len(limits))]
    _team(scenario, dict(zip(names, limits, strict=True)))
    start = [min(h, limit) for h, limit in zip(held, limits, strict=False)]
    next_id = 1000
    for agent, count in zip(names, start, strict=True):
        _held(scenario, agent, count, next_id)
        next_id += count
    opens = dict(zip(names, start, strict=True))
    conversation = 1
    for size in batches:
        scenario.convs(range(conversation, conversation + size))
        conversation += size
        for assignment in scenario.run().assignments:
            opens[assignment.agent] += 1
            assert opens[assignment.agent] <= limits[names.index(assignment.agent)]
            highest = max(
                Fraction(opens[a], limit)
                for a, limit in zip(names, limits, strict=True)
            )
            assert highest == _lowest_highest_share(start, limits, sum(opens.values()))
        # nobody left with room while a conversation waits
        waiting = [
            c for c in scenario.world.conversations.values() if c.assignee is None
        ]
        if waiting:
            assert all(
                opens[a] == limit for a, limit in zip(names, limits, strict=True)
            )


def _lowest_highest_share(start: list[int], limits: list[int], total: int) -> Fraction:
    """The lowest highest share of any allocation reaching ``total`` from ``start``."""
    lowest: Fraction | None = None
    for allocation in itertools.product(
        *(range(s, limit + 1) for s, limit in zip(start, limits, strict=True))
    ):
        if sum(allocation) != total:
            continue
        highest = max(
            Fraction(o, limit) for o, limit in zip(allocation, limits, strict=True)
        )
        lowest = highest if lowest is None or highest < lowest else lowest
    assert lowest is not None
    return lowest


@pytest.mark.parametrize("agents", [10, 1000])
def test_a_large_team_is_ranked_and_assigned(scenario: Any, agents: int) -> None:
    """A pass over 10 and 1,000 equal agents assigns its whole backlog (its cost is
    measured outside the suite, not here)."""
    names = [f"agent-{n}" for n in range(agents)]
    _team(scenario, dict.fromkeys(names, 50))
    assert len(_assigned(scenario, range(1, 21))) == 20
