"""Weighted round robin (issue 18): turns in proportion to each agent's weight.

The bound (``autoassign.weights``): over a static run (the same members, all eligible,
fixed weights), after ``N`` assignments an agent of weight ``w`` in a team of total
weight ``W`` has had ``N * w / W``, give or take less than ``2 * w + 1``, at every step
and however the run is cut into passes. With every weight 1 the order is exactly round
robin's, whatever the eligibility and membership drift.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoassign import (
    AssignmentOrder,
    AssignmentPolicy,
    ConfigurationError,
    RankingInput,
    RoundRobinSelector,
    WeightedRoundRobinSelector,
    build_autoassign,
)
from autoassign.adapters.memory import (
    InMemoryBackend,
    InMemoryRotationStore,
    build_in_memory,
)
from autoassign.explain import explain_conversation
from autoassign.model import AgentId, InboxId
from autoassign.ports import RotationStore
from autoassign.testing import FakeClock
from autoassign.weights import (
    MAX_AGENT_WEIGHT,
    ROTATION_ROUND,
    InMemoryAgentWeights,
    check_weight,
    turn_stride,
)

ACCOUNT = "acme"
INBOX = "support"
WEIGHTS = [1, 1, 1, 2, 3, 4, 5, 7, 10, 16, 25, 50, 100]
"""Weights that divide ROTATION_ROUND (exact strides)."""


def _source(members: Sequence[AgentId], inbox: InboxId = INBOX) -> RankingInput:
    return RankingInput(
        inbox=inbox,
        members=members,
        open_counts={},
        last_assigned={},
        account=ACCOUNT,
    )


def _pass(
    selector: Any,
    members: Sequence[AgentId],
    count: int,
    eligible: Collection[AgentId] | None = None,
) -> list[AgentId]:
    """One pass of ``count`` conversations as the service walks a ranking: the first
    eligible candidate of each, then ``update``; ``finish`` at the end."""
    ranking = selector.rank(_source(members))
    picked: list[AgentId] = []
    for _ in range(count):
        agent = next(
            (a for a in ranking.candidates() if eligible is None or a in eligible),
            None,
        )
        if agent is None:
            break
        ranking.update(agent, assigned=True)
        picked.append(agent)
    ranking.finish()
    return picked


def _book(weights: Mapping[AgentId, int]) -> InMemoryAgentWeights:
    book = InMemoryAgentWeights()
    for agent, weight in weights.items():
        book.set_weight(ACCOUNT, agent, weight)
    return book


# -- the bound -----------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    weights=st.lists(st.sampled_from(WEIGHTS), min_size=1, max_size=8),
    passes=st.lists(st.integers(1, 60), min_size=1, max_size=40),
)
def test_shares_stay_within_the_bound_at_every_step(
    weights: list[int], passes: list[int]
) -> None:
    members = [f"agent-{at}" for at in range(len(weights))]
    weight_of = dict(zip(members, weights, strict=True))
    selector = WeightedRoundRobinSelector(InMemoryRotationStore(), _book(weight_of))
    total = sum(weights)
    counts: Counter[AgentId] = Counter()
    done = 0
    for size in passes:
        for agent in _pass(selector, members, size):
            counts[agent] += 1
            done += 1
            for member, weight in weight_of.items():
                ideal = done * weight / total
                assert abs(counts[member] - ideal) < 2 * weight + 1, (
                    member,
                    weight,
                    counts,
                    done,
                )


@settings(max_examples=30, deadline=None)
@given(weights=st.lists(st.integers(1, MAX_AGENT_WEIGHT), min_size=2, max_size=6))
def test_any_weight_within_the_bound_and_its_rounding(weights: list[int]) -> None:
    """Weights that do not divide ROTATION_ROUND: the stride is rounded down, so at
    most 7 parts per million more turns than the weight says."""
    members = [f"agent-{at}" for at in range(len(weights))]
    weight_of = dict(zip(members, weights, strict=True))
    selector = WeightedRoundRobinSelector(InMemoryRotationStore(), _book(weight_of))
    total = sum(weights)
    counts = Counter(_pass(selector, members, 4000))
    for member, weight in weight_of.items():
        slack = 4000 * weight / total * 7e-6
        assert abs(counts[member] - 4000 * weight / total) < 2 * weight + 1 + slack
        assert ROTATION_ROUND / turn_stride(weight) - weight < weight * 7e-6


def test_turns_interleave() -> None:
    selector = WeightedRoundRobinSelector(
        InMemoryRotationStore(), _book({"ann": 3, "bob": 1})
    )
    assert _pass(selector, ["ann", "bob"], 12) == ["ann", "ann", "bob", "ann"] * 3
    heavy = {"boss": 10, **{f"x{n}": 1 for n in range(10)}}
    selector = WeightedRoundRobinSelector(InMemoryRotationStore(), _book(heavy))
    picks = _pass(selector, list(heavy), 200)
    # the heavy agent has every other turn, never a run of its ten
    assert (
        max(
            len(run)
            for run in "".join(
                "B" if agent == "boss" else "." for agent in picks
            ).split(".")
        )
        == 1
    )
    assert Counter(picks)["boss"] == 100


# -- with every weight 1: round robin --------------------------------------------------


_DRIFT = st.lists(
    st.tuples(
        st.lists(st.sampled_from("ABCDEF"), unique=True, max_size=6),  # members
        st.sets(st.sampled_from("ABCDEF")),  # eligible
        st.integers(0, 8),  # conversations
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=120, deadline=None)
@given(steps=_DRIFT, weighted_book=st.booleans())
def test_every_weight_one_is_exactly_round_robin(
    steps: list[tuple[list[str], set[str], int]], weighted_book: bool
) -> None:
    """Eligibility and membership drift, passes of any size: the picks and the queue
    are round robin's, with no weights source or with one that names no weight."""
    plain = RoundRobinSelector(InMemoryRotationStore())
    weighted_store = InMemoryRotationStore()
    weighted = WeightedRoundRobinSelector(
        weighted_store, InMemoryAgentWeights() if weighted_book else None
    )
    for members, eligible, count in steps:
        assert _pass(weighted, members, count, eligible) == _pass(
            plain, members, count, eligible
        )
        assert list(weighted_store.order(INBOX, members=members)) == list(
            plain.rotation.order(INBOX, members=members)
        )


