"""Fuzz: random and malformed requests to every route (in-process WSGI calls) never get
a 5xx, and a 4xx never changes anything."""

from __future__ import annotations

import io
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoassign.admin import (
    ROUTES,
    Actor,
    AdminApp,
    ApiAccessTokenAuthenticator,
    InMemoryPolicyStore,
    PolicyAdmin,
)
from autoassign.testing import FakeClock, InMemoryBackend

TOKENS = {
    "admin": Actor(account=1, user="root", role="administrator"),
    "agent": Actor(account=1, user="ann", role="agent"),
    "other": Actor(account=2, user="boss", role="administrator"),
}
FIELDS = [
    "assignment_policy",
    "agent_capacity_policy",
    "inbox_limit",
    "name",
    "description",
    "assignment_order",
    "conversation_priority",
    "fair_distribution_limit",
    "fair_distribution_window",
    "enabled",
    "exclusion_rules",
    "excluded_labels",
    "exclude_older_than_hours",
    "assignment_policy_id",
    "user_id",
    "inbox_id",
    "conversation_limit",
    "id",
    "account_id",
]
EDGE_NUMBERS = st.sampled_from(
    [
        0,
        -1,
        1,
        100_000,
        100_001,
        2_592_000,
        2_592_001,
        2**31,
        2**63,
        10**300,
        -(10**300),
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    EDGE_NUMBERS,
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(
        [
            "round_robin",
            "balanced",
            "earliest_created",
            "longest_waiting",
            "ann",
            "10",
            "",
        ]
    ),
)
KEYS = st.one_of(st.sampled_from(FIELDS), st.text(max_size=8))
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=5)
    ),
    max_leaves=12,
)
WRAPPED = st.builds(
    lambda wrapper, inner: {wrapper: inner},
    st.sampled_from(["assignment_policy", "agent_capacity_policy", "inbox_limit"]),
    st.dictionaries(KEYS, JSON, max_size=6),
)
RAW_BODIES = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(
        [
            b"{",
            b"\xff\xfe{}",
            b'{"assignment_policy": {"name": "\xc3"}}',
            b'{"a": NaN}',
            b'{"a": Infinity}',
            b"[" * 3000 + b"]" * 3000,
            b'{"assignment_policy": {"fair_distribution_limit": 1'
            + b"0" * 5000
            + b"}}",
            b'{"conversation_limit": 1e999, "inbox_id": 10}',
            b'"just a string"',
            b"null",
            b'{"assignment_policy_id": "\\ud800"}',
        ]
    ),
)
BODIES = st.one_of(
    WRAPPED.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(KEYS, JSON, max_size=6).map(lambda v: json.dumps(v).encode()),
    JSON.map(lambda v: json.dumps(v).encode()),
    RAW_BODIES,
)
ID_SEGMENTS = st.one_of(
    st.sampled_from(
        ["1", "2", "3", "10", "11", "20", "ann", "999", "0", "-1", "%ff", "é"]
    ),
    st.text(alphabet=st.characters(blacklist_characters="/"), min_size=1, max_size=6),
)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    template, methods = draw(st.sampled_from(ROUTES))
    path = template
    for name in ("account_id", "id", "inbox_id", "user_id", "limit_id"):
        if "{" + name + "}" in path:
            if name == "account_id":
                value = draw(st.sampled_from(["1"] * 18 + ["2", "x"]))
            elif draw(st.integers(0, 3)):
                value = {"inbox_id": "10", "user_id": "ann"}.get(name, "1")
            else:
                value = draw(ID_SEGMENTS)
            path = path.replace("{" + name + "}", value)
    if draw(st.integers(0, 9)):
        method = draw(st.sampled_from(methods))
    else:
        method = draw(
            st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"])
        )
    token = draw(st.sampled_from(["admin"] * 20 + ["agent", "other", "bogus", None]))
    content_type = draw(
        st.sampled_from(
            ["application/json"] * 6
            + ["application/json; charset=utf-8", "text/plain", "", "application/xml"]
        )
    )
    return {
        "path": path,
        "method": method,
        "body": draw(BODIES),
        "token": token,
        "content_type": content_type,
    }


def build() -> tuple[AdminApp, InMemoryPolicyStore]:
    clock = FakeClock()
    backend = InMemoryBackend(clock=clock)
    backend.add_account(1)
    backend.add_account(2)
    backend.add_inbox(10, account=1, members=["ann", "bob"])
    backend.add_inbox(11, account=1, members=["ann"])
    backend.add_inbox(20, account=2, members=["zed"])
    store = InMemoryPolicyStore(backend.world, clock)
    admin = PolicyAdmin(store)
    root = TOKENS["admin"]
    policy = admin.create_policy(root, 1, {"name": "P"})
    admin.link_inbox(root, 1, 10, {"assignment_policy_id": policy.id})
    capacity = admin.create_capacity_policy(root, 1, {"name": "C"})
    admin.add_inbox_limit(
        root, 1, capacity.id, {"inbox_id": 10, "conversation_limit": 2}
    )
    admin.add_capacity_policy_agent(root, 1, capacity.id, {"user_id": "ann"})
    admin.create_policy(TOKENS["other"], 2, {"name": "Q"})
    app = AdminApp(admin, ApiAccessTokenAuthenticator(TOKENS), max_body_bytes=8192)
    return app, store


def send(app: AdminApp, request: dict[str, Any]) -> tuple[int, bytes]:
    body: bytes = request["body"]
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request["method"],
        "PATH_INFO": request["path"].encode("utf-8", "surrogatepass").decode("latin-1"),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": request["content_type"],
        "wsgi.input": io.BytesIO(body),
    }
    if request["token"] is not None:
        environ["HTTP_API_ACCESS_TOKEN"] = request["token"]
    status: list[int] = []

    def start_response(line: str, headers: list[tuple[str, str]]) -> None:
        status.append(int(line.split(maxsplit=1)[0]))

    out = b"".join(app(environ, start_response))
    return status[0], out


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(requests(), min_size=1, max_size=6))
def test_no_5xx_and_no_change_on_4xx(batch: list[dict[str, Any]]) -> None:
    app, store = build()
    for request in batch:
        before = store.snapshot()
        status, body = send(app, request)
        assert status < 500, (request, body)
        if body:
            json.loads(body)
        if status >= 400:
            assert store.snapshot() == before, (request, status, body)
