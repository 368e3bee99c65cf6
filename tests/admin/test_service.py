"""PolicyAdmin: validation of every field, the auth matrix, account scoping, moves of
agents, delete cascades, and changes seen by the next assignment pass."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import attrs
import pytest

from autoassign import (
    AssignmentOrder,
    AssignmentPolicy,
    CapacityPolicy,
    ConfigurationError,
    ConversationPriority,
)
from autoassign.admin import (
    Actor,
    InMemoryPolicyStore,
    NotFound,
    PolicyAdmin,
    Unauthorized,
    ValidationFailed,
    capacity_policy_json,
    policy_json,
)
from autoassign.sticky import InMemoryContactHistory, StickyRouting
from autoassign.testing import FakeClock, InMemoryBackend, build_in_memory

ADMIN = Actor(account=1, user="root", role="administrator")
AGENT = Actor(account=1, user="ann", role="agent")
OTHER_ADMIN = Actor(account=2, user="boss", role="administrator")


def invalid(
    admin: PolicyAdmin, store: InMemoryPolicyStore, fn: Callable[[], Any]
) -> dict[str, str]:
    before = store.snapshot()
    with pytest.raises(ValidationFailed) as info:
        fn()
    assert store.snapshot() == before
    return info.value.errors


# -- assignment policies -------------------------------------------------------------------


def test_create_fills_defaults_and_timestamps(
    admin: PolicyAdmin, clock: FakeClock
) -> None:
    record = admin.create_policy(ADMIN, 1, {"name": "Default"})
    body = policy_json(record)
    assert body == {
        "id": record.id,
        "name": "Default",
        "description": "",
        "assignment_order": "round_robin",
        "conversation_priority": "earliest_created",
        "fair_distribution_limit": 100,
        "fair_distribution_window": 3600,
        "enabled": True,
        "assigned_inbox_count": 0,
        "created_at": int(clock.now().timestamp()),
        "updated_at": int(clock.now().timestamp()),
    }


def test_create_with_every_field(admin: PolicyAdmin) -> None:
    record = admin.create_policy(
        ADMIN,
        1,
        {
            "name": "Busy",
            "description": "weekday",
            "assignment_order": "balanced",
            "conversation_priority": "longest_waiting",
            "fair_distribution_limit": None,
            "fair_distribution_window": 2_592_000,
            "enabled": False,
        },
    )
    values = record.values
    assert values.assignment_order is AssignmentOrder.BALANCED
    assert values.conversation_priority is ConversationPriority.LONGEST_WAITING
    assert values.fair_distribution_limit is None
    assert values.fair_distribution_window == 2_592_000
    assert values.enabled is False
    assert values.description == "weekday"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", None),
        ("name", ""),
        ("name", "   "),
        ("name", 5),
        ("name", "x" * 256),
        ("description", 3),
        ("description", ["a"]),
        ("assignment_order", "fastest"),
        ("assignment_order", 0),
        ("assignment_order", None),
        ("conversation_priority", "newest"),
        ("conversation_priority", 1),
        ("fair_distribution_limit", -1),
        ("fair_distribution_limit", 100_001),
        ("fair_distribution_limit", "5"),
        ("fair_distribution_limit", True),
        ("fair_distribution_limit", 5.0),
        ("fair_distribution_limit", 10**40),
        ("fair_distribution_window", 0),
        ("fair_distribution_window", 2_592_001),
        ("fair_distribution_window", None),
        ("fair_distribution_window", "3600"),
        ("fair_distribution_window", False),
        ("enabled", "true"),
        ("enabled", 1),
        ("enabled", None),
        ("colour", "red"),
        ("sticky_window", -1),
        ("sticky_window", 31_536_001),
        ("sticky_window", "600"),
        ("sticky_window", 60.0),
        ("sticky_window", True),
        ("skill_relax_after", -1),
        ("skill_relax_after", 31_536_001),
        ("skill_relax_after", "never"),
        ("skill_relax_after", False),
        ("skill_routing", "false"),
        ("skill_routing", 0),
    ],
)
def test_each_invalid_policy_field_is_named(
    admin: PolicyAdmin, store: InMemoryPolicyStore, field: str, value: object
) -> None:
    data = {"name": "P", field: value}
    errors = invalid(admin, store, lambda: admin.create_policy(ADMIN, 1, data))
    assert list(errors) == [field]
    existing = admin.create_policy(ADMIN, 1, {"name": "Q"})
    errors = invalid(
        admin, store, lambda: admin.update_policy(ADMIN, 1, existing.id, {field: value})
    )
    assert list(errors) == [field]


def test_routing_settings_are_stored_shown_kept_and_cleared(
    admin: PolicyAdmin,
) -> None:
    """The routing settings: absent from the JSON until set (the reference's shape),
    kept by updates that leave them out, cleared with ``null``; ``0`` and ``false``
    are values, not "unset"."""
    record = admin.create_policy(ADMIN, 1, {"name": "P"})
    assert not {"sticky_window", "skill_routing", "skill_relax_after"} & set(
        policy_json(record)
    )
    record = admin.update_policy(
        ADMIN,
        1,
        record.id,
        {"sticky_window": 0, "skill_routing": False, "skill_relax_after": 0},
    )
    body = policy_json(record)
    assert (
        body["sticky_window"],
        body["skill_routing"],
        body["skill_relax_after"],
    ) == (
        0,
        False,
        0,
    )
    renamed = admin.update_policy(ADMIN, 1, record.id, {"name": "Q"})
    assert renamed.values == attrs.evolve(record.values, name="Q")
    changed = admin.update_policy(
        ADMIN, 1, record.id, {"sticky_window": 31_536_000, "skill_routing": None}
    )
    assert (changed.values.sticky_window, changed.values.skill_routing) == (
        31_536_000,
        None,
    )
    assert "skill_routing" not in policy_json(changed)
    cleared = admin.update_policy(
        ADMIN, 1, record.id, {"sticky_window": None, "skill_relax_after": None}
    )
    assert not {"sticky_window", "skill_routing", "skill_relax_after"} & set(
        policy_json(cleared)
    )
    created = admin.create_policy(
        ADMIN, 1, {"name": "R", "sticky_window": 600, "skill_relax_after": 60}
    )
    assert (created.values.sticky_window, created.values.skill_relax_after) == (600, 60)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "x" * 255),
        ("fair_distribution_limit", 0),
        ("fair_distribution_limit", 100_000),
        ("fair_distribution_window", 1),
        ("description", None),
    ],
)
def test_bounds_are_inclusive(admin: PolicyAdmin, field: str, value: object) -> None:
    data = {"name": "P", field: value}
    record = admin.create_policy(ADMIN, 1, data)
    assert getattr(record.values, field) == ("" if value is None else value)


def test_every_invalid_field_is_reported_at_once(
    admin: PolicyAdmin, store: InMemoryPolicyStore
) -> None:
    errors = invalid(
        admin,
        store,
        lambda: admin.create_policy(
            ADMIN,
            1,
            {
                "assignment_order": "x",
                "conversation_priority": "y",
                "fair_distribution_limit": "z",
                "fair_distribution_window": -1,
                "enabled": "no",
                "extra": 1,
            },
        ),
    )
    assert set(errors) == {
        "name",
        "assignment_order",
        "conversation_priority",
        "fair_distribution_limit",
        "fair_distribution_window",
        "enabled",
        "extra",
    }
    assert errors["extra"] == "is not a permitted field"
    assert errors["name"] == "can't be blank"


def test_payload_must_be_an_object(
    admin: PolicyAdmin, store: InMemoryPolicyStore
) -> None:
    assert invalid(admin, store, lambda: admin.create_policy(ADMIN, 1, [1])) == {
        "base": "must be a JSON object"
    }


def test_names_are_unique_per_account(
    admin: PolicyAdmin, store: InMemoryPolicyStore
) -> None:
    first = admin.create_policy(ADMIN, 1, {"name": "Same"})
    errors = invalid(
        admin, store, lambda: admin.create_policy(ADMIN, 1, {"name": "Same"})
    )
    assert errors == {"name": "has already been taken"}
    admin.create_policy(OTHER_ADMIN, 2, {"name": "Same"})  # another account: fine
    second = admin.create_policy(ADMIN, 1, {"name": "Other"})
    admin.update_policy(ADMIN, 1, first.id, {"name": "Same"})  # its own name: fine
    errors = invalid(
        admin, store, lambda: admin.update_policy(ADMIN, 1, second.id, {"name": "Same"})
    )
    assert errors == {"name": "has already been taken"}


def test_partial_update_keeps_other_fields_and_bumps_updated_at(
    admin: PolicyAdmin, clock: FakeClock
) -> None:
    created = admin.create_policy(
        ADMIN, 1, {"name": "P", "fair_distribution_limit": 7, "enabled": False}
    )
    clock.advance(60)
    updated = admin.update_policy(
        ADMIN, 1, created.id, {"fair_distribution_window": 60}
    )
    assert updated.values.fair_distribution_limit == 7
    assert updated.values.enabled is False
    assert updated.values.fair_distribution_window == 60
    assert updated.created_at == created.created_at
    assert updated.updated_at == created.updated_at + timedelta(seconds=60)
    clock.advance(60)
    same = admin.update_policy(ADMIN, 1, created.id, {})
    assert same.updated_at == updated.updated_at
    cleared = admin.update_policy(
        ADMIN, 1, created.id, {"fair_distribution_limit": None}
    )
    assert cleared.values.fair_distribution_limit is None


def test_list_is_ordered_by_id_and_scoped(admin: PolicyAdmin) -> None:
    a = admin.create_policy(ADMIN, 1, {"name": "A"})
    b = admin.create_policy(ADMIN, 1, {"name": "B"})
    admin.create_policy(OTHER_ADMIN, 2, {"name": "C"})
    assert [p.id for p in admin.list_policies(ADMIN, 1)] == [a.id, b.id]
    assert [p.values.name for p in admin.list_policies(OTHER_ADMIN, 2)] == ["C"]


# -- auth matrix and scoping ---------------------------------------------------------------


def _every_call(admin: PolicyAdmin, actor: Actor | None) -> list[Callable[[], object]]:
    return [
        lambda: admin.list_policies(actor, 1),
        lambda: admin.get_policy(actor, 1, 1),
        lambda: admin.create_policy(actor, 1, {"name": "X"}),
        lambda: admin.update_policy(actor, 1, 1, {"name": "Y"}),
        lambda: admin.delete_policy(actor, 1, 1),
        lambda: admin.policy_inboxes(actor, 1, 1),
        lambda: admin.inbox_policy(actor, 1, 10),
        lambda: admin.link_inbox(actor, 1, 10, {"assignment_policy_id": 1}),
        lambda: admin.unlink_inbox(actor, 1, 10),
        lambda: admin.list_capacity_policies(actor, 1),
        lambda: admin.get_capacity_policy(actor, 1, 1),
        lambda: admin.create_capacity_policy(actor, 1, {"name": "C"}),
        lambda: admin.update_capacity_policy(actor, 1, 1, {"name": "D"}),
        lambda: admin.delete_capacity_policy(actor, 1, 1),
        lambda: admin.capacity_policy_agents(actor, 1, 1),
        lambda: admin.add_capacity_policy_agent(actor, 1, 1, {"user_id": "ann"}),
        lambda: admin.remove_capacity_policy_agent(actor, 1, 1, "ann"),
        lambda: admin.add_inbox_limit(
            actor, 1, 1, {"inbox_id": 11, "conversation_limit": 1}
        ),
        lambda: admin.update_inbox_limit(actor, 1, 1, 1, {"conversation_limit": 2}),
        lambda: admin.delete_inbox_limit(actor, 1, 1, 1),
    ]


@pytest.mark.parametrize(
    "actor",
    [None, AGENT, OTHER_ADMIN, Actor(account=1, user="x", role="agent")],
    ids=["nobody", "agent", "other-account-admin", "agent-2"],
)
def test_only_administrators_of_the_account_may_act(
    admin: PolicyAdmin, store: InMemoryPolicyStore, actor: Actor | None
) -> None:
    policy = admin.create_policy(ADMIN, 1, {"name": "P"})
    capacity = admin.create_capacity_policy(ADMIN, 1, {"name": "C"})
    admin.link_inbox(ADMIN, 1, 10, {"assignment_policy_id": policy.id})
    admin.add_inbox_limit(
        ADMIN, 1, capacity.id, {"inbox_id": 10, "conversation_limit": 1}
    )
    admin.add_capacity_policy_agent(ADMIN, 1, capacity.id, {"user_id": "ann"})
    before = store.snapshot()
    for attempt in _every_call(admin, actor):
        with pytest.raises(Unauthorized):
            attempt()
    assert store.snapshot() == before


def test_the_administrator_passes_every_call(admin: PolicyAdmin) -> None:
    policy = admin.create_policy(ADMIN, 1, {"name": "P"})
    capacity = admin.create_capacity_policy(ADMIN, 1, {"name": "C0"})
    admin.add_inbox_limit(
        ADMIN, 1, capacity.id, {"inbox_id": 10, "conversation_limit": 1}
    )
    assert (policy.id, capacity.id) == (1, 1)
    done = []
    for index, attempt in enumerate(_every_call(admin, ADMIN)):
        # the sequence deletes what later calls use: NotFound is fine here
        with contextlib.suppress(NotFound):
            attempt()
            done.append(index)
    # every call up to the policy's delete, and every capacity call up to the
    # capacity policy's delete, went through
    assert done == [0, 1, 2, 3, 4, 9, 10, 11, 12, 13]


def test_other_accounts_resources_are_not_found(
    admin: PolicyAdmin, store: InMemoryPolicyStore
) -> None:
    theirs = admin.create_policy(OTHER_ADMIN, 2, {"name": "Theirs"})
    their_capacity = admin.create_capacity_policy(OTHER_ADMIN, 2, {"name": "Theirs"})
    limit = admin.add_inbox_limit(
        OTHER_ADMIN, 2, their_capacity.id, {"inbox_id": 20, "conversation_limit": 1}
    )
    mine = admin.create_policy(ADMIN, 1, {"name": "Mine"})
    mine_capacity = admin.create_capacity_policy(ADMIN, 1, {"name": "Mine"})
    before = store.snapshot()
    attempts: list[Callable[[], object]] = [
        lambda: admin.get_policy(ADMIN, 1, theirs.id),
        lambda: admin.update_policy(ADMIN, 1, theirs.id, {"name": "Mine2"}),
        lambda: admin.policy_inboxes(ADMIN, 1, theirs.id),
        lambda: admin.link_inbox(ADMIN, 1, 20, {"assignment_policy_id": mine.id}),
        lambda: admin.inbox_policy(ADMIN, 1, 20),
        lambda: admin.unlink_inbox(ADMIN, 1, 20),
        lambda: admin.add_inbox_limit(
            ADMIN, 1, mine_capacity.id, {"inbox_id": 20, "conversation_limit": 1}
        ),
        lambda: admin.add_capacity_policy_agent(
            ADMIN, 1, mine_capacity.id, {"user_id": "zed"}
        ),
        lambda: admin.update_inbox_limit(
            ADMIN, 1, mine_capacity.id, limit.id, {"conversation_limit": 5}
        ),
        lambda: admin.delete_inbox_limit(ADMIN, 1, mine_capacity.id, limit.id),
        lambda: admin.get_capacity_policy(ADMIN, 1, their_capacity.id),
        lambda: admin.delete_capacity_policy(ADMIN, 1, their_capacity.id),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound):
            attempt()
    assert store.snapshot() == before
    # ids are per store, so account 2's policy 1 is invisible under account 1 when
    # account 1 has no policy with that id
    other_store_id = admin.create_policy(OTHER_ADMIN, 2, {"name": "Third"}).id
    with pytest.raises(NotFound):
        admin.get_policy(ADMIN, 1, other_store_id)
    with pytest.raises(NotFound):
        admin.delete_policy(ADMIN, 1, other_store_id)
    with pytest.raises(NotFound):
        admin.link_inbox(ADMIN, 1, 10, {"assignment_policy_id": other_store_id})


def test_actor_role_is_validated() -> None:
    with pytest.raises(ConfigurationError):
        Actor(account=1, user="x", role="owner")  # type: ignore[arg-type]


# -- inbox links ---------------------------------------------------------------------------


def test_link_replace_unlink(
    admin: PolicyAdmin, world_backend: InMemoryBackend
) -> None:
    a = admin.create_policy(ADMIN, 1, {"name": "A"})
    b = admin.create_policy(ADMIN, 1, {"name": "B"})
    with pytest.raises(NotFound) as missing:
        admin.inbox_policy(ADMIN, 1, 10)
    assert missing.value.message == "Assignment policy not found"
    assert admin.link_inbox(ADMIN, 1, 10, {"assignment_policy_id": a.id}).id == a.id
    assert (
        admin.link_inbox(ADMIN, 1, 11, {"assignment_policy_id": str(a.id)}).id == a.id
    )
    assert admin.get_policy(ADMIN, 1, a.id).assigned_inbox_count == 2
    assert [i.id for i in admin.policy_inboxes(ADMIN, 1, a.id)] == [10, 11]
    assert [i.name for i in admin.policy_inboxes(ADMIN, 1, a.id)] == [
        "Support",
        "Inbox 11",
    ]
    linked = admin.link_inbox(ADMIN, 1, 10, {"assignment_policy_id": b.id})
    assert linked.id == b.id
    assert world_backend.world.policy_links == {10: b.id, 11: a.id}
    assert admin.inbox_policy(ADMIN, 1, 10).id == b.id
    admin.unlink_inbox(ADMIN, 1, 10)
    with pytest.raises(NotFound, match="Assignment policy not found"):
        admin.unlink_inbox(ADMIN, 1, 10)
    assert world_backend.world.policy_links == {11: a.id}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "assignment_policy_id"),
        ({"assignment_policy_id": None}, "assignment_policy_id"),
        ({"assignment_policy_id": True}, "assignment_policy_id"),
        ({"assignment_policy_id": 1.5}, "assignment_policy_id"),
        ({"assignment_policy_id": [1]}, "assignment_policy_id"),
        ({"assignment_policy_id": 1, "x": 2}, "x"),
    ],
)
def test_link_validation(
    admin: PolicyAdmin, store: InMemoryPolicyStore, body: dict[str, object], field: str
) -> None:
    admin.create_policy(ADMIN, 1, {"name": "A"})
    errors = invalid(admin, store, lambda: admin.link_inbox(ADMIN, 1, 10, body))
    assert list(errors) == [field]


def test_link_to_unknown_policy_or_inbox_is_not_found(admin: PolicyAdmin) -> None:
    policy = admin.create_policy(ADMIN, 1, {"name": "A"})
    with pytest.raises(NotFound):
        admin.link_inbox(ADMIN, 1, 10, {"assignment_policy_id": 999})
    with pytest.raises(NotFound):
        admin.link_inbox(ADMIN, 1, 99, {"assignment_policy_id": policy.id})
    with pytest.raises(NotFound):
        admin.policy_inboxes(ADMIN, 1, 999)


def test_deleting_a_policy_unlinks_its_inboxes(
    admin: PolicyAdmin, world_backend: InMemoryBackend
) -> None:
    a = admin.create_policy(ADMIN, 1, {"name": "A"})
    b = admin.create_policy(ADMIN, 1, {"name": "B"})
    admin.link_inbox(ADMIN, 1, 10, {"assignment_policy_id": a.id})
    admin.link_inbox(ADMIN, 1, 11, {"assignment_policy_id": b.id})
    admin.delete_policy(ADMIN, 1, a.id)
    assert world_backend.world.policy_links == {11: b.id}
    assert a.id not in world_backend.world.policies
    with pytest.raises(NotFound):
        admin.get_policy(ADMIN, 1, a.id)
    with pytest.raises(NotFound):
        admin.delete_policy(ADMIN, 1, a.id)
    # the name is free again, and ids are never reused
    again = admin.create_policy(ADMIN, 1, {"name": "A"})
    assert again.id not in (a.id, b.id)


# -- capacity policies ---------------------------------------------------------------------


def test_capacity_policy_shape(admin: PolicyAdmin, clock: FakeClock) -> None:
    record = admin.create_capacity_policy(
        ADMIN,
        1,
        {
            "name": "Tier 1",
            "description": "d",
            "exclusion_rules": {
                "excluded_labels": ["vip", "legal"],
                "exclude_older_than_hours": 48,
            },
        },
    )
    limit = admin.add_inbox_limit(
        ADMIN, 1, record.id, {"inbox_id": 10, "conversation_limit": 0}
    )
    admin.add_capacity_policy_agent(ADMIN, 1, record.id, {"user_id": "ann"})
    now = int(clock.now().timestamp())
    assert capacity_policy_json(admin.get_capacity_policy(ADMIN, 1, record.id)) == {
        "id": record.id,
        "name": "Tier 1",
        "description": "d",
        "exclusion_rules": {
            "excluded_labels": ["vip", "legal"],  # as given
            "exclude_older_than_hours": 48,
        },
        "created_at": now,
        "updated_at": now,
        "account_id": 1,
        "assigned_agent_count": 1,
        "inbox_capacity_limits": [
            {"id": limit.id, "inbox_id": 10, "conversation_limit": 0}
        ],
    }


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": "C", "description": 1}, "description"),
        ({"name": "C", "exclusion_rules": []}, "exclusion_rules"),
        ({"name": "C", "exclusion_rules": "vip"}, "exclusion_rules"),
        (
            {"name": "C", "exclusion_rules": {"excluded_labels": "vip"}},
            "exclusion_rules.excluded_labels",
        ),
        (
            {"name": "C", "exclusion_rules": {"excluded_labels": [1]}},
            "exclusion_rules.excluded_labels",
        ),
        (
            {"name": "C", "exclusion_rules": {"excluded_labels": [""]}},
            "exclusion_rules.excluded_labels",
        ),
        (
            {"name": "C", "exclusion_rules": {"exclude_older_than_hours": 0}},
            "exclusion_rules.exclude_older_than_hours",
        ),
        (
            {"name": "C", "exclusion_rules": {"exclude_older_than_hours": -3}},
            "exclusion_rules.exclude_older_than_hours",
        ),
        (
            {"name": "C", "exclusion_rules": {"exclude_older_than_hours": "24"}},
            "exclusion_rules.exclude_older_than_hours",
        ),
        (
            {"name": "C", "exclusion_rules": {"exclude_older_than_hours": True}},
            "exclusion_rules.exclude_older_than_hours",
        ),
        ({"name": "C", "exclusion_rules": {"labels": []}}, "exclusion_rules.labels"),
        ({"name": "C", "inbox_capacity_limits": []}, "inbox_capacity_limits"),
        ({"name": "C", "total_limit": -1}, "total_limit"),
        ({"name": "C", "total_limit": 2**31}, "total_limit"),
        ({"name": "C", "total_limit": "5"}, "total_limit"),
        ({"name": "C", "total_limit": True}, "total_limit"),
        ({"name": "C", "total_limit": 2.5}, "total_limit"),
    ],
)
def test_each_invalid_capacity_field_is_named(
    admin: PolicyAdmin, store: InMemoryPolicyStore, data: dict[str, object], field: str
) -> None:
    errors = invalid(admin, store, lambda: admin.create_capacity_policy(ADMIN, 1, data))
    assert list(errors) == [field]


def test_a_total_limit_is_stored_shown_and_cleared(admin: PolicyAdmin) -> None:
    """``total_limit`` (global capacity): kept by updates that leave it out, shown in
    the JSON only when set, cleared with ``null``; the world's policy carries it."""
    record = admin.create_capacity_policy(ADMIN, 1, {"name": "C", "total_limit": 6})
    assert capacity_policy_json(record)["total_limit"] == 6
    renamed = admin.update_capacity_policy(ADMIN, 1, record.id, {"name": "D"})
    assert renamed.values.total_limit == 6
    cleared = admin.update_capacity_policy(ADMIN, 1, record.id, {"total_limit": None})
    assert cleared.values.total_limit is None
    assert "total_limit" not in capacity_policy_json(cleared)


def test_capacity_update_replaces_rules_and_keeps_limits_and_agents(
    admin: PolicyAdmin, clock: FakeClock
) -> None:
    record = admin.create_capacity_policy(
        ADMIN, 1, {"name": "C", "exclusion_rules": {"excluded_labels": ["vip"]}}
    )
    admin.add_inbox_limit(
        ADMIN, 1, record.id, {"inbox_id": 10, "conversation_limit": 2}
    )
    admin.add_capacity_policy_agent(ADMIN, 1, record.id, {"user_id": "bob"})
    clock.advance(5)
    updated = admin.update_capacity_policy(
        ADMIN, 1, record.id, {"exclusion_rules": {"exclude_older_than_hours": 12}}
    )
    assert updated.values.name == "C"
    assert updated.values.exclusion_rules.excluded_labels == frozenset()
    assert updated.values.exclusion_rules.exclude_older_than_hours == 12
    assert len(updated.inbox_limits) == 1
    assert updated.assigned_agent_count == 1
    assert updated.updated_at > updated.created_at
    cleared = admin.update_capacity_policy(
        ADMIN, 1, record.id, {"exclusion_rules": None}
    )
    assert cleared.values.exclusion_rules.is_empty


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"conversation_limit": 1}, "inbox_id"),
        ({"inbox_id": 10}, "conversation_limit"),
        ({"inbox_id": 10, "conversation_limit": -1}, "conversation_limit"),
        ({"inbox_id": 10, "conversation_limit": "3"}, "conversation_limit"),
        ({"inbox_id": 10, "conversation_limit": True}, "conversation_limit"),
        ({"inbox_id": 10, "conversation_limit": 2**31}, "conversation_limit"),
        ({"inbox_id": 10, "conversation_limit": 1.5}, "conversation_limit"),
        ({"inbox_id": 10, "conversation_limit": "unlimited"}, "conversation_limit"),
        ({"inbox_id": 10, "conversation_limit": []}, "conversation_limit"),
        ({"inbox_id": {}, "conversation_limit": 1}, "inbox_id"),
        ({"inbox_id": {}, "conversation_limit": None}, "inbox_id"),
        ({"inbox_id": 10, "conversation_limit": 1, "id": 5}, "id"),
    ],
)
def test_inbox_limit_validation(
    admin: PolicyAdmin, store: InMemoryPolicyStore, body: dict[str, object], field: str
) -> None:
    record = admin.create_capacity_policy(ADMIN, 1, {"name": "C"})
    errors = invalid(
        admin, store, lambda: admin.add_inbox_limit(ADMIN, 1, record.id, body)
    )
    assert list(errors) == [field]


