"""The reference's exact JSON shapes where autoassign used to differ by accident:
``excluded_labels`` echoed in the order given, ``"exclusion_rules": {}`` for a policy
without rules, and a duplicate inbox limit answering exactly ``{"error": ...}``."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from autoassign.admin import (
    AdminApp,
    ApiAccessTokenAuthenticator,
    InMemoryPolicyStore,
    PolicyAdmin,
    capacity_policy_json,
)
from autoassign.testing import FakeClock, InMemoryBackend

from .conftest import ADMIN, TOKENS, Caller, call_wsgi

A = "/api/v1/accounts/1"
LABELS = st.lists(
    st.text(alphabet=string.ascii_letters + string.digits + "-_ ", min_size=1),
    max_size=8,
)


def _app() -> tuple[AdminApp, InMemoryBackend]:
    clock = FakeClock()
    backend = InMemoryBackend(clock=clock)
    backend.add_account(1)
    backend.add_inbox(10, account=1, members=["ann"])
    admin = PolicyAdmin(InMemoryPolicyStore(backend.world, clock))
    return AdminApp(admin, ApiAccessTokenAuthenticator(TOKENS)), backend


@given(created=LABELS, updated=LABELS, hours=st.none() | st.integers(1, 1000))
def test_excluded_labels_come_back_in_the_order_given(
    created: list[str], updated: list[str], hours: int | None
) -> None:
    app, backend = _app()
    rules: dict[str, object] = {"excluded_labels": created}
    if hours is not None:
        rules["exclude_older_than_hours"] = hours
    reply = call_wsgi(
        app,
        "POST",
        f"{A}/agent_capacity_policies",
        {"agent_capacity_policy": {"name": "P", "exclusion_rules": rules}},
    )
    assert reply.status == 200, reply.json
    expected: dict[str, object] = {}
    if created:
        expected["excluded_labels"] = list(dict.fromkeys(created))  # first of each
    if hours is not None:
        expected["exclude_older_than_hours"] = hours
    assert reply.json["exclusion_rules"] == expected
    pid = reply.json["id"]
    shown = call_wsgi(app, "GET", f"{A}/agent_capacity_policies/{pid}")
    assert shown.json["exclusion_rules"] == expected
    (policy,) = backend.world.capacity_policies.values()
    assert policy.exclusion_rules.excluded_labels == frozenset(created)  # the engine's

    changed = call_wsgi(
        app,
        "PATCH",
        f"{A}/agent_capacity_policies/{pid}",
        {"agent_capacity_policy": {"exclusion_rules": {"excluded_labels": updated}}},
    )
    assert changed.status == 200, changed.json
    assert changed.json["exclusion_rules"] == (
        {"excluded_labels": list(dict.fromkeys(updated))} if updated else {}
    )


def test_a_capacity_policy_without_rules_renders_empty_rules(
    admin: PolicyAdmin,
) -> None:
    bare = admin.create_capacity_policy(ADMIN, 1, {"name": "Bare"})
    assert capacity_policy_json(bare)["exclusion_rules"] == {}
    cleared = admin.create_capacity_policy(
        ADMIN, 1, {"name": "Cleared", "exclusion_rules": None}
    )
    assert capacity_policy_json(cleared)["exclusion_rules"] == {}
    aged = admin.create_capacity_policy(
        ADMIN, 1, {"name": "Aged", "exclusion_rules": {"exclude_older_than_hours": 5}}
    )
    assert capacity_policy_json(aged)["exclusion_rules"] == {
        "exclude_older_than_hours": 5
    }


def test_a_duplicate_inbox_limit_answers_exactly_the_reference_error(
    call: Caller,
) -> None:
    created = call(
        "POST", f"{A}/agent_capacity_policies", {"agent_capacity_policy": {"name": "P"}}
    )
    pid = created.json["id"]
    path = f"{A}/agent_capacity_policies/{pid}/inbox_limits"
    first = call("POST", path, {"inbox_id": 10, "conversation_limit": 2})
    assert first.status == 200
    duplicate = call("POST", path, {"inbox_id": 10, "conversation_limit": 3})
    assert duplicate.status == 422
    assert duplicate.json == {"error": "Inbox has already been assigned to this policy"}
    limits = call("GET", f"{A}/agent_capacity_policies/{pid}").json
    assert [
        limit["conversation_limit"] for limit in limits["inbox_capacity_limits"]
    ] == [2]
    missing = call("GET", f"{A}/inboxes/10/assignment_policy")
    assert missing.json == {"error": "Assignment policy not found"}  # the same style
