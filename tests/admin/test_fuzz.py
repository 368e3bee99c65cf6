"""Fuzz: random and malformed requests to every route (in-process WSGI calls) never get
a 5xx, and a 4xx never changes anything, on every store: the in-memory store and the SQL
store on SQLite and on PostgreSQL. Bodies and path ids include bad text: NUL, lone
surrogates (as JSON escapes and as UTF-8-encoded bytes), invalid UTF-8 bytes, control
characters and over-long strings."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from autoassign.admin import ROUTES

sys.path.insert(0, str(Path(__file__).parent))
from aa_admin_stores import STORE_KINDS, AdminWorld, open_world, send

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
BAD_TEXT = st.one_of(
    st.sampled_from(
        ["\x00", "a\x00b", "\ud800", "x\udfff", "\x01", "a\x1fb", "\x7f", "\t\n"]
    ),
    st.builds(
        lambda n, c: c * n, st.sampled_from([255, 256, 10_001]), st.sampled_from("xé")
    ),
    st.text(
        alphabet=st.characters(codec=None, categories=["Cc", "Cs", "Ll"]),
        max_size=6,
    ),
)
SCALARS = st.one_of(
    st.none(),
    BAD_TEXT,
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
            b'{"assignment_policy": {"name": "a\\u0000b"}}',
            b'{"assignment_policy": {"name": "ok", "description": "\xed\xa0\x80"}}',
            b'{"agent_capacity_policy": {"name": "C2", "exclusion_rules":'
            b' {"excluded_labels": ["\xff"]}}}',
            b'{"agent_capacity_policy": {"name": "C2", "exclusion_rules":'
            b' {"excluded_labels": ["\\ud83d"]}}}',
            b'{"user_id": "\xc3"}',
            b'{"inbox_id": "\\u0000", "conversation_limit": 1}',
            b'{"\xff": 1}',
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
        [
            *("1", "2", "3", "10", "11", "20", "ann", "999", "0", "-1", "%ff", "é"),
            *("\x00", "a\x00", "\ud800", "\x01", "\x7f", "x" * 256, "\udcff"),
        ]
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


_CONTROL_ESCAPE = re.compile(rb"\\u00[01][0-9a-fA-F]|\\u007[fF]")


def _kind(request: dict[str, Any]) -> str:
    """What bad text a request carries (for ``--hypothesis-show-statistics``)."""
    body: bytes = request["body"]
    path: str = request["path"]
    if any(ord(c) < 0x20 or c == "\x7f" or 0xD800 <= ord(c) <= 0xDFFF for c in path):
        return "bad path id"
    if len(max(path.split("/"), key=len)) > 255:
        return "over-long path id"
    if request["method"] not in {"POST", "PUT", "PATCH"}:
        return "body not read"
    try:
        parsed = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        return "invalid UTF-8 body"
    except (ValueError, RecursionError):
        return "malformed JSON"
    try:
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "lone surrogate escape"
    if _CONTROL_ESCAPE.search(body):
        return "NUL/control escape"
    if re.search(rb'"[^"]{256,}"', body):
        return "over-long string"
    return "other"


@pytest.fixture(params=STORE_KINDS)
def world(
    request: pytest.FixtureRequest,
    require_service: Callable[[str, bool, str], None],
) -> Iterator[AdminWorld]:
    """The admin app over one kind of store (seeded again for every example)."""
    yield from open_world(request.param, require_service)


@settings(
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(batch=st.lists(requests(), min_size=1, max_size=6))
def test_no_5xx_and_no_change_on_4xx(
    world: AdminWorld, batch: list[dict[str, Any]]
) -> None:
    app = world.fresh()
    after = world.snapshot()
    for request in batch:
        before = after
        status, body = send(
            app,
            request["method"],
            request["path"],
            request["body"],
            token=request["token"],
            content_type=request["content_type"],
        )
        assert status < 500, (request, body)
        kind = _kind(request)
        event(f"{kind} -> {status // 100}xx")
        if kind in {"bad path id", "invalid UTF-8 body", "lone surrogate escape"}:
            assert 400 <= status < 500, (request, status, body)
        after = world.snapshot()
        if status >= 400:
            assert after == before, (request, status, body)
