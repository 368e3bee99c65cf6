"""SqlPolicyStore: the shipped PolicyStore contract suite (also run on the in-memory
store, the reference) on SQLite and PostgreSQL, over the library's own schema and over
host tables mapped with TableMap that have *no* uniqueness constraints (Chatwoot-like:
Rails enum integers, naive timestamps, ``account_users`` carrying the capacity
policy); plus the unique-name constraint, constraint violations by writers that bypass
the store, the ``agent_links`` modes, and the admin API and an assignment pass over
the SQL store."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

import pytest
import sqlalchemy as sa

from autoassign import build_autoassign
from autoassign.adapters.memory import InMemoryBackend
from autoassign.adapters.sql import (
    EnumEncoding,
    SqlConversationRepository,
    SqlDirectory,
    SqlPolicyStore,
    SqlSchema,
    SqlWriter,
    TableMap,
    create_sqlite_engine,
)
from autoassign.admin import (
    Actor,
    AdminApp,
    AgentInfo,
    ApiAccessTokenAuthenticator,
    CapacityPolicyValues,
    DuplicateInboxLimit,
    InMemoryPolicyStore,
    NameTaken,
    PolicyAdmin,
    PolicyStore,
    PolicyValues,
)
from autoassign.errors import ConfigurationError
from autoassign.model import (
    Account,
    AgentId,
    AssignmentOrder,
    Conversation,
    ConversationPriority,
    Inbox,
    InboxId,
)
from autoassign.ports import Directory
from autoassign.testing import FakeClock
from autoassign.testing.policy_store_contract import PolicyStoreContract


class Db(Protocol):
    """What the ``db``, ``pg`` and ``sqlite_db`` fixtures (conftest.Db) offer."""

    kind: str

    def engine(self, **kwargs: Any) -> sa.Engine: ...

    def new_pg_schema(self) -> str: ...

    def make(self, **schema_kwargs: Any) -> tuple[sa.Engine, SqlSchema]: ...


# -- the contract on the in-memory store (the reference) ---------------------------------


class TestInMemoryPolicyStore(PolicyStoreContract):
    def make_store(
        self,
        clock: FakeClock,
        *,
        inboxes: Sequence[Any],
        members: Mapping[InboxId, Sequence[AgentId]],
        users: Sequence[Any],
    ) -> tuple[PolicyStore, Directory]:
        backend = InMemoryBackend(clock=clock)
        store = InMemoryPolicyStore(backend.world, clock)
        for info in inboxes:
            backend.world.put_account(Account(id=info.account))
            backend.add_inbox(info.id, account=info.account, members=members[info.id])
            store.set_inbox_name(info.id, info.name)
        for user in users:
            store.add_user(
                user.account, user.id, name=user.name, email=user.email, role=user.role
            )
        return store, backend.world


# -- host tables without constraints ------------------------------------------------------

RAILS_ORDER = EnumEncoding(
    {AssignmentOrder.ROUND_ROBIN: 0, AssignmentOrder.BALANCED: 1}
)
RAILS_PRIORITY = EnumEncoding(
    {ConversationPriority.EARLIEST_CREATED: 0, ConversationPriority.LONGEST_WAITING: 1}
)


HOST_ROUTING = {
    "sticky_window": "sticky_seconds",
    "skill_routing": "skills_on",
    "skill_relax_after": "relax_seconds",
}
"""A host's own routing columns (mapped, with names of its own)."""


