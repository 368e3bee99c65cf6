""":class:`SqlConversationRepository`: the conversations port over SQL tables."""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from autoassign.adapters.sql._db import (
    Database,
    advisory_lock_key,
    quiet_reflection,
    translate_errors,
)
from autoassign.adapters.sql.labels import InRow as _InRow
from autoassign.adapters.sql.schema import SqlSchema
from autoassign.clock import SystemClock
from autoassign.errors import BackendError, ConfigurationError
from autoassign.model import (
    MAX_LABEL_LENGTH,
    NO_DUE_AT,
    WEIGHT_SCALE,
    AgentId,
    Conversation,
    ConversationId,
    ConversationPriority,
    ExclusionRules,
    InboxId,
    Load,
    TeamId,
    id_sort_key,
    stored_due_at,
    stored_load,
    stored_urgency,
    stored_weight,
    text_problem,
)
from autoassign.ports import Clock

if TYPE_CHECKING:
    from autoassign.outbox import OutboxRecord

__all__ = ["SqlConversationRepository"]


class SqlConversationRepository:
    """:class:`~autoassign.ports.ConversationRepository` over ``schema.conversations``
    and ``schema.conversation_labels``.

    Every method is one SQL statement:

    * ``get``: the conversation left-joined to its labels.
    * ``unassigned_open``: filter (open, no assignee, no excluded label via
      ``NOT EXISTS``, ``created_at >= cutoff``), priority order and ``LIMIT`` in SQL,
      then the page joined to its labels.
    * ``open_counts``: one ``GROUP BY assignee_id``.
    * ``claim``: one conditional ``UPDATE ... WHERE id = :id AND assignee_id IS NULL AND
      status = :open [AND (SELECT count(*) ...) < :limit]`` judged by its row count.
      Through a :class:`~autoassign.adapters.sql.SqlEventOutbox` the same statement
      also writes the outbox row: ``WITH claimed AS (UPDATE ... RETURNING id) INSERT
      INTO event_outbox ... SELECT ... FROM claimed RETURNING event_id`` on
      PostgreSQL (still one statement); on SQLite (no DML in a ``WITH``) the UPDATE,
      then the INSERT if it assigned, in one transaction.
    * ``reassign`` (:class:`~autoassign.triggers.Reassigner`, for the legacy path): the
      same, on ``assignee_id = :previous``.

    ``serialize_capacity`` (PostgreSQL only; default on): a claim with a capacity limit
    first takes a transaction-scoped advisory lock on the agent
    (``pg_advisory_xact_lock``), so two claims for the same agent run one after the
    other and the second one's count sees the first one's row. Without it the count
    is read from the UPDATE's own READ COMMITTED snapshot, and two concurrent claims
    for one agent can both see room for one more (the inbox lease normally keeps that
    from happening). SQLite serialises all writes, so needs no lock.

    ``claim_values`` are extra columns set by the claim's UPDATE (physical-name
    independent: use the mapped table's column keys), e.g. ``{"updated_at":
    sa.func.now()}`` for a host that tracks it.

    The conversation id column must be unique on its own. For a mapped host table the
    constructor checks it by reflection (a single-column primary key, unique constraint
    or unique index on it) and raises :class:`~autoassign.errors.ConfigurationError`
    otherwise (``check_key=False`` skips the look-up for a key the host guarantees some
    other way). Independently, a claim whose UPDATE matched more than one row is rolled
    back and raises ConfigurationError: nothing is changed.

    "Open" is :meth:`SqlSchema.open_condition` everywhere (the filters, the claim's
    WHERE and its capacity count, ``get``'s decoding). ``clock`` gives ``now`` for the
    schema's ``open_when`` conditions in ``get``, ``open_counts`` and ``claim``
    (``unassigned_open`` uses the ``now`` it is given).
    """

    def __init__(
        self,
        engine: Engine,
        schema: SqlSchema,
        *,
        claim_values: Mapping[str, Any] | None = None,
        serialize_capacity: bool = True,
        check_key: bool = True,
        clock: Clock | None = None,
    ) -> None:
        if check_key and not schema.owned("conversations"):
            _require_unique_id(engine, schema.conversations)
        self.schema = schema
        self._serialize_capacity = serialize_capacity
        self._db = Database(engine)
        self._claim_values = dict(claim_values or {})
        self._templates: dict[tuple[bool, bool, bool | None, bool], sa.Select[Any]] = {}
        if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
            _listen_for_locks(engine)  # first, so every other listener sees the lock
        self._clock: Clock = clock if clock is not None else SystemClock()
        conv = schema.conversations
        # the account: its column, the single account, or its inbox's (sub-select)
        columns: list[tuple[str, ColumnElement[Any]]] = [
            ("id", conv.c.id),
            ("inbox_id", conv.c.inbox_id),
            ("account_id", schema.account_of("conversations")),
            ("status", conv.c.status),
            ("assignee_id", conv.c.assignee_id),
        ]
        self._has_team = "team_id" in conv.c
        self._has_activity = "last_activity_at" in conv.c
        self._has_urgency = "urgency" in conv.c
        self._has_due = "due_at" in conv.c
        self._has_weight = "weight" in conv.c
        if self._has_team:
            columns.append(("team_id", conv.c.team_id))
        columns.append(("created_at", conv.c.created_at))
        if self._has_activity:
            columns.append(("last_activity_at", conv.c.last_activity_at))
        if self._has_urgency:
            columns.append(("urgency", conv.c.urgency))
        if self._has_due:
            columns.append(("due_at", conv.c.due_at))
        if self._has_weight:
            columns.append(("weight", conv.c.weight))
        # labelled with their logical names, whatever the physical ones are
        self._columns: list[ColumnElement[Any]] = [
            column.label(name) for name, column in columns
        ]

    def _read_columns(self, now: datetime) -> list[ColumnElement[Any]]:
        """The conversation columns, plus ``held`` when the schema has ``open_when``."""
        held = self.schema.held(self.schema.conversations.c, now)
        return self._columns if held is None else [*self._columns, held.label("held")]

    @property
    def engine(self) -> Engine:
        return self._db.engine

    # -- reading rows -----------------------------------------------------------------

    def _conversation(
        self, row: Mapping[str, Any], labels: Iterable[str]
    ) -> Conversation:
        created = row["created_at"]
        return Conversation(
            id=row["id"],
            inbox=row["inbox_id"],
            account=row["account_id"],
            status=self.schema.decode_status(row["status"], row.get("held")),
            assignee=row["assignee_id"],
            team=row["team_id"] if self._has_team else None,
            labels=frozenset(labels),
            created_at=created,
            last_activity_at=row["last_activity_at"] if self._has_activity else created,
            urgency=stored_urgency(row["urgency"]) if self._has_urgency else None,
            due_at=stored_due_at(row["due_at"]) if self._has_due else None,
            weight=stored_weight(row["weight"]) if self._has_weight else 1,
        )

    def _collect(self, rows: Iterable[sa.Row[Any]]) -> list[Conversation]:
        """Rows of (conversation columns..., label) in order -> conversations in order."""
        records: dict[Any, tuple[Any, list[str]]] = {}
        for row in rows:
            mapping = row._mapping
            key = mapping["id"]
            entry = records.get(key)
            if entry is None:
                entry = records[key] = (mapping, [])
            label = mapping["label"]
            # an array strategy: every label of the row in one value
            for value in label if isinstance(label, list) else (label,):
                # a label that is not valid text (a host's row) can match no rule
                if isinstance(value, str) and not text_problem(
                    value, max_length=MAX_LABEL_LENGTH
                ):
                    entry[1].append(value)
        return [self._conversation(m, labels) for m, labels in records.values()]

    # -- the port ---------------------------------------------------------------------

    def get(self, conversation: ConversationId) -> Conversation | None:
        if not self.schema.accepts("conversation", conversation):
            return None
        conv = self.schema.conversations
        joined, label = self.schema.label_source.outer(conv, conv.c.id)
        stmt = (
            sa.select(*self._read_columns(self._clock.now()), label.label("label"))
            .select_from(joined)
            .where(conv.c.id == conversation)
        )
        with self._db.read("get conversation") as conn:
            found = self._collect(conn.execute(stmt))
        return found[0] if found else None

    def _order(
        self, columns: Any, priority: ConversationPriority, dialect: sa.Dialect
    ) -> list[tuple[ColumnElement[Any], Callable[[Conversation], Any]]]:
        """The ``ORDER BY`` of ``priority``, each expression with the value a
        conversation has for it (keyset paging). Without the column an order needs (no
        activity, urgency or due time mapped), every row ties on it, so it is left
        out."""
        keys: list[tuple[ColumnElement[Any], Callable[[Conversation], Any]]] = []
        if priority is ConversationPriority.LONGEST_WAITING and self._has_activity:
            keys.append((columns.last_activity_at, lambda c: c.last_activity_at))
        if priority is ConversationPriority.EARLIEST_DUE and self._has_due:
            keys.append(
                (
                    self.schema.due_order(columns),
                    lambda c: NO_DUE_AT if c.due_at is None else c.due_at,
                )
            )
        if (
            priority
            in {ConversationPriority.HIGHEST_URGENCY, ConversationPriority.EARLIEST_DUE}
            and self._has_urgency
        ):
            keys.append((self.schema.urgency_order(columns), lambda c: c.urgency_rank))
        ident = self.schema.order_key("conversation", columns.id, dialect)
        return [
            *keys,
            (columns.created_at, lambda c: c.created_at),
            (ident, lambda c: c.id),
        ]

    def _priority(
        self, columns: Any, priority: ConversationPriority, dialect: sa.Dialect
    ) -> list[ColumnElement[Any]]:
        """The ``ORDER BY`` expressions of ``priority`` (:meth:`_order`)."""
        return [expression for expression, _ in self._order(columns, priority, dialect)]

    def _after(
        self,
        columns: Any,
        priority: ConversationPriority,
        dialect: sa.Dialect,
        after: Conversation,
    ) -> ColumnElement[bool]:
        """Keyset paging: the row value of the priority order is after ``after``'s."""
        order = self._order(columns, priority, dialect)
        return sa.tuple_(*(expression for expression, _ in order)) > sa.tuple_(
            *(
                sa.literal(value(after), type_=expression.type)
                for expression, value in order
            )
        )

    def unassigned_open(
        self,
        inbox: InboxId,
        *,
        limit: int,
        priority: ConversationPriority,
        exclusions: ExclusionRules,
        now: datetime,
        after: Conversation | None = None,
        exclude_teams: Collection[TeamId] = (),
    ) -> Sequence[Conversation]:
        if limit <= 0 or not self.schema.accepts("inbox", inbox):
            return ()
        conv = self.schema.conversations
        source = self.schema.label_source
        dialect = self.engine.dialect
        conditions: list[ColumnElement[bool]] = [
            conv.c.inbox_id == inbox,
            self.schema.open_condition(conv.c, now),
            conv.c.assignee_id.is_(None),
        ]
        cutoff = exclusions.cutoff(now)
        if cutoff is not None:
            conditions.append(conv.c.created_at >= cutoff)
        if exclusions.excluded_labels:
            conditions.append(
                ~source.excluded(conv.c.id, conv.c, exclusions.excluded_labels)
            )
        if after is not None:
            conditions.append(self._after(conv.c, priority, dialect, after))
        teams = [t for t in exclude_teams if self.schema.accepts("team", t)]
        if teams and self._has_team:
            conditions.append(
                sa.or_(
                    conv.c.team_id.is_(None),
                    conv.c.team_id.not_in(sorted(teams, key=id_sort_key)),
                )
            )
        in_row = [conv.c[source.column.key]] if isinstance(source, _InRow) else []
        page = (
            sa.select(*self._read_columns(now), *in_row)
            .where(*conditions)
            .order_by(*self._priority(conv.c, priority, dialect))
            .limit(limit)
            .cte("page")
        )
        joined, label = source.outer(page, page.c.id)
        stmt = (
            sa.select(*page.c, label.label("label"))
            .select_from(joined)
            .order_by(*self._priority(page.c, priority, dialect), label)
        )
        with self._db.read("unassigned open conversations") as conn:
            return tuple(self._collect(conn.execute(stmt)))

    def open_counts(
        self, inbox: InboxId, agents: Collection[AgentId]
    ) -> Mapping[AgentId, Load]:
        wanted = [agent for agent in set(agents) if self.schema.accepts("agent", agent)]
        if not wanted or not self.schema.accepts("inbox", inbox):
            return {}
        conv = self.schema.conversations
        stmt = (
            sa.select(conv.c.assignee_id, self._held_sum(conv.c).label("n"))
            .where(
                conv.c.inbox_id == inbox,
                self.schema.open_condition(conv.c, self._clock.now()),
                conv.c.assignee_id.in_(wanted),
            )
            .group_by(conv.c.assignee_id)
        )
        with self._db.read("open counts") as conn:
            return {row.assignee_id: stored_load(row.n) for row in conn.execute(stmt)}

    def _held_sum(self, columns: Any) -> ColumnElement[Any]:
        """``count(*)``, or with a weight column the sum of the rows' weights."""
        if not self._has_weight:
            return sa.func.count()
        return sa.func.coalesce(
            sa.func.sum(self.schema.weight_of(columns)),
            sa.literal_column("0", sa.Integer()),
        )

    def _has_room(
        self,
        other: Any,
        where: Sequence[ColumnElement[bool]],
        limit: ColumnElement[Any] | int,
    ) -> ColumnElement[bool]:
        """The claim's capacity condition over the rows of ``other`` (an alias of the
        conversations table) matching ``where``: fewer than ``limit`` of them, or with
        a weight column, room for the claimed row's weight beside theirs (compared in
        thousandths, so a float column cannot drift past the limit)."""
        held = (
            sa.select(self._held_sum(other.c))
            .select_from(other)
            .where(*where)
            .scalar_subquery()
        )
        if not self._has_weight:
            return held < limit
        mine = self.schema.weight_of(self.schema.conversations.c)
        return sa.func.round((held + mine) * WEIGHT_SCALE) <= limit * WEIGHT_SCALE

    def claim_statement(
        self,
        conversation: ConversationId,
        agent: AgentId,
        *,
        capacity_limit: int | None = None,
        expected: Conversation | None = None,
        total_limit: int | None = None,
    ) -> sa.Update:
        """The claim's conditional UPDATE (exposed for inspection and docs). With
        ``expected`` (:meth:`claim_checked`) it also requires the row to be still in
        ``expected.inbox`` and of ``expected.team``; with ``total_limit``, fewer than
        that many open conversations of ``agent`` across the account's inboxes."""
        conv = self.schema.conversations
        now = self._clock.now()
        conditions: list[ColumnElement[bool]] = [
            conv.c.id == conversation,
            conv.c.assignee_id.is_(None),
            self.schema.open_condition(conv.c, now),
        ]
        if expected is not None:
            conditions.append(conv.c.inbox_id == expected.inbox)
            if self._has_team:
                conditions.append(
                    conv.c.team_id.is_(None)
                    if expected.team is None
                    else conv.c.team_id == expected.team
                )
        if capacity_limit is not None:
            other = conv.alias("c2")
            conditions.append(
                self._has_room(
                    other,
                    [
                        other.c.inbox_id == conv.c.inbox_id,
                        other.c.assignee_id == agent,
                        self.schema.open_condition(other.c, now),
                    ],
                    capacity_limit,
                )
            )
        if total_limit is not None:
            conditions.append(
                self._total_room(
                    agent, lambda c: self.schema.open_condition(c, now), total_limit
                )
            )
        return (
            sa.update(conv)
            .where(*conditions)
            .values({"assignee_id": agent, **self._claim_values})
        )

    def _total_room(
        self,
        agent: Any,
        is_open: Callable[[Any], ColumnElement[bool]],
        limit: ColumnElement[Any] | int,
    ) -> ColumnElement[bool]:
        """:meth:`_has_room` over ``agent``'s open conversations in every inbox of the
        claimed row's account (``is_open``: the open condition over an alias's
        columns)."""
        conv = self.schema.conversations
        other = conv.alias("c3")
        conditions = [other.c.assignee_id == agent, is_open(other.c)]
        if "account_id" in conv.c:
            conditions.append(other.c.account_id == conv.c.account_id)
        elif self.schema.single_account is None:
            # tenants through the inbox: the inboxes of the claimed row's account
            own, same = (
                self.schema.inboxes.alias("i_own"),
                self.schema.inboxes.alias("i3"),
            )
            account = (
                sa.select(own.c.account_id)
                .where(own.c.id == conv.c.inbox_id)
                .correlate(conv)
                .scalar_subquery()
            )
            conditions.append(
                other.c.inbox_id.in_(
                    sa.select(same.c.id).where(same.c.account_id == account)
                )
            )
        return self._has_room(other, conditions, limit)

    def previous_agents(
        self,
        account: Any,
        conversations: Sequence[Conversation],
        *,
        since: datetime,
    ) -> Mapping[ConversationId, AgentId]:
        """:class:`~autoassign.ports.ContactHistory` over ``conversations.contact_id``
        (sticky agents): one statement for the page, a self-join on the contact (the
        index ``(contact_id, created_at)`` serves it), the newest match kept per
        conversation. :class:`ConfigurationError` when the column is not mapped."""
        conv = self.schema.conversations
        if "contact_id" not in conv.c:
            raise ConfigurationError(
                "conversations.contact_id is not mapped: map the contact column "
                "(TableMap('conversations', {'contact_id': ...})) for sticky agents",
                field="conversations.contact_id",
            )
        ids = [c.id for c in conversations if self.schema.accepts("conversation", c.id)]
        if not ids or not self.schema.allows_account(account):
            return {}
        prev = conv.alias("prev")
        conditions: list[ColumnElement[bool]] = [
            conv.c.id.in_(ids),
            prev.c.contact_id == conv.c.contact_id,
            prev.c.id != conv.c.id,
            prev.c.assignee_id.is_not(None),
            prev.c.created_at >= sa.literal(since, type_=conv.c.created_at.type),
            self.schema.account_is("conversations", account),
        ]
        if "account_id" in conv.c:
            conditions.append(prev.c.account_id == conv.c.account_id)
        stmt = sa.select(
            conv.c.id.label("current"),
            prev.c.assignee_id,
            prev.c.created_at,
            prev.c.id.label("previous"),
        ).where(*conditions)
        best: dict[ConversationId, tuple[Any, tuple[int, int | str], AgentId]] = {}
        with self._db.read("previous agents") as conn:
            for row in conn.execute(stmt):
                key = (row.created_at, id_sort_key(row.previous))
                found = best.get(row.current)
                if found is None or key > found[:2]:
                    best[row.current] = (*key, row.assignee_id)
        return {current: found[2] for current, found in best.items()}

    def open_totals(
        self, account: Any, agents: Collection[AgentId]
    ) -> Mapping[AgentId, Load]:
        """:class:`~autoassign.ports.TotalCapacity`: one ``GROUP BY assignee_id`` over
        the account's open conversations (the index on ``(assignee_id, status)``
        serves it)."""
        wanted = [agent for agent in set(agents) if self.schema.accepts("agent", agent)]
        if not wanted or not self.schema.allows_account(account):
            return {}
        conv = self.schema.conversations
        stmt = (
            sa.select(conv.c.assignee_id, self._held_sum(conv.c).label("n"))
            .where(
                self.schema.account_is("conversations", account),
                self.schema.open_condition(conv.c, self._clock.now()),
                conv.c.assignee_id.in_(wanted),
            )
            .group_by(conv.c.assignee_id)
        )
        with self._db.read("open totals") as conn:
            return {row.assignee_id: stored_load(row.n) for row in conn.execute(stmt)}

    def outbox_insert(self, record: OutboxRecord) -> sa.Insert:
        """``INSERT INTO event_outbox`` of ``record``; on PostgreSQL and SQLite
        ``ON CONFLICT DO NOTHING``, so staging a record again is a no-op."""
        outbox, values = self.schema.event_outbox, self._outbox_values(record)
        name = self.engine.dialect.name
        if name in {"postgresql", "sqlite"}:
            dialect_insert = (
                postgresql.insert if name == "postgresql" else sqlite.insert
            )
            return dialect_insert(outbox).values(values).on_conflict_do_nothing()
        return sa.insert(outbox).values(values)

    @staticmethod
    def _outbox_values(record: OutboxRecord) -> dict[str, Any]:
        return {
            "conversation_id": record.conversation,
            "event_id": record.id,
            "inbox_id": record.inbox,
            "agent_id": record.agent,
            "policy_id": record.policy,
            "selector": record.selector,
            "occurred_at": record.occurred_at,
        }

    def _recording_statement(self, claim: sa.Update, record: OutboxRecord) -> sa.Insert:
        """PostgreSQL: ``WITH claimed AS (UPDATE ... RETURNING id) INSERT INTO
        event_outbox ... SELECT ... FROM claimed RETURNING event_id``."""
        outbox = self.schema.event_outbox
        claimed = claim.returning(self.schema.conversations.c.id.label("id")).cte(
            "claimed"
        )
        values = self._outbox_values(record)
        del values["conversation_id"]
        columns = ["conversation_id", *values]
        rows = sa.select(
            claimed.c.id,
            *(sa.literal(v, outbox.c[k].type) for k, v in values.items()),
        )
        return (
            sa.insert(outbox)
            .from_select(columns, rows)
            .add_cte(claimed)
            .returning(outbox.c.event_id)
        )

    def _guarded_statement(self, claim: sa.Update) -> sa.Select[Any]:
        """PostgreSQL: the claim as ``WITH claimed AS (UPDATE ... RETURNING id) SELECT
        id FROM claimed``, failing (so nothing is changed, even in autocommit) when it
        matched more than one row."""
        claimed = claim.returning(self.schema.conversations.c.id.label("id")).cte(
            "claimed"
        )
        matched = sa.select(sa.func.count()).select_from(claimed).scalar_subquery()
        # Not a constant, so the planner cannot fold it: it fails only when evaluated.
        guard = sa.case(
            (
                matched > 1,
                sa.cast(sa.func.concat(_NOT_UNIQUE, matched, " rows"), sa.Integer),
            ),
            else_=0,
        )
        return sa.select(claimed.c.id, guard.label("guard"))

    def _claim_template(
        self, *, capacity: bool, expected: Conversation | None, total: bool = False
    ) -> sa.Select[Any]:
        """The guarded claim with bound parameters (``claim_id``, ``claim_agent``,
        ``claim_limit``, ``claim_inbox``, ``claim_team``, ``claim_total``), built once
        per shape, so SQLAlchemy's compiled cache serves every later claim (only
        without ``open_when`` conditions, which depend on ``now``)."""
        team = None if expected is None or not self._has_team else expected.team is None
        key = (capacity, expected is not None, team, total)
        found = self._templates.get(key)
        if found is not None:
            return found
        conv = self.schema.conversations
        agent = sa.bindparam("claim_agent", type_=conv.c.assignee_id.type)
        conditions: list[ColumnElement[bool]] = [
            conv.c.id == sa.bindparam("claim_id", type_=conv.c.id.type),
            conv.c.assignee_id.is_(None),
            self.schema.status_is_open(conv.c),
        ]
        if expected is not None:
            conditions.append(
                conv.c.inbox_id
                == sa.bindparam("claim_inbox", type_=conv.c.inbox_id.type)
            )
            if team is not None:
                conditions.append(
                    conv.c.team_id.is_(None)
                    if team
                    else conv.c.team_id
                    == sa.bindparam("claim_team", type_=conv.c.team_id.type)
                )
        if capacity:
            other = conv.alias("c2")
            conditions.append(
                self._has_room(
                    other,
                    [
                        other.c.inbox_id == conv.c.inbox_id,
                        other.c.assignee_id == agent,
                        self.schema.status_is_open(other.c),
                    ],
                    sa.bindparam("claim_limit", type_=sa.Integer),
                )
            )
        if total:
            conditions.append(
                self._total_room(
                    agent,
                    self.schema.status_is_open,
                    sa.bindparam("claim_total", type_=sa.Integer),
                )
            )
        update = (
            sa.update(conv)
            .where(*conditions)
            .values({"assignee_id": agent, **self._claim_values})
        )
        template = self._templates[key] = self._guarded_statement(update)
        return template

    def _claim_postgres(
        self,
        conversation: ConversationId,
        statement: sa.Select[Any] | sa.Insert,
        params: dict[str, Any] | None,
        *,
        lock: int | None,
    ) -> bool | None:
        """The claim in one round trip on PostgreSQL: one statement in autocommit, and
        with ``lock`` the advisory lock taken by a first statement sent in the same
        message (an implicit transaction holds the lock until the UPDATE commits, and
        the UPDATE's snapshot is taken after the lock is granted, so its capacity count
        sees every earlier claim). ``None``: not possible with this driver (the caller
        uses a transaction)."""
        with self._db.autocommit("claim conversation") as conn:
            if lock is not None and conn.dialect.driver != "psycopg":
                return None
            try:
                rows = (
                    conn.execute(statement, params).all()
                    if lock is None
                    else _locked_rows(conn, statement, params, lock)
                )
            except sa.exc.DBAPIError as exc:
                found = re.search(f"{_NOT_UNIQUE}([0-9]+)", str(exc.orig))
                if found is None:
                    raise
                raise ConfigurationError(
                    f"claim of conversation {conversation!r} matched "
                    f"{found.group(1)} rows: the mapped conversation id column is "
                    "not unique; nothing was changed",
                    field="conversations.id",
                ) from exc
        return len(rows) == 1

    def _claim_recording(
        self, conn: sa.Connection, claim: sa.Update, record: OutboxRecord
    ) -> bool:
        """Run ``claim`` and write ``record`` to the outbox iff it assigned, in this
        transaction (one statement on PostgreSQL)."""
        if conn.dialect.name != "postgresql":
            if conn.execute(claim).rowcount != 1:
                return False
            conn.execute(self.outbox_insert(record))
            return True
        # RETURNING, not the row count: the driver's count of an INSERT ... SELECT
        # with a data-modifying WITH is not reliable.
        return (
            conn.execute(self._recording_statement(claim, record)).first() is not None
        )

    def claim(
        self,
        conversation: ConversationId,
        agent: AgentId,
        *,
        capacity_limit: int | None = None,
        record: OutboxRecord | None = None,
        total_limit: int | None = None,
    ) -> bool:
        """The port's claim; with ``record`` (an
        :class:`~autoassign.adapters.sql.SqlEventOutbox` passes it) the outbox row is
        written in the same statement (PostgreSQL) or transaction (SQLite). With
        ``total_limit`` (:class:`~autoassign.ports.TotalCapacity`) the UPDATE also
        counts the agent's open conversations across the account's inboxes."""
        return self._claim(
            conversation,
            agent,
            capacity_limit=capacity_limit,
            record=record,
            total_limit=total_limit,
        )

    def claim_checked(
        self,
        expected: Conversation,
        agent: AgentId,
        *,
        capacity_limit: int | None = None,
        record: OutboxRecord | None = None,
        total_limit: int | None = None,
    ) -> bool:
        """:class:`~autoassign.ports.CheckedClaims`: :meth:`claim` of ``expected.id``
        whose UPDATE also requires ``inbox_id = expected.inbox`` and the team of
        ``expected``, so the pass claims its page's rows without reading each first."""
        if not self.schema.accepts("inbox", expected.inbox) or (
            expected.team is not None and not self.schema.accepts("team", expected.team)
        ):
            return False
        return self._claim(
            expected.id,
            agent,
            capacity_limit=capacity_limit,
            record=record,
            expected=expected,
            total_limit=total_limit,
        )

    def _claim(
        self,
        conversation: ConversationId,
        agent: AgentId,
        *,
        capacity_limit: int | None,
        record: OutboxRecord | None,
        expected: Conversation | None = None,
        total_limit: int | None = None,
    ) -> bool:
        if not (
            self.schema.accepts("conversation", conversation)
            and self.schema.accepts("agent", agent)
        ):
            return False
        if any(
            limit is not None and limit <= 0 for limit in (capacity_limit, total_limit)
        ):
            return False

        def built() -> sa.Update:
            return self.claim_statement(
                conversation,
                agent,
                capacity_limit=capacity_limit,
                expected=expected,
                total_limit=total_limit,
            )

        # one lock per agent: claims for the same agent in any inbox run in turn
        lock = (
            advisory_lock_key("claim", agent)
            if (capacity_limit is not None or total_limit is not None)
            and self._serialize_capacity
            else None
        )
        if self._db.autocommit_writes:
            statement: sa.Select[Any] | sa.Insert
            params: dict[str, Any] | None = None
            if record is not None:
                statement = self._recording_statement(built(), record)
            elif self.schema.open_when:
                statement = self._guarded_statement(built())
            else:
                statement = self._claim_template(
                    capacity=capacity_limit is not None,
                    expected=expected,
                    total=total_limit is not None,
                )
                params = {"claim_id": conversation, "claim_agent": agent}
                if capacity_limit is not None:
                    params["claim_limit"] = capacity_limit
                if total_limit is not None:
                    params["claim_total"] = total_limit
                if expected is not None:
                    params["claim_inbox"] = expected.inbox
                    if expected.team is not None:
                        params["claim_team"] = expected.team
            done = self._claim_postgres(conversation, statement, params, lock=lock)
            if done is not None:
                return done
        stmt = built()
        with self._db.write("claim conversation") as conn:
            if lock is not None and conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.literal(lock))))
            if record is not None:
                return self._claim_recording(conn, stmt, record)
            result = conn.execute(stmt)
            if result.rowcount > 1:  # raising rolls the UPDATE back
                raise ConfigurationError(
                    f"claim of conversation {conversation!r} matched "
                    f"{result.rowcount} rows: the mapped conversation id column "
                    "is not unique; nothing was changed",
                    field="conversations.id",
                )
            return result.rowcount == 1

    def reassign(
        self, conversation: ConversationId, agent: AgentId, *, previous: AgentId
    ) -> bool:
        """:class:`~autoassign.triggers.Reassigner` (the legacy path only): one
        ``UPDATE ... WHERE id = :id AND assignee_id = :previous AND status = :open``,
        judged by its row count."""
        if not (
            self.schema.accepts("conversation", conversation)
            and self.schema.accepts("agent", agent)
            and self.schema.accepts("agent", previous)
        ):
            return False
        conv = self.schema.conversations
        stmt = (
            sa.update(conv)
            .where(
                conv.c.id == conversation,
                conv.c.assignee_id == previous,
                self.schema.open_condition(conv.c, self._clock.now()),
            )
            .values({"assignee_id": agent, **self._claim_values})
        )
        with self._db.write("reassign conversation") as conn:
            return conn.execute(stmt).rowcount == 1


