"""The pass reads the ledger lazily: usage only for the online agents its walk reaches,
in batches of ``service.usage_batch``; a host selector that needs last-assignment times
gets them in one ``last_assigned`` read (the built-in selectors need none). Batching
never changes a decision."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoassign import (
    AssignmentOrder,
    AssignmentPolicy,
    Degradation,
    RankingInput,
    SelectionContext,
)

from .conftest import ACCOUNT, INBOX, POLICY


def _policy(
    limit: int | None, order: AssignmentOrder = AssignmentOrder.ROUND_ROBIN
) -> AssignmentPolicy:
    return AssignmentPolicy(
        id=POLICY,
        account=ACCOUNT,
        name="p",
        fair_distribution_limit=limit,
        assignment_order=order,
    )


def _record(scenario: Any, agent: Any, conversation: Any, ago: float) -> None:
    at = scenario.clock.now() - timedelta(seconds=ago)
    assert scenario.backend.ledger.try_record(
        INBOX, agent, conversation, now=at, window=timedelta(hours=1), limit=None
    )


def test_usage_is_read_for_the_agents_the_walk_reaches_not_every_member(
    scenario: Any, wrap: Any
) -> None:
    members = list(range(1, 301))
    scenario.setup(members=members, policy=_policy(limit=50))
    for agent in members:
        _record(scenario, agent, f"old-{agent}", ago=60)
    scenario.convs(["c1", "c2", "c3"])
    ledger = wrap(scenario.backend.ledger)
    app = scenario.build(ledger=ledger)
    app.service.usage_batch = 10
    result = app.service.perform_bulk_assignment(INBOX)
    assert [a.agent for a in result.assignments] == [1, 2, 3]
    reads = [list(call[0][1]) for call in ledger.called("usage")]
    assert reads == [list(range(1, 11))]  # one batch, in queue order


def test_a_walk_past_the_batch_reads_the_next_batch(scenario: Any, wrap: Any) -> None:
    """Agents 1-4 are full: the walk reads 1-2, then 3-4, then 5-6 and stops at 5."""
    members = list(range(1, 9))
    scenario.setup(members=members, policy=_policy(limit=1))
    for agent in range(1, 5):
        _record(scenario, agent, f"old-{agent}", ago=60)
    scenario.convs(["c1"])
    ledger = wrap(scenario.backend.ledger)
    app = scenario.build(ledger=ledger)
    app.service.usage_batch = 2
    result = app.service.perform_bulk_assignment(INBOX)
    assert [a.agent for a in result.assignments] == [5]
    reads = [list(call[0][1]) for call in ledger.called("usage")]
    assert reads == [[1, 2], [3, 4], [5, 6]]


def test_offline_agents_are_not_read(scenario: Any, wrap: Any) -> None:
    scenario.setup(members=[1, 2, 3, 4, 5], online=[2, 4, 5], policy=_policy(limit=9))
    scenario.convs(["c1"])
    ledger = wrap(scenario.backend.ledger)
    app = scenario.build(ledger=ledger)
    app.service.usage_batch = 2
    assert app.service.perform_bulk_assignment(INBOX).assigned_count == 1
    assert [list(call[0][1]) for call in ledger.called("usage")] == [[2, 4]]


def test_nobody_eligible_reads_every_online_member_for_the_reason(
    scenario: Any, wrap: Any
) -> None:
    """Agent 1 is passed over after a refused claim, so the walk does not judge
    everyone; the skip reason still comes from every online member's usage."""
    scenario.setup(members=[1, 2, 3], policy=_policy(limit=1))
    for agent in (2, 3):
        _record(scenario, agent, f"old-{agent}", ago=60)
    scenario.convs(["c1"])
    ledger = wrap(scenario.backend.ledger)

    def claim(original: Any, conversation: Any, agent: Any, **kw: Any) -> bool:
        return False  # refused: the conversation stays assignable

    app = scenario.build(
        ledger=ledger,
        conversations=wrap(scenario.backend.conversations, claim=claim),
    )
    app.service.usage_batch = 1
    result = app.service.perform_bulk_assignment(INBOX)
    assert result.assigned_count == 0
    assert {s.reason.value for s in result.skips} == {"no_agent_selected"}
    read = {agent for call in ledger.called("usage") for agent in call[0][1]}
    assert read == {1, 2, 3}