def create_host_tables(
    engine: sa.Engine, pg_schema: str | None, *, routing: bool = False
) -> None:
    """Chatwoot-shaped admin tables with no unique constraints at all (so only the
    store's own serialisation keeps the invariants), Rails timestamps and enums;
    with ``routing``, the policy table has routing columns of its own."""
    q = f'"{pg_schema}".' if pg_schema else ""
    postgres = engine.dialect.name == "postgresql"
    serial = (
        "BIGSERIAL PRIMARY KEY" if postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"
    )
    json_type = "JSONB" if postgres else "JSON"
    statements = [
        f"CREATE TABLE {q}accounts (id BIGINT PRIMARY KEY)",
        f"CREATE TABLE {q}users (id VARCHAR(255) PRIMARY KEY,"
        " name VARCHAR(255) NOT NULL, email VARCHAR(255))",
        f"CREATE TABLE {q}account_users (id {serial}, account_id BIGINT NOT NULL,"
        " user_id VARCHAR(255) NOT NULL, role VARCHAR(32) NOT NULL DEFAULT 'agent',"
        " agent_capacity_policy_id BIGINT)",
        f"CREATE VIEW {q}autoassign_agents AS SELECT au.account_id AS account_id,"
        " au.user_id AS agent_id, u.name AS name, u.email AS email, au.role AS role"
        f" FROM {q}account_users au JOIN {q}users u ON u.id = au.user_id",
        f"CREATE TABLE {q}inboxes (id BIGINT PRIMARY KEY, account_id BIGINT NOT NULL,"
        " name VARCHAR(255) NOT NULL DEFAULT '')",
        f"CREATE TABLE {q}inbox_members (id {serial}, inbox_id BIGINT NOT NULL,"
        " user_id VARCHAR(255) NOT NULL)",
        f"CREATE TABLE {q}assignment_policies (id {serial},"
        " account_id BIGINT NOT NULL, name VARCHAR(255) NOT NULL, description TEXT,"
        " assignment_order INTEGER NOT NULL DEFAULT 0,"
        " conversation_priority INTEGER NOT NULL DEFAULT 0,"
        " fair_distribution_limit INTEGER, fair_distribution_window INTEGER NOT NULL,"
        " enabled BOOLEAN NOT NULL DEFAULT TRUE, created_at TIMESTAMP NOT NULL,"
        " updated_at TIMESTAMP NOT NULL"
        + (
            ", sticky_seconds INTEGER, skills_on BOOLEAN, relax_seconds INTEGER"
            if routing
            else ""
        )
        + ")",
        f"CREATE TABLE {q}inbox_assignment_policies (id {serial},"
        " inbox_id BIGINT NOT NULL, assignment_policy_id BIGINT NOT NULL,"
        " created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
        f"CREATE TABLE {q}agent_capacity_policies (id {serial},"
        " account_id BIGINT NOT NULL, name VARCHAR(255) NOT NULL, description TEXT,"
        f" exclusion_rules {json_type} NOT NULL DEFAULT '{{}}',"
        " created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL)",
        f"CREATE TABLE {q}inbox_capacity_limits (id {serial},"
        " agent_capacity_policy_id BIGINT NOT NULL, inbox_id BIGINT NOT NULL,"
        " conversation_limit INTEGER NOT NULL, created_at TIMESTAMP NOT NULL,"
        " updated_at TIMESTAMP NOT NULL)",
    ]
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))


def host_schema(pg_schema: str | None, *, routing: bool = False) -> SqlSchema:
    return SqlSchema(
        schema=pg_schema,
        prefix="aa_",
        ids={"default": "int", "agent": "str"},
        naive_datetimes=True,
        assignment_order=RAILS_ORDER,
        conversation_priority=RAILS_PRIORITY,
        tables={
            "accounts": TableMap("accounts"),
            "agents": TableMap("autoassign_agents"),
            "inboxes": TableMap(
                "inboxes",
                {"enable_auto_assignment": None, "auto_assignment_config": None},
            ),
            "inbox_members": TableMap(
                "inbox_members", {"position": "id", "agent_id": "user_id"}
            ),
            "assignment_policies": TableMap(
                "assignment_policies", HOST_ROUTING if routing else {}
            ),
            "inbox_assignment_policies": TableMap("inbox_assignment_policies"),
            "capacity_policies": TableMap("agent_capacity_policies"),
            "capacity_policy_agents": TableMap(
                "account_users",
                {
                    "agent_id": "user_id",
                    "capacity_policy_id": "agent_capacity_policy_id",
                },
            ),
            "inbox_capacity_limits": TableMap(
                "inbox_capacity_limits",
                {"capacity_policy_id": "agent_capacity_policy_id"},
            ),
        },
    )


