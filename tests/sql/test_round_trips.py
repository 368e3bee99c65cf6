"""The host path's cost on PostgreSQL, counted exactly (issue 17): a pass over the SQL
repository and directory makes one PostgreSQL round trip per assigned conversation
(the claim, with its advisory lock, in one message) plus a fixed number per pass, and
no BEGIN, COMMIT or ROLLBACK. Skipped without PostgreSQL unless CI=true."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from autoassign import build_autoassign
from autoassign.adapters.sql import SqlConversationRepository, SqlDirectory, SqlWriter
from autoassign.model import (
    Account,
    AssignmentPolicy,
    CapacityPolicy,
    Conversation,
    ExclusionRules,
    Inbox,
)
from autoassign.testing import FakeClock, InMemoryBackend

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.sql_pass import PgRoundTrips

pytestmark = pytest.mark.postgres

INBOX = 10
MEMBERS = [1, 2, 3]


def _world(pg: Any, clock: FakeClock) -> tuple[Any, Any, SqlWriter]:
    engine, schema = pg.make()
    writer = SqlWriter(engine, schema)
    writer.put_account(Account(id=1, features={"assignment_v2"}))
    for agent in MEMBERS:
        writer.put_agent(1, agent)
    writer.put_inbox(Inbox(id=INBOX, account=1), MEMBERS)
    writer.put_policy(AssignmentPolicy(id=7, account=1, fair_distribution_limit=1000))
    writer.link_policy(INBOX, 7)
    writer.put_capacity_policy(
        CapacityPolicy(
            id=3,
            account=1,
            inbox_limits={INBOX: 1000},
            agents=frozenset(MEMBERS),
            exclusion_rules=ExclusionRules(excluded_labels=frozenset({"vip"})),
        )
    )
    side = InMemoryBackend(clock=clock)  # presence, ledger, rotation, lease, events
    for agent in MEMBERS:
        side.set_status(1, agent, "online")
    app = build_autoassign(
        directory=SqlDirectory(engine, schema),
        conversations=SqlConversationRepository(engine, schema, clock=clock),
        presence=side.presence,
        ledger=side.ledger,
        rotation=side.rotation,
        lease=side.lease,
        events=side.events,
        jobs=side.jobs,
        clock=clock,
        strict=True,
    )
    return engine, app, writer


def _feed(writer: SqlWriter, clock: FakeClock, first: int, count: int) -> None:
    now = clock.now()
    writer.put_conversations(
        Conversation(
            id=first + n,
            inbox=INBOX,
            account=1,
            created_at=now - timedelta(seconds=count - n),
            last_activity_at=now - timedelta(seconds=count - n),
            labels=frozenset({"vip"}) if n % 5 == 4 else frozenset(),
        )
        for n in range(count)
    )


def test_a_pass_costs_one_round_trip_per_assignment_plus_a_fixed_few(pg: Any) -> None:
    clock = FakeClock()
    engine, app, writer = _world(pg, clock)
    trips = PgRoundTrips(engine)
    counts = []
    for first, size in ((100, 25), (200, 50)):
        _feed(writer, clock, first, size)
        trips.reset()
        result = app.service.perform_bulk_assignment(INBOX)
        assert result.assigned_count == size * 4 // 5  # the vip ones are excluded
        counts.append((result.assigned_count, trips.count, list(trips.statements)))
        clock.advance(60)
    (small, small_trips, _), (big, big_trips, statements) = counts
    # exactly one more round trip per more assignment: nothing per conversation but
    # the claim (no get, no directory read), and no transaction control anywhere
    assert (big_trips - small_trips) == (big - small)
    fixed = big_trips - big
    assert fixed <= 10
    assert big_trips / big <= 1.25  # well under the target of 2 per assignment
    assert not {"BEGIN", "COMMIT", "ROLLBACK"} & set(statements)
    # each claim: the advisory lock and the claim in one message
    assert statements.count("SELECT") == big + fixed - 1  # the page read is a WITH