def test_inbox_limits_lifecycle(
    admin: PolicyAdmin,
    store: InMemoryPolicyStore,
    world_backend: InMemoryBackend,
    clock: FakeClock,
) -> None:
    record = admin.create_capacity_policy(ADMIN, 1, {"name": "C"})
    limit = admin.add_inbox_limit(
        ADMIN, 1, record.id, {"inbox_id": 10, "conversation_limit": 3}
    )
    other = admin.add_inbox_limit(
        ADMIN, 1, record.id, {"inbox_id": "11", "conversation_limit": 0}
    )
    assert limit.id != other.id
    assert other.inbox == 11
    assert world_backend.world.capacity_policies[record.id].inbox_limits == {
        10: 3,
        11: 0,
    }
    with pytest.raises(ValidationFailed) as dup:
        admin.add_inbox_limit(
            ADMIN, 1, record.id, {"inbox_id": 10, "conversation_limit": 9}
        )
    assert dup.value.error == "Inbox has already been assigned to this policy"
    clock.advance(1)
    changed = admin.update_inbox_limit(
        ADMIN, 1, record.id, limit.id, {"conversation_limit": 5}
    )
    assert changed.conversation_limit == 5
    assert changed.updated_at > changed.created_at
    assert world_backend.world.capacity_policies[record.id].inbox_limits == {
        10: 5,
        11: 0,
    }
    errors = invalid(
        admin,
        store,
        lambda: admin.update_inbox_limit(
            ADMIN, 1, record.id, limit.id, {"inbox_id": 11}
        ),
    )
    assert set(errors) == {"inbox_id", "conversation_limit"}
    admin.delete_inbox_limit(ADMIN, 1, record.id, limit.id)
    assert world_backend.world.capacity_policies[record.id].inbox_limits == {11: 0}
    with pytest.raises(NotFound):
        admin.delete_inbox_limit(ADMIN, 1, record.id, limit.id)
    with pytest.raises(NotFound):
        admin.add_inbox_limit(
            ADMIN, 1, record.id, {"inbox_id": 404, "conversation_limit": 1}
        )
    # a limit id of one policy is not found under another policy
    second = admin.create_capacity_policy(ADMIN, 1, {"name": "D"})
    with pytest.raises(NotFound):
        admin.update_inbox_limit(
            ADMIN, 1, second.id, other.id, {"conversation_limit": 1}
        )