# -- eligibility, drift and weight changes ---------------------------------------------


def test_an_ineligible_agent_keeps_its_place_and_gets_one_early_turn() -> None:
    selector = WeightedRoundRobinSelector(
        InMemoryRotationStore(), _book({"A": 2, "B": 1, "C": 1})
    )
    members = ["A", "B", "C"]
    assert _pass(selector, members, 8, eligible={"B", "C"}) == ["B", "C"] * 4
    # A waited: first in line, then its share (two turns in four) from where the
    # others stand, not the eight turns it missed
    assert _pass(selector, members, 8) == ["A", "A", "B", "C"] * 2


def test_a_new_member_joins_at_the_back_and_a_weight_change_applies_next_turn() -> None:
    book = _book({"A": 1, "B": 1})
    selector = WeightedRoundRobinSelector(InMemoryRotationStore(), book)
    assert _pass(selector, ["A", "B"], 3) == ["A", "B", "A"]
    assert _pass(selector, ["A", "B", "C"], 3) == ["B", "A", "C"]
    book.set_weight(ACCOUNT, "C", 2)
    picks = Counter(_pass(selector, ["A", "B", "C"], 400))
    assert abs(picks["C"] - 200) < 2 * 2 + 1
    assert abs(picks["A"] - 100) < 2 * 1 + 1
    assert abs(picks["B"] - 100) < 2 * 1 + 1


