"""The SQL adapter mapped onto Chatwoot's own tables (issue 16), recreated from its
published ``db/schema.rb`` (the columns the library reads, with Chatwoot's names and
types): ``conversations`` with the integer status enum (0 open, 1 resolved, 2 pending,
3 snoozed), ``snoozed_until``, naive timestamps and ``display_id`` unique per account;
labels through ActsAsTaggableOn's ``taggings``/``tags``. No view, no change to the
tables: the mapping alone. The shipped repository contract suite runs on it (integer
ids), and a pass assigns Chatwoot conversations with its exclusion rules applied
through the taggings.

Two columns Rails and a trigger fill in Chatwoot (``updated_at``, ``display_id``) get
a default here, because the suites seed rows with the library's writer."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from autoassign import (
    AssignmentPolicy,
    CapacityPolicy,
    ExclusionRules,
    build_autoassign,
)
from autoassign.adapters.sql import (
    EnumEncoding,
    SqlConversationRepository,
    SqlSchema,
    SqlWriter,
    TableMap,
    TaggingLabels,
    create_sqlite_engine,
)
from autoassign.model import Conversation
from autoassign.model import ConversationStatus as S
from autoassign.ports import ConversationRepository
from autoassign.testing import FakeClock, InMemoryBackend
from autoassign.testing.contracts import ConversationRepositoryContract

POSTGRES_URL = os.environ.get(
    "AUTOASSIGN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CHATWOOT_STATUS = EnumEncoding({S.OPEN: 0, S.RESOLVED: 1, S.PENDING: 2, S.SNOOZED: 3})

_DDL = {
    # db/schema.rb: conversations (the columns autoassign reads, and the keys)
    "conversations": """
        CREATE TABLE {q}conversations (
            id {serial} PRIMARY KEY,
            account_id INTEGER NOT NULL,
            inbox_id INTEGER NOT NULL,
            status INTEGER NOT NULL DEFAULT 0,
            assignee_id INTEGER,
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            display_id INTEGER {display_default},
            last_activity_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            team_id BIGINT,
            snoozed_until TIMESTAMP,
            priority INTEGER,
            waiting_since TIMESTAMP,
            cached_label_list TEXT
        )""",
    "conversations_display": (
        "CREATE UNIQUE INDEX index_conversations_on_account_id_and_display_id"
        " ON {q}conversations (account_id, display_id)"
    ),
    "conversations_filter": (
        "CREATE INDEX conv_acid_inbid_stat_asgnid_idx"
        " ON {q}conversations (account_id, inbox_id, status, assignee_id)"
    ),
    # acts-as-taggable-on
    "tags": """
        CREATE TABLE {q}tags (
            id {serial} PRIMARY KEY,
            name VARCHAR NOT NULL,
            taggings_count INTEGER DEFAULT 0
        )""",
    "tags_name": "CREATE UNIQUE INDEX index_tags_on_name ON {q}tags (name)",
    "taggings": """
        CREATE TABLE {q}taggings (
            id {serial} PRIMARY KEY,
            tag_id INTEGER,
            taggable_type VARCHAR,
            taggable_id INTEGER,
            tagger_type VARCHAR,
            tagger_id INTEGER,
            context VARCHAR(128),
            created_at TIMESTAMP
        )""",
    "taggings_idx": (
        "CREATE INDEX index_taggings_on_taggable_id_and_taggable_type_and_context"
        " ON {q}taggings (taggable_id, taggable_type, context)"
    ),
}


def chatwoot_schema(pg_schema: str | None) -> SqlSchema:
    """The mapping: Chatwoot's tables as they are."""
    return SqlSchema(
        schema=pg_schema,
        prefix="aa_",  # the library's own tables, if any are created
        ids="int",
        naive_datetimes=True,
        status=CHATWOOT_STATUS,
        tables={"conversations": TableMap("conversations")},
        labels=TaggingLabels(taggable_type="Conversation", context="labels"),
    )


