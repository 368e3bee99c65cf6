"""An inbox link with no limit over the admin API (issue 16): ``"conversation_limit":
null`` creates and updates an unlimited link, the reference's request shapes still
work, and every bad value answers 422 naming the field, with nothing changed."""

from __future__ import annotations

from typing import Any

import pytest

from autoassign.admin import InMemoryPolicyStore
from autoassign.testing import InMemoryBackend

from .conftest import Caller

A = "/api/v1/accounts/1"


def _capacity(call: Caller) -> tuple[Any, str]:
    created = call(
        "POST",
        f"{A}/agent_capacity_policies",
        {
            "agent_capacity_policy": {
                "name": "VIP",
                "exclusion_rules": {"excluded_labels": ["vip"]},
            }
        },
    )
    assert created.status == 200
    pid = created.json["id"]
    return pid, f"{A}/agent_capacity_policies/{pid}/inbox_limits"


def test_null_creates_and_updates_an_unlimited_link(
    call: Caller, world_backend: InMemoryBackend
) -> None:
    pid, path = _capacity(call)
    created = call("POST", path, {"inbox_id": 10, "conversation_limit": None})
    assert created.status == 200
    assert created.json["conversation_limit"] is None
    lid = created.json["id"]
    assert world_backend.world.capacity_policies[pid].inbox_limits == {10: None}
    shown = call("GET", f"{A}/agent_capacity_policies/{pid}").json
    assert shown["inbox_capacity_limits"] == [
        {"id": lid, "inbox_id": 10, "conversation_limit": None}
    ]
    limited = call("PATCH", f"{path}/{lid}", {"conversation_limit": 3})
    assert (limited.status, limited.json["conversation_limit"]) == (200, 3)
    unlimited = call("PUT", f"{path}/{lid}", {"conversation_limit": None})
    assert (unlimited.status, unlimited.json["conversation_limit"]) == (200, None)
    assert unlimited.json["inbox_name"] == "Support"
    # the reference's shapes: an integer limit, as before
    other = call("POST", path, {"inbox_id": 11, "conversation_limit": 2})
    assert (other.status, other.json["conversation_limit"]) == (200, 2)
    assert world_backend.world.capacity_policies[pid].inbox_limits == {
        10: None,
        11: 2,
    }


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"inbox_id": 11}, "can't be blank"),
        (
            {"inbox_id": 11, "conversation_limit": -1},
            "must be between 0 and 2147483647",
        ),
        (
            {"inbox_id": 11, "conversation_limit": 2**31},
            "must be between 0 and 2147483647",
        ),
        ({"inbox_id": 11, "conversation_limit": "unlimited"}, "must be an integer"),
        ({"inbox_id": 11, "conversation_limit": 2.5}, "must be an integer"),
        ({"inbox_id": 11, "conversation_limit": True}, "must be an integer"),
        ({"inbox_id": 11, "conversation_limit": {}}, "must be an integer"),
    ],
)
def test_bad_limits_answer_422_and_change_nothing(
    call: Caller, store: InMemoryPolicyStore, body: dict[str, Any], reason: str
) -> None:
    _pid, path = _capacity(call)
    lid = call("POST", path, {"inbox_id": 10, "conversation_limit": None}).json["id"]
    before = store.snapshot()
    created = call("POST", path, body)
    assert created.status == 422
    assert created.json["errors"] == {"conversation_limit": reason}
    update = {k: v for k, v in body.items() if k != "inbox_id"}
    updated = call("PATCH", f"{path}/{lid}", update)
    assert updated.status == 422
    assert updated.json["errors"] == {"conversation_limit": reason}
    assert store.snapshot() == before