def test_a_usage_read_failing_mid_pass_skips_rate_limiting_from_there(
    scenario: Any, wrap: Any, boom: Any
) -> None:
    scenario.setup(members=[1, 2, 3], policy=_policy(limit=1))
    scenario.convs(["c1", "c2", "c3", "c4"])
    calls: list[object] = []

    def usage(original: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        if len(calls) > 1:
            raise boom("down")
        return original(*args, **kwargs)

    app = scenario.build(ledger=wrap(scenario.backend.ledger, usage=usage))
    app.service.usage_batch = 1
    result = app.service.perform_bulk_assignment(INBOX)
    # Agent 1 was read (empty, one slot); reading agent 2 failed: from then on nobody
    # is rate limited, so all four are assigned.
    assert result.assigned_count == 4
    assert result.degraded == {Degradation.RATE_LIMIT_SKIPPED}
    assert len(calls) == 2


@attrs.define
class _NeedsTimes:
    """A host selector without ``needs_last_assigned``: treated as needing it. Ranks
    the members in order and keeps what it was given."""

    name: str = "needs_times"
    needs_open_counts: bool = False
    seen: list[dict[Any, Any]] = attrs.field(factory=list)

    def rank(self, source: RankingInput) -> Any:
        self.seen.append(dict(source.last_assigned))
        return _InOrder(list(source.members))

    def preview(self, context: SelectionContext) -> Any:
        return context.eligible[0]


@attrs.define
class _InOrder:
    order: list[Any]

    def candidates(self) -> Iterator[Any]:
        return iter(self.order)

    def update(self, agent: Any, *, assigned: bool) -> None:
        return None

    def finish(self) -> None:
        return None


@pytest.mark.parametrize("limit", [None, 5])
def test_balanced_reads_no_last_assignments_and_usage_only_with_a_limit(
    scenario: Any, wrap: Any, limit: int | None
) -> None:
    """Balanced breaks ties with the rotation queue: the ledger is read only for the
    rate limit, however much history it holds."""
    scenario.setup(
        members=["ann", "bob", "cat"],
        policy=_policy(limit, AssignmentOrder.BALANCED),
    )
    _record(scenario, "ann", "old-1", ago=30)
    _record(scenario, "bob", "old-2", ago=60)
    scenario.convs(["c1"])
    ledger = wrap(scenario.backend.ledger)
    result = scenario.build(ledger=ledger).service.perform_bulk_assignment(INBOX)
    # Equal open counts: the queue's front (ledger history does not matter).
    assert [a.agent for a in result.assignments] == ["ann"]
    assert ledger.called("last_assigned") == []
    assert len(ledger.called("usage")) == (0 if limit is None else 1)


def test_a_host_selector_needing_times_gets_the_ledgers_last_assignments(
    scenario: Any, wrap: Any
) -> None:
    scenario.setup(members=["ann", "bob", "cat"], policy=_policy(None))
    _record(scenario, "ann", "old-1", ago=30)
    _record(scenario, "bob", "old-2", ago=60)
    scenario.convs(["c1"])
    selector = _NeedsTimes()
    ledger = wrap(scenario.backend.ledger)
    app = scenario.build(
        ledger=ledger, selectors={AssignmentOrder.ROUND_ROBIN: selector}
    )
    app.service.perform_bulk_assignment(INBOX)
    now = scenario.clock.now()
    assert selector.seen == [
        {"ann": now - timedelta(seconds=30), "bob": now - timedelta(seconds=60)}
    ]
    assert len(ledger.called("last_assigned")) == 1


def test_a_failing_last_assigned_read_skips_rate_limiting(
    scenario: Any, wrap: Any, boom: Any
) -> None:
    scenario.setup(members=["ann"], policy=_policy(1))
    scenario.convs(["c1", "c2"])

    def last_assigned(original: Any, *args: Any, **kwargs: Any) -> Any:
        raise boom("down")

    ledger = wrap(scenario.backend.ledger, last_assigned=last_assigned)
    app = scenario.build(
        ledger=ledger, selectors={AssignmentOrder.ROUND_ROBIN: _NeedsTimes()}
    )
    result = app.service.perform_bulk_assignment(INBOX)
    assert result.assigned_count == 2  # over the limit of 1: rate limiting skipped
    assert result.degraded == {Degradation.RATE_LIMIT_SKIPPED}
    assert ledger.called("usage") == []


_AGENTS = [1, 2, 3, 4, 5, 6]


@settings(max_examples=60, deadline=None)
@given(
    order=st.sampled_from(list(AssignmentOrder)),
    limit=st.integers(min_value=1, max_value=4),
    online=st.sets(st.sampled_from(_AGENTS), min_size=1),
    history=st.lists(
        st.tuples(st.sampled_from(_AGENTS), st.integers(min_value=1, max_value=7199)),
        max_size=20,
    ),
    conversations=st.integers(min_value=1, max_value=12),
    batch=st.integers(min_value=1, max_value=4),
    later=st.integers(min_value=0, max_value=3600),
)
def test_batching_never_changes_a_decision(  # noqa: PLR0917 - hypothesis arguments
    make_scenario: Any,
    order: AssignmentOrder,
    limit: int,
    online: set[int],
    history: list[tuple[int, int]],
    conversations: int,
    batch: int,
    later: int,
) -> None:
    """The same world and two passes (the second ``later`` seconds on, so entries leave
    the window mid-way), read in batches of ``batch`` or all at once: the same
    assignments and skips."""
    outcomes = []
    for size in (batch, 1000):
        scenario = make_scenario()
        scenario.setup(
            members=_AGENTS, online=sorted(online), policy=_policy(limit, order)
        )
        for number, (agent, ago) in enumerate(history):
            _record(scenario, agent, f"old-{number}", ago=ago)
        scenario.convs(range(conversations))
        scenario.app.service.usage_batch = size
        first = scenario.run()
        scenario.clock.advance(later)
        scenario.convs(range(100, 100 + conversations))
        second = scenario.run()
        outcomes.append(
            [
                ([(a.conversation, a.agent) for a in r.assignments], r.skips)
                for r in (first, second)
            ]
        )
    assert outcomes[0] == outcomes[1]