def test_an_unlimited_inbox_limit_lifecycle(
    admin: PolicyAdmin, store: InMemoryPolicyStore, world_backend: InMemoryBackend
) -> None:
    """Issue 16: ``conversation_limit: null`` is an unlimited link; a present limit
    keeps its bounds, and a bad value changes nothing."""
    record = admin.create_capacity_policy(ADMIN, 1, {"name": "C"})
    limit = admin.add_inbox_limit(
        ADMIN, 1, record.id, {"inbox_id": 10, "conversation_limit": None}
    )
    assert limit.conversation_limit is None
    policy = world_backend.world.capacity_policies[record.id]
    assert policy.inbox_limits == {10: None}
    assert policy.links(10)
    assert policy.limit_for(10) is None
    shown = capacity_policy_json(admin.get_capacity_policy(ADMIN, 1, record.id))
    assert shown["inbox_capacity_limits"] == [
        {"id": limit.id, "inbox_id": 10, "conversation_limit": None}
    ]
    changed = admin.update_inbox_limit(
        ADMIN, 1, record.id, limit.id, {"conversation_limit": 4}
    )
    assert changed.conversation_limit == 4
    assert world_backend.world.capacity_policies[record.id].inbox_limits == {10: 4}
    back = admin.update_inbox_limit(
        ADMIN, 1, record.id, limit.id, {"conversation_limit": None}
    )
    assert back.conversation_limit is None
    assert world_backend.world.capacity_policies[record.id].inbox_limits == {10: None}
    for bad in (
        {},
        {"conversation_limit": -1},
        {"conversation_limit": 2**31},
        {"conversation_limit": "none"},
        {"conversation_limit": False},
    ):
        errors = invalid(
            admin,
            store,
            lambda bad=bad: admin.update_inbox_limit(
                ADMIN, 1, record.id, limit.id, bad
            ),
        )
        assert list(errors) == ["conversation_limit"], bad
    assert world_backend.world.capacity_policies[record.id].inbox_limits == {10: None}
    with pytest.raises(ValidationFailed) as dup:  # a link is a link, limited or not
        admin.add_inbox_limit(
            ADMIN, 1, record.id, {"inbox_id": 10, "conversation_limit": 2}
        )
    assert dup.value.error == "Inbox has already been assigned to this policy"


