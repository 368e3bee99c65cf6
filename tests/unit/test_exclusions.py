"""Exclusion rules (issue 2, behaviour 6): ``excluded_labels`` (any match, exact,
case-sensitive) and ``exclude_older_than_hours`` (by created_at), both must pass; they come
from the capacity policies that have a limit for the inbox (labels united, the smallest
hour threshold); none: no exclusions. Excluded conversations are never fetched."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoassign import CapacityPolicy, ExclusionRules
from autoassign.decisions import exclusions_for_inbox

ACCOUNT, INBOX = 1, 10
HOUR = 3600


def _rules(
    scenario: Any,
    labels: set[str] = frozenset(),  # type: ignore[assignment]
    hours: int | None = None,
    *,
    pid: int = 1,
    limits: dict[Any, int] | None = None,
) -> None:
    scenario.backend.add_capacity_policy(
        CapacityPolicy(
            id=pid,
            account=ACCOUNT,
            inbox_limits={INBOX: 100} if limits is None else limits,
            agents=[],
            exclusion_rules=ExclusionRules(
                excluded_labels=labels, exclude_older_than_hours=hours
            ),
        )
    )


def _assigned(scenario: Any) -> list[Any]:
    return sorted(a.conversation for a in scenario.run().assignments)


def test_key_scenario_excluded_label_is_not_assigned(scenario: Any, wrap: Any) -> None:
    """Key test scenario 4, and "exclusions are applied before selection": the excluded
    conversation is never even fetched."""
    scenario.setup(members=["ann"])
    _rules(scenario, {"VIP"})
    scenario.conv(1, labels={"VIP"})
    scenario.conv(2)
    repository = wrap(scenario.world)
    result = scenario.build(conversations=repository).service.perform_bulk_assignment(
        INBOX
    )
    assert [a.conversation for a in result.assignments] == [2]
    assert result.fetched == 1
    assert result.skips == ()
    assert scenario.assignee(1) is None
    assert all(args[0] != 1 for args, _ in repository.called("get"))
    assert all(args[0] != 1 for args, _ in repository.called("claim"))


def test_any_excluded_label_excludes(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    _rules(scenario, {"VIP", "Escalation", "Manual"})
    scenario.conv(1, labels={"billing", "Escalation"})
    scenario.conv(2, labels={"Manual"})
    scenario.conv(3, labels={"billing"})
    scenario.conv(4)
    assert _assigned(scenario) == [3, 4]


@pytest.mark.parametrize("label", ["vip", "Vip", "VIP ", " VIP", "VIPs", "V.I.P"])
def test_label_matching_is_exact_and_case_sensitive(scenario: Any, label: str) -> None:
    scenario.setup(members=["ann"])
    _rules(scenario, {"VIP"})
    scenario.conv(1, labels={label})
    assert _assigned(scenario) == [1]


def test_age_is_by_created_at_with_the_boundary_included(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    _rules(scenario, hours=24)
    scenario.conv("too-old", ago=24 * HOUR + 1, activity_ago=0)
    scenario.conv("exactly-24h", ago=24 * HOUR)
    scenario.conv("young-but-idle", ago=23 * HOUR, activity_ago=48 * HOUR)
    assert _assigned(scenario) == ["exactly-24h", "young-but-idle"]


def test_age_is_measured_at_the_time_of_the_pass(scenario: Any) -> None:
    scenario.setup(members=["ann"], online=[])
    _rules(scenario, hours=1)
    scenario.conv(1)
    scenario.clock.advance(HOUR + 1)
    scenario.set_status("ann", "online")
    assert _assigned(scenario) == []


def test_both_rules_must_pass(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    _rules(scenario, {"VIP"}, hours=24)
    scenario.conv("young-vip", ago=HOUR, labels={"VIP"})
    scenario.conv("old-plain", ago=25 * HOUR)
    scenario.conv("old-vip", ago=25 * HOUR, labels={"VIP"})
    scenario.conv("young-plain", ago=HOUR)
    assert _assigned(scenario) == ["young-plain"]


def test_rules_of_several_capacity_policies_combine(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    _rules(scenario, {"VIP"}, hours=48, pid=1)
    _rules(scenario, {"Manual"}, hours=24, pid=2)
    _rules(scenario, {"Billing"}, hours=1, pid=3, limits={20: 5})  # other inbox only
    scenario.conv("vip", labels={"VIP"})
    scenario.conv("manual", labels={"Manual"})
    scenario.conv("billing", labels={"Billing"})
    scenario.conv("30h", ago=30 * HOUR)
    scenario.conv("2h", ago=2 * HOUR)
    assert _assigned(scenario) == ["2h", "billing"]


def test_only_policies_with_a_limit_for_the_inbox_apply(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.backend.add_inbox(20, account=ACCOUNT)
    _rules(scenario, {"VIP"}, hours=1, limits={20: 3})
    scenario.conv(1, labels={"VIP"}, ago=10 * HOUR)
    assert _assigned(scenario) == [1]


def test_no_capacity_policy_means_no_exclusions(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.conv(1, labels={"VIP"}, ago=1000 * HOUR)
    assert _assigned(scenario) == [1]


def test_empty_rules_exclude_nothing(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    _rules(scenario)
    scenario.conv(1, labels={"VIP"}, ago=1000 * HOUR)
    assert _assigned(scenario) == [1]


def test_capacity_policy_of_another_account_adds_no_exclusions(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.backend.add_capacity_policy(
        CapacityPolicy(
            id=9,
            account=2,
            inbox_limits={INBOX: 5},
            exclusion_rules=ExclusionRules(excluded_labels={"VIP"}),
        )
    )
    scenario.conv(1, labels={"VIP"})
    assert _assigned(scenario) == [1]


def test_exclusions_apply_before_the_bulk_limit(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    _rules(scenario, {"VIP"})
    scenario.conv(1, ago=40, labels={"VIP"})
    scenario.conv(2, ago=30, labels={"VIP"})
    scenario.conv(3, ago=20)
    scenario.conv(4, ago=10)
    result = scenario.run(limit=2)
    assert [a.conversation for a in result.assignments] == [3, 4]


def test_combine_and_exclusions_for_inbox() -> None:
    a = CapacityPolicy(
        id=1,
        account=ACCOUNT,
        inbox_limits={INBOX: 1},
        exclusion_rules=ExclusionRules(
            excluded_labels={"A"}, exclude_older_than_hours=5
        ),
    )
    b = CapacityPolicy(
        id=2,
        account=ACCOUNT,
        inbox_limits={INBOX: 1, 20: 1},
        exclusion_rules=ExclusionRules(
            excluded_labels={"B"}, exclude_older_than_hours=3
        ),
    )
    c = CapacityPolicy(
        id=3,
        account=ACCOUNT,
        inbox_limits={20: 1},
        exclusion_rules=ExclusionRules(
            excluded_labels={"C"}, exclude_older_than_hours=1
        ),
    )
    assert exclusions_for_inbox([a, b, c], INBOX) == ExclusionRules(
        excluded_labels={"A", "B"}, exclude_older_than_hours=3
    )
    assert exclusions_for_inbox([a, c], 20) == ExclusionRules(
        excluded_labels={"C"}, exclude_older_than_hours=1
    )
    assert exclusions_for_inbox([], INBOX).is_empty
    assert ExclusionRules.combine(
        [ExclusionRules(exclude_older_than_hours=None), ExclusionRules()]
    ).is_empty


labels = st.sets(st.sampled_from(["VIP", "vip", "Manual", "billing", "Escalation"]))


@given(
    excluded=st.lists(
        st.tuples(labels, st.one_of(st.none(), st.integers(1, 6)), st.booleans()),
        max_size=3,
    ),
    conversations=st.lists(st.tuples(labels, st.integers(0, 8 * HOUR)), max_size=10),
)
@settings(max_examples=80)
def test_excluded_conversations_are_never_fetched_or_assigned(
    make_scenario: Any,
    excluded: list[tuple[set[str], int | None, bool]],
    conversations: list[tuple[set[str], int]],
) -> None:
    scenario = make_scenario()
    scenario.setup(members=["ann"])
    union: set[str] = set()
    hours: list[int] = []
    for pid, (rule_labels, rule_hours, for_this_inbox) in enumerate(excluded, start=1):
        _rules(
            scenario,
            rule_labels,
            rule_hours,
            pid=pid,
            limits={INBOX: 3} if for_this_inbox else {20: 3},
        )
        if for_this_inbox:
            union |= rule_labels
            if rule_hours is not None:
                hours.append(rule_hours)
    for number, (conversation_labels, age) in enumerate(conversations, start=1):
        scenario.conv(number, labels=conversation_labels, ago=age)
    now = scenario.clock.now()
    expected = {
        number
        for number, (conversation_labels, age) in enumerate(conversations, start=1)
        if not (union & conversation_labels)
        and not (hours and timedelta(seconds=age) > timedelta(hours=min(hours)))
    }

    result = scenario.run()

    assert {a.conversation for a in result.assignments} == expected
    assert result.fetched == len(expected)
    assert scenario.clock.now() == now
