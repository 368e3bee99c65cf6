"""The shipped contract suites and the assignment state machine on the SQL adapters,
on SQLite and on PostgreSQL (``mixed`` id columns: the suites use int and str ids).
The PolicyStore suite runs in ``test_policy_store.py``."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from autoassign.adapters.memory import InMemoryBackend, InMemoryWorld
from autoassign.adapters.sql import (
    LOGICAL_TABLES,
    ArrayLabels,
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
    AssignmentPolicy,
    CapacityPolicy,
    Conversation,
    ConversationId,
    Inbox,
    InboxId,
    PolicyId,
    Team,
)
from autoassign.ports import ConversationRepository, Directory
from autoassign.testing import FakeClock, seed_directory
from autoassign.testing.contracts import (
    ConversationRepositoryContract,
    DirectoryContract,
    EventOutboxContract,
    OutboxSetup,
    ReassignerContract,
)
from autoassign.testing.stateful import assignment_machine

POSTGRES_URL = os.environ.get(
    "AUTOASSIGN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


class _Stores:
    """Engines and PostgreSQL schemas made during one test, cleaned up after it."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.engines: list[sa.Engine] = []
        self.schemas: list[str] = []

    def make(self, **options: Any) -> tuple[sa.Engine, SqlSchema]:
        if self.kind == "sqlite":
            engine = create_sqlite_engine()
            schema = SqlSchema(ids="mixed", **options)
        else:
            engine = sa.create_engine(POSTGRES_URL, pool_size=10, max_overflow=0)
            name = f"aa_{uuid.uuid4().hex[:12]}"
            with engine.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
            self.schemas.append(name)
            schema = SqlSchema(ids="mixed", schema=name, **options)
        self.engines.append(engine)
        schema.create_all(engine)
        return engine, schema

    def close(self) -> None:
        for engine in self.engines:
            if self.schemas and engine.dialect.name == "postgresql":
                with engine.begin() as conn:
                    for name in self.schemas:
                        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
                self.schemas = []
            engine.dispose()


class _SqlContracts:
    kind = "sqlite"
    options: Mapping[str, Any] = {}
    """More :class:`SqlSchema` options (a tenancy mapping)."""

    @pytest.fixture(autouse=True)
    def _stores(
        self, require_service: Any, postgres_available: tuple[bool, str]
    ) -> Iterator[None]:
        if self.kind == "postgres":
            require_service("PostgreSQL", *postgres_available)
        self.stores = _Stores(self.kind)
        try:
            yield
        finally:
            self.stores.close()

    def make_repository(
        self, conversations: Sequence[Conversation]
    ) -> ConversationRepository:
        engine, schema = self.stores.make(**self.options)
        SqlWriter(engine, schema).put_conversations(conversations)
        return SqlConversationRepository(engine, schema)

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
        engine, schema = self.stores.make(**self.options)
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


class _SqlOutbox(_SqlContracts):
    staged = False
    """``True``: claims go through a memory repository (the outbox stages first)."""

    def make_outbox(self, conversations: Sequence[Conversation]) -> OutboxSetup:
        repository = self.make_repository(conversations)
        assert isinstance(repository, SqlConversationRepository)
        outbox = SqlEventOutbox(repository)
        if not self.staged:
            return OutboxSetup(outbox, repository)
        world = InMemoryWorld(FakeClock())
        for conversation in conversations:
            world.put_conversation(conversation)
        return OutboxSetup(outbox, world)


class TestSqliteEventOutbox(_SqlOutbox, EventOutboxContract):
    kind = "sqlite"


class TestSqliteEventOutboxStaged(_SqlOutbox, EventOutboxContract):
    kind = "sqlite"
    staged = True


@pytest.mark.postgres
class TestPostgresEventOutbox(_SqlOutbox, EventOutboxContract):
    kind = "postgres"


@pytest.mark.postgres
class TestPostgresEventOutboxStaged(_SqlOutbox, EventOutboxContract):
    kind = "postgres"
    staged = True


class TestSqliteConversationRepository(_SqlContracts, ConversationRepositoryContract):
    kind = "sqlite"


class TestSqliteDirectory(_SqlContracts, DirectoryContract):
    kind = "sqlite"


