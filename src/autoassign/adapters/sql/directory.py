""":class:`SqlDirectory`: the read-only configuration port over SQL tables."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Engine

from autoassign.adapters.sql._db import Database
from autoassign.adapters.sql.schema import SqlSchema, labelled
from autoassign.admin.store import POLICY_FIELDS
from autoassign.model import (
    MAX_FEATURE_LENGTH,
    Account,
    AccountId,
    AgentId,
    AssignmentPolicy,
    CapacityPolicy,
    ExclusionRules,
    Inbox,
    InboxId,
    PolicyId,
    PolicyOverrides,
    Team,
    TeamId,
    id_sort_key,
    stored_total_limit,
    text_problem,
)

__all__ = ["SqlDirectory", "exclusion_rules_from_json", "overrides_from_json"]

_OVERRIDE_KEYS = frozenset(
    {
        "assignment_order",
        "conversation_priority",
        "fair_distribution_limit",
        "fair_distribution_window",
    }
)


def overrides_from_json(data: object) -> PolicyOverrides:
    """An inbox's ``auto_assignment_config`` JSON as overrides. Keys autoassign does not
    know (a host may keep other settings there) are ignored; known keys are validated."""
    if not isinstance(data, Mapping):
        return _NO_OVERRIDES
    known = {key: value for key, value in data.items() if key in _OVERRIDE_KEYS}
    return PolicyOverrides.from_mapping(known)


def exclusion_rules_from_json(data: object) -> ExclusionRules:
    """A capacity policy's ``exclusion_rules`` JSON: ``{"excluded_labels": [...],
    "exclude_older_than_hours": n}`` (both optional). Never raises: parts that cannot
    be applied (a row written before validation) are left out and described in
    ``unusable`` (:meth:`ExclusionRules.from_stored`)."""
    if not isinstance(data, Mapping):
        return ExclusionRules()
    return ExclusionRules.from_stored(
        data.get("excluded_labels") or (), data.get("exclude_older_than_hours")
    )


_NO_OVERRIDES = PolicyOverrides()

_POLICY_LABEL = "policy__"
"""The prefix of the policy columns read together with an inbox's."""


def _check_batch(batch_size: int) -> None:
    if batch_size <= 0:
        raise ValueError("batch_size must be positive")