def test_agents_move_between_capacity_policies(
    admin: PolicyAdmin, store: InMemoryPolicyStore, world_backend: InMemoryBackend
) -> None:
    first = admin.create_capacity_policy(ADMIN, 1, {"name": "First"})
    second = admin.create_capacity_policy(ADMIN, 1, {"name": "Second"})
    ann = admin.add_capacity_policy_agent(ADMIN, 1, first.id, {"user_id": "ann"})
    assert (ann.id, ann.name, ann.email) == ("ann", "Ann", "ann@example.com")
    admin.add_capacity_policy_agent(ADMIN, 1, first.id, {"user_id": "bob"})
    assert [a.id for a in admin.capacity_policy_agents(ADMIN, 1, first.id)] == [
        "ann",
        "bob",
    ]
    admin.add_capacity_policy_agent(ADMIN, 1, second.id, {"user_id": "ann"})
    assert [a.id for a in admin.capacity_policy_agents(ADMIN, 1, first.id)] == ["bob"]
    assert [a.id for a in admin.capacity_policy_agents(ADMIN, 1, second.id)] == ["ann"]
    assert store.capacity_policy_of_agent(1, "ann") == second.id
    admin.add_capacity_policy_agent(
        ADMIN, 1, second.id, {"user_id": "ann"}
    )  # idempotent
    assert world_backend.world.capacity_policies[second.id].agents == {"ann"}
    with pytest.raises(NotFound):
        admin.add_capacity_policy_agent(ADMIN, 1, second.id, {"user_id": "ghost"})
    with pytest.raises(NotFound):
        admin.remove_capacity_policy_agent(ADMIN, 1, first.id, "ann")
    admin.remove_capacity_policy_agent(ADMIN, 1, second.id, "ann")
    assert store.capacity_policy_of_agent(1, "ann") is None