_NOT_UNIQUE = "autoassign: the claim matched "


def _locked_rows(
    conn: sa.Connection,
    statement: sa.Select[Any] | sa.Insert,
    params: dict[str, Any] | None,
    lock: int,
) -> list[Any]:
    """``SELECT pg_advisory_xact_lock(:lock); <statement>`` sent as one message (simple
    query protocol, parameters bound by psycopg's ``ClientCursor``), on a connection
    in autocommit: one round trip, one implicit transaction. The rows of
    ``statement``. SQLAlchemy compiles (and caches) ``statement`` as usual;
    :func:`_prefix_lock` adds the lock to the text it sends."""
    import psycopg  # noqa: PLC0415 - only with the psycopg driver

    _listen_for_locks(conn.engine)
    driver = conn.connection.dbapi_connection
    saved = driver.cursor_factory  # type: ignore[union-attr]
    driver.cursor_factory = psycopg.ClientCursor  # type: ignore[union-attr]
    try:
        result = conn.execute(statement, params, execution_options={_LOCK_OPTION: lock})
    finally:
        driver.cursor_factory = saved  # type: ignore[union-attr]
    try:
        cursor = result.cursor
        if not cursor.nextset():
            raise BackendError("claim conversation: no result for the claim")
        return list(cursor.fetchall())
    finally:
        result.close()


