"""Inbox overrides of policy fields (issue 2, behaviour 12), with a configurable
precedence: ``INBOX`` (default) lets an inbox's overrides win, ``POLICY`` ignores them."""

from __future__ import annotations

from typing import Any

import pytest

from autoassign import (
    AssignmentOrder,
    AssignmentPolicy,
    ConfigurationError,
    ConversationPriority,
    EffectivePolicy,
    OverridePrecedence,
    PolicyOverrides,
    SkipReason,
)

ACCOUNT, INBOX = 1, 10


def test_resolve_inbox_precedence_takes_each_set_override() -> None:
    policy = AssignmentPolicy(
        id=1, account=ACCOUNT, fair_distribution_limit=5, fair_distribution_window=60
    )
    overrides = PolicyOverrides(assignment_order="balanced", fair_distribution_limit=2)
    effective = EffectivePolicy.resolve(policy, overrides, OverridePrecedence.INBOX)
    assert effective.assignment_order is AssignmentOrder.BALANCED
    assert effective.fair_distribution_limit == 2
    # Not overridden: the policy's values.
    assert effective.conversation_priority is ConversationPriority.EARLIEST_CREATED
    assert effective.fair_distribution_window == 60
    assert effective.policy is policy


def test_resolve_policy_precedence_ignores_overrides() -> None:
    policy = AssignmentPolicy(id=1, account=ACCOUNT)
    overrides = PolicyOverrides(
        assignment_order="balanced",
        conversation_priority="longest_waiting",
        fair_distribution_limit=2,
        fair_distribution_window=10,
    )
    effective = EffectivePolicy.resolve(policy, overrides, OverridePrecedence.POLICY)
    assert effective.assignment_order is AssignmentOrder.ROUND_ROBIN
    assert effective.conversation_priority is ConversationPriority.EARLIEST_CREATED
    assert effective.fair_distribution_limit is None
    assert effective.fair_distribution_window == 3600


def test_an_override_of_zero_turns_the_policy_limit_off() -> None:
    policy = AssignmentPolicy(id=1, account=ACCOUNT, fair_distribution_limit=3)
    effective = EffectivePolicy.resolve(
        policy, PolicyOverrides(fair_distribution_limit=0)
    )
    assert not effective.rate_limited


def _world(scenario: Any, **overrides: Any) -> None:
    scenario.setup(members=["ann"], overrides=PolicyOverrides(**overrides))


@pytest.mark.parametrize("precedence", [None, "inbox", OverridePrecedence.INBOX])
def test_inbox_precedence_is_the_default_and_applies_in_a_pass(
    scenario: Any, precedence: Any
) -> None:
    _world(scenario, fair_distribution_limit=1, conversation_priority="longest_waiting")
    scenario.conv(1, ago=100, activity_ago=0)
    scenario.conv(2, ago=50, activity_ago=50)
    scenario.conv(3, ago=10, activity_ago=10)
    if precedence is not None:
        scenario.build(override_precedence=precedence)
    result = scenario.run()
    assert [a.conversation for a in result.assignments] == [2]
    assert {s.reason for s in result.skips} == {SkipReason.ALL_RATE_LIMITED}


@pytest.mark.parametrize("precedence", ["policy", OverridePrecedence.POLICY])
def test_policy_precedence_ignores_inbox_overrides_in_a_pass(
    scenario: Any, precedence: Any
) -> None:
    _world(scenario, fair_distribution_limit=1, conversation_priority="longest_waiting")
    scenario.conv(1, ago=100, activity_ago=0)
    scenario.conv(2, ago=50, activity_ago=50)
    scenario.conv(3, ago=10, activity_ago=10)
    scenario.build(override_precedence=precedence)
    result = scenario.run()
    assert [a.conversation for a in result.assignments] == [1, 2, 3]


def test_assignment_order_override_selects_balanced(scenario: Any) -> None:
    scenario.setup(
        members=["ann", "bob"], overrides=PolicyOverrides(assignment_order="balanced")
    )
    scenario.conv(100, assignee="ann")
    scenario.convs([1, 2])
    result = scenario.run()
    # Round robin would have given ann the first; balanced weighs her open one.
    assert [a.agent for a in result.assignments] == ["bob", "ann"]


def test_window_override_applies(scenario: Any) -> None:
    scenario.setup(
        members=["ann"],
        policy=AssignmentPolicy(id=1, account=ACCOUNT, fair_distribution_limit=1),
        overrides=PolicyOverrides(fair_distribution_window=60),
    )
    scenario.convs([1, 2])
    assert scenario.run().assigned_count == 1
    scenario.clock.advance(60)
    assert scenario.run().assigned_count == 1


def test_unknown_precedence_is_a_configuration_error(scenario: Any) -> None:
    scenario.setup()
    with pytest.raises(ConfigurationError) as info:
        scenario.build(override_precedence="enterprise")
    assert info.value.field == "override_precedence"
