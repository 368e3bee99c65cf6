"""The SQL adapter mapped onto Chatwoot's own tables (issue 16), recreated from its
published ``db/schema.rb`` (the columns the library reads, with Chatwoot's names and
types): ``conversations`` with the integer status enum (0 open, 1 resolved, 2 pending,
3 snoozed), ``snoozed_until``, naive timestamps and ``display_id`` unique per account;
labels through ActsAsTaggableOn's ``taggings``/``tags``. No view, no change to the
tables: the mapping alone. The shipped repository contract suite runs on it (integer
ids), and a pass assigns Chatwoot conversations with its exclusion rules applied
through the taggings.

The directory maps onto Chatwoot's ``inboxes``, ``inbox_members`` and ``teams`` /
``team_members`` (join tables with their own ids and timestamps; membership ordered by
``inbox_members.id``), and the directory contract suite runs on it; Chatwoot keeps its
feature flags as a bitmask and its policies in tables of the reference's shape, so the
accounts, features and policies stay in the library's own (prefixed) tables here.

Columns Rails or a trigger fill in Chatwoot (``updated_at``, ``display_id``, a team's
``name``) get a default here, because the suites seed rows with the library's writer."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
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
    SqlDirectory,
    SqlEventOutbox,
    SqlSchema,
    SqlWriter,
    TableMap,
    TaggingLabels,
    create_sqlite_engine,
)
from autoassign.model import (
    Account,
    AgentId,
    Conversation,
    Inbox,
    InboxId,
    PolicyId,
    Team,
)
from autoassign.model import ConversationStatus as S
from autoassign.ports import ConversationRepository, Directory
from autoassign.testing import FakeClock, InMemoryBackend, seed_directory
from autoassign.testing.contracts import (
    ConversationRepositoryContract,
    DirectoryContract,
    EventOutboxContract,
    OutboxSetup,
)

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
    # db/schema.rb: the directory's tables (ids, timestamps and unique keys included)
    "inboxes": """
        CREATE TABLE {q}inboxes (
            id {serial} PRIMARY KEY,
            channel_id INTEGER NOT NULL DEFAULT 0,
            account_id INTEGER NOT NULL,
            name VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            channel_type VARCHAR,
            enable_auto_assignment BOOLEAN DEFAULT TRUE,
            auto_assignment_config {json}
        )""",
    "inbox_members": """
        CREATE TABLE {q}inbox_members (
            id {serial} PRIMARY KEY,
            user_id INTEGER NOT NULL,
            inbox_id INTEGER NOT NULL,
            created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
        )""",
    "inbox_members_idx": (
        "CREATE UNIQUE INDEX index_inbox_members_on_inbox_id_and_user_id"
        " ON {q}inbox_members (inbox_id, user_id)"
    ),
    "teams": """
        CREATE TABLE {q}teams (
            id {bigserial} PRIMARY KEY,
            name VARCHAR NOT NULL DEFAULT {random_name},
            description TEXT,
            allow_auto_assign BOOLEAN DEFAULT TRUE,
            account_id BIGINT NOT NULL,
            created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
        )""",
    "teams_idx": (
        "CREATE UNIQUE INDEX index_teams_on_name_and_account_id"
        " ON {q}teams (name, account_id)"
    ),
    "team_members": """
        CREATE TABLE {q}team_members (
            id {bigserial} PRIMARY KEY,
            team_id BIGINT NOT NULL,
            user_id BIGINT NOT NULL,
            created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
        )""",
    "team_members_idx": (
        "CREATE UNIQUE INDEX index_team_members_on_team_id_and_user_id"
        " ON {q}team_members (team_id, user_id)"
    ),
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
        tables={
            # priority: low 0, medium 1, high 2, urgent 3 (higher first, as urgency)
            "conversations": TableMap("conversations", {"urgency": "priority"}),
            "inboxes": TableMap("inboxes"),
            "inbox_members": TableMap(
                "inbox_members", {"agent_id": "user_id", "position": "id"}
            ),
            "teams": TableMap("teams"),
            "team_members": TableMap("team_members", {"agent_id": "user_id"}),
        },
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
            extra = {
                "bigserial": "INTEGER",
                "json": "JSON",
                "random_name": "(lower(hex(randomblob(8))))",
            }
        else:
            engine = sa.create_engine(POSTGRES_URL, pool_size=10, max_overflow=0)
            pg_schema = f"aa_cw_{uuid.uuid4().hex[:10]}"
            self.schemas.append(pg_schema)
            q = f'"{pg_schema}".'
            serial = "SERIAL"
            extra = {
                "bigserial": "BIGSERIAL",
                "json": "JSONB DEFAULT '{}'",
                "random_name": "(md5(random()::text))",
            }
            display = f"NOT NULL DEFAULT nextval('\"{pg_schema}\".display_ids')"
        self.engines.append(engine)
        with engine.begin() as conn:
            if pg_schema:
                conn.execute(sa.text(f'CREATE SCHEMA "{pg_schema}"'))
                conn.execute(sa.text(f"CREATE SEQUENCE {q}display_ids"))
            for statement in _DDL.values():
                conn.execute(
                    sa.text(
                        statement.format(
                            q=q, serial=serial, display_default=display, **extra
                        )
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


class _ChatwootTables:
    """Fresh Chatwoot tables per case, and a repository over them."""

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


class _ChatwootContract(_ChatwootTables, ConversationRepositoryContract):
    no_due_at = True  # an SLA's due time lives in applied_slas, not on the row
    no_weights = True  # Chatwoot's rows carry no weight


class _ChatwootOutbox(_ChatwootTables, EventOutboxContract):
    """The library's outbox table beside Chatwoot's conversations: the record is
    written in the claim's transaction, with int agents and conversations."""

    def make_outbox(self, conversations: Sequence[Conversation]) -> OutboxSetup:
        repository = self.make_repository(conversations)
        assert isinstance(repository, SqlConversationRepository)
        return OutboxSetup(SqlEventOutbox(repository), repository)


class _ChatwootDirectory(DirectoryContract):
    kind = "sqlite"
    integer_ids = True
    no_policy_routing = True  # Chatwoot's assignment_policies has no such columns

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

    def make_directory(
        self,
        *,
        accounts: Sequence[Account],
        inboxes: Sequence[Inbox],
        members: Mapping[InboxId, Sequence[AgentId]],
        teams: Sequence[Team],
        policies: Sequence[AssignmentPolicy],
        links: Mapping[InboxId, PolicyId],
        capacity_policies: Sequence[CapacityPolicy],
    ) -> Directory:
        engine, schema = self.chatwoot.make()
        seed_directory(
            SqlWriter(engine, schema),
            accounts=accounts,
            inboxes=inboxes,
            members=members,
            teams=teams,
            policies=policies,
            links=links,
            capacity_policies=capacity_policies,
        )
        return SqlDirectory(engine, schema)


class TestSqliteChatwootDirectory(_ChatwootDirectory):
    kind = "sqlite"


@pytest.mark.postgres
class TestPostgresChatwootDirectory(_ChatwootDirectory):
    kind = "postgres"


class TestSqliteChatwootOutbox(_ChatwootOutbox):
    kind = "sqlite"


@pytest.mark.postgres
class TestPostgresChatwootOutbox(_ChatwootOutbox):
    kind = "postgres"


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
