"""SqlConversationRepository on SQLite and PostgreSQL: reads, order, exclusions, the
claim, id kinds and errors."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from datetime import timezone as tz
from typing import Any

import pytest
import sqlalchemy as sa

from autoassign.adapters.memory import InMemoryWorld
from autoassign.adapters.sql import (
    EnumEncoding,
    SqlConversationRepository,
    SqlSchema,
    SqlWriter,
)
from autoassign.errors import BackendError, ConfigurationError
from autoassign.model import (
    Conversation,
    ConversationPriority,
    ConversationStatus,
    ExclusionRules,
    Id,
)
from autoassign.ports import CheckedClaims
from autoassign.testing import EPOCH, FakeClock

EARLIEST = ConversationPriority.EARLIEST_CREATED
WAITING = ConversationPriority.LONGEST_WAITING
NO_RULES = ExclusionRules()


def conv(
    id: Id,
    *,
    inbox: Id = 10,
    account: Id = 1,
    minutes: float = 0,
    activity: float | None = None,
    **kw: Any,
) -> Conversation:
    created = EPOCH + timedelta(minutes=minutes)
    last = created if activity is None else EPOCH + timedelta(minutes=activity)
    return Conversation(
        id=id,
        inbox=inbox,
        account=account,
        created_at=created,
        last_activity_at=last,
        **kw,
    )


def setup(
    db: Any, conversations: Iterable[Conversation], **schema_kwargs: Any
) -> tuple[SqlConversationRepository, InMemoryWorld, SqlWriter]:
    engine, schema = db.make(**schema_kwargs)
    writer = SqlWriter(engine, schema)
    world = InMemoryWorld(FakeClock())
    items = list(conversations)
    writer.put_conversations(items)
    for c in items:
        world.put_conversation(c)
    return SqlConversationRepository(engine, schema), world, writer


def ids(conversations: Iterable[Conversation]) -> list[Id]:
    return [c.id for c in conversations]


def test_get_returns_the_stored_conversation_with_labels(db: Any) -> None:
    stored = conv(
        1,
        minutes=-30,
        activity=-5,
        status="pending",
        assignee=7,
        team=3,
        labels={"vip", "Billing", "é"},
    )
    repo, _, _ = setup(db, [stored, conv(2)])
    assert repo.get(1) == stored
    assert repo.get(2) == conv(2)
    assert repo.get(3) is None


def test_datetimes_come_back_aware_utc(db: Any) -> None:
    plus_two = tz(timedelta(hours=2))
    created = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=plus_two)
    stored = Conversation(
        id=5, inbox=10, account=1, created_at=created, last_activity_at=created
    )
    repo, _, _ = setup(db, [stored])
    got = repo.get(5)
    assert got is not None
    assert got.created_at == created
    assert got.created_at.tzinfo == tz.utc
    assert got.created_at.microsecond == 123456


def test_unassigned_open_filters_orders_and_limits(db: Any) -> None:
    items = [
        conv(1, minutes=5),
        conv(2, minutes=1),
        conv(3, minutes=1),  # tie with 2: the id breaks it
        conv(4, minutes=0, status="resolved"),
        conv(5, minutes=0, assignee=9),
        conv(6, minutes=0, inbox=11),
        conv(7, minutes=3, status="snoozed"),
        conv(8, minutes=2),
    ]
    repo, world, _ = setup(db, items)
    got = repo.unassigned_open(
        10, limit=10, priority=EARLIEST, exclusions=NO_RULES, now=EPOCH
    )
    assert ids(got) == [2, 3, 8, 1]
    assert got == world.unassigned_open(
        10, limit=10, priority=EARLIEST, exclusions=NO_RULES, now=EPOCH
    )
    assert ids(
        repo.unassigned_open(
            10, limit=2, priority=EARLIEST, exclusions=NO_RULES, now=EPOCH
        )
    ) == [2, 3]
    assert (
        repo.unassigned_open(
            10, limit=0, priority=EARLIEST, exclusions=NO_RULES, now=EPOCH
        )
        == ()
    )
    assert (
        repo.unassigned_open(
            99, limit=5, priority=EARLIEST, exclusions=NO_RULES, now=EPOCH
        )
        == ()
    )


def test_longest_waiting_orders_by_activity_then_created_then_id(db: Any) -> None:
    items = [
        conv(1, minutes=0, activity=30),
        conv(2, minutes=5, activity=10),
        conv(3, minutes=1, activity=10),
        conv(4, minutes=1, activity=10),
        conv(5, minutes=9, activity=9),
    ]
    repo, world, _ = setup(db, items)
    got = repo.unassigned_open(
        10, limit=10, priority=WAITING, exclusions=NO_RULES, now=EPOCH
    )
    assert ids(got) == [5, 3, 4, 2, 1]
    assert got == world.unassigned_open(
        10, limit=10, priority=WAITING, exclusions=NO_RULES, now=EPOCH
    )


def test_exclusions_by_label_and_age(db: Any) -> None:
    now = EPOCH + timedelta(hours=10)
    items = [
        conv(1, labels={"vip"}),  # excluded label
        conv(2, labels={"VIP"}),  # case-sensitive: kept
        conv(3, labels={"spam", "other"}),  # any excluded label excludes
        conv(4, minutes=10 * 60 - 120),  # exactly at the cutoff: kept
        conv(5, minutes=10 * 60 - 121),  # older than the cutoff: excluded
        conv(6, minutes=10 * 60),
    ]
    rules = ExclusionRules(excluded_labels={"vip", "spam"}, exclude_older_than_hours=2)
    repo, world, _ = setup(db, items)
    got = repo.unassigned_open(
        10, limit=10, priority=EARLIEST, exclusions=rules, now=now
    )
    assert ids(got) == [4, 6]
    assert got == world.unassigned_open(
        10, limit=10, priority=EARLIEST, exclusions=rules, now=now
    )
    labels_only = ExclusionRules(excluded_labels={"vip", "spam"})
    assert ids(
        repo.unassigned_open(
            10, limit=10, priority=EARLIEST, exclusions=labels_only, now=now
        )
    ) == [2, 5, 4, 6]


def test_unassigned_open_is_one_statement(
    db: Any, statement_counter: Callable[..., Any]
) -> None:
    items = [conv(i, minutes=i, labels={f"l{i}", "x"}) for i in range(1, 6)]
    repo, _, _ = setup(db, items)
    counter = statement_counter(repo.engine)
    rules = ExclusionRules(excluded_labels={"l2"}, exclude_older_than_hours=1)
    got = repo.unassigned_open(
        10, limit=3, priority=WAITING, exclusions=rules, now=EPOCH
    )
    assert ids(got) == [1, 3, 4]
    assert got[0].labels == {"l1", "x"}
    assert counter.count == 1
    sql = counter.statements[0].upper()
    assert "NOT (EXISTS" in sql
    assert "LIMIT" in sql


def test_open_counts_counts_open_conversations_whoever_assigned_them(
    db: Any, statement_counter: Callable[..., Any]
) -> None:
    items = [
        conv(1, assignee=7),
        conv(2, assignee=7),
        conv(3, assignee=7, status="resolved"),
        conv(4, assignee=8),
        conv(5, assignee=7, inbox=11),
        conv(6),
        conv(7, assignee=9),
    ]
    repo, world, _ = setup(db, items)
    counter = statement_counter(repo.engine)
    assert repo.open_counts(10, [7, 8, 42]) == {7: 2, 8: 1}
    assert counter.count == 1
    assert "GROUP BY" in counter.statements[0].upper()
    assert repo.open_counts(10, [7, 8, 42]) == world.open_counts(10, [7, 8, 42])
    assert repo.open_counts(10, []) == {}


def test_claim_assigns_only_open_unassigned_conversations(db: Any) -> None:
    items = [conv(1), conv(2, status="resolved"), conv(3, assignee=8)]
    repo, _, _ = setup(db, items)
    assert repo.claim(1, 7) is True
    assert repo.get(1) == conv(1, assignee=7)
    assert repo.claim(1, 8) is False  # never reassigns
    assert repo.claim(1, 7) is False
    assert repo.get(1) == conv(1, assignee=7)
    assert repo.claim(2, 7) is False
    assert repo.claim(3, 7) is False
    assert repo.get(3) == conv(3, assignee=8)
    assert repo.claim(404, 7) is False


def test_claim_with_capacity_counts_open_conversations_in_the_inbox(db: Any) -> None:
    items = [
        conv(1, assignee=7),
        conv(2, assignee=7, status="resolved"),  # not open: does not count
        conv(3, assignee=7, inbox=11),  # other inbox: does not count
        conv(4),
        conv(5),
        conv(6),
    ]
    repo, world, _ = setup(db, items)
    for claim in [(4, 7, 2), (5, 7, 2), (5, 8, 0), (6, 8, 1), (6, 9, None)]:
        assert repo.claim(claim[0], claim[1], capacity_limit=claim[2]) == world.claim(
            claim[0], claim[1], capacity_limit=claim[2]
        ), claim
    assert repo.open_counts(10, [7, 8, 9]) == {7: 2, 8: 1}
    assert [repo.get(i) for i in range(1, 7)] == [world.get(i) for i in range(1, 7)]


def test_claim_is_one_conditional_update(
    db: Any, statement_counter: Callable[..., Any]
) -> None:
    repo, _, _ = setup(db, [conv(1), conv(2)])
    counter = statement_counter(repo.engine)
    assert repo.claim(1, 7, capacity_limit=3)
    if db.kind == "postgres":
        # One message: the per-agent advisory lock, then the claim (its UPDATE in a
        # WITH, so a claim matching several rows fails as a whole), nothing else.
        assert len(counter.statements) == 1
        sql = " ".join(counter.statements[0].split()).upper()
        lock, claim = sql.split(";", 1)
        assert lock.startswith("SELECT PG_ADVISORY_XACT_LOCK(")
        assert claim.strip().startswith("WITH CLAIMED AS (UPDATE")
    else:
        updates = [
            s for s in counter.statements if s.lstrip().upper().startswith("UPDATE")
        ]
        assert counter.statements == updates
        assert len(updates) == 1
        sql = " ".join(updates[0].split()).upper()
        assert sql.startswith("UPDATE")
    assert "ASSIGNEE_ID IS NULL" in sql
    # the library's table has a weight column: the sum of the agent's other open
    # conversations' weights, plus the claimed row's (weighted capacity)
    assert "(SELECT COALESCE(SUM(COALESCE(C2.WEIGHT, 1))" in sql
    assert re.search(r"\+ COALESCE\((\w+\.)?CONVERSATIONS\.WEIGHT, 1\)", sql)
    assert " C2" in sql  # the capacity count over the agent's other conversations
    counter.reset()
    assert not repo.claim(1, 8)
    assert len(counter.statements) == 1
    assert " C2" not in counter.statements[0].upper()
    assert "PG_ADVISORY" not in counter.statements[0].upper()


def test_claim_values_are_set_by_the_same_update(db: Any) -> None:
    engine, schema = db.make()
    writer = SqlWriter(engine, schema)
    writer.put_conversation(conv(1))
    repo = SqlConversationRepository(
        engine, schema, claim_values={"last_activity_at": EPOCH + timedelta(days=1)}
    )
    assert repo.claim(1, 7)
    assert repo.get(1) == conv(1, assignee=7, activity=24 * 60)


@pytest.mark.parametrize("kind", ["str", "mixed"])
def test_text_ids_sort_like_id_sort_key(db: Any, kind: str) -> None:
    keys: list[Id] = ["b", "a", "B", "ab", "é", "~", "10", "9", " "]
    if kind == "mixed":
        keys += [10, 9, -3, 0, 2**62, -(2**63)]
    items = [conv(key, minutes=0) for key in keys]
    repo, world, _ = setup(db, items, ids={"conversation": kind})
    expected = world.unassigned_open(
        10, limit=99, priority=EARLIEST, exclusions=NO_RULES, now=EPOCH
    )
    got = repo.unassigned_open(
        10, limit=99, priority=EARLIEST, exclusions=NO_RULES, now=EPOCH
    )
    assert ids(got) == ids(expected)
    for key in keys:
        assert repo.get(key) == world.get(key)
        assert type(repo.get(key).id) is type(key)  # type: ignore[union-attr]


def test_exclude_teams_may_mix_int_and_str_ids(db: Any) -> None:
    """Excluded team ids of both kinds (``"closed"`` and ``99``) must not be compared
    with each other (``sorted`` raised ``TypeError``)."""
    items = [
        conv(1, team="closed"),
        conv(2, team=99, minutes=1),
        conv(3, team=7, minutes=2),
        conv(4, minutes=3),
    ]
    repo, world, _ = setup(db, items, ids="mixed")
    for store in (world, repo):
        got = store.unassigned_open(
            10,
            limit=9,
            priority=EARLIEST,
            exclusions=NO_RULES,
            now=EPOCH,
            exclude_teams=("closed", 99),
        )
        assert ids(got) == [3, 4]


def test_ids_a_column_cannot_hold_are_missing(db: Any) -> None:
    repo, _, writer = setup(db, [conv(1)])
    assert repo.get("1") is None
    assert repo.get(2**70) is None
    assert repo.claim("1", 7) is False
    assert repo.claim(1, "seven") is False
    assert repo.open_counts(10, ["seven", 2**70]) == {}
    assert (
        repo.unassigned_open(
            "10", limit=5, priority=EARLIEST, exclusions=NO_RULES, now=EPOCH
        )
        == ()
    )
    with pytest.raises(ConfigurationError):
        writer.put_conversation(conv("x"))


def test_str_ids_reject_ints(db: Any) -> None:
    stored = conv("c1", inbox="i", account="a", assignee=None)
    repo, _, _ = setup(db, [stored], ids="str")
    assert repo.get(1) is None
    assert repo.get("c1") == stored
    assert repo.claim("c1", "agent")
    assert repo.open_counts("i", ["agent", 3]) == {"agent": 1}


def test_database_errors_become_backend_errors(db: Any) -> None:
    engine = db.engine()
    schema = SqlSchema(prefix="never_created_", schema=None)
    repo = SqlConversationRepository(engine, schema)
    with pytest.raises(BackendError) as raised:
        repo.get(1)
    assert isinstance(raised.value.__cause__, sa.exc.DBAPIError)
    with pytest.raises(BackendError):
        repo.claim(1, 2)


def test_status_encoding_is_mappable(db: Any) -> None:
    ints = EnumEncoding({s: i for i, s in enumerate(ConversationStatus)})
    repo, _, _ = setup(db, [conv(1), conv(2, status="pending")], status=ints)
    assert repo.get(2) == conv(2, status="pending")
    assert ids(
        repo.unassigned_open(
            10, limit=5, priority=EARLIEST, exclusions=NO_RULES, now=EPOCH
        )
    ) == [1]
    assert repo.claim(1, 3, capacity_limit=1)
    assert repo.open_counts(10, [3]) == {3: 1}


@pytest.mark.parametrize("capacity", [None, 5])
def test_checked_claim_takes_only_the_row_as_the_page_read_it(
    db: Any, capacity: int | None
) -> None:
    """``claim_checked`` (the pass claims its page's rows without reading each first)
    assigns only while the row is unassigned, open, in the page's inbox and team."""
    items = [conv(1), conv(2), conv(3, team=5), conv(4), conv(5, team=5)]
    repo, _, writer = setup(db, items)
    assert isinstance(repo, CheckedClaims)
    writer.ensure_inbox(11, 1)
    writer.update_conversation(2, inbox=11)  # moved after the page was read
    writer.update_conversation(3, team=None)  # its team changed
    writer.update_conversation(4, status=ConversationStatus.RESOLVED)
    assert not repo.claim_checked(items[1], 7, capacity_limit=capacity)
    assert not repo.claim_checked(items[2], 7, capacity_limit=capacity)
    assert not repo.claim_checked(items[3], 7, capacity_limit=capacity)
    assert repo.claim_checked(items[0], 7, capacity_limit=capacity)
    assert repo.claim_checked(items[4], 7, capacity_limit=capacity)
    assert not repo.claim_checked(items[4], 8, capacity_limit=capacity)  # taken
    got = [repo.get(i) for i in range(1, 6)]
    assert [c.assignee if c else "?" for c in got] == [7, None, None, None, 7]