def test_deleting_a_capacity_policy_frees_agents_and_drops_limits(
    admin: PolicyAdmin, store: InMemoryPolicyStore, world_backend: InMemoryBackend
) -> None:
    record = admin.create_capacity_policy(ADMIN, 1, {"name": "C"})
    limit = admin.add_inbox_limit(
        ADMIN, 1, record.id, {"inbox_id": 10, "conversation_limit": 1}
    )
    admin.add_capacity_policy_agent(ADMIN, 1, record.id, {"user_id": "ann"})
    admin.delete_capacity_policy(ADMIN, 1, record.id)
    assert record.id not in world_backend.world.capacity_policies
    assert store.capacity_policy_of_agent(1, "ann") is None
    assert store.get_inbox_limit(1, record.id, limit.id) is None
    assert world_backend.world.capacity_policies_for_inbox(10) == ()
    with pytest.raises(NotFound):
        admin.delete_capacity_policy(ADMIN, 1, record.id)


def test_policies_seeded_in_the_world_are_adopted(
    world_backend: InMemoryBackend, admin: PolicyAdmin
) -> None:
    world_backend.add_policy(
        AssignmentPolicy(id=50, account=1, name="Seeded"), inboxes=[10]
    )
    world_backend.add_capacity_policy(
        CapacityPolicy(id=60, account=1, inbox_limits={10: 2, 11: 4}, agents={"ann"})
    )
    listed = admin.list_policies(ADMIN, 1)
    assert [(p.id, p.values.name, p.assigned_inbox_count) for p in listed] == [
        (50, "Seeded", 1)
    ]
    capacity = admin.get_capacity_policy(ADMIN, 1, 60)
    assert [(lim.inbox, lim.conversation_limit) for lim in capacity.inbox_limits] == [
        (10, 2),
        (11, 4),
    ]
    new = admin.create_policy(ADMIN, 1, {"name": "New"})
    assert new.id != 50
    admin.update_inbox_limit(
        ADMIN, 1, 60, capacity.inbox_limits[0].id, {"conversation_limit": 1}
    )
    assert world_backend.world.capacity_policies[60].inbox_limits == {10: 1, 11: 4}