class TestSqliteReassigner(_SqlContracts, ReassignerContract):
    kind = "sqlite"


@pytest.mark.postgres
class TestPostgresReassigner(_SqlContracts, ReassignerContract):
    kind = "postgres"


@pytest.mark.postgres
class TestPostgresConversationRepository(_SqlContracts, ConversationRepositoryContract):
    kind = "postgres"


@pytest.mark.postgres
class TestPostgresDirectory(_SqlContracts, DirectoryContract):
    kind = "postgres"


# -- label strategies (issue 16): a tagging table, a text[] or jsonb array column -------

TAGGING: Mapping[str, Any] = {"labels": TaggingLabels(create=True)}
TEXT_ARRAY: Mapping[str, Any] = {"labels": ArrayLabels(column="labels")}
JSONB_ARRAY: Mapping[str, Any] = {"labels": ArrayLabels(column="labels", kind="jsonb")}


class TestSqliteTaggingRepository(_SqlContracts, ConversationRepositoryContract):
    kind = "sqlite"
    options = TAGGING


@pytest.mark.postgres
class TestPostgresTaggingRepository(_SqlContracts, ConversationRepositoryContract):
    kind = "postgres"
    options = TAGGING


@pytest.mark.postgres
class TestPostgresTextArrayRepository(_SqlContracts, ConversationRepositoryContract):
    kind = "postgres"
    options = TEXT_ARRAY


@pytest.mark.postgres
class TestPostgresJsonbArrayRepository(_SqlContracts, ConversationRepositoryContract):
    kind = "postgres"
    options = JSONB_ARRAY


# -- tenancy mappings (issue 16): no account column, or the account through the inbox ----

NO_ACCOUNT = {"account_id": None}
SINGLE_ACCOUNT: Mapping[str, Any] = {
    "single_account": 1,
    "tables": {
        name: TableMap(name, NO_ACCOUNT, create=True)
        for name in ("conversations", "inboxes", "teams")
    },
}
THROUGH_INBOX: Mapping[str, Any] = {
    "tables": {"conversations": TableMap("conversations", NO_ACCOUNT, create=True)}
}


class TestSqliteSingleAccountRepository(_SqlContracts, ConversationRepositoryContract):
    kind = "sqlite"
    options = SINGLE_ACCOUNT
    single_account = True


class TestSqliteSingleAccountDirectory(_SqlContracts, DirectoryContract):
    kind = "sqlite"
    options = SINGLE_ACCOUNT
    single_account = True


class TestSqliteThroughInboxRepository(_SqlContracts, ConversationRepositoryContract):
    kind = "sqlite"
    options = THROUGH_INBOX


class TestSqliteThroughInboxDirectory(_SqlContracts, DirectoryContract):
    kind = "sqlite"
    options = THROUGH_INBOX


@pytest.mark.postgres
class TestPostgresSingleAccountRepository(
    _SqlContracts, ConversationRepositoryContract
):
    kind = "postgres"
    options = SINGLE_ACCOUNT
    single_account = True


@pytest.mark.postgres
class TestPostgresSingleAccountDirectory(_SqlContracts, DirectoryContract):
    kind = "postgres"
    options = SINGLE_ACCOUNT
    single_account = True


@pytest.mark.postgres
class TestPostgresThroughInboxRepository(_SqlContracts, ConversationRepositoryContract):
    kind = "postgres"
    options = THROUGH_INBOX


@pytest.mark.postgres
class TestPostgresThroughInboxDirectory(_SqlContracts, DirectoryContract):
    kind = "postgres"
    options = THROUGH_INBOX


# -- the state machine --------------------------------------------------------------------