def test_two_passes_from_the_same_read_both_charge_their_turns() -> None:
    """Overlapping passes (a lease that expired mid-pass): each replays its turns on
    what the store holds then; nothing is lost, and the shares come back in line."""
    store = InMemoryRotationStore()
    selector = WeightedRoundRobinSelector(store, _book({"A": 3, "B": 1}))
    members = ["A", "B"]
    counts: Counter[AgentId] = Counter()
    for _ in range(50):
        first = selector.rank(_source(members))
        second = selector.rank(_source(members))  # the same state
        for ranking in (first, second):
            for _ in range(3):
                agent = next(iter(ranking.candidates()))
                ranking.update(agent, assigned=True)
                counts[agent] += 1
        first.finish()
        second.finish()
    assert counts["A"] + counts["B"] == 300
    assert abs(counts["A"] - 225) <= 2 * 3 + 1 + 3 * 2  # the bound, plus one stale pass
    state = store.weighted_order(INBOX, members=members)
    assert state.tags["A"] // turn_stride(3) == counts["A"]
    assert state.tags["B"] // turn_stride(1) == counts["B"]


# -- the weights source ----------------------------------------------------------------


class _Failing:
    def __init__(self, answer: object = None) -> None:
        self.answer = answer
        self.calls = 0

    def agent_weights(
        self, account: object, agents: Collection[AgentId], *, inbox: InboxId
    ) -> Any:
        self.calls += 1
        if self.answer is None:
            raise ConnectionError("weights table unreachable")
        return self.answer


@pytest.mark.parametrize(
    ("answer", "named"),
    [
        (None, "weights table unreachable"),
        ({"A": 0}, "agent_weights['A'] must be an int from 1 to 100, got 0"),
        ({"A": 101}, "got 101"),
        ({"A": "3"}, "got '3'"),
        ({"A": True}, "got True"),
        ({"A": 2.0}, "got 2.0"),
        (["A"], "agent_weights must map agents to weights, got list"),
    ],
)
def test_a_failing_or_invalid_source_gives_round_robin_and_says_why(
    answer: object, named: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = _Failing(answer)
    weighted = WeightedRoundRobinSelector(InMemoryRotationStore(), source)
    plain = RoundRobinSelector(InMemoryRotationStore())
    with caplog.at_level(logging.WARNING, logger="autoassign"):
        for _ in range(3):
            assert _pass(weighted, ["A", "B", "C"], 4) == _pass(
                plain, ["A", "B", "C"], 4
            )
    assert source.calls == 3  # once per ranking
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        "agent weights could not be read" in m and named in m for m in messages
    ), messages


def test_the_weights_apply_again_once_the_source_answers() -> None:
    source = _Failing()
    selector = WeightedRoundRobinSelector(InMemoryRotationStore(), source)
    assert _pass(selector, ["A", "B"], 4) == ["A", "B", "A", "B"]
    source.answer = {"A": 3, "Z": 7}  # Z is no member: ignored
    assert Counter(_pass(selector, ["A", "B"], 40)) == {"A": 30, "B": 10}


def test_a_failing_source_loses_no_assignment() -> None:
    backend = InMemoryBackend(clock=FakeClock())
    backend.add_account(ACCOUNT)
    backend.add_inbox(INBOX, account=ACCOUNT, members=["A", "B"])
    backend.add_policy(
        AssignmentPolicy(
            id="p", account=ACCOUNT, assignment_order="weighted_round_robin"
        ),
        inboxes=[INBOX],
    )
    for agent in ("A", "B"):
        backend.set_status(ACCOUNT, agent, "online")
    for number in range(6):
        backend.add_conversation(number, inbox=INBOX)
    app = build_in_memory(backend, agent_weights=_Failing())
    result = app.service.perform_bulk_assignment(INBOX)
    assert [a.agent for a in result.assignments] == ["A", "B"] * 3
    assert not result.degraded


def test_weights_are_checked_at_every_boundary() -> None:
    book = InMemoryAgentWeights()
    for bad in (0, -1, MAX_AGENT_WEIGHT + 1, 1.5, "2", True, None.__class__):
        with pytest.raises(ConfigurationError, match="weight must be an int from 1"):
            book.set_weight(ACCOUNT, "A", bad)  # type: ignore[arg-type]
    assert check_weight(MAX_AGENT_WEIGHT) == MAX_AGENT_WEIGHT
    with pytest.raises(ConfigurationError) as caught:
        build_autoassign(
            directory=None,  # type: ignore[arg-type]
            conversations=None,  # type: ignore[arg-type]
            presence=None,  # type: ignore[arg-type]
            ledger=None,  # type: ignore[arg-type]
            rotation=None,  # type: ignore[arg-type]
            lease=None,  # type: ignore[arg-type]
            events=None,  # type: ignore[arg-type]
            jobs=None,  # type: ignore[arg-type]
            agent_weights={"A": 2},  # type: ignore[arg-type]
        )
    assert caught.value.field == "agent_weights"