# -- changes take effect on the next pass --------------------------------------------------


def test_admin_changes_drive_the_next_pass(
    world_backend: InMemoryBackend, admin: PolicyAdmin, clock: FakeClock
) -> None:
    engine = build_in_memory(world_backend, strict=True)
    world_backend.set_status(1, "ann", "online")
    world_backend.add_conversation(100, inbox=10)
    assert engine.service.perform_bulk_assignment(10).assigned_count == 0  # no policy

    policy = admin.create_policy(ADMIN, 1, {"name": "P", "enabled": False})
    admin.link_inbox(ADMIN, 1, 10, {"assignment_policy_id": policy.id})
    assert engine.service.perform_bulk_assignment(10).assigned_count == 0  # disabled

    admin.update_policy(ADMIN, 1, policy.id, {"enabled": True})
    capacity = admin.create_capacity_policy(ADMIN, 1, {"name": "C"})
    admin.add_capacity_policy_agent(ADMIN, 1, capacity.id, {"user_id": "ann"})
    limit = admin.add_inbox_limit(
        ADMIN, 1, capacity.id, {"inbox_id": 10, "conversation_limit": 0}
    )
    assert engine.service.perform_bulk_assignment(10).assigned_count == 0  # at capacity

    admin.update_inbox_limit(ADMIN, 1, capacity.id, limit.id, {"conversation_limit": 1})
    assert engine.service.perform_bulk_assignment(10).assigned_count == 1
    conversation = world_backend.world.get(100)
    assert conversation is not None
    assert conversation.assignee == "ann"

    world_backend.add_conversation(101, inbox=10)
    assert (
        engine.service.perform_bulk_assignment(10).assigned_count == 0
    )  # limit 1 held
    admin.remove_capacity_policy_agent(ADMIN, 1, capacity.id, "ann")
    assert engine.service.perform_bulk_assignment(10).assigned_count == 1

    world_backend.add_conversation(102, inbox=10)
    admin.delete_policy(ADMIN, 1, policy.id)
    assert engine.service.perform_bulk_assignment(10).assigned_count == 0  # unlinked


