"""The admin API over real HTTP: a wsgiref server on a loopback port in a thread,
driven by http.client. Every route, the auth matrix, and transport errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from autoassign.admin import ROUTES, InMemoryPolicyStore
from autoassign.testing import InMemoryBackend

A = "/api/v1/accounts/1"

Caller = Any


def seed(http_call: Caller) -> dict[str, Any]:
    """A policy linked to inbox 10 and a capacity policy with a limit and an agent."""
    policy = http_call(
        "POST", f"{A}/assignment_policies", {"assignment_policy": {"name": "Seed"}}
    ).json
    http_call(
        "POST",
        f"{A}/inboxes/10/assignment_policy",
        {"assignment_policy_id": policy["id"]},
    )
    capacity = http_call(
        "POST",
        f"{A}/agent_capacity_policies",
        {"agent_capacity_policy": {"name": "Cap"}},
    ).json
    limit = http_call(
        "POST",
        f"{A}/agent_capacity_policies/{capacity['id']}/inbox_limits",
        {"inbox_id": 10, "conversation_limit": 2},
    ).json
    http_call(
        "POST",
        f"{A}/agent_capacity_policies/{capacity['id']}/users",
        {"user_id": "ann"},
    )
    return {"policy": policy, "capacity": capacity, "limit": limit}


def test_assignment_policy_routes(
    http_call: Caller, world_backend: InMemoryBackend
) -> None:
    created = http_call(
        "POST",
        f"{A}/assignment_policies",
        {"assignment_policy": {"name": "Support", "assignment_order": "balanced"}},
    )
    assert created.status == 200
    assert created.headers["Content-Type"].startswith("application/json")
    policy = created.json
    assert policy["name"] == "Support"
    assert policy["assignment_order"] == "balanced"
    assert policy["fair_distribution_window"] == 3600
    pid = policy["id"]

    listed = http_call("GET", f"{A}/assignment_policies")
    assert listed.status == 200
    assert [p["id"] for p in listed.json] == [pid]

    shown = http_call("GET", f"{A}/assignment_policies/{pid}")
    assert shown.json == policy

    put = http_call(
        "PUT",
        f"{A}/assignment_policies/{pid}",
        {"assignment_policy": {"fair_distribution_limit": 0}},
    )
    assert put.status == 200
    assert put.json["fair_distribution_limit"] == 0
    assert put.json["name"] == "Support"
    patch = http_call(
        "PATCH",
        f"{A}/assignment_policies/{pid}",
        {"assignment_policy": {"conversation_priority": "longest_waiting"}},
    )
    assert patch.json["conversation_priority"] == "longest_waiting"
    assert patch.json["fair_distribution_limit"] == 0

    none_yet = http_call("GET", f"{A}/inboxes/10/assignment_policy")
    assert none_yet.status == 404
    assert none_yet.json == {"error": "Assignment policy not found"}
    linked = http_call(
        "POST", f"{A}/inboxes/10/assignment_policy", {"assignment_policy_id": pid}
    )
    assert linked.status == 200
    assert linked.json["assigned_inbox_count"] == 1
    assert http_call("GET", f"{A}/inboxes/10/assignment_policy").json["id"] == pid
    inboxes = http_call("GET", f"{A}/assignment_policies/{pid}/inboxes")
    assert inboxes.json == {"inboxes": [{"id": 10, "name": "Support"}]}
    unlinked = http_call("DELETE", f"{A}/inboxes/10/assignment_policy")
    assert (unlinked.status, unlinked.body) == (200, b"")
    again = http_call("DELETE", f"{A}/inboxes/10/assignment_policy")
    assert again.status == 404
    assert again.json == {"error": "Assignment policy not found"}

    http_call(
        "POST", f"{A}/inboxes/11/assignment_policy", {"assignment_policy_id": pid}
    )
    deleted = http_call("DELETE", f"{A}/assignment_policies/{pid}")
    assert (deleted.status, deleted.body) == (200, b"")
    assert world_backend.world.policy_links == {}
    missing = http_call("GET", f"{A}/assignment_policies/{pid}")
    assert missing.status == 404
    assert missing.json == {"error": "Resource could not be found"}


def test_capacity_policy_routes(
    http_call: Caller, world_backend: InMemoryBackend
) -> None:
    created = http_call(
        "POST",
        f"{A}/agent_capacity_policies",
        {
            "agent_capacity_policy": {
                "name": "Tier 1",
                "exclusion_rules": {
                    "excluded_labels": ["vip"],
                    "exclude_older_than_hours": 24,
                },
            }
        },
    )
    assert created.status == 200
    cid = created.json["id"]
    assert created.json["account_id"] == 1
    assert created.json["exclusion_rules"] == {
        "excluded_labels": ["vip"],
        "exclude_older_than_hours": 24,
    }
    assert http_call("GET", f"{A}/agent_capacity_policies").json == [created.json]
    assert http_call("GET", f"{A}/agent_capacity_policies/{cid}").json == created.json
    for method in ("PUT", "PATCH"):
        updated = http_call(
            "PUT" if method == "PUT" else "PATCH",
            f"{A}/agent_capacity_policies/{cid}",
            {"agent_capacity_policy": {"description": method}},
        )
        assert updated.status == 200
        assert updated.json["description"] == method

    limit = http_call(
        "POST",
        f"{A}/agent_capacity_policies/{cid}/inbox_limits",
        {"inbox_id": 10, "conversation_limit": 3},
    )
    assert limit.status == 200
    assert set(limit.json) == {
        "id",
        "inbox_id",
        "agent_capacity_policy_id",
        "conversation_limit",
        "created_at",
        "updated_at",
    }
    lid = limit.json["id"]
    duplicate = http_call(
        "POST",
        f"{A}/agent_capacity_policies/{cid}/inbox_limits",
        {"inbox_id": 10, "conversation_limit": 1},
    )
    assert duplicate.status == 422
    assert duplicate.json["error"] == "Inbox has already been assigned to this policy"
    for method in ("PUT", "PATCH"):
        changed = http_call(
            method,
            f"{A}/agent_capacity_policies/{cid}/inbox_limits/{lid}",
            {"conversation_limit": 7},
        )
        assert changed.status == 200
        assert changed.json["inbox_name"] == "Support"
        assert changed.json["conversation_limit"] == 7
    assert world_backend.world.capacity_policies[cid].inbox_limits == {10: 7}

    added = http_call(
        "POST", f"{A}/agent_capacity_policies/{cid}/users", {"user_id": "ann"}
    )
    assert added.status == 200
    assert added.json == {
        "id": "ann",
        "account_id": 1,
        "name": "Ann",
        "email": "ann@example.com",
        "role": "agent",
    }
    users = http_call("GET", f"{A}/agent_capacity_policies/{cid}/users")
    assert [u["id"] for u in users.json] == ["ann"]
    assert (
        http_call("GET", f"{A}/agent_capacity_policies/{cid}").json[
            "assigned_agent_count"
        ]
        == 1
    )
    unknown = http_call(
        "POST", f"{A}/agent_capacity_policies/{cid}/users", {"user_id": 999}
    )
    assert unknown.status == 404
    removed = http_call("DELETE", f"{A}/agent_capacity_policies/{cid}/users/ann")
    assert (removed.status, removed.body) == (200, b"")
    assert (
        http_call("DELETE", f"{A}/agent_capacity_policies/{cid}/users/ann").status
        == 404
    )

    gone = http_call("DELETE", f"{A}/agent_capacity_policies/{cid}/inbox_limits/{lid}")
    assert (gone.status, gone.body) == (204, b"")
    deleted = http_call("DELETE", f"{A}/agent_capacity_policies/{cid}")
    assert (deleted.status, deleted.body) == (200, b"")
    assert world_backend.world.capacity_policies == {}


def _concrete(template: str, ids: dict[str, Any], account: int = 1) -> str:
    return (
        template.replace("{account_id}", str(account))
        .replace("{inbox_id}", "10")
        .replace("{user_id}", "ann")
        .replace("{limit_id}", str(ids["limit"]["id"]))
        .replace(
            "{id}",
            str(ids["capacity" if "agent_capacity" in template else "policy"]["id"]),
        )
    )


@pytest.mark.parametrize(
    ("token", "who"),
    [
        (None, "no token"),
        ("agent-token", "agent"),
        ("other-token", "other account"),
        ("nope", "bad"),
    ],
)
def test_auth_matrix_every_route(
    http_call: Caller, store: InMemoryPolicyStore, token: str | None, who: str
) -> None:
    ids = seed(http_call)
    before = store.snapshot()
    for template, methods in ROUTES:
        path = _concrete(template, ids)
        for method in methods:
            reply = http_call(
                method,
                path,
                {} if method in {"POST", "PUT", "PATCH"} else None,
                token=token,
            )
            assert reply.status == 401, (who, method, path)
            assert reply.json == {"error": "You are not authorized to do this action"}
    assert store.snapshot() == before


def test_administrator_is_never_401_and_agent_of_other_account_sees_own(
    http_call: Caller,
) -> None:
    ids = seed(http_call)
    for template, methods in ROUTES:
        path = _concrete(template, ids)
        for method in methods:
            if method == "DELETE":
                continue
            reply = http_call(method, path, {} if method != "GET" else None)
            assert reply.status in {200, 404, 422}, (method, path, reply.body)
    # the other account's admin can use its own account
    own = http_call(
        "POST",
        "/api/v1/accounts/2/assignment_policies",
        {"assignment_policy": {"name": "Theirs"}},
        token="other-token",
    )
    assert own.status == 200
    # ...but an id of account 1 under account 2 is not found
    foreign = http_call(
        "GET",
        f"/api/v1/accounts/2/assignment_policies/{ids['policy']['id']}",
        token="other-token",
    )
    assert foreign.status == 404
    assert foreign.json == {"error": "Resource could not be found"}


def test_transport_errors(http_call: Caller, store: InMemoryPolicyStore) -> None:
    before = store.snapshot()
    path = f"{A}/assignment_policies"
    malformed = http_call("POST", path, raw=b'{"assignment_policy": {')
    assert malformed.status == 400
    assert "Malformed JSON" in malformed.json["error"]
    bad_utf8 = http_call("POST", path, raw=b'{"assignment_policy": {"name": "\xff"}}')
    assert bad_utf8.status == 400
    assert "UTF-8" in bad_utf8.json["error"]
    nan = http_call(
        "POST", path, raw=b'{"assignment_policy": {"fair_distribution_limit": NaN}}'
    )
    assert nan.status == 400
    wrong_type = http_call(
        "POST",
        path,
        raw=json.dumps({"assignment_policy": {"name": "x"}}).encode(),
        content_type="text/plain",
    )
    assert wrong_type.status == 415
    assert "application/json" in wrong_type.json["error"]
    latin = http_call(
        "POST",
        path,
        {"assignment_policy": {"name": "x"}},
        content_type="application/json; charset=latin-1",
    )
    assert latin.status == 415
    huge = http_call("POST", path, raw=b'{"a": "' + b"x" * 5000 + b'"}')
    assert huge.status == 413
    assert "too large" in huge.json["error"]
    not_object = http_call("POST", path, [1, 2])
    assert not_object.status == 422
    no_wrapper = http_call("POST", path, {"name": "x"})
    assert no_wrapper.status == 422
    assert no_wrapper.json["errors"] == {
        "name": "is not a permitted field",
        "assignment_policy": "is required",
    }
    assert no_wrapper.json["attributes"] == ["name", "assignment_policy"]
    assert store.snapshot() == before


def test_routing_errors(http_call: Caller) -> None:
    assert http_call("GET", "/api/v1/accounts/1/nothing").status == 404
    assert http_call("GET", "/api/v2/accounts/1/assignment_policies").status == 404
    assert http_call("GET", "/").json == {"error": "Resource could not be found"}
    assert (
        http_call(
            "GET", "/api/v1/accounts/1/assignment_policies/1/inboxes/extra"
        ).status
        == 404
    )
    wrong = http_call("DELETE", f"{A}/assignment_policies")
    assert wrong.status == 405
    assert wrong.headers["Allow"] == "GET, POST"
    assert http_call("GET", f"{A}/agent_capacity_policies/1/inbox_limits").status == 405
    # a trailing slash is accepted
    assert http_call("GET", f"{A}/assignment_policies/").status == 200


def test_validation_errors_over_http(http_call: Caller) -> None:
    reply = http_call(
        "POST",
        f"{A}/assignment_policies",
        {
            "assignment_policy": {
                "name": "",
                "fair_distribution_limit": "10",
                "fair_distribution_window": 0,
                "enabled": 1,
            }
        },
    )
    assert reply.status == 422
    body = reply.json
    assert set(body) == {"message", "attributes", "errors"}
    assert body["errors"] == {
        "name": "can't be blank",
        "fair_distribution_limit": "must be an integer",
        "fair_distribution_window": "must be between 1 and 2592000",
        "enabled": "must be true or false",
    }
    assert "name can't be blank" in body["message"]
