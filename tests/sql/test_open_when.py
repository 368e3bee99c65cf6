"""Several stored values meaning OPEN and extra "not assignable" predicates (an on-hold
flag, ``snoozed_until`` in the future), pushed into every query (issue 16).

Property: on a host table with those columns, the repository answers exactly like the
in-memory reference holding what the rows *mean* (an open row held by a predicate is
``held_status``): unassigned_open, open_counts, claims (with capacity) and get."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoassign.adapters.memory import InMemoryWorld
from autoassign.adapters.sql import (
    EnumEncoding,
    SqlConversationRepository,
    SqlSchema,
    TableMap,
    UtcDateTime,
)
from autoassign.errors import ConfigurationError
from autoassign.model import (
    Conversation,
    ConversationPriority,
    ExclusionRules,
)
from autoassign.model import ConversationStatus as S
from autoassign.testing import EPOCH, FakeClock

STATUS = EnumEncoding(
    {S.OPEN: ("open", "new"), S.RESOLVED: ("closed", "spam"), S.PENDING: "waiting"}
)
STORED = ["open", "new", "closed", "spam", "waiting"]
AGENTS = [1, 2]
INBOXES = [10, 11]


def snoozed_over(columns: Any, now: datetime) -> Any:
    return sa.or_(columns.snoozed_until.is_(None), columns.snoozed_until <= now)


def not_on_hold(columns: Any, now: datetime) -> Any:
    return columns.on_hold.is_(False)


def _host(db: Any, clock: FakeClock) -> tuple[sa.Engine, SqlConversationRepository]:
    engine, pg_schema = db.host_tables(
        "CREATE TABLE {q}tickets (id BIGINT PRIMARY KEY, account_id BIGINT"
        " NOT NULL, inbox_id BIGINT NOT NULL, state VARCHAR(16) NOT NULL,"
        " assignee_id BIGINT, created_at TIMESTAMP NOT NULL,"
        " on_hold BOOLEAN NOT NULL DEFAULT FALSE, snoozed_until TIMESTAMP)"
    )
    schema = SqlSchema(
        schema=pg_schema,
        prefix="aa_",
        naive_datetimes=True,
        status=STATUS,
        open_when=[snoozed_over, not_on_hold],
        tables={
            "conversations": TableMap(
                "tickets",
                {"status": "state", "team_id": None, "last_activity_at": None},
                extra_columns={
                    "on_hold": sa.Boolean(),
                    "snoozed_until": UtcDateTime(naive=True),
                },
            )
        },
    )
    schema.create_all(engine)
    return engine, SqlConversationRepository(engine, schema, clock=clock)


@st.composite
def host_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = []
    for key in range(draw(st.integers(0, 12))):
        snooze = draw(st.sampled_from([None, -2, -1, 0, 1, 2]))
        rows.append(
            {
                "id": key,
                "account_id": 1,
                "inbox_id": draw(st.sampled_from(INBOXES)),
                "status": draw(st.sampled_from(STORED)),
                "assignee_id": draw(st.one_of(st.none(), st.sampled_from(AGENTS))),
                "created_at": EPOCH - timedelta(minutes=30 * draw(st.integers(0, 8))),
                "on_hold": draw(st.booleans()),
                "snoozed_until": None
                if snooze is None
                else EPOCH + timedelta(hours=snooze),
            }
        )
    return rows


def meaning(row: dict[str, Any], now: datetime) -> Conversation:
    """What the row means: the reference's view of it."""
    status = STATUS.decode(row["status"])
    snoozed = row["snoozed_until"] is not None and row["snoozed_until"] > now
    if status is S.OPEN and (row["on_hold"] or snoozed):
        status = S.SNOOZED
    return Conversation(
        id=row["id"],
        inbox=row["inbox_id"],
        account=1,
        status=status,
        assignee=row["assignee_id"],
        created_at=row["created_at"],
        last_activity_at=row["created_at"],
    )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=host_rows(),
    cutoff=st.one_of(st.none(), st.integers(1, 3)),
    claims=st.lists(
        st.tuples(
            st.integers(0, 11), st.sampled_from(AGENTS), st.sampled_from([None, 1, 2])
        ),
        max_size=6,
    ),
)
def test_the_host_rows_read_as_what_they_mean(
    db: Any,
    rows: list[dict[str, Any]],
    cutoff: int | None,
    claims: list[tuple[int, int, int | None]],
) -> None:
    now = EPOCH  # the rows' times vary around it
    if "repo" not in db.cache:
        db.cache["engine"], db.cache["repo"] = _host(db, FakeClock(now))
    engine: sa.Engine = db.cache["engine"]
    repo: SqlConversationRepository = db.cache["repo"]
    table = repo.schema.conversations
    with engine.begin() as conn:
        conn.execute(sa.delete(table))
        if rows:
            conn.execute(sa.insert(table), rows)
    world = InMemoryWorld(FakeClock(now))
    for row in rows:
        world.put_conversation(meaning(row, now))
    rules = ExclusionRules(exclude_older_than_hours=cutoff)
    for inbox in INBOXES:
        for priority in ConversationPriority:
            got = repo.unassigned_open(
                inbox, limit=20, priority=priority, exclusions=rules, now=now
            )
            expected = world.unassigned_open(
                inbox, limit=20, priority=priority, exclusions=rules, now=now
            )
            assert list(got) == list(expected)
            assert all(c.is_assignable for c in got)
        assert repo.open_counts(inbox, AGENTS) == world.open_counts(inbox, AGENTS)
    for index, agent, capacity in claims:
        assert repo.claim(index, agent, capacity_limit=capacity) == world.claim(
            index, agent, capacity_limit=capacity
        )
    for row in rows:
        assert repo.get(row["id"]) == world.get(row["id"])


