"""Conversation priority (issue 2, behaviour 3): ``longest_waiting`` orders by
last_activity_at then created_at; ``earliest_created`` (the default) by created_at; the id
breaks ties so the order is total and deterministic."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoassign import AssignmentPolicy, ConversationPriority, ExclusionRules

ACCOUNT = 1
HOUR = 3600


def _policy(priority: str | None = None) -> AssignmentPolicy:
    if priority is None:
        return AssignmentPolicy(id=1, account=ACCOUNT)
    return AssignmentPolicy(id=1, account=ACCOUNT, conversation_priority=priority)


def _order(scenario: Any) -> list[Any]:
    return [a.conversation for a in scenario.run().assignments]


def test_default_priority_is_earliest_created() -> None:
    assert _policy().conversation_priority is ConversationPriority.EARLIEST_CREATED


@pytest.mark.parametrize("priority", ["longest_waiting", "earliest_created"])
def test_spec_example_a_b_c(scenario: Any, priority: str) -> None:
    scenario.setup(members=["ann"], policy=_policy(priority))
    # Inserted out of order so that storage order cannot pass for priority order.
    scenario.conv("C", ago=HOUR / 2, activity_ago=HOUR / 2)
    scenario.conv("A", ago=2 * HOUR, activity_ago=2 * HOUR)
    scenario.conv("B", ago=HOUR, activity_ago=HOUR / 2)
    assert _order(scenario) == ["A", "B", "C"]


def test_longest_waiting_uses_last_activity_not_creation(scenario: Any) -> None:
    scenario.setup(members=["ann"], policy=_policy("longest_waiting"))
    scenario.conv("old-but-active", ago=5 * HOUR, activity_ago=60)
    scenario.conv("new-but-idle", ago=2 * HOUR, activity_ago=2 * HOUR)
    scenario.conv("middle", ago=3 * HOUR, activity_ago=HOUR)
    assert _order(scenario) == ["new-but-idle", "middle", "old-but-active"]


def test_earliest_created_ignores_last_activity(scenario: Any) -> None:
    scenario.setup(members=["ann"], policy=_policy("earliest_created"))
    scenario.conv("old-but-active", ago=5 * HOUR, activity_ago=60)
    scenario.conv("new-but-idle", ago=2 * HOUR, activity_ago=2 * HOUR)
    scenario.conv("middle", ago=3 * HOUR, activity_ago=HOUR)
    assert _order(scenario) == ["old-but-active", "middle", "new-but-idle"]


def test_longest_waiting_breaks_activity_ties_by_created_at(scenario: Any) -> None:
    scenario.setup(members=["ann"], policy=_policy("longest_waiting"))
    scenario.conv(1, ago=HOUR, activity_ago=600)
    scenario.conv(2, ago=3 * HOUR, activity_ago=600)
    scenario.conv(3, ago=2 * HOUR, activity_ago=600)
    assert _order(scenario) == [2, 3, 1]


@pytest.mark.parametrize("priority", ["longest_waiting", "earliest_created"])
def test_the_id_breaks_full_ties(scenario: Any, priority: str) -> None:
    scenario.setup(members=["ann"], policy=_policy(priority))
    for conversation in [30, 4, 17, 100, 2]:
        scenario.conv(conversation, ago=HOUR, activity_ago=HOUR)
    assert _order(scenario) == [2, 4, 17, 30, 100]


def test_string_ids_break_ties_deterministically(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    for conversation in ["c", "a", "b"]:
        scenario.conv(conversation, ago=HOUR)
    assert _order(scenario) == ["a", "b", "c"]


def test_the_limit_takes_the_highest_priority_first(scenario: Any) -> None:
    scenario.setup(members=["ann"], policy=_policy("longest_waiting"))
    scenario.conv(1, ago=10 * HOUR, activity_ago=60)
    scenario.conv(2, ago=HOUR, activity_ago=5 * HOUR)
    scenario.conv(3, ago=HOUR, activity_ago=4 * HOUR)
    result = scenario.run(limit=2)
    assert [a.conversation for a in result.assignments] == [2, 3]
    assert scenario.assignee(1) is None


def test_key_scenario_priority_oldest_activity_first(scenario: Any) -> None:
    """Key test scenario 5: with ``longest_waiting`` the oldest last_activity_at is
    assigned first (visible when only one can be assigned)."""
    scenario.setup(members=["ann"], policy=_policy("longest_waiting"))
    scenario.conv("recent", ago=9 * HOUR, activity_ago=60)
    scenario.conv("waiting", ago=HOUR, activity_ago=3 * HOUR)
    result = scenario.run(limit=1)
    assert [a.conversation for a in result.assignments] == ["waiting"]


conversation_times = st.lists(
    st.tuples(
        st.integers(0, 4),  # created, hours ago (few values: many ties)
        st.integers(0, 4),  # last activity, hours ago
    ),
    max_size=12,
)


@given(
    times=conversation_times,
    ids=st.permutations(range(1, 13)),
    priority=st.sampled_from(["longest_waiting", "earliest_created"]),
    limit=st.integers(1, 12),
)
@settings(max_examples=80)
def test_assignment_order_is_the_priority_order_for_any_set(
    make_scenario: Any,
    times: list[tuple[int, int]],
    ids: list[int],
    priority: str,
    limit: int,
) -> None:
    scenario = make_scenario()
    scenario.setup(members=["ann"], policy=_policy(priority))
    now = scenario.clock.now()
    expected_keys = {}
    for conversation, (created, active) in zip(ids, times, strict=False):
        created_at = now - timedelta(hours=created)
        activity_at = now - timedelta(hours=active)
        scenario.backend.add_conversation(
            conversation,
            inbox=scenario.INBOX,
            created_at=created_at,
            last_activity_at=activity_at,
        )
        expected_keys[conversation] = (
            (activity_at, created_at, conversation)
            if priority == "longest_waiting"
            else (created_at, conversation)
        )
    expected = sorted(expected_keys, key=expected_keys.__getitem__)

    result = scenario.run(limit=limit)

    assert [a.conversation for a in result.assignments] == expected[:limit]
    # The repository port returns the same order on its own.
    fetched = scenario.world.unassigned_open(
        scenario.INBOX,
        limit=100,
        priority=ConversationPriority(priority),
        exclusions=ExclusionRules(),
        now=now,
    )
    assert [c.id for c in fetched] == expected[limit:]