class _MirroredWorld(InMemoryWorld):
    """The machine edits an InMemoryWorld; this one writes every edit through to the
    SQL tables too, and reads conversations back from SQL before changing them (the
    engine's claims only happen there)."""

    def __init__(
        self, clock: FakeClock, writer: SqlWriter, repo: SqlConversationRepository
    ) -> None:
        super().__init__(clock)
        self._writer = writer
        self._repo = repo

    def put_account(self, account: Account) -> None:
        super().put_account(account)
        self._writer.put_account(account)

    def put_inbox(self, inbox: Inbox, members: Any = ()) -> None:
        members = list(members)
        self._writer.put_inbox(inbox, members)  # first: the members need the row
        super().put_inbox(inbox, members)

    def remove_inbox(self, inbox: InboxId) -> None:
        super().remove_inbox(inbox)
        self._writer.remove_inbox(inbox)

    def add_member(self, inbox: InboxId, agent: AgentId) -> None:
        super().add_member(inbox, agent)
        if inbox in self.inboxes:
            self._writer.add_member(inbox, agent)

    def remove_member(self, inbox: InboxId, agent: AgentId) -> None:
        super().remove_member(inbox, agent)
        self._writer.remove_member(inbox, agent)

    def put_team(self, team: Team) -> None:
        super().put_team(team)
        self._writer.put_team(team)

    def put_policy(self, policy: AssignmentPolicy) -> None:
        super().put_policy(policy)
        self._writer.put_policy(policy)

    def link_policy(self, inbox: InboxId, policy: PolicyId) -> None:
        super().link_policy(inbox, policy)
        self._writer.link_policy(inbox, policy)

    def unlink_policy(self, inbox: InboxId) -> None:
        super().unlink_policy(inbox)
        self._writer.unlink_policy(inbox)

    def put_capacity_policy(self, policy: CapacityPolicy) -> None:
        super().put_capacity_policy(policy)
        self._writer.put_capacity_policy(policy)

    def put_conversation(self, conversation: Conversation) -> None:
        super().put_conversation(conversation)
        self._writer.put_conversation(conversation)

    def update_conversation(
        self, conversation: ConversationId, **changes: Any
    ) -> tuple[Conversation, Conversation]:
        stored = self._repo.get(conversation)
        if stored is not None:
            super().put_conversation(stored)
        before, after = super().update_conversation(conversation, **changes)
        self._writer.put_conversation(after)
        return before, after


class _SqlBackend(InMemoryBackend):
    """In-memory presence, ledger, rotation, lease, events and jobs; directory and
    conversations in SQL (``engine``/``schema``, emptied first)."""

    def __init__(
        self, *, clock: FakeClock, engine: sa.Engine, schema: SqlSchema
    ) -> None:
        super().__init__(clock=clock)
        repo = SqlConversationRepository(engine, schema)
        self.world = _MirroredWorld(clock, SqlWriter(engine, schema), repo)
        self.directory = SqlDirectory(engine, schema)  # type: ignore[assignment]
        self.conversations = repo  # type: ignore[assignment]


def _machine_schema(**kwargs: Any) -> SqlSchema:
    # The library's own schema, unique (account, name) policy names included: the
    # machine names each inbox's policy apart.
    return SqlSchema(ids="mixed", **kwargs)


_ENGINES: list[sa.Engine] = []


def _sqlite_backend(clock: FakeClock) -> _SqlBackend:
    while len(_ENGINES) > 4:  # earlier examples' databases
        _ENGINES.pop(0).dispose()
    engine = create_sqlite_engine()
    schema = _machine_schema()
    schema.create_all(engine)
    _ENGINES.append(engine)
    return _SqlBackend(clock=clock, engine=engine, schema=schema)


SqlAssignmentMachine = assignment_machine(_sqlite_backend)
SqlAssignmentMachine.TestCase.settings = settings(
    max_examples=40 if os.environ.get("CI") else 15,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSqliteAssignmentMachine = SqlAssignmentMachine.TestCase


@pytest.mark.postgres
def test_postgres_assignment_machine(pg: Any) -> None:
    """The same machine with the directory and conversations on PostgreSQL: one
    schema for the whole run, every table emptied at the start of each example."""
    engine = pg.engine(pool_size=4, max_overflow=0)
    schema = _machine_schema(schema=pg.new_pg_schema())
    schema.create_all(engine)
    owned = ", ".join(
        f'"{schema.schema}"."{schema.tables[name].name}"' for name in LOGICAL_TABLES
    )

    def fresh(clock: FakeClock) -> _SqlBackend:
        with engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {owned} RESTART IDENTITY CASCADE"))
        return _SqlBackend(clock=clock, engine=engine, schema=schema)

    run_state_machine_as_test(
        assignment_machine(fresh),
        settings=settings(
            max_examples=12,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
