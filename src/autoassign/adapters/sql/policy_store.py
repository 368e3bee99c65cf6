""":class:`SqlPolicyStore`: the admin :class:`~autoassign.admin.store.PolicyStore` port
over the SQL schema.

It writes the very tables :class:`~autoassign.adapters.sql.SqlDirectory` reads, so a
committed change is seen by the next assignment pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from autoassign.adapters.sql._db import Database, advisory_lock_key
from autoassign.adapters.sql.directory import exclusion_rules_from_json
from autoassign.adapters.sql.schema import SqlSchema, labelled
from autoassign.adapters.sql.writer import exclusion_rules_to_json
from autoassign.admin.store import (
    POLICY_FIELDS,
    AgentInfo,
    CapacityPolicyRecord,
    CapacityPolicyValues,
    DuplicateInboxLimit,
    InboxInfo,
    InboxLimitRecord,
    LimitId,
    NameTaken,
    PolicyRecord,
    PolicyValues,
)
from autoassign.clock import SystemClock
from autoassign.errors import BackendError, ConfigurationError
from autoassign.model import (
    MAX_DESCRIPTION_LENGTH,
    MAX_NAME_LENGTH,
    AccountId,
    AgentId,
    Id,
    InboxId,
    PolicyId,
    check_text,
    stored_total_limit,
)
from autoassign.ports import Clock

__all__ = ["AgentLinks", "SqlPolicyStore"]

AgentLinks = Literal["rows", "column"]
"""How ``capacity_policy_agents`` records that an agent is on a capacity policy."""

_POLICY_COLUMNS = ("id", "account_id", *POLICY_FIELDS, "created_at", "updated_at")
_CAPACITY_COLUMNS = (
    "id",
    "account_id",
    "name",
    "description",
    "exclusion_rules",
    "created_at",
    "updated_at",
    "total_limit",
)
_LIMIT_COLUMNS = (
    "id",
    "capacity_policy_id",
    "inbox_id",
    "conversation_limit",
    "created_at",
    "updated_at",
)


def _new_id(result: sa.CursorResult[Any]) -> Id:
    """The id the table generated for the row an INSERT just added."""
    key = result.inserted_primary_key
    assert key is not None
    return key[0]  # type: ignore[no-any-return]


def _check_texts(values: PolicyValues | CapacityPolicyValues) -> None:
    """The text rules (:func:`autoassign.model.text_problem`) on what is written:
    ``ConfigurationError`` naming the field, before anything is written."""
    check_text("name", values.name, max_length=MAX_NAME_LENGTH)
    check_text(
        "description",
        values.description,
        max_length=MAX_DESCRIPTION_LENGTH,
        prose=True,
        allow_empty=True,
    )


def _stamps(row: Mapping[Any, Any], now: datetime) -> tuple[datetime, datetime]:
    """``(created_at, updated_at)`` of a row; a missing or NULL stamp (a row seeded
    without them, or a table without the columns) falls back to the other one, then
    to ``now``."""
    created = row.get("created_at")
    updated = row.get("updated_at")
    created = created or updated or now
    return created, updated or created


class SqlPolicyStore:
    """:class:`~autoassign.admin.store.PolicyStore` over a :class:`SqlSchema`.

    Args:
        engine: the database.
        schema: the tables (the library's own or mapped host tables); the same schema
            the :class:`SqlDirectory` of the engine reads.
        clock: the source of ``created_at``/``updated_at`` (default
            :class:`autoassign.SystemClock`).
        agent_links: how an agent's capacity policy is stored. ``"rows"``: one row of
            ``capacity_policy_agents`` per agent on a policy, inserted and deleted by
            the store (the library's own table). ``"column"``: the mapped table is the
            host's membership table (Chatwoot's ``account_users``) with a nullable
            capacity policy column; the store only ``UPDATE``\\ s that column (``NULL``
            takes an agent off) and never inserts or deletes a row, so an agent
            without a row is not in the account. The default is ``"rows"`` for the
            library's table and ``"column"`` for a mapped one.

    **Transactions and uniqueness.** Every method is one transaction. Each write
    first serialises with the other admin writes of its account: on PostgreSQL with
    ``pg_advisory_xact_lock`` on a key derived from the account, on SQLite by opening
    the transaction with ``BEGIN IMMEDIATE`` (SQLite's single writer lock). Only then
    does it check (unique policy name, one limit per inbox per policy, the records
    it touches still exist in the account) and write, so the checks see every
    committed admin write and hold on mapped host tables that have no constraints.
    The library's own schema also enforces them (unique ``(account_id,
    name)``, unique ``(capacity_policy_id, inbox_id)``); a violation caused by a
    writer that bypasses the store is still reported as :class:`NameTaken` /
    :class:`DuplicateInboxLimit`. Other dialects get no lock and rely on those
    constraints.

    Ids: policy, capacity policy and limit ids are generated by the tables
    (autoincrement integers, never reused, or random hex strings for text id
    columns). A table without an ``id`` column for limits cannot be used here.
    """

    def __init__(
        self,
        engine: Engine,
        schema: SqlSchema,
        *,
        clock: Clock | None = None,
        agent_links: AgentLinks | None = None,
    ) -> None:
        self.schema = schema
        self._db = Database(engine)
        self._clock: Clock = clock or SystemClock()
        agents = schema.capacity_policy_agents
        if agent_links is None:
            agent_links = "rows" if schema.owned("capacity_policy_agents") else "column"
        if agent_links not in ("rows", "column"):
            raise ConfigurationError(
                "agent_links must be 'rows' or 'column'", field="agent_links"
            )
        if agent_links == "column":
            if schema.owned("capacity_policy_agents"):
                raise ConfigurationError(
                    "agent_links='column' needs a mapped host table whose capacity "
                    "policy column is nullable",
                    field="agent_links",
                )
            if "account_id" not in agents.c:
                raise ConfigurationError(
                    "agent_links='column' needs capacity_policy_agents.account_id",
                    field="agent_links",
                )
        self.agent_links: AgentLinks = agent_links
        if "id" not in schema.inbox_capacity_limits.c:
            raise ConfigurationError(
                "SqlPolicyStore needs inbox_capacity_limits.id (limits have ids)",
                field="inbox_capacity_limits.id",
            )

    @property
    def engine(self) -> Engine:
        return self._db.engine

    # -- plumbing -----------------------------------------------------------------------

    def _key(self, entity: str, column: Any) -> Any:
        return self.schema.order_key(entity, column, self.engine.dialect)

    def _ok(self, **ids: object) -> bool:
        return all(self.schema.accepts(entity, value) for entity, value in ids.items())

    @contextlib.contextmanager
    def _write(self, operation: str, account: AccountId) -> Iterator[sa.Connection]:
        """One write transaction, serialised with the account's other admin writes."""
        with self._db.write(operation) as conn:
            dialect = conn.dialect.name
            if dialect == "postgresql":
                conn.execute(
                    sa.select(
                        sa.func.pg_advisory_xact_lock(
                            sa.literal(advisory_lock_key("admin", account))
                        )
                    )
                )
            elif dialect == "sqlite":
                # pysqlite opens a transaction only before the first INSERT/UPDATE/
                # DELETE, so the checks before it would read outside any transaction:
                # take SQLite's writer lock first (unless the host's engine already
                # began a transaction itself).
                raw = conn.connection.dbapi_connection
                if raw is not None and not getattr(raw, "in_transaction", True):
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn

    def _only(self, table: sa.Table, values: Mapping[Any, Any]) -> dict[str, Any]:
        """``values`` without the columns the (mapped) table does not have."""
        return {name: value for name, value in values.items() if name in table.c}

    def _ensure_account(self, conn: sa.Connection, account: AccountId) -> None:
        """The library's own ``accounts`` table has foreign keys pointing at it; a
        mapped host table is never written."""
        if not self.schema.owned("accounts"):
            return
        accounts = self.schema.accounts
        found = conn.execute(
            sa.select(accounts.c.id).where(accounts.c.id == account)
        ).first()
        if found is None:
            conn.execute(sa.insert(accounts).values(id=account))

    # -- host lookups (on a connection) ------------------------------------------------

    def _inbox_in(self, conn: sa.Connection, account: AccountId, inbox: Id) -> bool:
        if not self._ok(account=account, inbox=inbox):
            return False
        inboxes = self.schema.inboxes
        return (
            conn.execute(
                sa.select(inboxes.c.id).where(
                    inboxes.c.id == inbox, self.schema.account_is("inboxes", account)
                )
            ).first()
            is not None
        )

    def _policy_in(self, conn: sa.Connection, account: AccountId, policy: Id) -> bool:
        return self._owned(conn, "policy", account, policy)

    def _capacity_in(self, conn: sa.Connection, account: AccountId, policy: Id) -> bool:
        return self._owned(conn, "capacity_policy", account, policy)

    def _owned(
        self, conn: sa.Connection, entity: str, account: AccountId, policy: Id
    ) -> bool:
        """Whether the (capacity) policy exists in ``account``, without loading it."""
        if not self._ok(account=account, **{entity: policy}):
            return False
        table = (
            self.schema.assignment_policies
            if entity == "policy"
            else self.schema.capacity_policies
        )
        found = conn.execute(
            sa.select(table.c.id).where(
                table.c.id == policy, table.c.account_id == account
            )
        ).first()
        return found is not None

    def _user_row(
        self, conn: sa.Connection, account: AccountId, agent: AgentId
    ) -> Mapping[Any, Any] | None:
        agents = self.schema.agents
        row = conn.execute(
            sa.select(*labelled(agents, ("agent_id", "name", "email", "role"))).where(
                agents.c.account_id == account, agents.c.agent_id == agent
            )
        ).first()
        return None if row is None else row._mapping

    def _is_member(
        self, conn: sa.Connection, account: AccountId, agent: AgentId
    ) -> bool:
        inboxes = self.schema.inboxes
        members = self.schema.inbox_members
        return (
            conn.execute(
                sa.select(sa.literal(1))
                .select_from(members.join(inboxes, inboxes.c.id == members.c.inbox_id))
                .where(
                    self.schema.account_is("inboxes", account),
                    members.c.agent_id == agent,
                )
                .limit(1)
            ).first()
            is not None
        )

    def _agent_in(self, conn: sa.Connection, account: AccountId, agent: Id) -> bool:
        if not self._ok(account=account, agent=agent):
            return False
        return self._user_row(conn, account, agent) is not None or self._is_member(
            conn, account, agent
        )

    @staticmethod
    def _agent_info(
        account: AccountId, agent: AgentId, row: Mapping[Any, Any] | None
    ) -> AgentInfo:
        if row is None:
            return AgentInfo(id=agent, account=account, name=str(agent))
        return AgentInfo(
            id=agent,
            account=account,
            name=row.get("name") or str(agent),
            email=row.get("email"),
            role=row.get("role") or "agent",
        )

    # -- assignment policies (on a connection) -----------------------------------------

    def _policy_values(self, row: Mapping[Any, Any]) -> PolicyValues:
        return PolicyValues(**self.schema.policy_fields(row))

    def _policies(
        self,
        conn: sa.Connection,
        account: AccountId,
        policy: Id | None = None,
    ) -> list[PolicyRecord]:
        if not self._ok(account=account) or (
            policy is not None and not self._ok(policy=policy)
        ):
            return []
        table = self.schema.assignment_policies
        links = self.schema.inbox_assignment_policies
        inboxes = self.schema.inboxes
        linked = (
            sa.select(sa.func.count())
            .select_from(links.join(inboxes, inboxes.c.id == links.c.inbox_id))
            .where(
                links.c.assignment_policy_id == table.c.id,
                self.schema.account_of("inboxes") == table.c.account_id,
            )
            .scalar_subquery()
            .label("assigned_inbox_count")
        )
        stmt = sa.select(*labelled(table, _POLICY_COLUMNS), linked).where(
            table.c.account_id == account
        )
        if policy is not None:
            stmt = stmt.where(table.c.id == policy)
        stmt = stmt.order_by(self._key("policy", table.c.id))
        now = self._clock.now()
        out = []
        for row in conn.execute(stmt):
            mapping = row._mapping
            created, updated = _stamps(mapping, now)
            out.append(
                PolicyRecord(
                    id=mapping["id"],
                    account=mapping["account_id"],
                    values=self._policy_values(mapping),
                    assigned_inbox_count=int(mapping["assigned_inbox_count"]),
                    created_at=created,
                    updated_at=updated,
                )
            )
        return out

    def _policy(
        self, conn: sa.Connection, account: AccountId, policy: Id
    ) -> PolicyRecord | None:
        found = self._policies(conn, account, policy)
        return found[0] if found else None

    def _name_in_use(
        self,
        conn: sa.Connection,
        account: AccountId,
        name: str,
        exclude: PolicyId | None,
    ) -> bool:
        table = self.schema.assignment_policies
        stmt = sa.select(table.c.id).where(
            table.c.account_id == account, table.c.name == name
        )
        if exclude is not None:
            stmt = stmt.where(table.c.id != exclude)
        return conn.execute(stmt.limit(1)).first() is not None

    def _policy_columns(self, values: PolicyValues) -> dict[str, Any]:
        return self._only(
            self.schema.assignment_policies, self.schema.policy_columns(values)
        )

    @contextlib.contextmanager
    def _names_checked(
        self, account: AccountId, name: str, exclude: PolicyId | None
    ) -> Iterator[None]:
        """Report a unique-constraint violation on the name (a writer that bypassed
        the store took it meanwhile) as :class:`NameTaken`."""
        try:
            yield
        except BackendError as exc:
            if not isinstance(exc.__cause__, sa.exc.IntegrityError):
                raise
            with self._db.read("check policy name") as conn:
                taken = self._name_in_use(conn, account, name, exclude)
            if taken:
                raise NameTaken(name) from exc
            raise

    # -- the port: assignment policies -------------------------------------------------

    def list_policies(self, account: AccountId) -> Sequence[PolicyRecord]:
        with self._db.read("list policies") as conn:
            return tuple(self._policies(conn, account))

    def get_policy(self, account: AccountId, policy: PolicyId) -> PolicyRecord | None:
        with self._db.read("get policy") as conn:
            return self._policy(conn, account, policy)

    def create_policy(self, account: AccountId, values: PolicyValues) -> PolicyRecord:
        _check_texts(values)
        self.schema.require("account", account)
        columns = self._policy_columns(values)  # refuses what cannot be stored
        table = self.schema.assignment_policies
        with (
            self._names_checked(account, values.name, None),
            self._write("create policy", account) as conn,
        ):
            if self._name_in_use(conn, account, values.name, None):
                raise NameTaken(values.name)
            self._ensure_account(conn, account)
            now = self._clock.now()
            stamps = self._only(table, {"created_at": now, "updated_at": now})
            result = conn.execute(
                sa.insert(table).values(account_id=account, **columns, **stamps)
            )
            new_id = _new_id(result)
            record = self._policy(conn, account, new_id)
        assert record is not None
        return record

    def update_policy(
        self, account: AccountId, policy: PolicyId, values: PolicyValues
    ) -> PolicyRecord | None:
        _check_texts(values)
        if not self._ok(account=account, policy=policy):
            return None
        changes = self._policy_columns(values)  # refuses what cannot be stored
        table = self.schema.assignment_policies
        with (
            self._names_checked(account, values.name, policy),
            self._write("update policy", account) as conn,
        ):
            current = self._policy(conn, account, policy)
            if current is None:
                return None
            if self._name_in_use(conn, account, values.name, policy):
                raise NameTaken(values.name)
            if values == current.values:
                return current
            changes.update(self._only(table, {"updated_at": self._clock.now()}))
            conn.execute(
                sa.update(table)
                .where(table.c.id == policy, table.c.account_id == account)
                .values(changes)
            )
            return self._policy(conn, account, policy)

    def delete_policy(self, account: AccountId, policy: PolicyId) -> bool:
        if not self._ok(account=account, policy=policy):
            return False
        table = self.schema.assignment_policies
        links = self.schema.inbox_assignment_policies
        with self._write("delete policy", account) as conn:
            if not self._policy_in(conn, account, policy):
                return False
            conn.execute(sa.delete(links).where(links.c.assignment_policy_id == policy))
            conn.execute(
                sa.delete(table).where(
                    table.c.id == policy, table.c.account_id == account
                )
            )
            return True

    # -- the port: inbox links ---------------------------------------------------------

    def _linked_policy(
        self, conn: sa.Connection, account: AccountId, inbox: InboxId
    ) -> PolicyRecord | None:
        if not self._inbox_in(conn, account, inbox):
            return None
        links = self.schema.inbox_assignment_policies
        linked = conn.execute(
            sa.select(links.c.assignment_policy_id).where(links.c.inbox_id == inbox)
        ).first()
        if linked is None:
            return None
        return self._policy(conn, account, linked.assignment_policy_id)

    def policy_of_inbox(
        self, account: AccountId, inbox: InboxId
    ) -> PolicyRecord | None:
        with self._db.read("policy of inbox") as conn:
            return self._linked_policy(conn, account, inbox)

    def link_inbox(self, account: AccountId, inbox: InboxId, policy: PolicyId) -> bool:
        if not self._ok(account=account, inbox=inbox, policy=policy):
            return False
        links = self.schema.inbox_assignment_policies
        with self._write("link inbox", account) as conn:
            if not self._inbox_in(conn, account, inbox) or not self._policy_in(
                conn, account, policy
            ):
                return False
            # the reference destroys the old link and creates a new one
            conn.execute(sa.delete(links).where(links.c.inbox_id == inbox))
            conn.execute(
                sa.insert(links).values(inbox_id=inbox, assignment_policy_id=policy)
            )
            return True

    def unlink_inbox(self, account: AccountId, inbox: InboxId) -> bool:
        if not self._ok(account=account, inbox=inbox):
            return False
        links = self.schema.inbox_assignment_policies
        with self._write("unlink inbox", account) as conn:
            if self._linked_policy(conn, account, inbox) is None:
                return False
            conn.execute(sa.delete(links).where(links.c.inbox_id == inbox))
            return True

    def inboxes_of_policy(
        self, account: AccountId, policy: PolicyId
    ) -> Sequence[InboxInfo]:
        links = self.schema.inbox_assignment_policies
        inboxes = self.schema.inboxes
        with self._db.read("inboxes of policy") as conn:
            if not self._policy_in(conn, account, policy):
                return ()
            rows = conn.execute(
                sa.select(*labelled(inboxes, ("id", "name")))
                .select_from(links.join(inboxes, inboxes.c.id == links.c.inbox_id))
                .where(
                    links.c.assignment_policy_id == policy,
                    self.schema.account_is("inboxes", account),
                )
                .order_by(self._key("inbox", inboxes.c.id))
            )
            return tuple(self._inbox_info(account, row._mapping) for row in rows)

    # -- capacity policies (on a connection) -------------------------------------------

    def _agent_scope(self, policies: sa.Table) -> list[ColumnElement[bool]]:
        """Join conditions tying agent rows to their policy's account."""
        agents = self.schema.capacity_policy_agents
        conditions = [agents.c.capacity_policy_id == policies.c.id]
        if "account_id" in agents.c:
            conditions.append(agents.c.account_id == policies.c.account_id)
        return conditions

    def _limit_record(self, row: Mapping[Any, Any], now: datetime) -> InboxLimitRecord:
        created, updated = _stamps(row, now)
        return InboxLimitRecord(
            id=row["id"],
            policy_id=row["capacity_policy_id"],
            inbox=row["inbox_id"],
            conversation_limit=row["conversation_limit"],
            created_at=created,
            updated_at=updated,
        )

    def _capacities(
        self, conn: sa.Connection, account: AccountId, policy: Id | None = None
    ) -> list[CapacityPolicyRecord]:
        if not self._ok(account=account) or (
            policy is not None and not self._ok(capacity_policy=policy)
        ):
            return []
        table = self.schema.capacity_policies
        limits = self.schema.inbox_capacity_limits
        agents = self.schema.capacity_policy_agents
        held = (
            sa.select(sa.func.count())
            .select_from(agents)
            .where(*self._agent_scope(table))
            .scalar_subquery()
            .label("assigned_agent_count")
        )
        stmt = sa.select(*labelled(table, _CAPACITY_COLUMNS), held).where(
            table.c.account_id == account
        )
        if policy is not None:
            stmt = stmt.where(table.c.id == policy)
        stmt = stmt.order_by(self._key("capacity_policy", table.c.id))
        rows = [row._mapping for row in conn.execute(stmt)]
        if not rows:
            return []
        now = self._clock.now()
        by_policy: dict[PolicyId, list[InboxLimitRecord]] = {r["id"]: [] for r in rows}
        limit_rows = conn.execute(
            sa.select(*labelled(limits, _LIMIT_COLUMNS))
            .where(limits.c.capacity_policy_id.in_(list(by_policy)))
            .order_by(self._key("limit", limits.c.id))
        )
        for limit_row in limit_rows:
            record = self._limit_record(limit_row._mapping, now)
            by_policy[record.policy_id].append(record)
        out = []
        for row in rows:
            created, updated = _stamps(row, now)
            out.append(
                CapacityPolicyRecord(
                    id=row["id"],
                    account=row["account_id"],
                    values=CapacityPolicyValues(
                        name=row.get("name") or "Capacity",
                        description=row.get("description") or "",
                        exclusion_rules=exclusion_rules_from_json(
                            row.get("exclusion_rules")
                        ),
                        total_limit=stored_total_limit(row.get("total_limit")),
                    ),
                    inbox_limits=tuple(by_policy[row["id"]]),
                    assigned_agent_count=int(row["assigned_agent_count"]),
                    created_at=created,
                    updated_at=updated,
                )
            )
        return out

    def _capacity(
        self, conn: sa.Connection, account: AccountId, policy: Id
    ) -> CapacityPolicyRecord | None:
        found = self._capacities(conn, account, policy)
        return found[0] if found else None

    def _capacity_columns(self, values: CapacityPolicyValues) -> dict[str, Any]:
        self.schema.require_column(
            "capacity_policies", "total_limit", values.total_limit
        )
        return self._only(
            self.schema.capacity_policies,
            {
                "name": values.name,
                "description": values.description,
                # {} rather than NULL: a host's column may be NOT NULL DEFAULT '{}'
                "exclusion_rules": exclusion_rules_to_json(values.exclusion_rules)
                or {},
                "total_limit": values.total_limit,
            },
        )

    # -- the port: capacity policies ---------------------------------------------------

    def list_capacity_policies(
        self, account: AccountId
    ) -> Sequence[CapacityPolicyRecord]:
        with self._db.read("list capacity policies") as conn:
            return tuple(self._capacities(conn, account))

    def get_capacity_policy(
        self, account: AccountId, policy: PolicyId
    ) -> CapacityPolicyRecord | None:
        with self._db.read("get capacity policy") as conn:
            return self._capacity(conn, account, policy)

    def create_capacity_policy(
        self, account: AccountId, values: CapacityPolicyValues
    ) -> CapacityPolicyRecord:
        _check_texts(values)
        self.schema.require("account", account)
        table = self.schema.capacity_policies
        with self._write("create capacity policy", account) as conn:
            self._ensure_account(conn, account)
            now = self._clock.now()
            stamps = self._only(table, {"created_at": now, "updated_at": now})
            result = conn.execute(
                sa.insert(table).values(
                    account_id=account, **self._capacity_columns(values), **stamps
                )
            )
            record = self._capacity(conn, account, _new_id(result))
        assert record is not None
        return record

    def update_capacity_policy(
        self, account: AccountId, policy: PolicyId, values: CapacityPolicyValues
    ) -> CapacityPolicyRecord | None:
        _check_texts(values)
        if not self._ok(account=account, capacity_policy=policy):
            return None
        table = self.schema.capacity_policies
        with self._write("update capacity policy", account) as conn:
            current = self._capacity(conn, account, policy)
            if current is None:
                return None
            if values == current.values:
                return current
            changes = self._capacity_columns(values)
            changes.update(self._only(table, {"updated_at": self._clock.now()}))
            conn.execute(
                sa.update(table)
                .where(table.c.id == policy, table.c.account_id == account)
                .values(changes)
            )
            return self._capacity(conn, account, policy)

    def _release_agents(
        self, conn: sa.Connection, *conditions: ColumnElement[bool]
    ) -> int:
        """Take the matching agents off their capacity policy; returns how many."""
        agents = self.schema.capacity_policy_agents
        if self.agent_links == "rows":
            return conn.execute(sa.delete(agents).where(*conditions)).rowcount
        return conn.execute(
            sa.update(agents).where(*conditions).values(capacity_policy_id=None)
        ).rowcount

    def delete_capacity_policy(self, account: AccountId, policy: PolicyId) -> bool:
        if not self._ok(account=account, capacity_policy=policy):
            return False
        table = self.schema.capacity_policies
        limits = self.schema.inbox_capacity_limits
        agents = self.schema.capacity_policy_agents
        with self._write("delete capacity policy", account) as conn:
            if not self._capacity_in(conn, account, policy):
                return False
            conn.execute(sa.delete(limits).where(limits.c.capacity_policy_id == policy))
            self._release_agents(conn, agents.c.capacity_policy_id == policy)
            conn.execute(
                sa.delete(table).where(
                    table.c.id == policy, table.c.account_id == account
                )
            )
            return True

    # -- the port: inbox limits --------------------------------------------------------

    def _limit(
        self, conn: sa.Connection, account: AccountId, policy: Id, limit: Id
    ) -> InboxLimitRecord | None:
        if not self._ok(account=account, capacity_policy=policy, limit=limit):
            return None
        limits = self.schema.inbox_capacity_limits
        policies = self.schema.capacity_policies
        row = conn.execute(
            sa.select(*labelled(limits, _LIMIT_COLUMNS))
            .select_from(
                limits.join(policies, policies.c.id == limits.c.capacity_policy_id)
            )
            .where(
                limits.c.id == limit,
                limits.c.capacity_policy_id == policy,
                policies.c.account_id == account,
            )
        ).first()
        return (
            None if row is None else self._limit_record(row._mapping, self._clock.now())
        )

    def get_inbox_limit(
        self, account: AccountId, policy: PolicyId, limit: LimitId
    ) -> InboxLimitRecord | None:
        with self._db.read("get inbox limit") as conn:
            return self._limit(conn, account, policy, limit)

    def add_inbox_limit(
        self,
        account: AccountId,
        policy: PolicyId,
        inbox: InboxId,
        conversation_limit: int | None,
    ) -> InboxLimitRecord | None:
        if not self._ok(account=account, capacity_policy=policy, inbox=inbox):
            return None
        limits = self.schema.inbox_capacity_limits
        try:
            with self._write("add inbox limit", account) as conn:
                if not self._capacity_in(conn, account, policy) or not self._inbox_in(
                    conn, account, inbox
                ):
                    return None
                if self._limit_for(conn, policy, inbox) is not None:
                    raise DuplicateInboxLimit(inbox)
                now = self._clock.now()
                stamps = self._only(limits, {"created_at": now, "updated_at": now})
                result = conn.execute(
                    sa.insert(limits).values(
                        capacity_policy_id=policy,
                        inbox_id=inbox,
                        conversation_limit=conversation_limit,
                        **stamps,
                    )
                )
                return self._limit(conn, account, policy, _new_id(result))
        except BackendError as exc:
            if isinstance(exc.__cause__, sa.exc.IntegrityError):
                with self._db.read("check inbox limit") as conn:
                    if self._limit_for(conn, policy, inbox) is not None:
                        raise DuplicateInboxLimit(inbox) from exc
            raise

    def _limit_for(self, conn: sa.Connection, policy: Id, inbox: Id) -> Any:
        limits = self.schema.inbox_capacity_limits
        return conn.execute(
            sa.select(limits.c.id).where(
                limits.c.capacity_policy_id == policy, limits.c.inbox_id == inbox
            )
        ).first()

    def update_inbox_limit(
        self,
        account: AccountId,
        policy: PolicyId,
        limit: LimitId,
        conversation_limit: int | None,
    ) -> InboxLimitRecord | None:
        limits = self.schema.inbox_capacity_limits
        with self._write("update inbox limit", account) as conn:
            record = self._limit(conn, account, policy, limit)
            if record is None or record.conversation_limit == conversation_limit:
                return record
            changes: dict[str, Any] = {"conversation_limit": conversation_limit}
            changes.update(self._only(limits, {"updated_at": self._clock.now()}))
            conn.execute(sa.update(limits).where(limits.c.id == limit).values(changes))
            return self._limit(conn, account, policy, limit)

    def delete_inbox_limit(
        self, account: AccountId, policy: PolicyId, limit: LimitId
    ) -> bool:
        limits = self.schema.inbox_capacity_limits
        with self._write("delete inbox limit", account) as conn:
            if self._limit(conn, account, policy, limit) is None:
                return False
            conn.execute(sa.delete(limits).where(limits.c.id == limit))
            return True

    # -- the port: agents --------------------------------------------------------------

    def agents_of_capacity_policy(
        self, account: AccountId, policy: PolicyId
    ) -> Sequence[AgentInfo]:
        agents = self.schema.capacity_policy_agents
        users = self.schema.agents
        with self._db.read("agents of capacity policy") as conn:
            if not self._capacity_in(conn, account, policy):
                return ()
            user_columns = labelled(users, ("name", "email", "role"))
            stmt = (
                sa.select(
                    agents.c.agent_id.label("agent_id"),
                    users.c.agent_id.label("user_id"),
                    *user_columns,
                )
                .select_from(
                    agents.outerjoin(
                        users,
                        sa.and_(
                            users.c.agent_id == agents.c.agent_id,
                            users.c.account_id == account,
                        ),
                    )
                )
                .where(agents.c.capacity_policy_id == policy)
                .order_by(self._key("agent", agents.c.agent_id))
            )
            if "account_id" in agents.c:
                stmt = stmt.where(agents.c.account_id == account)
            return tuple(
                self._agent_info(
                    account,
                    row.agent_id,
                    None if row.user_id is None else row._mapping,
                )
                for row in conn.execute(stmt)
            )

    def _policy_of_agent(
        self, conn: sa.Connection, account: AccountId, agent: AgentId
    ) -> PolicyId | None:
        if not self._ok(account=account, agent=agent):
            return None
        agents = self.schema.capacity_policy_agents
        policies = self.schema.capacity_policies
        row = conn.execute(
            sa.select(policies.c.id)
            .select_from(policies.join(agents, sa.and_(*self._agent_scope(policies))))
            .where(policies.c.account_id == account, agents.c.agent_id == agent)
            .order_by(self._key("capacity_policy", policies.c.id))
            .limit(1)
        ).first()
        return None if row is None else row.id

    def capacity_policy_of_agent(
        self, account: AccountId, agent: AgentId
    ) -> PolicyId | None:
        with self._db.read("capacity policy of agent") as conn:
            return self._policy_of_agent(conn, account, agent)

    def add_agent(self, account: AccountId, policy: PolicyId, agent: AgentId) -> bool:
        if not self._ok(account=account, capacity_policy=policy, agent=agent):
            return False
        agents = self.schema.capacity_policy_agents
        policies = self.schema.capacity_policies
        with self._write("add agent", account) as conn:
            if not self._capacity_in(conn, account, policy) or not self._agent_in(
                conn, account, agent
            ):
                return False
            if self.agent_links == "column":
                # the host's membership row carries the policy: a move is one UPDATE
                return bool(
                    conn.execute(
                        sa.update(agents)
                        .where(
                            agents.c.account_id == account, agents.c.agent_id == agent
                        )
                        .values(capacity_policy_id=policy)
                    ).rowcount
                )
            # a move: off every capacity policy of the account, then onto this one
            if "account_id" in agents.c:
                mine: ColumnElement[bool] = agents.c.account_id == account
            else:
                mine = agents.c.capacity_policy_id.in_(
                    sa.select(policies.c.id).where(policies.c.account_id == account)
                )
            conn.execute(sa.delete(agents).where(agents.c.agent_id == agent, mine))
            conn.execute(
                sa.insert(agents).values(
                    capacity_policy_id=policy,
                    agent_id=agent,
                    **self._only(agents, {"account_id": account}),
                )
            )
            return True

    def remove_agent(
        self, account: AccountId, policy: PolicyId, agent: AgentId
    ) -> bool:
        if not self._ok(account=account, capacity_policy=policy, agent=agent):
            return False
        agents = self.schema.capacity_policy_agents
        with self._write("remove agent", account) as conn:
            if not self._capacity_in(conn, account, policy):
                return False
            conditions = [
                agents.c.capacity_policy_id == policy,
                agents.c.agent_id == agent,
            ]
            if "account_id" in agents.c:
                conditions.append(agents.c.account_id == account)
            return self._release_agents(conn, *conditions) > 0

    # -- the port: host lookups --------------------------------------------------------

    @staticmethod
    def _inbox_info(account: AccountId, row: Mapping[Any, Any]) -> InboxInfo:
        inbox = row["id"]
        return InboxInfo(
            id=inbox, account=account, name=row.get("name") or f"Inbox {inbox}"
        )

    def inbox_exists(self, account: AccountId, inbox: InboxId) -> bool:
        with self._db.read("inbox exists") as conn:
            return self._inbox_in(conn, account, inbox)

    def agent_exists(self, account: AccountId, agent: AgentId) -> bool:
        with self._db.read("agent exists") as conn:
            return self._agent_in(conn, account, agent)

    def inbox_info(self, account: AccountId, inbox: InboxId) -> InboxInfo | None:
        if not self._ok(account=account, inbox=inbox):
            return None
        inboxes = self.schema.inboxes
        with self._db.read("inbox info") as conn:
            row = conn.execute(
                sa.select(*labelled(inboxes, ("id", "name"))).where(
                    inboxes.c.id == inbox, self.schema.account_is("inboxes", account)
                )
            ).first()
        return None if row is None else self._inbox_info(account, row._mapping)

    def agent_info(self, account: AccountId, agent: AgentId) -> AgentInfo | None:
        if not self._ok(account=account, agent=agent):
            return None
        with self._db.read("agent info") as conn:
            row = self._user_row(conn, account, agent)
            if row is None and not self._is_member(conn, account, agent):
                return None
        return self._agent_info(account, agent, row)