def test_routing_settings_from_the_admin_drive_the_next_pass(
    world_backend: InMemoryBackend, admin: PolicyAdmin
) -> None:
    """``sticky_window: 0`` set through the admin API turns sticky agents off for the
    policy's inbox: a returning contact goes to the round-robin agent."""
    history = InMemoryContactHistory(world_backend.world.get)
    engine = build_in_memory(
        world_backend,
        strict=True,
        sticky=StickyRouting(history=history, window=timedelta(hours=1)),
    )
    for agent in ("ann", "bob"):
        world_backend.set_status(1, agent, "online")
    policy = admin.create_policy(ADMIN, 1, {"name": "P"})
    admin.link_inbox(ADMIN, 1, 10, {"assignment_policy_id": policy.id})
    for number, contact in (
        (100, "carol"),
        (101, "carol"),
        (102, "dave"),
        (103, "dave"),
    ):
        history.set_contact(1, number, contact)
    world_backend.add_conversation(100, inbox=10, assignee="bob", status="resolved")
    world_backend.add_conversation(101, inbox=10)
    engine.service.perform_bulk_assignment(10)
    assert _assignee(world_backend, 101) == "bob"  # sticky, as wired
    admin.update_policy(ADMIN, 1, policy.id, {"sticky_window": 0})
    world_backend.add_conversation(102, inbox=10, assignee="bob", status="resolved")
    world_backend.add_conversation(103, inbox=10)
    engine.service.perform_bulk_assignment(10)
    assert _assignee(world_backend, 103) == "ann"  # off for this policy