class _Chatwoot:
    """Chatwoot's tables on SQLite or in a fresh PostgreSQL schema."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.engines: list[sa.Engine] = []
        self.schemas: list[str] = []

    def make(self) -> tuple[sa.Engine, SqlSchema]:
        if self.kind == "sqlite":
            engine = create_sqlite_engine()
            pg_schema, q = None, ""
            serial, display = "INTEGER", ""
        else:
            engine = sa.create_engine(POSTGRES_URL, pool_size=10, max_overflow=0)
            pg_schema = f"aa_cw_{uuid.uuid4().hex[:10]}"
            self.schemas.append(pg_schema)
            q = f'"{pg_schema}".'
            serial = "SERIAL"
            display = f"NOT NULL DEFAULT nextval('\"{pg_schema}\".display_ids')"
        self.engines.append(engine)
        with engine.begin() as conn:
            if pg_schema:
                conn.execute(sa.text(f'CREATE SCHEMA "{pg_schema}"'))
                conn.execute(sa.text(f"CREATE SEQUENCE {q}display_ids"))
            for statement in _DDL.values():
                conn.execute(
                    sa.text(
                        statement.format(q=q, serial=serial, display_default=display)
                    )
                )
        schema = chatwoot_schema(pg_schema)
        schema.create_all(engine)  # nothing of Chatwoot's: only tables the library owns
        return engine, schema

    def close(self) -> None:
        for engine in self.engines:
            if self.schemas and engine.dialect.name == "postgresql":
                with engine.begin() as conn:
                    for name in self.schemas:
                        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
                self.schemas = []
            engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def chatwoot(
    request: pytest.FixtureRequest,
    require_service: Any,
    postgres_available: tuple[bool, str],
) -> Iterator[_Chatwoot]:
    if request.param == "postgres":
        require_service("PostgreSQL", *postgres_available)
    made = _Chatwoot(request.param)
    try:
        yield made
    finally:
        made.close()


class _ChatwootContract(ConversationRepositoryContract):
    kind = "sqlite"
    integer_ids = True

    @pytest.fixture(autouse=True)
    def _tables(
        self, require_service: Any, postgres_available: tuple[bool, str]
    ) -> Iterator[None]:
        if self.kind == "postgres":
            require_service("PostgreSQL", *postgres_available)
        self.chatwoot = _Chatwoot(self.kind)
        try:
            yield
        finally:
            self.chatwoot.close()

    def make_repository(
        self, conversations: Sequence[Conversation]
    ) -> ConversationRepository:
        engine, schema = self.chatwoot.make()
        SqlWriter(engine, schema).put_conversations(conversations, ensure_inbox=False)
        return SqlConversationRepository(engine, schema)


class TestSqliteChatwootRepository(_ChatwootContract):
    kind = "sqlite"


@pytest.mark.postgres
class TestPostgresChatwootRepository(_ChatwootContract):
    kind = "postgres"


def _rows(engine: sa.Engine, sql: str, schema: SqlSchema) -> list[tuple[Any, ...]]:
    q = f'"{schema.schema}".' if schema.schema else ""
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text(sql.format(q=q)))]


def test_a_pass_assigns_chatwoot_conversations(chatwoot: _Chatwoot) -> None:
    """Open conversations are assigned; pending and snoozed ones are not; a label
    the capacity policy excludes, held through taggings, keeps one away."""
    engine, schema = chatwoot.make()
    q = f'"{schema.schema}".' if schema.schema else ""
    with engine.begin() as conn:
        for number, (status, created) in enumerate(
            [
                (0, "2026-01-05 08:00"),
                (2, "2026-01-05 08:01"),
                (3, "2026-01-05 08:02"),
                (0, "2026-01-05 08:03"),
                (0, "2026-01-05 08:04"),
            ],
            start=1,
        ):
            conn.execute(
                sa.text(
                    f"INSERT INTO {q}conversations (id, account_id, inbox_id, status,"
                    f" created_at, last_activity_at, display_id) VALUES"
                    f" ({number}, 1, 10, {status}, '{created}', '{created}', {number})"
                )
            )
        conn.execute(sa.text(f"INSERT INTO {q}tags (id, name) VALUES (1, 'vip')"))
        conn.execute(
            sa.text(
                f"INSERT INTO {q}taggings (tag_id, taggable_type, taggable_id, context)"
                " VALUES (1, 'Conversation', 4, 'labels'),"
                " (1, 'Contact', 5, 'labels'), (1, 'Conversation', 5, 'skills')"
            )
        )
    repository = SqlConversationRepository(engine, schema)
    four = repository.get(4)
    assert four is not None
    assert four.labels == frozenset({"vip"})
    five = repository.get(5)
    assert five is not None
    assert five.labels == frozenset()  # other types and contexts are not labels

    clock = FakeClock()
    backend = InMemoryBackend(clock=clock)  # the host's directory, presence, ...
    backend.add_account(1)
    backend.add_inbox(10, account=1, members=[7, 8])
    backend.add_policy(AssignmentPolicy(id=1, account=1), inboxes=[10])
    backend.add_capacity_policy(
        CapacityPolicy(
            id=1,
            account=1,
            inbox_limits={10: None},
            exclusion_rules=ExclusionRules(excluded_labels=frozenset({"vip"})),
        )
    )
    for agent in (7, 8):
        backend.set_status(1, agent, "online")
    app = build_autoassign(
        directory=backend.directory,
        conversations=repository,  # Chatwoot's tables
        presence=backend.presence,
        ledger=backend.ledger,
        rotation=backend.rotation,
        lease=backend.lease,
        events=backend.events,
        jobs=backend.jobs,
        clock=clock,
    )
    result = app.service.perform_bulk_assignment(10)
    assert [a.conversation for a in result.assignments] == [1, 5]
    rows = _rows(
        engine,
        "SELECT id, status, assignee_id FROM {q}conversations ORDER BY id",
        schema,
    )
    assert rows == [(1, 0, 7), (2, 2, None), (3, 3, None), (4, 0, None), (5, 0, 8)]
    clock.advance(timedelta(minutes=1))
    assert app.service.perform_bulk_assignment(10).assigned_count == 0
    assert list(itertools.chain(repository.open_counts(10, [7, 8]).values())) == [1, 1]