class SqlDirectory:
    """:class:`~autoassign.ports.Directory` over the schema's configuration tables.

    Orders: ``inbox_members`` by the ``position`` column (insertion order in the
    library's schema; the agent id when a host maps it to ``None``); every other list
    by id, following :func:`autoassign.model.id_sort_key`. ``iter_accounts`` and
    ``iter_inboxes`` page with keyset pagination (``WHERE id > :last ORDER BY id LIMIT
    :n``), one query per batch, so batches stay cheap however many rows there are.
    """

    def __init__(self, engine: Engine, schema: SqlSchema) -> None:
        self.schema = schema
        self._db = Database(engine)
        # the columns every pass selects, built once
        # the account: the inbox's column, or the single account (a constant)
        self._inbox_columns = [
            schema.inboxes.c.id.label("id"),
            schema.account_of("inboxes").label("account_id"),
            *labelled(
                schema.inboxes, ("enable_auto_assignment", "auto_assignment_config")
            ),
        ]
        self._policy_columns = labelled(
            schema.assignment_policies, ("id", "account_id", *POLICY_FIELDS)
        )
        self._capacity_columns = labelled(
            schema.capacity_policies,
            (
                "id",
                "account_id",
                "name",
                "description",
                "exclusion_rules",
                "total_limit",
            ),
        )

    @property
    def engine(self) -> Engine:
        return self._db.engine

    def _key(self, entity: str, column: Any) -> Any:
        return self.schema.order_key(entity, column, self.engine.dialect)

    # -- accounts ---------------------------------------------------------------------

    def _features(
        self, conn: sa.Connection, accounts: Sequence[AccountId]
    ) -> dict[AccountId, set[str]]:
        table = self.schema.account_features
        out: dict[AccountId, set[str]] = {account: set() for account in accounts}
        if accounts:
            stmt = sa.select(table.c.account_id, table.c.feature).where(
                table.c.account_id.in_(list(accounts))
            )
            for row in conn.execute(stmt):
                # a flag that is not valid text (a host's row) can never be one that
                # is checked: left out rather than failing the whole read
                if isinstance(row.feature, str) and not text_problem(
                    row.feature, max_length=MAX_FEATURE_LENGTH
                ):
                    out.setdefault(row.account_id, set()).add(row.feature)
        return out

    def account(self, account: AccountId) -> Account | None:
        if not self.schema.accepts("account", account):
            return None
        accounts = self.schema.accounts
        with self._db.read("account") as conn:
            found = conn.execute(
                sa.select(accounts.c.id).where(accounts.c.id == account)
            ).first()
            if found is None:
                return None
            features = self._features(conn, [found.id])
        return Account(id=found.id, features=frozenset(features[found.id]))

    def iter_accounts(
        self, *, feature: str, batch_size: int
    ) -> Iterator[Sequence[Account]]:
        _check_batch(batch_size)
        return self._iter_accounts(feature, batch_size)

    def _iter_accounts(
        self, feature: str, batch_size: int
    ) -> Iterator[Sequence[Account]]:
        accounts = self.schema.accounts
        features = self.schema.account_features
        key = self._key("account", accounts.c.id)
        has_feature = sa.exists().where(
            features.c.account_id == accounts.c.id, features.c.feature == feature
        )
        last: AccountId | None = None
        while True:
            stmt = sa.select(accounts.c.id).where(has_feature)
            if last is not None:
                stmt = stmt.where(
                    key > sa.bindparam("last", last, type_=accounts.c.id.type)
                )
            stmt = stmt.order_by(key).limit(batch_size)
            with self._db.read("iterate accounts") as conn:
                ids = [row.id for row in conn.execute(stmt)]
                flags = self._features(conn, ids)
            if not ids:
                return
            yield tuple(Account(id=a, features=frozenset(flags[a])) for a in ids)
            if len(ids) < batch_size:
                return
            last = ids[-1]

    # -- inboxes ----------------------------------------------------------------------

    def _inbox(self, row: Any) -> Inbox:
        mapping = row._mapping
        enabled = mapping.get("enable_auto_assignment")
        return Inbox(
            id=mapping["id"],
            account=mapping["account_id"],
            enable_auto_assignment=True if enabled is None else bool(enabled),
            overrides=overrides_from_json(mapping.get("auto_assignment_config")),
        )

    def inbox(self, inbox: InboxId) -> Inbox | None:
        if not self.schema.accepts("inbox", inbox):
            return None
        inboxes = self.schema.inboxes
        with self._db.read("inbox") as conn:
            row = conn.execute(
                sa.select(*self._inbox_columns).where(inboxes.c.id == inbox)
            ).first()
        return None if row is None else self._inbox(row)

    def inbox_members(self, inbox: InboxId) -> Sequence[AgentId]:
        if not self.schema.accepts("inbox", inbox):
            return ()
        members = self.schema.inbox_members
        order = (
            [members.c.position]
            if "position" in members.c
            else [self._key("agent", members.c.agent_id)]
        )
        stmt = (
            sa.select(members.c.agent_id)
            .where(members.c.inbox_id == inbox)
            .order_by(*order)
        )
        with self._db.read("inbox members") as conn:
            return tuple(dict.fromkeys(row.agent_id for row in conn.execute(stmt)))

    def inboxes_of_agent(self, account: AccountId, agent: AgentId) -> Sequence[InboxId]:
        if not (
            self.schema.allows_account(account) and self.schema.accepts("agent", agent)
        ):
            return ()
        inboxes = self.schema.inboxes
        members = self.schema.inbox_members
        stmt = (
            sa.select(inboxes.c.id)
            .where(
                self.schema.account_is("inboxes", account),
                sa.exists().where(
                    members.c.inbox_id == inboxes.c.id, members.c.agent_id == agent
                ),
            )
            .order_by(self._key("inbox", inboxes.c.id))
        )
        with self._db.read("inboxes of agent") as conn:
            return tuple(row.id for row in conn.execute(stmt))

    def iter_inboxes(
        self, account: AccountId, *, batch_size: int
    ) -> Iterator[Sequence[Inbox]]:
        _check_batch(batch_size)
        return self._iter_inboxes(account, batch_size)

    def _iter_inboxes(
        self, account: AccountId, batch_size: int
    ) -> Iterator[Sequence[Inbox]]:
        if not self.schema.allows_account(account):
            return
        inboxes = self.schema.inboxes
        links = self.schema.inbox_assignment_policies
        key = self._key("inbox", inboxes.c.id)
        linked = sa.exists().where(links.c.inbox_id == inboxes.c.id)
        last: InboxId | None = None
        while True:
            stmt = sa.select(*self._inbox_columns).where(
                self.schema.account_is("inboxes", account), linked
            )
            if last is not None:
                stmt = stmt.where(
                    key > sa.bindparam("last", last, type_=inboxes.c.id.type)
                )
            stmt = stmt.order_by(key).limit(batch_size)
            with self._db.read("iterate inboxes") as conn:
                batch = tuple(self._inbox(row) for row in conn.execute(stmt))
            if not batch:
                return
            yield batch
            if len(batch) < batch_size:
                return
            last = batch[-1].id

    def iter_inboxes_with_policies(
        self, accounts: Sequence[AccountId], *, batch_size: int
    ) -> Iterator[Sequence[tuple[Inbox, AssignmentPolicy | None]]]:
        """:class:`~autoassign.ports.PagedPolicyDirectory`: the linked inboxes of
        ``accounts`` joined with their policies, ordered by (account, inbox) and paged
        with keyset pagination on that pair: one query per page."""
        _check_batch(batch_size)
        wanted = [a for a in dict.fromkeys(accounts) if self.schema.allows_account(a)]
        return self._iter_inboxes_with_policies(wanted, batch_size)

    def _iter_inboxes_with_policies(
        self, accounts: Sequence[AccountId], batch_size: int
    ) -> Iterator[Sequence[tuple[Inbox, AssignmentPolicy | None]]]:
        if not accounts:
            return
        inboxes = self.schema.inboxes
        links = self.schema.inbox_assignment_policies
        policies = self.schema.assignment_policies
        account_key = self._key("account", self.schema.account_of("inboxes"))
        inbox_key = self._key("inbox", inboxes.c.id)
        policy_columns = [
            column.element.label(_POLICY_LABEL + column.name)
            for column in self._policy_columns
        ]
        ordered = sorted(dict.fromkeys(accounts), key=id_sort_key)
        position = {account: at for at, account in enumerate(ordered)}
        # single_account with no account column: no account predicate, paged by inbox
        single = "account_id" not in inboxes.c
        base = (
            sa.select(*self._inbox_columns, *policy_columns)
            .select_from(
                inboxes.join(links, links.c.inbox_id == inboxes.c.id).outerjoin(
                    policies, policies.c.id == links.c.assignment_policy_id
                )
            )
            .order_by(*([] if single else [account_key]), inbox_key)
            .limit(batch_size)
        )
        last: tuple[AccountId, InboxId] | None = None
        while True:
            # only the accounts not finished yet (from the last row's on), and their
            # range: each page reads less of what is behind it
            remaining = ordered[position.get(last[0], 0) :] if last else ordered
            if single:
                stmt = base
                if last is not None:
                    stmt = stmt.where(
                        inbox_key
                        > sa.bindparam("last_inbox", last[1], type_=inboxes.c.id.type)
                    )
            else:
                stmt = base.where(
                    self._among(inboxes.c.account_id, remaining),
                    account_key
                    >= sa.bindparam(
                        "first_account", remaining[0], type_=inboxes.c.account_id.type
                    ),
                    account_key
                    <= sa.bindparam(
                        "final_account", ordered[-1], type_=inboxes.c.account_id.type
                    ),
                )
                if last is not None:
                    stmt = stmt.where(
                        sa.tuple_(account_key, inbox_key)
                        > sa.tuple_(
                            sa.bindparam(
                                "last_account",
                                last[0],
                                type_=inboxes.c.account_id.type,
                            ),
                            sa.bindparam(
                                "last_inbox", last[1], type_=inboxes.c.id.type
                            ),
                        )
                    )
            with self._db.read("iterate inboxes with policies") as conn:
                rows = list(conn.execute(stmt))
            page: dict[InboxId, tuple[Inbox, AssignmentPolicy | None]] = {}
            decoded: dict[object, AssignmentPolicy | None] = {}
            for row in rows:
                inbox = self._inbox(row)
                # a host's link table may hold several rows for an inbox: the first
                # one counts, as in policy_for_inbox
                if inbox.id in page:
                    continue
                # a policy linked to several inboxes is decoded once per page
                policy_id = row._mapping[_POLICY_LABEL + "id"]
                if policy_id not in decoded:
                    decoded[policy_id] = self._joined_policy(row)
                page[inbox.id] = (inbox, decoded[policy_id])
            if page:
                yield tuple(page.values())
            if len(rows) < batch_size:
                return
            final = rows[-1]._mapping
            last = (final["account_id"], final["id"])

    def _among(self, column: Any, values: Sequence[Any]) -> Any:
        """``column IN values``; on PostgreSQL ``column = ANY(:array)``: one parameter,
        so the statement's text is the same for any number of values (the driver
        caches its parsing; a thousand placeholders would be parsed on every page)."""
        if self.engine.dialect.name == "postgresql":
            return column == sa.any_(
                sa.bindparam("among", list(values), type_=ARRAY(column.type))
            )
        return column.in_(list(values))

    def _joined_policy(self, row: Any) -> AssignmentPolicy | None:
        fields = {
            key[len(_POLICY_LABEL) :]: value
            for key, value in row._mapping.items()
            if key.startswith(_POLICY_LABEL)
        }
        return None if fields.get("id") is None else self._policy_from(fields)

    # -- teams ------------------------------------------------------------------------

    def team(self, team: TeamId) -> Team | None:
        if not self.schema.accepts("team", team):
            return None
        teams = self.schema.teams
        members = self.schema.team_members
        columns = [teams.c.id, self.schema.account_of("teams").label("account_id")]
        if "allow_auto_assign" in teams.c:
            columns.append(teams.c.allow_auto_assign)
        with self._db.read("team") as conn:
            row = conn.execute(sa.select(*columns).where(teams.c.id == team)).first()
            if row is None:
                return None
            agents = frozenset(
                r.agent_id
                for r in conn.execute(
                    sa.select(members.c.agent_id).where(members.c.team_id == team)
                )
            )
        allow = row._mapping.get("allow_auto_assign")
        return Team(
            id=row.id,
            account=row.account_id,
            allow_auto_assign=True if allow is None else bool(allow),
            members=agents,
        )

    # -- policies ---------------------------------------------------------------------

    def _policy(self, row: Any) -> AssignmentPolicy:
        return self._policy_from(row._mapping)

    def _policy_from(self, mapping: Mapping[str, Any]) -> AssignmentPolicy:
        return AssignmentPolicy(
            id=mapping["id"],
            account=mapping["account_id"],
            **self.schema.policy_fields(mapping),
        )

    def policy_for_inbox(self, inbox: InboxId) -> AssignmentPolicy | None:
        if not self.schema.accepts("inbox", inbox):
            return None
        policies = self.schema.assignment_policies
        links = self.schema.inbox_assignment_policies
        stmt = (
            sa.select(*self._policy_columns)
            .select_from(
                links.join(policies, policies.c.id == links.c.assignment_policy_id)
            )
            .where(links.c.inbox_id == inbox)
        )
        with self._db.read("policy for inbox") as conn:
            row = conn.execute(stmt).first()
        return None if row is None else self._policy(row)

    def capacity_policies_for_inbox(self, inbox: InboxId) -> Sequence[CapacityPolicy]:
        if not self.schema.accepts("inbox", inbox):
            return ()
        inboxes = self.schema.inboxes
        policies = self.schema.capacity_policies
        limits = self.schema.inbox_capacity_limits
        agents = self.schema.capacity_policy_agents
        stmt = (
            sa.select(*self._capacity_columns)
            .select_from(
                policies.join(
                    limits,
                    sa.and_(
                        limits.c.capacity_policy_id == policies.c.id,
                        limits.c.inbox_id == inbox,
                    ),
                ).join(
                    inboxes,
                    sa.and_(
                        inboxes.c.id == inbox,
                        self.schema.account_of("inboxes") == policies.c.account_id,
                    ),
                )
            )
            .order_by(self._key("capacity_policy", policies.c.id))
        )
        with self._db.read("capacity policies for inbox") as conn:
            rows = list(conn.execute(stmt))
            if not rows:
                return ()
            ids = [row.id for row in rows]
            inbox_limits: dict[PolicyId, dict[InboxId, int]] = {i: {} for i in ids}
            for row in conn.execute(
                sa.select(
                    limits.c.capacity_policy_id,
                    limits.c.inbox_id,
                    limits.c.conversation_limit,
                ).where(limits.c.capacity_policy_id.in_(ids))
            ):
                inbox_limits[row.capacity_policy_id][row.inbox_id] = (
                    row.conversation_limit
                )
            members: dict[PolicyId, set[AgentId]] = {i: set() for i in ids}
            agent_rows = sa.select(
                agents.c.capacity_policy_id, agents.c.agent_id
            ).where(agents.c.capacity_policy_id.in_(ids))
            if "account_id" in agents.c:
                agent_rows = agent_rows.where(
                    agents.c.account_id == policies.c.account_id,
                    policies.c.id == agents.c.capacity_policy_id,
                )
            for member in conn.execute(agent_rows):
                members[member.capacity_policy_id].add(member.agent_id)
        out = []
        for row in rows:
            mapping = row._mapping
            out.append(
                CapacityPolicy(
                    id=row.id,
                    account=row.account_id,
                    name=mapping.get("name") or "Capacity",
                    description=mapping.get("description") or "",
                    inbox_limits=inbox_limits[row.id],
                    agents=frozenset(members[row.id]),
                    exclusion_rules=exclusion_rules_from_json(
                        mapping.get("exclusion_rules")
                    ),
                    total_limit=stored_total_limit(mapping.get("total_limit")),
                )
            )
        return tuple(out)
