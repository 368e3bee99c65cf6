""":class:`SqlWriter`: put domain values into the SQL tables (seeding, tests, demos).

A host's own application writes its tables; this is for the library's schema, for tests
and for hosts that let autoassign own its configuration tables. Every method is one
transaction. ``put_*`` methods insert or replace.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from autoassign.adapters.sql._db import Database
from autoassign.adapters.sql.repository import SqlConversationRepository
from autoassign.adapters.sql.schema import SqlSchema
from autoassign.errors import ConfigurationError
from autoassign.model import (
    MAX_NAME_LENGTH,
    Account,
    AccountId,
    AgentId,
    AssignmentPolicy,
    CapacityPolicy,
    Conversation,
    ConversationId,
    ExclusionRules,
    Inbox,
    InboxId,
    PolicyId,
    PolicyOverrides,
    Team,
    check_text,
)

__all__ = ["SqlWriter", "exclusion_rules_to_json", "overrides_to_json"]

_ROLE_LENGTH = 32
"""The ``VARCHAR(32)`` role column."""


def overrides_to_json(overrides: PolicyOverrides) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for field in attrs.fields(PolicyOverrides):
        value = getattr(overrides, field.name)
        if value is not None:
            out[field.name] = getattr(value, "value", value)
    return out or None


def exclusion_rules_to_json(rules: ExclusionRules) -> dict[str, Any] | None:
    if rules.is_empty:
        return None
    return {
        "excluded_labels": list(rules.excluded_labels),  # as given
        "exclude_older_than_hours": rules.exclude_older_than_hours,
    }


def _replace_rows(
    conn: sa.Connection,
    table: sa.Table,
    owner: tuple[str, object],
    *,
    column: str,
    values: Iterable[Any],
) -> None:
    """Make ``table``'s rows whose ``owner`` (column name, value) matches hold exactly
    ``values`` in ``column``, one row per value."""
    owner_column, key = owner
    conn.execute(sa.delete(table).where(table.c[owner_column] == key))
    rows = [{owner_column: key, column: value} for value in sorted(values, key=str)]
    if rows:
        conn.execute(sa.insert(table), rows)


def _upsert(
    conn: sa.Connection,
    table: sa.Table,
    key: Mapping[str, Any],
    values: Mapping[str, Any],
) -> None:
    values = {name: value for name, value in values.items() if name in table.c}
    if values:
        stmt = (
            sa.update(table)
            .where(*(table.c[name] == value for name, value in key.items()))
            .values(values)
        )
        if conn.execute(stmt).rowcount:
            return
    else:
        found = conn.execute(
            sa.select(sa.literal(1))
            .select_from(table)
            .where(*(table.c[name] == value for name, value in key.items()))
        ).first()
        if found is not None:
            return
    conn.execute(sa.insert(table).values({**key, **values}))


class SqlWriter:
    """Seeding API mirroring :class:`autoassign.adapters.memory.InMemoryWorld`."""

    def __init__(self, engine: Engine, schema: SqlSchema) -> None:
        self.schema = schema
        self._db = Database(engine)
        self._repository = SqlConversationRepository(engine, schema)

    def _ids(self, **ids: object) -> None:
        for entity, value in ids.items():
            if value is not None:
                self.schema.require(entity, value)
        account = ids.get("account")
        if account is not None and not self.schema.allows_account(account):
            raise ConfigurationError(
                f"account {account!r} is not this single-account host's "
                f"({self.schema.single_account!r})",
                field="account_id",
            )

    # -- configuration ----------------------------------------------------------------

    def _account(self, conn: sa.Connection, account: AccountId) -> None:
        _upsert(conn, self.schema.accounts, {"id": account}, {})

    def put_account(self, account: Account) -> None:
        self._ids(account=account.id)
        features = self.schema.account_features
        with self._db.write("put account") as conn:
            self._account(conn, account.id)
            _replace_rows(
                conn,
                features,
                ("account_id", account.id),
                column="feature",
                values=account.features,
            )

    def put_agent(
        self,
        account: AccountId,
        agent: AgentId,
        *,
        name: str = "",
        email: str | None = None,
        role: str = "agent",
    ) -> None:
        self._ids(account=account, agent=agent)
        check_text("name", name, max_length=MAX_NAME_LENGTH, allow_empty=True)
        if email is not None:
            check_text("email", email, max_length=MAX_NAME_LENGTH, allow_empty=True)
        check_text("role", role, max_length=_ROLE_LENGTH)
        with self._db.write("put agent") as conn:
            self._account(conn, account)
            _upsert(
                conn,
                self.schema.agents,
                {"account_id": account, "agent_id": agent},
                {"name": name, "email": email, "role": role},
            )

    def put_inbox(
        self, inbox: Inbox, members: Iterable[AgentId] = (), *, name: str = ""
    ) -> None:
        self._ids(inbox=inbox.id, account=inbox.account)
        check_text("name", name, max_length=MAX_NAME_LENGTH, allow_empty=True)
        members = list(members)
        for agent in members:
            self._ids(agent=agent)
        with self._db.write("put inbox") as conn:
            self._account(conn, inbox.account)
            _upsert(
                conn,
                self.schema.inboxes,
                {"id": inbox.id},
                {
                    "account_id": inbox.account,
                    "name": name,
                    "enable_auto_assignment": inbox.enable_auto_assignment,
                    "auto_assignment_config": overrides_to_json(inbox.overrides),
                },
            )
            self._add_members(conn, inbox.id, members)

    def ensure_inbox(self, inbox: InboxId, account: AccountId) -> None:
        """Create the account and the inbox if they do not exist (never changes one)."""
        self._ids(inbox=inbox, account=account)
        with self._db.write("ensure inbox") as conn:
            self._ensure_inbox(conn, inbox, account)

    def _ensure_inbox(
        self, conn: sa.Connection, inbox: InboxId, account: AccountId
    ) -> None:
        inboxes = self.schema.inboxes
        if conn.execute(sa.select(inboxes.c.id).where(inboxes.c.id == inbox)).first():
            return
        self._account(conn, account)
        values: dict[str, Any] = {"id": inbox}
        if "account_id" in inboxes.c:  # none with single_account
            values["account_id"] = account
        if "enable_auto_assignment" in inboxes.c:
            values["enable_auto_assignment"] = True
        conn.execute(sa.insert(inboxes).values(values))

    def remove_inbox(self, inbox: InboxId) -> None:
        if not self.schema.accepts("inbox", inbox):
            return
        s = self.schema
        with self._db.write("remove inbox") as conn:
            conn.execute(
                sa.delete(s.inbox_members).where(s.inbox_members.c.inbox_id == inbox)
            )
            conn.execute(
                sa.delete(s.inbox_assignment_policies).where(
                    s.inbox_assignment_policies.c.inbox_id == inbox
                )
            )
            conn.execute(
                sa.delete(s.inbox_capacity_limits).where(
                    s.inbox_capacity_limits.c.inbox_id == inbox
                )
            )
            conv = s.conversations
            s.label_source.delete(
                conn, sa.select(conv.c.id).where(conv.c.inbox_id == inbox)
            )
            conn.execute(sa.delete(conv).where(conv.c.inbox_id == inbox))
            conn.execute(sa.delete(s.inboxes).where(s.inboxes.c.id == inbox))

    def _add_members(
        self, conn: sa.Connection, inbox: InboxId, agents: Iterable[AgentId]
    ) -> None:
        """Append the ``agents`` not yet members, in order (one query, one insert)."""
        members = self.schema.inbox_members
        wanted = list(dict.fromkeys(agents))
        if not wanted:
            return
        present = set(
            conn.execute(
                sa.select(members.c.agent_id).where(
                    members.c.inbox_id == inbox, members.c.agent_id.in_(wanted)
                )
            ).scalars()
        )
        rows = [
            {"inbox_id": inbox, "agent_id": agent}
            for agent in wanted
            if agent not in present
        ]
        if rows:
            conn.execute(sa.insert(members), rows)

    def add_member(self, inbox: InboxId, agent: AgentId) -> None:
        self._ids(inbox=inbox, agent=agent)
        with self._db.write("add member") as conn:
            self._add_members(conn, inbox, [agent])

    def remove_member(self, inbox: InboxId, agent: AgentId) -> None:
        self._ids(inbox=inbox, agent=agent)
        members = self.schema.inbox_members
        with self._db.write("remove member") as conn:
            conn.execute(
                sa.delete(members).where(
                    members.c.inbox_id == inbox, members.c.agent_id == agent
                )
            )

    def put_team(self, team: Team) -> None:
        self._ids(team=team.id, account=team.account)
        for agent in team.members:
            self._ids(agent=agent)
        members = self.schema.team_members
        with self._db.write("put team") as conn:
            self._account(conn, team.account)
            _upsert(
                conn,
                self.schema.teams,
                {"id": team.id},
                {
                    "account_id": team.account,
                    "allow_auto_assign": team.allow_auto_assign,
                },
            )
            _replace_rows(
                conn,
                members,
                ("team_id", team.id),
                column="agent_id",
                values=team.members,
            )

    def put_policy(self, policy: AssignmentPolicy) -> None:
        self._ids(policy=policy.id, account=policy.account)
        s = self.schema
        columns = s.policy_columns(policy)  # refuses a setting it cannot store
        with self._db.write("put policy") as conn:
            self._account(conn, policy.account)
            _upsert(
                conn,
                s.assignment_policies,
                {"id": policy.id},
                {"account_id": policy.account, **columns},
            )

    def link_policy(self, inbox: InboxId, policy: PolicyId) -> None:
        self._ids(inbox=inbox, policy=policy)
        with self._db.write("link policy") as conn:
            _upsert(
                conn,
                self.schema.inbox_assignment_policies,
                {"inbox_id": inbox},
                {"assignment_policy_id": policy},
            )

    def unlink_policy(self, inbox: InboxId) -> None:
        self._ids(inbox=inbox)
        links = self.schema.inbox_assignment_policies
        with self._db.write("unlink policy") as conn:
            conn.execute(sa.delete(links).where(links.c.inbox_id == inbox))

    def put_capacity_policy(self, policy: CapacityPolicy) -> None:
        """Insert or replace the policy with its limits and agents. An agent on another
        capacity policy of the account is moved to this one."""
        self._ids(capacity_policy=policy.id, account=policy.account)
        self.schema.require_column(
            "capacity_policies", "total_limit", policy.total_limit
        )
        for inbox in policy.inbox_limits:
            self._ids(inbox=inbox)
        for agent in policy.agents:
            self._ids(agent=agent)
        s = self.schema
        limits = s.inbox_capacity_limits
        agents = s.capacity_policy_agents
        with self._db.write("put capacity policy") as conn:
            self._account(conn, policy.account)
            _upsert(
                conn,
                s.capacity_policies,
                {"id": policy.id},
                {
                    "account_id": policy.account,
                    "name": policy.name,
                    "description": policy.description,
                    "exclusion_rules": exclusion_rules_to_json(policy.exclusion_rules),
                    "total_limit": policy.total_limit,
                },
            )
            conn.execute(
                sa.delete(limits).where(limits.c.capacity_policy_id == policy.id)
            )
            for inbox in policy.inbox_limits:
                self._ensure_inbox(conn, inbox, policy.account)
            if policy.inbox_limits:
                conn.execute(
                    sa.insert(limits),
                    [
                        {
                            "capacity_policy_id": policy.id,
                            "inbox_id": inbox,
                            "conversation_limit": limit,
                        }
                        for inbox, limit in policy.inbox_limits.items()
                    ],
                )
            conn.execute(
                sa.delete(agents).where(agents.c.capacity_policy_id == policy.id)
            )
            if policy.agents:
                # an agent on another capacity policy (of the account, where the
                # table records it) is moved to this one
                key: dict[str, Any] = {}
                if "account_id" in agents.c:
                    key["account_id"] = policy.account
                members = sorted(policy.agents, key=str)
                conn.execute(
                    sa.delete(agents).where(
                        agents.c.agent_id.in_(members),
                        *(agents.c[k] == v for k, v in key.items()),
                    )
                )
                conn.execute(
                    sa.insert(agents),
                    [
                        {"capacity_policy_id": policy.id, "agent_id": agent, **key}
                        for agent in members
                    ],
                )

    # -- conversations ----------------------------------------------------------------

    def _conversation_values(self, conversation: Conversation) -> dict[str, Any]:
        return {
            "account_id": conversation.account,
            "inbox_id": conversation.inbox,
            "status": self.schema.status.encode(conversation.status),
            "assignee_id": conversation.assignee,
            "team_id": conversation.team,
            "created_at": conversation.created_at,
            "last_activity_at": conversation.last_activity_at,
            "urgency": conversation.urgency,
            "due_at": conversation.due_at,
            # NULL counts 1 (as rows from before revision 7)
            "weight": None if conversation.weight == 1 else conversation.weight,
        }

    def put_conversation(
        self, conversation: Conversation, *, ensure_inbox: bool = True
    ) -> None:
        """Insert or replace ``conversation`` and its labels. ``ensure_inbox`` creates its
        account and inbox first if they are missing (the library's schema has foreign
        keys)."""
        self.put_conversations([conversation], ensure_inbox=ensure_inbox)

    def put_conversations(
        self, conversations: Iterable[Conversation], *, ensure_inbox: bool = True
    ) -> None:
        items = list(conversations)
        for c in items:
            self._ids(
                conversation=c.id,
                inbox=c.inbox,
                account=c.account,
                agent=c.assignee,
                team=c.team,
            )
            if "team_id" not in self.schema.conversations.c and c.team is not None:
                raise ConfigurationError("the conversations table has no team column")
            if c.weight != 1:
                self.schema.require_column("conversations", "weight", c.weight)
        labels = self.schema.label_source
        with self._db.write("put conversations") as conn:
            if ensure_inbox:
                for pair in dict.fromkeys((c.inbox, c.account) for c in items):
                    self._ensure_inbox(conn, *pair)
            if self.schema.tenancy == "inbox":
                self._check_inbox_accounts(conn, items)
            for c in items:
                _upsert(
                    conn,
                    self.schema.conversations,
                    {"id": c.id},
                    {**self._conversation_values(c), **labels.row_value(c.labels)},
                )
                labels.replace(conn, c.id, c.labels)

    def _check_inbox_accounts(
        self, conn: sa.Connection, items: Sequence[Conversation]
    ) -> None:
        """Tenants through the inbox: a conversation's account is its inbox's, so one
        of another account cannot be stored (rolled back with ConfigurationError)."""
        inboxes = self.schema.inboxes
        wanted = list(dict.fromkeys(c.inbox for c in items))
        rows = conn.execute(
            sa.select(inboxes.c.id, inboxes.c.account_id).where(
                inboxes.c.id.in_(wanted)
            )
        )
        accounts = {row.id: row.account_id for row in rows}
        for c in items:
            if c.inbox in accounts and accounts[c.inbox] != c.account:
                raise ConfigurationError(
                    f"conversation {c.id!r} of account {c.account!r} is in inbox "
                    f"{c.inbox!r} of account {accounts[c.inbox]!r} (the conversations "
                    "table has no account column: the account is the inbox's)",
                    field="account_id",
                )

    def update_conversation(
        self, conversation: ConversationId, **changes: Any
    ) -> tuple[Conversation, Conversation]:
        """Change a stored conversation; returns ``(before, after)``."""
        before = self._repository.get(conversation)
        if before is None:
            raise KeyError(conversation)
        after = attrs.evolve(before, **changes)
        self.put_conversation(after, ensure_inbox=False)
        return before, after

    def delete_conversation(self, conversation: ConversationId) -> None:
        if not self.schema.accepts("conversation", conversation):
            return
        conv = self.schema.conversations
        with self._db.write("delete conversation") as conn:
            self.schema.label_source.delete(conn, [conversation])
            conn.execute(sa.delete(conv).where(conv.c.id == conversation))

    def clear_conversations(self) -> None:
        """Delete every conversation and label (tests)."""
        with self._db.write("clear conversations") as conn:
            conv = self.schema.conversations
            self.schema.label_source.delete(conn, sa.select(conv.c.id))
            conn.execute(sa.delete(conv))
