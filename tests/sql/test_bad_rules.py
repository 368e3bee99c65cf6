"""A bad stored exclusion rule does not stop the passes (issue 14, item 4): a capacity
policy row written straight into the table, bypassing validation (a host's database
written before it), with excluded labels the repository cannot query (NUL, a lone
surrogate, over-long) and an invalid hour threshold. Every pass assigns the rest and
still applies the good label; each bad part is logged once per process, not once per
pass. On SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from autoassign import build_autoassign
from autoassign.adapters.memory import InMemoryBackend
from autoassign.adapters.sql import (
    SqlConversationRepository,
    SqlDirectory,
    SqlSchema,
    SqlWriter,
)
from autoassign.model import (
    Account,
    AssignmentPolicy,
    CapacityPolicy,
    Conversation,
    ExclusionRules,
    Inbox,
)
from autoassign.testing import FakeClock


def _world(db: Any, capacity_id: int) -> tuple[sa.Engine, SqlSchema, Any, FakeClock]:
    clock = FakeClock()
    engine, schema = db.make(ids={"default": "int", "agent": "str"})
    writer = SqlWriter(engine, schema)
    writer.put_account(Account(id=1, features={"assignment_v2"}))
    writer.put_inbox(Inbox(id=10, account=1), ["ann", "bob"])
    writer.put_policy(AssignmentPolicy(id=1, account=1))
    writer.link_policy(10, 1)
    writer.put_capacity_policy(
        CapacityPolicy(
            id=capacity_id,
            account=1,
            inbox_limits={10: 100},
            agents={"ann", "bob"},
            exclusion_rules=ExclusionRules(excluded_labels={"vip"}),
        )
    )
    side = InMemoryBackend(clock=clock)
    app = build_autoassign(
        directory=SqlDirectory(engine, schema),
        conversations=SqlConversationRepository(engine, schema),
        presence=side.presence,
        ledger=side.ledger,
        rotation=side.rotation,
        lease=side.lease,
        events=side.events,
        jobs=side.jobs,
        clock=clock,
        strict=True,
    )
    side.set_status(1, "ann", "online")
    side.set_status(1, "bob", "online")
    now = clock.now()
    writer.put_conversations(
        [
            Conversation(
                id=n,
                inbox=10,
                account=1,
                labels={"vip"} if n == 100 else frozenset(),
                created_at=now,
                last_activity_at=now,
            )
            for n in range(100, 106)
        ]
    )
    return engine, schema, app, clock


def _write_raw_rules(engine: sa.Engine, schema: SqlSchema, rules: str) -> None:
    """``rules`` as JSON text straight into the row: no validation on the way."""
    table = schema.capacity_policies
    postgres = engine.dialect.name == "postgresql"
    column = schema.table_map("capacity_policies").columns.get(
        "exclusion_rules", "exclusion_rules"
    )
    name = f'"{schema.schema}".' if schema.schema else ""
    cast = "CAST(:rules AS json)" if postgres else ":rules"
    with engine.begin() as conn:
        conn.execute(
            sa.text(f'UPDATE {name}"{table.name}" SET "{column}" = {cast}'),
            {"rules": rules},
        )


@pytest.mark.parametrize("hours", [None, 0], ids=["labels", "labels+hours"])
def test_a_pass_survives_bad_stored_rules(
    db: Any, caplog: pytest.LogCaptureFixture, hours: int | None
) -> None:
    # the warn-once registry is per process: a policy id and labels of this test only
    engine, schema, app, _ = _world(db, capacity_id=uuid.uuid4().int % 10**9)
    tag = uuid.uuid4().hex[:8]
    bad = [f"nul{tag}\x00", f"sur{tag}\ud800", f"long{tag}" + "x" * 300]
    raw = json.dumps(  # ensure_ascii: NUL and the surrogate are \u escapes
        {"excluded_labels": ["vip", *bad], "exclude_older_than_hours": hours}
    )
    _write_raw_rules(engine, schema, raw)
    rules = SqlDirectory(engine, schema).capacity_policies_for_inbox(10)[0]
    assert rules.exclusion_rules.excluded_labels == frozenset({"vip"})
    parts = len(bad) + (hours is not None)
    assert len(rules.exclusion_rules.unusable) == parts

    with caplog.at_level(logging.WARNING, logger="autoassign.service"):
        first = app.service.perform_bulk_assignment(10, limit=3)
        warned_first = [r for r in caplog.records if "exclusion rule" in r.message]
        caplog.clear()
        second = app.service.perform_bulk_assignment(10)
        warned_second = [r for r in caplog.records if "exclusion rule" in r.message]

    # 101..105 assigned over the two passes; 100 (vip) stays excluded
    assigned = {a.conversation for a in (*first.assignments, *second.assignments)}
    assert assigned == {101, 102, 103, 104, 105}
    # one warning per bad part (labels, threshold), in the first pass only
    assert len(warned_first) == parts
    assert all(r.levelno == logging.WARNING for r in warned_first)
    assert any(f"nul{tag}" in r.getMessage() for r in warned_first)
    assert warned_second == []