def test_in_memory_weights_per_account_and_inbox() -> None:
    book = InMemoryAgentWeights()
    book.set_weight(ACCOUNT, "A", 3)
    book.set_weight(ACCOUNT, "A", 5, inbox="vip")
    book.set_weight("other", "B", 2)
    assert book.agent_weights(ACCOUNT, ["A", "B"], inbox=INBOX) == {"A": 3}
    assert book.agent_weights(ACCOUNT, ["A", "B"], inbox="vip") == {"A": 5}
    book.set_weight(ACCOUNT, "A", None, inbox="vip")
    assert book.agent_weights(ACCOUNT, ["A"], inbox="vip") == {"A": 3}
    book.set_weight(ACCOUNT, "A", None)
    assert book.agent_weights(ACCOUNT, ["A"], inbox=INBOX) == {}


class _PlainStore:
    """A rotation store without WeightedRotation (a host's own)."""

    def __init__(self) -> None:
        self._inner = InMemoryRotationStore()

    def select(self, inbox: InboxId, *, members: Any, eligible: Any) -> Any:
        return self._inner.select(inbox, members=members, eligible=eligible)

    def order(self, inbox: InboxId, *, members: Any) -> Any:
        return self._inner.order(inbox, members=members)

    def advance(self, inbox: InboxId, *, members: Any, agents: Any) -> None:
        self._inner.advance(inbox, members=members, agents=agents)


def test_a_store_without_weighted_rotation_ranks_as_round_robin(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store: RotationStore = _PlainStore()
    selector = WeightedRoundRobinSelector(store, _book({"A": 3}))
    with caplog.at_level(logging.WARNING, logger="autoassign"):
        assert _pass(selector, ["A", "B"], 4) == ["A", "B", "A", "B"]
    assert any("ports.WeightedRotation" in r.getMessage() for r in caplog.records)
    standings = selector.standings(ACCOUNT, INBOX, members=["A", "B"])
    assert [(s.agent, s.weight, s.place) for s in standings] == [
        ("A", 1, 1),
        ("B", 1, 2),
    ]


# -- explain ---------------------------------------------------------------------------


def test_explain_shows_each_agents_weight_and_place() -> None:
    backend = InMemoryBackend(clock=FakeClock())
    backend.add_account(ACCOUNT)
    backend.add_inbox(INBOX, account=ACCOUNT, members=["A", "B", "C"])
    backend.add_policy(
        AssignmentPolicy(
            id="p",
            account=ACCOUNT,
            assignment_order=AssignmentOrder.WEIGHTED_ROUND_ROBIN,
        ),
        inboxes=[INBOX],
    )
    for agent in ("A", "C"):
        backend.set_status(ACCOUNT, agent, "online")
    backend.add_conversation(1, inbox=INBOX)
    book = _book({"A": 3})
    app = build_in_memory(backend, agent_weights=book)
    explained = explain_conversation(app, 1)
    assert explained.selector == "weighted_round_robin"
    assert explained.chosen == "A"
    rows = {a.agent: (a.rotation_weight, a.rotation_place) for a in explained.agents}
    assert rows == {"A": (3, 1), "B": (1, 2), "C": (1, 3)}
    as_dict = explained.to_dict()["agents"]
    assert as_dict[0]["rotation_weight"] == 3
    assert as_dict[0]["rotation_place"] == 1
    # other orders leave the keys out
    backend.add_policy(AssignmentPolicy(id="q", account=ACCOUNT), inboxes=[INBOX])
    assert "rotation_weight" not in explain_conversation(app, 1).to_dict()["agents"][0]