def _assignee(backend: InMemoryBackend, conversation: int) -> Any:
    found = backend.world.get(conversation)
    assert found is not None
    return found.assignee


def test_exclusion_rules_from_the_admin_apply(
    world_backend: InMemoryBackend, admin: PolicyAdmin
) -> None:
    engine = build_in_memory(world_backend, strict=True)
    world_backend.set_status(1, "ann", "online")
    world_backend.add_conversation(100, inbox=10, labels=["vip"])
    policy = admin.create_policy(ADMIN, 1, {"name": "P"})
    admin.link_inbox(ADMIN, 1, 10, {"assignment_policy_id": policy.id})
    capacity = admin.create_capacity_policy(
        ADMIN, 1, {"name": "C", "exclusion_rules": {"excluded_labels": ["vip"]}}
    )
    admin.add_inbox_limit(
        ADMIN, 1, capacity.id, {"inbox_id": 10, "conversation_limit": 5}
    )
    assert engine.service.perform_bulk_assignment(10).assigned_count == 0
    admin.update_capacity_policy(ADMIN, 1, capacity.id, {"exclusion_rules": {}})
    assert engine.service.perform_bulk_assignment(10).assigned_count == 1


def test_an_unlimited_link_applies_its_rules_and_caps_nobody(
    world_backend: InMemoryBackend, admin: PolicyAdmin
) -> None:
    """Issue 16: "never auto-assign VIP tickets" without inventing a limit."""
    engine = build_in_memory(world_backend, strict=True)
    world_backend.set_status(1, "ann", "online")
    world_backend.add_conversation(100, inbox=10, labels=["vip"])
    for number in range(101, 106):
        world_backend.add_conversation(number, inbox=10)
    policy = admin.create_policy(ADMIN, 1, {"name": "P"})
    admin.link_inbox(ADMIN, 1, 10, {"assignment_policy_id": policy.id})
    capacity = admin.create_capacity_policy(
        ADMIN, 1, {"name": "C", "exclusion_rules": {"excluded_labels": ["vip"]}}
    )
    admin.add_capacity_policy_agent(ADMIN, 1, capacity.id, {"user_id": "ann"})
    limit = admin.add_inbox_limit(
        ADMIN, 1, capacity.id, {"inbox_id": 10, "conversation_limit": None}
    )
    assert engine.service.perform_bulk_assignment(10).assigned_count == 5
    vip = world_backend.world.get(100)
    assert vip is not None
    assert vip.assignee is None  # excluded, not capped
    # the same link with a limit of 0 caps ann; back to unlimited, the rules stay
    admin.update_inbox_limit(ADMIN, 1, capacity.id, limit.id, {"conversation_limit": 0})
    world_backend.add_conversation(106, inbox=10)
    assert engine.service.perform_bulk_assignment(10).assigned_count == 0
    admin.update_inbox_limit(
        ADMIN, 1, capacity.id, limit.id, {"conversation_limit": None}
    )
    assert engine.service.perform_bulk_assignment(10).assigned_count == 1
    assert vip == world_backend.world.get(100)  # still unassigned


def test_concurrent_writers_keep_the_invariants(
    admin: PolicyAdmin, store: InMemoryPolicyStore
) -> None:
    capacities = [
        admin.create_capacity_policy(ADMIN, 1, {"name": f"C{i}"}) for i in range(4)
    ]
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def worker(index: int) -> None:
        barrier.wait()
        try:
            admin.create_policy(ADMIN, 1, {"name": "Race"})
            outcomes.append("created")
        except ValidationFailed:
            outcomes.append("taken")
        admin.add_capacity_policy_agent(
            ADMIN, 1, capacities[index % 4].id, {"user_id": "ann"}
        )

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] + ["taken"] * 7
    holders = [
        c.id
        for c in capacities
        if "ann" in [a.id for a in store.agents_of_capacity_policy(1, c.id)]
    ]
    assert len(holders) == 1