def _prefix_lock(  # noqa: PLR0917 - SQLAlchemy's event signature
    conn: sa.Connection,
    cursor: Any,
    statement: str,
    parameters: Any,
    context: Any,
    executemany: bool,
) -> tuple[str, Any]:
    """``before_cursor_execute``: a statement run with the lock option gets the lock
    statement in front of it (see :func:`_locked_rows`)."""
    lock = None if context is None else context.execution_options.get(_LOCK_OPTION)
    if lock is None or not isinstance(parameters, Mapping):
        return statement, parameters
    return (
        f"SELECT pg_advisory_xact_lock(%({_LOCK_PARAM})s); {statement}",
        {**parameters, _LOCK_PARAM: lock},
    )


_LISTENING: weakref.WeakSet[Engine] = weakref.WeakSet()


def _listen_for_locks(engine: Engine) -> None:
    if engine not in _LISTENING:
        event.listen(
            engine, "before_cursor_execute", _prefix_lock, retval=True, insert=True
        )
        _LISTENING.add(engine)


_LOCK_OPTION = "autoassign_claim_lock"
_LOCK_PARAM = "autoassign_claim_lock"


def _require_unique_id(engine: Engine, table: sa.Table) -> None:
    """Refuse a mapped conversations table whose id column is not unique on its own."""
    column = table.c.id.name
    with translate_errors("check the conversation key"), quiet_reflection():
        inspector = sa.inspect(engine)
        if not inspector.has_table(table.name, schema=table.schema):
            raise ConfigurationError(
                f"the mapped conversations table {table.name!r} does not exist",
                field="conversations",
            )
        keys: list[Sequence[Any]] = [
            inspector.get_pk_constraint(table.name, schema=table.schema).get(
                "constrained_columns"
            )
            or []
        ]
        keys += [
            unique["column_names"]
            for unique in inspector.get_unique_constraints(
                table.name, schema=table.schema
            )
        ]
        keys += [
            index["column_names"]
            for index in inspector.get_indexes(table.name, schema=table.schema)
            if index.get("unique")
            and not any(  # a partial unique index is not a key
                option.endswith("_where") for option in index.get("dialect_options", {})
            )
        ]
    if [column] not in [list(key) for key in keys]:
        raise ConfigurationError(
            f"{table.name}.{column} (the conversation id) has no primary key or "
            "unique constraint of its own: a claim could update several rows "
            "(a per-account number such as Chatwoot's display_id is not a key; "
            "map the table's primary key)",
            field="conversations.id",
        )
