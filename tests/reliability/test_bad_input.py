"""Bad text at every admin boundary, exhaustively: each kind of bad text (NUL, a lone
surrogate as a JSON escape and as UTF-8-encoded bytes, invalid UTF-8 bytes, truncated
UTF-8, C0 controls, DEL, over-long) in each text field of each body and in each path
id, on every store (memory, SQL on SQLite, SQL on PostgreSQL). Every request gets a
4xx whose body names the field, and the store reads back unchanged."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "admin"))
from aa_admin_stores import (
    STORE_KINDS,
    AdminWorld,
    open_world,
    send,
)

A = "/api/v1/accounts/1"
HOLE = "@@HOLE@@"

# (kind, how it is written into JSON text). A str is JSON-encoded (NUL and lone
# surrogates become \u escapes); bytes are spliced into the body raw.
BAD_VALUES: list[tuple[str, str | bytes]] = [
    ("nul", "a\x00b"),
    ("nul-only", "\x00"),
    ("lone-surrogate-escape", "a\ud800"),
    ("low-surrogate-escape", "\udfff"),
    ("surrogate-utf8-bytes", b"a\xed\xa0\x80"),
    ("invalid-utf8-byte", b"a\xff"),
    ("truncated-utf8", b"\xc3"),
    ("c0-control", "a\x01b"),
    ("escape-control", "\x1b[31m"),
    ("del", "a\x7f"),
]
LONG = {"name": 256, "description": 10_001, "label": 256, "id": 256}


@attrs.frozen
class Case:
    """One place bad text can go: a body field or a path id."""

    name: str
    method: str
    path: str  # may hold HOLE (a path id)
    body: object  # may hold HOLE (a body field)
    field: str  # what the response must name
    length: str  # key of LONG

    def request(self, value: str | bytes) -> tuple[bytes, bytes]:
        """(raw path, raw body) with ``value`` in the hole."""
        if isinstance(value, str):
            text = json.dumps(value)[1:-1]  # escaped, as a JSON client sends it
            raw = text.encode("ascii")
            path_value = value.encode("utf-8", "surrogatepass")
        else:
            raw = path_value = value
        path = self.path.encode("ascii").replace(HOLE.encode(), path_value)
        body = b"" if self.body is None else json.dumps(self.body).encode("ascii")
        return path, body.replace(HOLE.encode(), raw)


POLICY = f"{A}/assignment_policies/1"
CAPACITY = f"{A}/agent_capacity_policies/1"
CASES = [
    Case(
        "policy name",
        "POST",
        f"{A}/assignment_policies",
        {"assignment_policy": {"name": HOLE}},
        "name",
        "name",
    ),
    Case(
        "policy description",
        "POST",
        f"{A}/assignment_policies",
        {"assignment_policy": {"name": "N", "description": HOLE}},
        "description",
        "description",
    ),
    Case(
        "policy name (update)",
        "PATCH",
        POLICY,
        {"assignment_policy": {"name": HOLE}},
        "name",
        "name",
    ),
    Case(
        "capacity name",
        "POST",
        f"{A}/agent_capacity_policies",
        {"agent_capacity_policy": {"name": HOLE}},
        "name",
        "name",
    ),
    Case(
        "capacity description (update)",
        "PUT",
        CAPACITY,
        {"agent_capacity_policy": {"description": HOLE}},
        "description",
        "description",
    ),
    Case(
        "excluded label",
        "POST",
        f"{A}/agent_capacity_policies",
        {
            "agent_capacity_policy": {
                "name": "N",
                "exclusion_rules": {"excluded_labels": ["ok", HOLE]},
            }
        },
        "excluded_labels",
        "label",
    ),
    Case(
        "excluded label (update)",
        "PATCH",
        CAPACITY,
        {"agent_capacity_policy": {"exclusion_rules": {"excluded_labels": [HOLE]}}},
        "excluded_labels",
        "label",
    ),
    Case(
        "assignment_policy_id",
        "POST",
        f"{A}/inboxes/10/assignment_policy",
        {"assignment_policy_id": HOLE},
        "assignment_policy_id",
        "id",
    ),
    Case(
        "user_id",
        "POST",
        f"{CAPACITY}/users",
        {"user_id": HOLE},
        "user_id",
        "id",
    ),
    Case(
        "inbox_id",
        "POST",
        f"{CAPACITY}/inbox_limits",
        {"inbox_id": HOLE, "conversation_limit": 1},
        "inbox_id",
        "id",
    ),
    Case(
        "path account_id",
        "GET",
        f"/api/v1/accounts/{HOLE}/assignment_policies",
        None,
        "account_id",
        "id",
    ),
    Case("path id", "DELETE", f"{A}/assignment_policies/{HOLE}", None, "id", "id"),
    Case(
        "path inbox_id",
        "DELETE",
        f"{A}/inboxes/{HOLE}/assignment_policy",
        None,
        "inbox_id",
        "id",
    ),
    Case("path user_id", "DELETE", f"{CAPACITY}/users/{HOLE}", None, "user_id", "id"),
    Case(
        "path limit_id",
        "PUT",
        f"{CAPACITY}/inbox_limits/{HOLE}",
        {"conversation_limit": 1},
        "limit_id",
        "id",
    ),
]


@pytest.fixture(params=STORE_KINDS)
def world(
    request: pytest.FixtureRequest,
    require_service: Callable[[str, bool, str], None],
) -> Iterator[AdminWorld]:
    yield from open_world(request.param, require_service)


def test_every_bad_text_in_every_field_is_a_4xx_naming_it(world: AdminWorld) -> None:
    app = world.fresh()
    before = world.snapshot()
    # the seeded ids the cases use
    assert [p.id for p in world.store.list_policies(1)] == [1]
    assert [c.id for c in world.store.list_capacity_policies(1)] == [1]
    tally: dict[int, int] = {}
    failures = []
    for case in CASES:
        values = [*BAD_VALUES, ("over-long", "x" * LONG[case.length])]
        for kind, value in values:
            path, body = case.request(value)
            status, reply = send(app, case.method, path, body)
            tally[status] = tally.get(status, 0) + 1
            named = case.field in reply.decode("ascii")
            if not (400 <= status < 500 and named):
                failures.append((case.name, kind, status, reply[:200]))
    assert not failures, failures
    assert world.snapshot() == before
    total = sum(tally.values())
    assert total == len(CASES) * (len(BAD_VALUES) + 1)
    print(
        f"\n{world.kind}: {total} bad-text requests, statuses {sorted(tally.items())}"
    )


def test_valid_unicode_text_is_accepted_everywhere(world: AdminWorld) -> None:
    """The rules refuse bad text, not non-ASCII: tab/newline in prose, emoji, names of
    exactly the maximum length."""
    app = world.fresh()
    name = "é" * 255
    body = {
        "agent_capacity_policy": {
            "name": name,
            "description": "line 1\r\n\tline 2 \U0001f600",
            "exclusion_rules": {"excluded_labels": ["vip \U0001f451", "l" * 255]},
        }
    }
    status, reply = send(
        app, "POST", f"{A}/agent_capacity_policies", json.dumps(body).encode()
    )
    assert status == 200, reply
    created = json.loads(reply)
    assert created["name"] == name
    assert created["exclusion_rules"]["excluded_labels"] == [  # in the order given
        "vip \U0001f451",
        "l" * 255,
    ]
    status, reply = send(app, "GET", f"{A}/agent_capacity_policies/{created['id']}")
    assert (status, json.loads(reply)) == (200, created)