def test_several_stored_values_per_member() -> None:
    assert STATUS.encode(S.OPEN) == "open"  # the first one is written
    assert STATUS.stored(S.OPEN) == ("open", "new")
    assert STATUS.decode("new") is S.OPEN
    assert STATUS.decode("spam") is S.RESOLVED
    single = EnumEncoding({S.OPEN: 0, S.RESOLVED: 1})
    assert single.encode(S.OPEN) == 0
    assert single.values[S.OPEN] == (0,)
    with pytest.raises(ConfigurationError, match="two members to one value"):
        EnumEncoding({S.OPEN: ("a", "b"), S.RESOLVED: "b"})
    with pytest.raises(ConfigurationError, match="no stored value"):
        EnumEncoding({S.OPEN: ()})


def test_one_open_expression_in_every_statement(sqlite_db: Any) -> None:
    _, repo = _host(sqlite_db, FakeClock())
    claim = str(repo.claim_statement(1, 2, capacity_limit=3))
    # the claim's row and its capacity count both use the whole open expression
    assert claim.count("state IN") == 2
    assert claim.count("on_hold IS false") + claim.count("on_hold IS 0") == 2
    assert claim.count("snoozed_until IS NULL") == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"held_status": S.OPEN}, "held_status"),
        ({"open_when": ["on_hold = false"]}, "callables"),
        ({"open_when": [lambda c, now: c.no_such_column.is_(None)]}, "unknown column"),
        ({"open_when": [lambda c, now: True]}, "not an SQL expression"),
    ],
)
def test_bad_open_settings_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        SqlSchema(**kwargs)
    assert caught.value.field in {"held_status", "open_when"}


def test_an_extra_column_cannot_shadow_a_logical_one() -> None:
    with pytest.raises(ConfigurationError, match="logical columns"):
        SqlSchema(
            tables={
                "conversations": TableMap("t", extra_columns={"status": sa.Integer()})
            }
        )


def test_held_conversations_do_not_count_against_capacity(db: Any) -> None:
    clock = FakeClock(EPOCH)
    engine, repo = _host(db, clock)
    base = {
        "account_id": 1,
        "inbox_id": 10,
        "created_at": EPOCH,
        "on_hold": False,
        "snoozed_until": None,
    }
    with engine.begin() as conn:
        conn.execute(
            sa.insert(repo.schema.conversations),
            [
                {**base, "id": 1, "status": "new", "assignee_id": 7, "on_hold": True},
                {
                    **base,
                    "id": 2,
                    "status": "open",
                    "assignee_id": 7,
                    "snoozed_until": EPOCH + timedelta(hours=1),
                },
                {**base, "id": 3, "status": "new", "assignee_id": None},
                {**base, "id": 4, "status": "open", "assignee_id": None},
            ],
        )
    assert repo.open_counts(10, [7]) == {}
    assert repo.claim(3, 7, capacity_limit=1)  # 1 and 2 are held: room for one
    assert not repo.claim(4, 7, capacity_limit=1)
    clock.advance(timedelta(hours=1))  # 2's snooze is over: it is open again
    assert repo.open_counts(10, [7]) == {7: 2}
    got = repo.get(2)
    assert got is not None
    assert got.status is S.OPEN
