"""Query plans on a 1,000,000-row conversations table (issues 16 and 17): the queries a pass
runs (``unassigned_open`` in both priorities, with and without a keyset cursor,
``open_counts`` and the claim) use the library's indexes on PostgreSQL, never a
sequential scan of the conversations, and the earliest-created page reads the index in
order (no sort of the backlog), as docs/sql.md says.

The table is filled with ``generate_series`` in one statement (a few seconds) and
ANALYZEd; the plans are PostgreSQL's own ``EXPLAIN (FORMAT JSON)`` of the very statements
and parameters the repository sends, captured from the cursor.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from autoassign import ConversationPriority, ExclusionRules
from autoassign.adapters.sql import (
    ArrayLabels,
    SqlConversationRepository,
    SqlSchema,
    TableMap,
    TaggingLabels,
)

from .conftest import Db, _open_db

pytestmark = pytest.mark.postgres

ROWS = 1_000_000
DEBUG = False  # True prints each text plan (run with -s)
INBOXES = 20
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def big(request: pytest.FixtureRequest) -> Iterator[tuple[sa.Engine, Any]]:
    """One schema for the module: 1,000,000 conversations over 20 inboxes of one
    account, 90% resolved, 7% open and assigned to one of 50 agents, 3% open and
    unassigned (1,500 waiting per inbox), created over the last 100 days; 80% with an
    urgency from 0 to 3, two thirds with a due time."""
    require = request.getfixturevalue("require_service")
    db: Db = _open_db("postgres", require)
    try:
        engine, schema = db.make()
        conv = schema.conversations
        q = f'"{schema.schema}".' if schema.schema else ""
        with engine.begin() as conn:
            conn.execute(sa.insert(schema.accounts), [{"id": 1}])
            conn.execute(
                sa.insert(schema.inboxes),
                [
                    {
                        "id": i,
                        "account_id": 1,
                        "name": f"inbox {i}",
                        "enable_auto_assignment": True,
                    }
                    for i in range(1, INBOXES + 1)
                ],
            )
            conn.execute(
                sa.text(
                    f"INSERT INTO {q}{conv.name} (id, account_id, inbox_id, status, "
                    "assignee_id, team_id, created_at, last_activity_at, urgency, "
                    "due_at) "
                    "SELECT n, 1, 1 + n % :inboxes, "
                    "CASE WHEN (n / 20) % 10 = 0 THEN 'open' ELSE 'resolved' END, "
                    "CASE WHEN (n / 20) % 10 <> 0 OR (n / 200) % 10 >= 3 "
                    "THEN 1 + n % 50 END, NULL, "
                    ":start + n * interval '8640 milliseconds', "
                    ":start + n * interval '8640 milliseconds' + (n % 997) * interval '1 minute', "
                    "CASE WHEN n % 5 <> 0 THEN n % 4 END, "
                    "CASE WHEN n % 3 <> 0 THEN :start + n * interval '8640 milliseconds' "
                    "+ (n % 113) * interval '1 hour' END "
                    "FROM generate_series(1, :rows) AS n"
                ),
                {"inboxes": INBOXES, "rows": ROWS, "start": NOW - timedelta(days=100)},
            )
            labels = schema.conversation_labels.name
            conn.execute(
                sa.text(
                    f"INSERT INTO {q}{labels} (conversation_id, label) "
                    "SELECT n, CASE WHEN n % 3 = 0 THEN 'vip' ELSE 'billing' END "
                    "FROM generate_series(1, :rows, 7) AS n"
                ),
                {"rows": ROWS},
            )
            conn.execute(sa.text(f"ANALYZE {q}{conv.name}"))
            conn.execute(sa.text(f"ANALYZE {q}{schema.conversation_labels.name}"))
        yield engine, schema
    finally:
        db.close()


def _plans(engine: sa.Engine, call: Any) -> list[dict[str, Any]]:
    """Run ``call`` and return the JSON plan of each SELECT/UPDATE statement it sent."""
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        sent.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    plans = []
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, params in sent:
            for part in statement.split(";"):
                head = part.strip().split(None, 1)[0].upper() if part.strip() else ""
                if head not in {"SELECT", "WITH", "UPDATE"} or "pg_advisory" in part:
                    continue
                cursor.execute("EXPLAIN (FORMAT JSON) " + part, params)
                plans.append(cursor.fetchone()[0][0]["Plan"])
                if DEBUG:
                    cursor.execute("EXPLAIN " + part, params)
                    print("\n".join(r[0] for r in cursor.fetchall()))
        raw.rollback()
    finally:
        raw.close()
    assert plans, "the call sent no statement to explain"
    return plans


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def _assert_no_seq_scan(plans: list[dict[str, Any]], table: str) -> None:
    for plan in plans:
        for node in _nodes(plan):
            assert not (
                node["Node Type"] == "Seq Scan" and node.get("Relation Name") == table
            ), f"sequential scan of {table}: {plan}"


def _page_scan(plan: dict[str, Any], table: str) -> tuple[set[str], bool] | None:
    """Under the page's LIMIT: the indexes scanned on ``table``, and whether rows are
    sorted there (``None`` if the plan has no LIMIT over ``table``)."""
    for node in _nodes(plan):
        if node["Node Type"] != "Limit":
            continue
        below = list(_nodes(node))[1:]
        scans = [n for n in below if n.get("Relation Name") == table]
        if not scans:
            continue
        # the table's own indexes (a label probe uses conversation_labels' key)
        indexes = {
            n["Index Name"]
            for n in below
            if n.get("Index Name", "").startswith((f"ix_{table}_", f"{table}_pkey"))
        }
        for scan in scans:
            assert "Index" in scan["Node Type"] or "Bitmap" in scan["Node Type"]
        return indexes, any(n["Node Type"] == "Sort" for n in below)
    return None


@pytest.mark.parametrize("priority", list(ConversationPriority))
@pytest.mark.parametrize("paged", [False, True], ids=["first-page", "later-page"])
def test_unassigned_open_walks_an_index_in_order(
    big: tuple[sa.Engine, Any], priority: ConversationPriority, paged: bool
) -> None:
    engine, schema = big
    repository = SqlConversationRepository(engine, schema)
    rules = ExclusionRules(
        excluded_labels=frozenset({"vip"}), exclude_older_than_hours=24 * 90
    )
    first = repository.unassigned_open(
        3, limit=25, priority=priority, exclusions=rules, now=NOW
    )
    assert len(first) == 25
    after = first[-1] if paged else None
    plans = _plans(
        engine,
        lambda: repository.unassigned_open(
            3,
            limit=25,
            priority=priority,
            exclusions=rules,
            now=NOW,
            after=after,
            exclude_teams=[7] if paged else (),
        ),
    )
    table = schema.conversations.name
    _assert_no_seq_scan(plans, table)
    scans = [found for plan in plans if (found := _page_scan(plan, table))]
    assert len(scans) == 1, plans
    indexes, sorted_there = scans[0]
    index = {
        ConversationPriority.LONGEST_WAITING: f"ix_{table}_unassigned_waiting",
        ConversationPriority.EARLIEST_CREATED: f"ix_{table}_unassigned_earliest",
        ConversationPriority.HIGHEST_URGENCY: f"ix_{table}_unassigned_urgency",
        ConversationPriority.EARLIEST_DUE: f"ix_{table}_unassigned_due",
    }[priority]
    # walked in order: the database reads only the first rows of the page
    assert indexes == {index}, plans
    assert not sorted_there, plans


def test_open_counts_and_the_claim_use_indexes(big: tuple[sa.Engine, Any]) -> None:
    engine, schema = big
    repository = SqlConversationRepository(engine, schema)
    table = schema.conversations.name
    agents = list(range(1, 51))
    _assert_no_seq_scan(
        _plans(engine, lambda: repository.open_counts(3, agents)), table
    )
    # a total limit: the agent's open conversations across every inbox
    _assert_no_seq_scan(
        _plans(engine, lambda: repository.open_totals(1, agents)), table
    )
    waiting = repository.unassigned_open(
        3,
        limit=1,
        priority=ConversationPriority.EARLIEST_CREATED,
        exclusions=ExclusionRules(),
        now=NOW,
    )[0]

    def claims() -> None:
        # rolled back: the table stays as the module's other tests expect
        with engine.connect() as conn:
            conn.execute(repository.claim_statement(waiting.id, 7, capacity_limit=5))
            conn.execute(
                repository.claim_statement(
                    waiting.id, 7, capacity_limit=5, total_limit=40
                )
            )
            conn.rollback()

    _assert_no_seq_scan(_plans(engine, claims), table)


@pytest.mark.parametrize("tenancy", ["single", "inbox"])
def test_tenancy_mappings_keep_the_indexes(
    big: tuple[sa.Engine, Any], tenancy: str
) -> None:
    """The same tables mapped with no conversation account column (the single account,
    or the account through the inbox: a sub-select per returned row by the inbox's
    key): the page still walks the partial index in order, open_counts and the claim
    never scan the conversations."""
    engine, owned = big
    conv = owned.conversations
    no_account = {"account_id": None}
    tables = {
        "conversations": TableMap(conv.name, no_account),
        "conversation_labels": TableMap(owned.conversation_labels.name),
        "inboxes": TableMap(
            owned.inboxes.name, no_account if tenancy == "single" else {}
        ),
    }
    schema = SqlSchema(
        schema=owned.schema,
        tables=tables,
        single_account=1 if tenancy == "single" else None,
    )
    assert schema.tenancy == tenancy
    repository = SqlConversationRepository(engine, schema)
    table = conv.name
    plans = _plans(
        engine,
        lambda: repository.unassigned_open(
            3,
            limit=25,
            priority=ConversationPriority.EARLIEST_CREATED,
            exclusions=ExclusionRules(),
            now=NOW,
        ),
    )
    _assert_no_seq_scan(plans, table)
    scans = [found for plan in plans if (found := _page_scan(plan, table))]
    assert [s[0] for s in scans] == [{f"ix_{table}_unassigned_earliest"}], plans
    assert not scans[0][1], plans
    waiting = repository.unassigned_open(
        3,
        limit=1,
        priority=ConversationPriority.EARLIEST_CREATED,
        exclusions=ExclusionRules(),
        now=NOW,
    )[0]
    assert waiting.account == 1

    def claims() -> None:
        with engine.connect() as conn:
            conn.execute(repository.claim_statement(waiting.id, 7, capacity_limit=5))
            conn.rollback()

    _assert_no_seq_scan(_plans(engine, claims), table)
    _assert_no_seq_scan(
        _plans(engine, lambda: repository.open_counts(3, list(range(1, 51)))), table
    )


@pytest.mark.parametrize("strategy", ["tagging", "text[]", "jsonb"])
def test_label_strategies_keep_the_indexes(
    big: tuple[sa.Engine, Any], strategy: str
) -> None:
    """The same conversations with their labels in a tagging table (with its
    ``(taggable_id, taggable_type, context)`` index) or an array column: the page
    still walks the partial index in order, and neither the conversations nor the
    taggings are scanned sequentially."""
    engine, owned = big
    conv = owned.conversations
    q = f'"{owned.schema}".' if owned.schema else ""
    labels_table = owned.conversation_labels.name
    labels: TaggingLabels | ArrayLabels
    if strategy == "tagging":
        labels = TaggingLabels(taggings="plan_taggings", tags="plan_tags", create=True)
    else:
        column = "labels_array" if strategy == "text[]" else "labels_json"
        labels = ArrayLabels(column=column, kind=strategy)  # type: ignore[arg-type]
    schema = SqlSchema(
        schema=owned.schema,
        tables={"conversations": TableMap(conv.name)},
        labels=labels,
    )
    with engine.begin() as conn:
        if isinstance(labels, TaggingLabels):
            schema.metadata.create_all(conn, tables=schema.label_source.tables())
            conn.execute(
                sa.text(
                    f"INSERT INTO {q}plan_tags (id, name) VALUES (1, 'vip'), "
                    "(2, 'billing') ON CONFLICT DO NOTHING"
                )
            )
            conn.execute(
                sa.text(
                    f"INSERT INTO {q}plan_taggings (tag_id, taggable_id, "
                    "taggable_type, context) SELECT CASE label WHEN 'vip' THEN 1 "
                    f"ELSE 2 END, conversation_id, 'Conversation', 'labels' "
                    f"FROM {q}{labels_table}"
                )
            )
            conn.execute(sa.text(f"ANALYZE {q}plan_taggings"))
        else:
            kind = "text[]" if strategy == "text[]" else "jsonb"
            value = "array_agg(l.label)" if kind == "text[]" else "jsonb_agg(l.label)"
            conn.execute(
                sa.text(
                    f"ALTER TABLE {q}{conv.name} ADD COLUMN IF NOT EXISTS "
                    f"{labels.column} {kind}"
                )
            )
            conn.execute(
                sa.text(
                    f"UPDATE {q}{conv.name} c SET {labels.column} = s.v FROM "
                    f"(SELECT l.conversation_id, {value} AS v FROM {q}{labels_table} l "
                    "GROUP BY l.conversation_id) s WHERE s.conversation_id = c.id"
                )
            )
            conn.execute(sa.text(f"ANALYZE {q}{conv.name}"))
    repository = SqlConversationRepository(engine, schema)
    rules = ExclusionRules(excluded_labels=frozenset({"vip"}))
    found = repository.unassigned_open(
        3,
        limit=25,
        priority=ConversationPriority.EARLIEST_CREATED,
        exclusions=rules,
        now=NOW,
    )
    assert len(found) == 25
    assert all("vip" not in c.labels for c in found)
    plans = _plans(
        engine,
        lambda: repository.unassigned_open(
            3,
            limit=25,
            priority=ConversationPriority.EARLIEST_CREATED,
            exclusions=rules,
            now=NOW,
        ),
    )
    table = conv.name
    _assert_no_seq_scan(plans, table)
    _assert_no_seq_scan(plans, "plan_taggings")
    scans = [found for plan in plans if (found := _page_scan(plan, table))]
    assert len(scans) == 1, plans
    indexes, sorted_there = scans[0]
    assert indexes == {f"ix_{table}_unassigned_earliest"}, plans
    assert not sorted_there, plans
