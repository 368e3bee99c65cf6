"""The admin API as Django views (``autoassign.integrations.django.admin_urls``) over
the configuration models, through Django's test client: staff only (or a host's own
check), the library's validation (a 422 changes nothing), and what the views write is
what the directory reads."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client, override_settings

from autoassign.admin import Actor, AdminApp, ApiAccessTokenAuthenticator, PolicyAdmin
from autoassign.integrations.django.admin_api import settings_policy_store
from autoassign.integrations.django.config.models import (
    AssignmentPolicyRow,
    CapacityPolicyRow,
    InboxPolicyLink,
)
from autoassign.integrations.django.config.source import ModelPolicies

from .conftest import Helpdesk

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

BASE = "/autoassign/api/v1/accounts/1"


@pytest.fixture
def api(helpdesk: Helpdesk) -> Iterator[Helpdesk]:
    CapacityPolicyRow.objects.all().delete()
    AssignmentPolicyRow.objects.all().delete()
    with override_settings(ROOT_URLCONF="aa_djtest.urls"):
        yield helpdesk
    CapacityPolicyRow.objects.all().delete()
    AssignmentPolicyRow.objects.all().delete()


def _client(user: Any | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _staff(helpdesk: Helpdesk, name: str = "root") -> Any:
    return helpdesk.staff(name, online=False)


def _send(client: Client, method: str, url: str, body: object = None) -> Any:
    kwargs: dict[str, Any] = {}
    if body is not None:
        kwargs = {"data": json.dumps(body), "content_type": "application/json"}
    return getattr(client, method)(url, **kwargs)


def _state() -> object:
    return (
        list(AssignmentPolicyRow.objects.order_by("pk").values()),
        list(InboxPolicyLink.objects.order_by("pk").values()),
        list(CapacityPolicyRow.objects.order_by("pk").values()),
    )


def test_a_staff_user_creates_lists_updates_and_deletes_a_policy(
    api: Helpdesk,
) -> None:
    queue = api.queue("support")
    client = _client(_staff(api))
    created = _send(
        client,
        "post",
        f"{BASE}/assignment_policies",
        {"assignment_policy": {"name": "Rotation", "fair_distribution_limit": 5}},
    )
    assert created.status_code == 200, created.content
    policy = created.json()
    assert policy["name"] == "Rotation"
    assert policy["fair_distribution_limit"] == 5
    assert AssignmentPolicyRow.objects.get(pk=policy["id"]).name == "Rotation"

    listed = client.get(f"{BASE}/assignment_policies")
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()] == [policy["id"]]

    linked = _send(
        client,
        "post",
        f"{BASE}/inboxes/{queue.pk}/assignment_policy",
        {"assignment_policy_id": policy["id"]},
    )
    assert linked.status_code == 200, linked.content
    assert linked.json()["assigned_inbox_count"] == 1
    inboxes = client.get(f"{BASE}/assignment_policies/{policy['id']}/inboxes")
    assert inboxes.json() == {"inboxes": [{"id": queue.pk, "name": str(queue)}]}

    api.clock.advance(timedelta(minutes=1))
    patched = _send(
        client,
        "patch",
        f"{BASE}/assignment_policies/{policy['id']}",
        {"assignment_policy": {"conversation_priority": "longest_waiting"}},
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["conversation_priority"] == "longest_waiting"
    assert patched.json()["updated_at"] > policy["updated_at"]
    seen = ModelPolicies().policy_for_inbox(queue.pk)
    assert seen is not None
    assert seen.id == policy["id"]
    assert seen.conversation_priority.value == "longest_waiting"

    deleted = client.delete(f"{BASE}/assignment_policies/{policy['id']}")
    assert deleted.status_code == 200
    assert client.get(f"{BASE}/assignment_policies").json() == []
    assert not InboxPolicyLink.objects.exists()
    assert ModelPolicies().policy_for_inbox(queue.pk) is None
    gone = client.get(f"{BASE}/assignment_policies/{policy['id']}")
    assert gone.status_code == 404


def test_bad_input_is_a_422_that_changes_nothing(api: Helpdesk) -> None:
    client = _client(_staff(api))
    first = _send(
        client,
        "post",
        f"{BASE}/assignment_policies",
        {"assignment_policy": {"name": "Taken"}},
    ).json()
    before = _state()
    bad = _send(
        client,
        "post",
        f"{BASE}/assignment_policies",
        {
            "assignment_policy": {
                "name": "",
                "fair_distribution_window": "1h",
                "colour": "red",
            }
        },
    )
    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {"colour", "name", "fair_distribution_window"}
    taken = _send(
        client,
        "post",
        f"{BASE}/assignment_policies",
        {"assignment_policy": {"name": "Taken"}},
    )
    assert taken.status_code == 422
    assert "name" in taken.json()["errors"]
    renamed = _send(
        client,
        "put",
        f"{BASE}/assignment_policies/{first['id']}",
        {"assignment_policy": {"fair_distribution_limit": -1}},
    )
    assert renamed.status_code == 422
    not_json = client.post(
        f"{BASE}/assignment_policies", data="{", content_type="application/json"
    )
    assert not_json.status_code in (400, 422)
    assert _state() == before


def test_non_staff_and_anonymous_users_get_403(api: Helpdesk) -> None:
    user = get_user_model().objects.create_user("visitor")
    before = _state()
    for client in (_client(user), _client(None)):
        for method, url, body in (
            ("get", f"{BASE}/assignment_policies", None),
            (
                "post",
                f"{BASE}/assignment_policies",
                {"assignment_policy": {"name": "X"}},
            ),
        ):
            response = _send(client, method, url, body)
            assert response.status_code == 403, (method, url)
            assert response.json() == {"error": "Forbidden"}
    assert _state() == before
    inactive = _staff(api, "gone")
    inactive.is_active = False
    inactive.save()
    assert _client(inactive).get(f"{BASE}/assignment_policies").status_code == 403


def test_session_writes_need_the_csrf_token(api: Helpdesk) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(_staff(api))
    before = _state()
    response = _send(
        client,
        "post",
        f"{BASE}/assignment_policies",
        {"assignment_policy": {"name": "No token"}},
    )
    assert response.status_code == 403
    assert _state() == before
    assert client.get(f"{BASE}/assignment_policies").status_code == 200


def test_another_account_in_the_path_is_refused(api: Helpdesk) -> None:
    client = _client(_staff(api))
    response = client.get("/autoassign/api/v1/accounts/2/assignment_policies")
    assert response.status_code == 401


def test_a_host_permission_check_replaces_staff(api: Helpdesk) -> None:
    staff = _staff(api, "staffer")
    member = get_user_model().objects.create_user("member")
    member.groups.add(Group.objects.get_or_create(name="autoassign-admins")[0])
    url = "/by-group/api/v1/accounts/1/assignment_policies"
    assert _client(staff).get(url).status_code == 403
    created = _send(
        _client(member), "post", url, {"assignment_policy": {"name": "By group"}}
    )
    assert created.status_code == 200, created.content
    assert [p["name"] for p in _client(member).get(url).json()] == ["By group"]


def test_capacity_policies_limits_and_agents_through_the_views(api: Helpdesk) -> None:
    queue, other = api.queue("support"), api.queue("sales")
    root, ann = _staff(api), _staff(api, "ann")
    client = _client(root)
    base = f"{BASE}/agent_capacity_policies"
    capacity = _send(
        client,
        "post",
        base,
        {
            "agent_capacity_policy": {
                "name": "Tier 1",
                "exclusion_rules": {"excluded_labels": ["vip"]},
            }
        },
    ).json()
    limit = _send(
        client,
        "post",
        f"{base}/{capacity['id']}/inbox_limits",
        {"inbox_id": queue.pk, "conversation_limit": 3},
    )
    assert limit.status_code == 200, limit.content
    unlimited = _send(
        client,
        "post",
        f"{base}/{capacity['id']}/inbox_limits",
        {"inbox_id": other.pk, "conversation_limit": None},
    )
    assert unlimited.status_code == 200, unlimited.content
    assert unlimited.json()["conversation_limit"] is None
    joined = _send(
        client, "post", f"{base}/{capacity['id']}/users", {"user_id": ann.pk}
    )
    assert joined.status_code == 200, joined.content
    assert joined.json()["id"] == ann.pk
    outsider = get_user_model().objects.create_user("outsider")
    refused = _send(
        client, "post", f"{base}/{capacity['id']}/users", {"user_id": outsider.pk}
    )
    assert refused.status_code in (404, 422)
    duplicate = _send(
        client,
        "post",
        f"{base}/{capacity['id']}/inbox_limits",
        {"inbox_id": queue.pk, "conversation_limit": 1},
    )
    assert duplicate.status_code == 422
    (seen,) = ModelPolicies().capacity_policies_for_inbox(queue.pk)
    assert seen.inbox_limits == {queue.pk: 3, other.pk: None}
    assert seen.agents == frozenset({ann.pk})
    assert set(seen.exclusion_rules.excluded_labels) == {"vip"}
    shown = client.get(f"{base}/{capacity['id']}").json()
    assert shown["assigned_agent_count"] == 1
    assert len(shown["inbox_capacity_limits"]) == 2


def test_the_wsgi_app_serves_the_same_store(api: Helpdesk) -> None:
    """The documented alternative: AdminApp over settings_policy_store()."""
    root = _staff(api)
    app = AdminApp(
        PolicyAdmin(settings_policy_store()),
        ApiAccessTokenAuthenticator(
            {"s3cret": Actor(account=1, user=root.pk, role="administrator")}
        ),
    )
    body = json.dumps({"assignment_policy": {"name": "Over WSGI"}}).encode()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v1/accounts/1/assignment_policies",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_API_ACCESS_TOKEN": "s3cret",
        "wsgi.input": io.BytesIO(body),
    }
    setup_testing_defaults(environ)
    statuses: list[str] = []
    reply = b"".join(app(environ, lambda status, headers: statuses.append(status)))
    assert statuses == ["200 OK"], reply
    created = json.loads(reply)
    listed = _client(root).get(f"{BASE}/assignment_policies").json()
    assert [p["id"] for p in listed] == [created["id"]]
