"""Model validation: an invalid value raises ConfigurationError at construction, naming
the field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoassign import (
    Account,
    AssignmentOrder,
    AssignmentPolicy,
    CapacityPolicy,
    ConfigurationError,
    Conversation,
    ConversationPriority,
    ConversationStatus,
    ExclusionRules,
    Inbox,
    PolicyOverrides,
    Team,
)
from autoassign.model import (
    MAX_FAIR_DISTRIBUTION_LIMIT,
    MAX_FAIR_DISTRIBUTION_WINDOW,
    id_sort_key,
    stored_due_at,
    stored_urgency,
)
from autoassign.testing.strategies import conversations

NOW = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)
NAIVE = datetime(2026, 1, 5, 9)


def _policy(**kw: Any) -> AssignmentPolicy:
    return AssignmentPolicy(id=1, account=1, **kw)


def _conversation(**kw: Any) -> Conversation:
    options: dict[str, Any] = {
        "id": 1,
        "inbox": 10,
        "account": 1,
        "created_at": NOW,
        "last_activity_at": NOW,
    }
    options.update(kw)
    return Conversation(**options)


def _capacity(**kw: Any) -> CapacityPolicy:
    return CapacityPolicy(id=1, account=1, **kw)


INVALID: list[tuple[str, Callable[[], object], str]] = [
    # fair distribution limit
    (
        "limit negative",
        lambda: _policy(fair_distribution_limit=-1),
        "fair_distribution_limit",
    ),
    (
        "limit too big",
        lambda: _policy(fair_distribution_limit=MAX_FAIR_DISTRIBUTION_LIMIT + 1),
        "fair_distribution_limit",
    ),
    (
        "limit bool",
        lambda: _policy(fair_distribution_limit=True),
        "fair_distribution_limit",
    ),
    (
        "limit str",
        lambda: _policy(fair_distribution_limit="5"),
        "fair_distribution_limit",
    ),
    (
        "limit float",
        lambda: _policy(fair_distribution_limit=2.0),
        "fair_distribution_limit",
    ),
    # fair distribution window
    (
        "window zero",
        lambda: _policy(fair_distribution_window=0),
        "fair_distribution_window",
    ),
    (
        "window negative",
        lambda: _policy(fair_distribution_window=-60),
        "fair_distribution_window",
    ),
    (
        "window too big",
        lambda: _policy(fair_distribution_window=MAX_FAIR_DISTRIBUTION_WINDOW + 1),
        "fair_distribution_window",
    ),
    (
        "window None",
        lambda: _policy(fair_distribution_window=None),
        "fair_distribution_window",
    ),
    (
        "window bool",
        lambda: _policy(fair_distribution_window=True),
        "fair_distribution_window",
    ),
    (
        "window float",
        lambda: _policy(fair_distribution_window=60.0),
        "fair_distribution_window",
    ),
    # enums
    ("order", lambda: _policy(assignment_order="fastest"), "assignment_order"),
    ("order case", lambda: _policy(assignment_order="Balanced"), "assignment_order"),
    (
        "priority",
        lambda: _policy(conversation_priority="oldest"),
        "conversation_priority",
    ),
    ("status", lambda: _conversation(status="closed"), "status"),
    # names
    ("name empty", lambda: _policy(name=""), "name"),
    ("name blank", lambda: _policy(name="   "), "name"),
    ("name too long", lambda: _policy(name="x" * 256), "name"),
    ("name not str", lambda: _policy(name=5), "name"),
    # ids
    ("policy id bool", lambda: AssignmentPolicy(id=True, account=1), "id"),
    ("policy id float", lambda: AssignmentPolicy(id=1.5, account=1), "id"),
    ("policy account None", lambda: AssignmentPolicy(id=1, account=None), "account"),
    ("account id", lambda: Account(id=None), "id"),
    ("inbox id", lambda: Inbox(id=[1], account=1), "id"),
    ("inbox account", lambda: Inbox(id=1, account=False), "account"),
    ("team id", lambda: Team(id=2.5, account=1), "id"),
    ("conversation id", lambda: _conversation(id=None), "id"),
    ("conversation inbox", lambda: _conversation(inbox=True), "inbox"),
    ("assignee", lambda: _conversation(assignee=False), "assignee"),
    ("team", lambda: _conversation(team=1.0), "team"),
    # datetimes
    ("naive created_at", lambda: _conversation(created_at=NAIVE), "created_at"),
    (
        "naive last_activity_at",
        lambda: _conversation(last_activity_at=NAIVE),
        "last_activity_at",
    ),
    ("created_at str", lambda: _conversation(created_at="2026-01-05"), "created_at"),
    # labels
    ("labels str", lambda: _conversation(labels="VIP"), "labels"),
    ("labels non-str", lambda: _conversation(labels=[1]), "labels"),
    (
        "excluded labels str",
        lambda: ExclusionRules(excluded_labels="VIP"),
        "excluded_labels",
    ),
    (
        "excluded labels non-str",
        lambda: ExclusionRules(excluded_labels=[None]),
        "excluded_labels",
    ),
    # hours
    (
        "hours zero",
        lambda: ExclusionRules(exclude_older_than_hours=0),
        "exclude_older_than_hours",
    ),
    (
        "hours negative",
        lambda: ExclusionRules(exclude_older_than_hours=-2),
        "exclude_older_than_hours",
    ),
    (
        "hours bool",
        lambda: ExclusionRules(exclude_older_than_hours=True),
        "exclude_older_than_hours",
    ),
    (
        "hours float",
        lambda: ExclusionRules(exclude_older_than_hours=1.5),
        "exclude_older_than_hours",
    ),
    # capacity limits
    (
        "capacity negative",
        lambda: _capacity(inbox_limits={10: -1}),
        "conversation_limit",
    ),
    ("capacity bool", lambda: _capacity(inbox_limits={10: True}), "conversation_limit"),
    ("capacity str", lambda: _capacity(inbox_limits={10: "5"}), "conversation_limit"),
    ("capacity key", lambda: _capacity(inbox_limits={1.5: 5}), "inbox_limits key"),
    # overrides
    (
        "override unknown",
        lambda: PolicyOverrides.from_mapping(
            {"fair_distribution_limit": 1, "colour": "x"}
        ),
        "colour",
    ),
    (
        "override enabled is not overridable",
        lambda: PolicyOverrides.from_mapping({"enabled": False}),
        "enabled",
    ),
    (
        "override bad limit",
        lambda: PolicyOverrides.from_mapping({"fair_distribution_limit": "3"}),
        "fair_distribution_limit",
    ),
    (
        "override bool limit",
        lambda: PolicyOverrides(fair_distribution_limit=False),
        "fair_distribution_limit",
    ),
    (
        "override bad window",
        lambda: PolicyOverrides.from_mapping({"fair_distribution_window": 0}),
        "fair_distribution_window",
    ),
    (
        "override bad order",
        lambda: PolicyOverrides.from_mapping({"assignment_order": "random"}),
        "assignment_order",
    ),
    (
        "override bad priority",
        lambda: PolicyOverrides.from_mapping({"conversation_priority": "newest"}),
        "conversation_priority",
    ),
]


@pytest.mark.parametrize(
    ("build", "field"), [(b, f) for _, b, f in INVALID], ids=[n for n, _, _ in INVALID]
)
def test_invalid_values_raise_configuration_error_naming_the_field(
    build: Callable[[], object], field: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        build()
    assert info.value.field == field
    assert field in str(info.value)


def test_configuration_error_is_a_value_error() -> None:
    assert issubclass(ConfigurationError, ValueError)


def test_valid_boundaries_are_accepted() -> None:
    assert _policy(fair_distribution_limit=0).fair_distribution_limit == 0
    assert _policy(fair_distribution_limit=None).fair_distribution_limit is None
    assert (
        _policy(
            fair_distribution_limit=MAX_FAIR_DISTRIBUTION_LIMIT
        ).fair_distribution_limit
        == MAX_FAIR_DISTRIBUTION_LIMIT
    )
    assert _policy(fair_distribution_window=1).fair_distribution_window == 1
    assert (
        _policy(
            fair_distribution_window=MAX_FAIR_DISTRIBUTION_WINDOW
        ).fair_distribution_window
        == MAX_FAIR_DISTRIBUTION_WINDOW
    )
    assert _policy(name="x" * 255).name == "x" * 255
    assert _capacity(inbox_limits={10: 0}).limit_for(10) == 0
    assert _capacity(inbox_limits={"support": 3}).limit_for("other") is None
    assert ExclusionRules(exclude_older_than_hours=1).exclude_older_than_hours == 1


def test_defaults() -> None:
    policy = _policy()
    assert policy.assignment_order is AssignmentOrder.ROUND_ROBIN
    assert policy.conversation_priority is ConversationPriority.EARLIEST_CREATED
    assert policy.fair_distribution_limit is None
    assert policy.fair_distribution_window == 3600
    assert policy.enabled is True
    assert Inbox(id=1, account=1).enable_auto_assignment is True
    assert Team(id=1, account=1).allow_auto_assign is True
    assert _conversation().status is ConversationStatus.OPEN
    assert ExclusionRules().is_empty


def test_enum_values_are_accepted_as_strings() -> None:
    policy = _policy(
        assignment_order="balanced", conversation_priority="longest_waiting"
    )
    assert policy.assignment_order is AssignmentOrder.BALANCED
    assert policy.conversation_priority is ConversationPriority.LONGEST_WAITING
    assert _conversation(status="snoozed").status is ConversationStatus.SNOOZED


def test_overrides_from_mapping() -> None:
    overrides = PolicyOverrides.from_mapping(
        {"fair_distribution_limit": 2, "conversation_priority": "longest_waiting"}
    )
    assert overrides.fair_distribution_limit == 2
    assert overrides.conversation_priority is ConversationPriority.LONGEST_WAITING
    assert overrides.assignment_order is None
    assert PolicyOverrides.from_mapping({}) == PolicyOverrides()


def test_ids_may_be_int_or_str() -> None:
    assert Inbox(id="support", account="acme").id == "support"
    assert _conversation(id="c-1", assignee="ann", team="t").assignee == "ann"


def test_is_assignable() -> None:
    assert _conversation().is_assignable
    assert not _conversation(assignee="ann").is_assignable
    for status in ("resolved", "pending", "snoozed"):
        assert not _conversation(status=status).is_assignable


def test_id_sort_key_orders_ints_before_strings() -> None:
    assert sorted([3, "b", 1, "a", 20], key=id_sort_key) == [1, 3, 20, "a", "b"]


@given(st.integers(-5, MAX_FAIR_DISTRIBUTION_LIMIT + 5))
def test_limit_accepted_iff_in_range(value: int) -> None:
    if 0 <= value <= MAX_FAIR_DISTRIBUTION_LIMIT:
        assert _policy(fair_distribution_limit=value).fair_distribution_limit == value
    else:
        with pytest.raises(ConfigurationError):
            _policy(fair_distribution_limit=value)


@given(st.integers(-5, MAX_FAIR_DISTRIBUTION_WINDOW + 5))
def test_window_accepted_iff_in_range(value: int) -> None:
    if 1 <= value <= MAX_FAIR_DISTRIBUTION_WINDOW:
        assert _policy(fair_distribution_window=value).fair_distribution_window == value
    else:
        with pytest.raises(ConfigurationError):
            _policy(fair_distribution_window=value)


@given(
    conversation=conversations(assignees=["ann", 7]),
    agent=st.none() | st.sampled_from(["ann", "bob", 7, 8]),
)
def test_with_assignee_is_evolve(conversation: Conversation, agent: Any) -> None:
    changed = conversation.with_assignee(agent)
    assert changed == attrs.evolve(conversation, assignee=agent)
    assert hash(changed) == hash(attrs.evolve(conversation, assignee=agent))
    assert conversation.assignee != agent or changed == conversation


@pytest.mark.parametrize("agent", [True, 1.5, "x" * 10_000])
def test_with_assignee_checks_the_agent(agent: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        _conversation().with_assignee(agent)
    assert info.value.field == "assignee"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("urgency", -1),
        ("urgency", 1_000_001),
        ("urgency", True),
        ("urgency", 2.0),
        ("due_at", NAIVE),
        ("due_at", datetime(9999, 12, 31, tzinfo=timezone.utc)),
    ],
)
def test_urgency_and_due_at_are_checked(field: str, value: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        _conversation(**{field: value})
    assert info.value.field == field


def test_stored_values_that_are_not_an_urgency_or_a_due_time_read_as_none() -> None:
    assert [stored_urgency(v) for v in (0, 3, 1_000_000)] == [0, 3, 1_000_000]
    assert [stored_urgency(v) for v in (-1, 1_000_001, True, "3", 2.0, None)] == [
        None
    ] * 6
    assert stored_due_at(NOW) == NOW
    assert stored_due_at(NAIVE) is None
    assert stored_due_at(datetime(9999, 12, 31, tzinfo=timezone.utc)) is None
    assert stored_due_at("2026-01-01") is None