def seed_host_users(engine: sa.Engine, schema: SqlSchema, users: Sequence[Any]) -> None:
    q = f'"{schema.schema}".' if schema.schema else ""
    with engine.begin() as conn:
        for user in users:
            conn.execute(
                sa.text(f"INSERT INTO {q}users (id, name, email) VALUES (:i, :n, :e)"),
                {"i": user.id, "n": user.name, "e": user.email},
            )
            conn.execute(
                sa.text(
                    f"INSERT INTO {q}account_users (account_id, user_id, role)"
                    " VALUES (:a, :i, :r)"
                ),
                {"a": user.account, "i": user.id, "r": user.role},
            )


# -- the contract on SQL -------------------------------------------------------------------


class _SqlPolicyStoreContract(PolicyStoreContract):
    kind = "sqlite"
    layout = "library"  # or "host": the mapped tables above
    ids: ClassVar[str | Mapping[str, str]] = "mixed"
    options: ClassVar[Mapping[str, Any]] = {}
    host_routing: ClassVar[bool] = False  # the host's table maps routing columns

    @pytest.fixture(autouse=True)
    def _database(self, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        self.db: Db = request.getfixturevalue(
            "pg" if self.kind == "postgres" else "sqlite_db"
        )
        self.tmp_path = tmp_path

    def _engine_and_schema(self) -> tuple[sa.Engine, SqlSchema]:
        if self.layout == "library":
            return self.db.make(ids=self.ids, **self.options)
        if self.kind == "postgres":
            engine = self.db.engine()
            pg_schema: str | None = self.db.new_pg_schema()
        else:
            # a file, so that the racing threads really use separate connections
            engine = self.db.engine(path=self.tmp_path / "host.db")
            pg_schema = None
        create_host_tables(engine, pg_schema, routing=self.host_routing)
        schema = host_schema(pg_schema, routing=self.host_routing)
        schema.create_all(engine)
        return engine, schema

    def make_store(
        self,
        clock: FakeClock,
        *,
        inboxes: Sequence[Any],
        members: Mapping[InboxId, Sequence[AgentId]],
        users: Sequence[Any],
    ) -> tuple[PolicyStore, Directory]:
        engine, schema = self._engine_and_schema()
        writer = SqlWriter(engine, schema)
        for info in inboxes:
            writer.put_inbox(
                Inbox(id=info.id, account=info.account),
                members[info.id],
                name=info.name,
            )
        if self.layout == "library":
            for user in users:
                writer.put_agent(
                    user.account,
                    user.id,
                    name=user.name,
                    email=user.email,
                    role=user.role,
                )
        else:
            seed_host_users(engine, schema, users)
        return SqlPolicyStore(engine, schema, clock=clock), SqlDirectory(engine, schema)


class TestSqlitePolicyStore(_SqlPolicyStoreContract):
    kind = "sqlite"


class TestSqlitePolicyStoreIntIds(_SqlPolicyStoreContract):
    kind = "sqlite"
    ids: ClassVar[str | Mapping[str, str]] = {"default": "int", "agent": "str"}


class TestSqlitePolicyStoreOnHostTables(_SqlPolicyStoreContract):
    kind = "sqlite"
    layout = "host"
    unlimited_inbox_limits = False  # the reference's conversation_limit is NOT NULL
    total_limits = False  # nor has its table a total limit
    policy_routing = False  # nor its policy table routing settings


class TestSqlitePolicyStoreOnHostTablesWithRouting(_SqlPolicyStoreContract):
    """The same host, whose policy table has routing columns of its own names."""

    kind = "sqlite"
    layout = "host"
    unlimited_inbox_limits = False
    total_limits = False
    host_routing = True


SINGLE_ACCOUNT: Mapping[str, Any] = {
    "single_account": 1,
    "tables": {
        name: TableMap(name, {"account_id": None}, create=True)
        for name in ("conversations", "inboxes", "teams")
    },
}
"""A single-account host: its inboxes, conversations and teams have no account
column; the library's own policy tables keep theirs."""


class TestSqlitePolicyStoreSingleAccount(_SqlPolicyStoreContract):
    kind = "sqlite"
    options = SINGLE_ACCOUNT
    single_account = True


@pytest.mark.postgres
class TestPostgresPolicyStore(_SqlPolicyStoreContract):
    kind = "postgres"


@pytest.mark.postgres
class TestPostgresPolicyStoreSingleAccount(_SqlPolicyStoreContract):
    kind = "postgres"
    options = SINGLE_ACCOUNT
    single_account = True


@pytest.mark.postgres
class TestPostgresPolicyStoreOnHostTables(_SqlPolicyStoreContract):
    kind = "postgres"
    layout = "host"
    unlimited_inbox_limits = False
    total_limits = False
    policy_routing = False


@pytest.mark.postgres
class TestPostgresPolicyStoreOnHostTablesWithRouting(_SqlPolicyStoreContract):
    kind = "postgres"
    layout = "host"
    unlimited_inbox_limits = False
    total_limits = False
    host_routing = True


# -- the unique name, and writers that bypass the store -----------------------------------


STR_AGENTS = {"default": "int", "agent": "str"}


def _library_store(db: Db, **schema_kwargs: Any) -> tuple[sa.Engine, SqlPolicyStore]:
    engine, schema = db.make(ids=STR_AGENTS, **schema_kwargs)
    SqlWriter(engine, schema).put_inbox(Inbox(id=10, account=1), ["ann"])
    return engine, SqlPolicyStore(engine, schema, clock=FakeClock())


def _raw_policy(engine: sa.Engine, schema: SqlSchema, name: str) -> None:
    table = schema.assignment_policies
    with engine.begin() as conn:
        conn.execute(
            sa.insert(table).values(
                account_id=1,
                name=name,
                assignment_order="round_robin",
                conversation_priority="earliest_created",
                fair_distribution_window=3600,
                enabled=True,
            )
        )


def test_the_library_schema_has_unique_names_per_account(db: Db) -> None:
    engine, store = _library_store(db)
    store.create_policy(1, PolicyValues(name="Same"))
    with pytest.raises(sa.exc.IntegrityError, match=r"(?i)unique"):
        _raw_policy(engine, store.schema, "Same")
    _raw_policy(engine, store.schema, "Other")


def test_the_store_enforces_names_without_the_constraint(db: Db) -> None:
    engine, store = _library_store(db, unique_policy_names=False)
    store.create_policy(1, PolicyValues(name="Same"))
    with pytest.raises(NameTaken):
        store.create_policy(1, PolicyValues(name="Same"))
    _raw_policy(engine, store.schema, "Same")  # no constraint: a bypassing writer can
    assert [p.values.name for p in store.list_policies(1)] == ["Same", "Same"]


def test_a_constraint_violation_is_reported_as_name_taken(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that bypasses the store takes the name between the store's check and
    its INSERT (simulated: the check misses it once); the unique constraint stops the
    INSERT and the store reports NameTaken, with nothing stored."""
    _, store = _library_store(db)
    first = store.create_policy(1, PolicyValues(name="Same"))
    real = store._name_in_use
    misses = iter([True])

    def blind_once(*args: Any) -> bool:
        if next(misses, False):
            return False
        return real(*args)

    monkeypatch.setattr(store, "_name_in_use", blind_once)
    with pytest.raises(NameTaken):
        store.create_policy(1, PolicyValues(name="Same"))
    assert store.list_policies(1) == (first,)
    other = store.create_policy(1, PolicyValues(name="Other"))
    misses = iter([True])
    with pytest.raises(NameTaken):
        store.update_policy(1, other.id, PolicyValues(name="Same"))
    assert store.get_policy(1, other.id) == other


def test_a_duplicate_limit_violation_is_reported(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, store = _library_store(db)
    record = store.create_capacity_policy(1, _capacity_values())
    assert store.add_inbox_limit(1, record.id, 10, 1) is not None
    real = store._limit_for
    misses = iter([True])

    def blind_once(*args: Any) -> Any:
        if next(misses, False):
            return None
        return real(*args)

    monkeypatch.setattr(store, "_limit_for", blind_once)
    with pytest.raises(DuplicateInboxLimit):
        store.add_inbox_limit(1, record.id, 10, 5)
    shown = store.get_capacity_policy(1, record.id)
    assert shown is not None
    assert [limit.conversation_limit for limit in shown.inbox_limits] == [1]


def _capacity_values() -> CapacityPolicyValues:
    return CapacityPolicyValues(name="C")


# -- agent_links ----------------------------------------------------------------------------


def _host_store(db: Db) -> tuple[sa.Engine, SqlSchema, SqlPolicyStore]:
    engine = db.engine()
    pg_schema = db.new_pg_schema() if db.kind == "postgres" else None
    create_host_tables(engine, pg_schema)
    schema = host_schema(pg_schema)
    schema.create_all(engine)
    SqlWriter(engine, schema).put_inbox(Inbox(id=10, account=1), ["ann", "bob"])
    seed_host_users(
        engine,
        schema,
        [
            AgentInfo(id="ann", account=1, name="Ann"),
            AgentInfo(id="bob", account=1, name="Bob"),
        ],
    )
    return engine, schema, SqlPolicyStore(engine, schema, clock=FakeClock())


def test_column_links_never_insert_or_delete_host_rows(db: Db) -> None:
    engine, schema, store = _host_store(db)
    assert store.agent_links == "column"
    q = f'"{schema.schema}".' if schema.schema else ""

    def rows() -> list[tuple[Any, ...]]:
        with engine.connect() as conn:
            return [
                tuple(row)
                for row in conn.execute(
                    sa.text(
                        f"SELECT user_id, agent_capacity_policy_id FROM {q}account_users"
                        " ORDER BY id"
                    )
                )
            ]

    first = store.create_capacity_policy(1, _capacity_values())
    second = store.create_capacity_policy(1, _capacity_values())
    assert rows() == [("ann", None), ("bob", None)]
    assert store.add_agent(1, first.id, "ann")
    assert store.add_agent(1, first.id, "bob")
    assert store.add_agent(1, second.id, "ann")  # a move is one UPDATE
    assert rows() == [("ann", second.id), ("bob", first.id)]
    assert store.remove_agent(1, first.id, "bob")
    assert rows() == [("ann", second.id), ("bob", None)]
    assert store.delete_capacity_policy(1, second.id)
    assert rows() == [("ann", None), ("bob", None)]
    directory = SqlDirectory(engine, schema)
    assert store.add_agent(1, first.id, "bob")
    assert store.add_inbox_limit(1, first.id, 10, 2) is not None
    (seen,) = directory.capacity_policies_for_inbox(10)
    assert seen.agents == frozenset({"bob"})


def test_agent_links_configuration() -> None:
    owned = SqlSchema()
    engine = create_sqlite_engine()
    assert SqlPolicyStore(engine, owned).agent_links == "rows"
    with pytest.raises(ConfigurationError):
        SqlPolicyStore(engine, owned, agent_links="column")
    with pytest.raises(ConfigurationError):
        SqlPolicyStore(engine, owned, agent_links="both")  # type: ignore[arg-type]
    no_account = SqlSchema(
        tables={"capacity_policy_agents": TableMap("cpa", {"account_id": None})}
    )
    with pytest.raises(ConfigurationError):
        SqlPolicyStore(engine, no_account)
    assert SqlPolicyStore(engine, no_account, agent_links="rows").agent_links == "rows"
    no_limit_ids = SqlSchema(
        tables={"inbox_capacity_limits": TableMap("l", {"id": None})}
    )
    with pytest.raises(ConfigurationError):
        SqlPolicyStore(engine, no_limit_ids)


# -- the admin API and the engine over the SQL store ---------------------------------------

ADMIN = Actor(account=1, user="root", role="administrator")
A = "/api/v1/accounts/1"


def _call(
    app: AdminApp, method: str, path: str, body: object = None
) -> tuple[int, Any]:
    data = b"" if body is None else json.dumps(body).encode()
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "CONTENT_LENGTH": str(len(data)),
        "CONTENT_TYPE": "application/json",
        "wsgi.input": io.BytesIO(data),
        "SERVER_NAME": "test",
        "SERVER_PORT": "80",
        "HTTP_API_ACCESS_TOKEN": "admin-token",
    }
    seen: dict[str, int] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"] = int(status.split(maxsplit=1)[0])

    out = b"".join(app(environ, start_response))
    return seen["status"], json.loads(out) if out else None


def test_admin_api_and_the_next_pass_over_sql(db: Db) -> None:
    clock = FakeClock()
    engine, schema = db.make(ids=STR_AGENTS)
    writer = SqlWriter(engine, schema)
    writer.put_account(Account(id=1, features={"assignment_v2"}))
    writer.put_inbox(Inbox(id=10, account=1), ["ann", "bob"], name="Support")
    writer.put_agent(1, "ann", name="Ann")
    store = SqlPolicyStore(engine, schema, clock=clock)
    app = AdminApp(
        PolicyAdmin(store), ApiAccessTokenAuthenticator({"admin-token": ADMIN})
    )
    side = InMemoryBackend(clock=clock)  # presence, ledger, rotation, lease, events
    engine_app = build_autoassign(
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
    writer.put_conversations(
        [
            Conversation(
                id=n,
                inbox=10,
                account=1,
                created_at=clock.now(),
                last_activity_at=clock.now(),
            )
            for n in (100, 101)
        ]
    )

    def assign() -> int:
        return engine_app.service.perform_bulk_assignment(10).assigned_count

    status, policy = _call(
        app, "POST", f"{A}/assignment_policies", {"assignment_policy": {"name": "P"}}
    )
    assert status == 200
    status, body = _call(
        app, "POST", f"{A}/assignment_policies", {"assignment_policy": {"name": "P"}}
    )
    assert (status, body["errors"]) == (422, {"name": "has already been taken"})
    assert assign() == 0  # not linked yet
    status, linked = _call(
        app,
        "POST",
        f"{A}/inboxes/10/assignment_policy",
        {"assignment_policy_id": policy["id"]},
    )
    assert (status, linked["assigned_inbox_count"]) == (200, 1)
    status, inboxes = _call(
        app, "GET", f"{A}/assignment_policies/{policy['id']}/inboxes"
    )
    assert inboxes == {"inboxes": [{"id": 10, "name": "Support"}]}

    status, capacity = _call(
        app,
        "POST",
        f"{A}/agent_capacity_policies",
        {"agent_capacity_policy": {"name": "C"}},
    )
    assert status == 200
    status, user = _call(
        app,
        "POST",
        f"{A}/agent_capacity_policies/{capacity['id']}/users",
        {"user_id": "ann"},
    )
    assert (status, user["name"]) == (200, "Ann")
    status, limit = _call(
        app,
        "POST",
        f"{A}/agent_capacity_policies/{capacity['id']}/inbox_limits",
        {"inbox_id": 10, "conversation_limit": 1},
    )
    assert status == 200
    status, _ = _call(
        app,
        "POST",
        f"{A}/agent_capacity_policies/{capacity['id']}/inbox_limits",
        {"inbox_id": 10, "conversation_limit": 3},
    )
    assert status == 422
    assert assign() == 1  # capacity 1 binds
    status, _ = _call(
        app,
        "PUT",
        f"{A}/agent_capacity_policies/{capacity['id']}/inbox_limits/{limit['id']}",
        {"conversation_limit": 2},
    )
    assert status == 200
    assert assign() == 1
    clock.advance(60)
    status, updated = _call(
        app,
        "PATCH",
        f"{A}/assignment_policies/{policy['id']}",
        {"assignment_policy": {"enabled": False}},
    )
    assert (status, updated["enabled"]) == (200, False)
    assert updated["updated_at"] == policy["updated_at"] + 60
    status, _ = _call(app, "DELETE", f"{A}/assignment_policies/{policy['id']}")
    assert status == 200
    status, _ = _call(app, "GET", f"{A}/inboxes/10/assignment_policy")
    assert status == 404
    assert SqlDirectory(engine, schema).policy_for_inbox(10) is None


def test_an_order_the_host_column_cannot_store_is_refused_and_changes_nothing(
    db: Db,
) -> None:
    """The host's Rails enum stores round robin (0) and balanced (1) only: a policy
    with ``most_available`` is refused by the store with the column named, and over
    the API with a 422 on the field; nothing is written."""
    _, _, store = _host_store(db)
    values = PolicyValues(name="M", assignment_order=AssignmentOrder.MOST_AVAILABLE)
    with pytest.raises(ConfigurationError, match="most_available"):
        store.create_policy(1, values)
    assert list(store.list_policies(1)) == []
    kept = store.create_policy(1, PolicyValues(name="Kept"))
    with pytest.raises(ConfigurationError, match="most_available"):
        store.update_policy(1, kept.id, values)
    assert store.get_policy(1, kept.id) == kept

    app = AdminApp(
        PolicyAdmin(store), ApiAccessTokenAuthenticator({"admin-token": ADMIN})
    )
    status, body = _call(
        app,
        "POST",
        f"{A}/assignment_policies",
        {"assignment_policy": {"name": "M", "assignment_order": "most_available"}},
    )
    assert status == 422, body
    assert "assignment_order" in body["errors"], body
    assert [p.values.name for p in store.list_policies(1)] == ["Kept"]


def test_weighted_round_robin_is_stored_by_the_library_schema_and_refused_by_a_host_enum(
    db: Db,
) -> None:
    """The library's column is text (up to 32 characters): ``weighted_round_robin``
    round-trips; the host's Rails enum (round robin and balanced only) refuses it with
    the field named, and nothing is written."""
    _, store = _library_store(db)
    values = PolicyValues(
        name="W", assignment_order=AssignmentOrder.WEIGHTED_ROUND_ROBIN
    )
    created = store.create_policy(1, values)
    assert store.get_policy(1, created.id) == created
    assert created.values.assignment_order is AssignmentOrder.WEIGHTED_ROUND_ROBIN

    _, _, host = _host_store(db)
    with pytest.raises(ConfigurationError, match="weighted_round_robin") as caught:
        host.create_policy(1, values)
    assert caught.value.field == "assignment_order"
    assert list(host.list_policies(1)) == []


def test_a_routing_setting_the_host_table_cannot_store_is_a_422(db: Db) -> None:
    """The host's ``assignment_policies`` has no routing columns: the API answers a
    ``sticky_window`` with a 422 naming it and writes nothing; a policy without
    routing settings is stored as usual."""
    _, _, store = _host_store(db)
    app = AdminApp(
        PolicyAdmin(store), ApiAccessTokenAuthenticator({"admin-token": ADMIN})
    )
    status, body = _call(
        app,
        "POST",
        f"{A}/assignment_policies",
        {"assignment_policy": {"name": "S", "sticky_window": 0}},
    )
    assert status == 422, body
    assert list(body["errors"]) == ["sticky_window"], body
    assert "assignment_policies.sticky_window is not mapped" in body["message"]
    assert list(store.list_policies(1)) == []
    status, body = _call(
        app, "POST", f"{A}/assignment_policies", {"assignment_policy": {"name": "P"}}
    )
    assert status == 200, body
    assert "sticky_window" not in body
