"""The text rule (``autoassign.model.text_problem``) at model construction, stored
exclusion rules read back leniently (``ExclusionRules.from_stored``), and a pass over a
capacity policy with unusable stored rules: it assigns the rest and warns once per
process per (policy, rule)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoassign import (
    Account,
    AssignmentPolicy,
    CapacityPolicy,
    ConfigurationError,
    Conversation,
    ExclusionRules,
    Inbox,
    Team,
)
from autoassign.decisions import exclusions_for_inbox, unusable_exclusion_rules
from autoassign.model import (
    MAX_EXCLUDE_OLDER_THAN_HOURS,
    MAX_LABEL_LENGTH,
    text_problem,
)

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
ANY_TEXT = st.text(alphabet=st.characters(codec=None), max_size=300)


def _valid(value: str, *, max_length: int, prose: bool = False) -> bool:
    """The rule, stated independently of the implementation."""
    allowed_controls = {"\t", "\n", "\r"} if prose else set()
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return (
        0 < len(value) <= max_length
        and "\x7f" not in value
        and all(ord(c) >= 0x20 or c in allowed_controls for c in value)
    )


@given(value=ANY_TEXT, prose=st.booleans(), max_length=st.sampled_from([3, 255]))
def test_text_problem_is_the_rule(value: str, prose: bool, max_length: int) -> None:
    problem = text_problem(value, max_length=max_length, prose=prose)
    assert (problem is None) == _valid(value, max_length=max_length, prose=prose)


BAD = [
    ("a\x00b", "NUL"),
    ("\ud800", "surrogate"),
    ("x\udfffy", "surrogate"),
    ("a\x01", "U+0001"),
    ("a\x7f", "U+007F"),
    ("tab\there", "U+0009"),
    ("x" * 256, "characters"),
]


def _builders(value: str) -> list[tuple[str, Any]]:
    """(field, a constructor call putting ``value`` in it)."""
    now = {"created_at": NOW, "last_activity_at": NOW}
    return [
        ("labels", lambda: Conversation(id=1, inbox=1, account=1, labels=[value], **now)),
        ("id", lambda: Conversation(id=value, inbox=1, account=1, **now)),
        ("assignee", lambda: Conversation(id=1, inbox=1, account=1, assignee=value, **now)),
        ("features", lambda: Account(id=1, features=[value])),
        ("id", lambda: Account(id=value)),
        ("account", lambda: Inbox(id=1, account=value)),
        ("ids", lambda: Team(id=1, account=1, members=[value])),
        ("name", lambda: AssignmentPolicy(id=1, account=1, name=value)),
        ("name", lambda: CapacityPolicy(id=1, account=1, name=value)),
        ("excluded_labels", lambda: ExclusionRules(excluded_labels=[value])),
    ]  # fmt: skip


@pytest.mark.parametrize(("value", "reason"), BAD)
def test_model_construction_rejects_bad_text_naming_the_field(
    value: str, reason: str
) -> None:
    for field, build in _builders(value):
        with pytest.raises(ConfigurationError) as caught:
            build()
        assert caught.value.field == field
        assert reason in str(caught.value), (field, str(caught.value))


def test_descriptions_are_prose() -> None:
    policy = AssignmentPolicy(id=1, account=1, description="a\r\n\tb \U0001f600")
    assert policy.description.endswith("\U0001f600")
    for bad in ("a\x00", "\ud800", "a\x0b", "x" * 10_001):
        with pytest.raises(ConfigurationError) as caught:
            CapacityPolicy(id=1, account=1, description=bad)
        assert caught.value.field == "description"


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner),
    max_leaves=8,
)


@given(
    labels=st.lists(ANY_TEXT | JSONISH, max_size=6),
    hours=JSONISH | st.sampled_from([0, -1, 876_000, 876_001, 10**9, 10**30]),
)
def test_from_stored_never_raises_and_keeps_exactly_the_valid_labels(
    labels: list[Any], hours: Any
) -> None:
    rules = ExclusionRules.from_stored(labels, hours)
    valid = {
        label
        for label in labels
        if isinstance(label, str) and _valid(label, max_length=MAX_LABEL_LENGTH)
    }
    assert rules.excluded_labels == valid
    hours_ok = hours is None or (
        isinstance(hours, int)
        and not isinstance(hours, bool)
        and 0 < hours <= MAX_EXCLUDE_OLDER_THAN_HOURS
    )
    assert rules.exclude_older_than_hours == (hours if hours_ok else None)
    rules.cutoff(NOW)  # a stored threshold never makes the pass's query overflow
    skipped = sum(
        1 for label in labels if not (isinstance(label, str) and label in valid)
    )
    assert len(rules.unusable) == skipped + (not hours_ok)
    # what the decision chain hands the repository is always valid, constructible text
    policy = CapacityPolicy(
        id=1, account=1, inbox_limits={10: 1}, exclusion_rules=rules
    )
    combined = exclusions_for_inbox([policy], 10)
    assert combined == ExclusionRules(
        excluded_labels=valid, exclude_older_than_hours=rules.exclude_older_than_hours
    )
    assert [p for p, _ in unusable_exclusion_rules([policy], 10)] == [1] * len(
        rules.unusable
    )
    assert unusable_exclusion_rules([policy], 11) == []  # no limit there: not its rules


def test_a_pass_skips_unusable_stored_rules_and_warns_once(
    scenario: Any, caplog: pytest.LogCaptureFixture
) -> None:
    scenario.setup(members=["ann"])
    pid = f"cap-{uuid.uuid4().hex}"  # the warn-once registry is per process
    scenario.backend.add_capacity_policy(
        CapacityPolicy(
            id=pid,
            account=1,
            inbox_limits={10: 100},
            agents=["ann"],
            exclusion_rules=ExclusionRules.from_stored(
                ["VIP", "bad\x00", "\ud800"], -1
            ),
        )
    )
    scenario.conv(1, labels={"VIP"})
    scenario.conv(2)
    scenario.conv(3)
    with caplog.at_level(logging.WARNING, logger="autoassign.service"):
        first = scenario.run(limit=1)
        second = scenario.run()
    warnings = [r for r in caplog.records if pid in r.getMessage()]
    assert [a.conversation for a in (*first.assignments, *second.assignments)] == [2, 3]
    assert len(warnings) == 3  # two labels and the threshold, once each, not per pass
    assert {r.levelno for r in warnings} == {logging.WARNING}
