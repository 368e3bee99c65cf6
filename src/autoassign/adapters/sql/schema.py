"""The tables the SQL adapter reads and writes, and how they map onto a host's schema.

:class:`SqlSchema` builds one SQLAlchemy :class:`~sqlalchemy.Table` per *logical* table
(``conversations``, ``inbox_members``, ...). Every column is addressed by its logical
name (``table.c.assignee_id``) whatever its physical name is, so the queries never
change; a :class:`TableMap` renames a table and its columns to fit a host's existing
schema. Tables the library owns are created by :meth:`SqlSchema.create_all`; mapped host
tables are never created or altered.

Ids (see :class:`IdKind`): ``int`` columns hold Python ints, ``str`` columns hold
Python strs, ``mixed`` columns hold both (encoded as sortable text). Ordering by id
always follows :func:`autoassign.model.id_sort_key`.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator, TypeEngine

from autoassign.adapters.sql.labels import (
    ArrayLabels,
    LabelSource,
    TaggingLabels,
    array_column,
    join_table,
)
from autoassign.errors import ConfigurationError
from autoassign.model import (
    NO_DUE_AT,
    AssignmentOrder,
    AssignmentPolicy,
    ConversationPriority,
    ConversationStatus,
    Id,
    stored_routing_seconds,
    stored_skill_routing,
    text_problem,
)

if TYPE_CHECKING:
    from autoassign.admin.store import PolicyValues

__all__ = [
    "DEFAULT_ORDER_ENCODING",
    "DEFAULT_PRIORITY_ENCODING",
    "DEFAULT_STATUS_ENCODING",
    "ENTITIES",
    "HEAD_REVISION",
    "LOGICAL_TABLES",
    "ROUTING_COLUMNS",
    "EnumEncoding",
    "IdKind",
    "OpenCondition",
    "SqlSchema",
    "TableMap",
    "UtcDateTime",
]

E = TypeVar("E", bound=enum.Enum)

HEAD_REVISION = 8
"""The library schema's current revision: one per schema change, each with its Alembic
migration in ``autoassign/adapters/sql/migrations/versions`` (``0001``, ``0002``, ...).
1: the first schema; 2: a unique ``(account_id, name)`` index on
``assignment_policies``; 3: the ``event_outbox`` table (``SqlEventOutbox``); 4:
``inbox_capacity_limits.conversation_limit`` nullable (``NULL``: an unlimited link); 5:
the partial index ``ix_<conversations>_unassigned_earliest`` (the earliest-created page
read in index order); 6: ``conversations.urgency`` and ``conversations.due_at`` with
the partial indexes of the ``highest_urgency`` and ``earliest_due`` orders, the index
``(assignee_id, status)`` (an agent's open conversations across inboxes),
``conversations.contact_id`` with its index ``(contact_id, created_at)`` (sticky
agents) and ``capacity_policies.total_limit``; 7: ``conversations.weight`` (weighted
capacity, ``NULL``: 1); 8: ``assignment_policies.sticky_window``, ``skill_routing`` and
``skill_relax_after`` (a policy's routing settings, ``NULL``: as wired)."""

_NULLABLE_LIMIT_SINCE = 4
"""The revision from which ``conversation_limit`` may be ``NULL`` (an unlimited link)."""

_EARLIEST_INDEX_SINCE = 5
"""The revision that added the partial earliest-created index of the unassigned open
conversations."""

_URGENCY_SINCE = 6
"""The revision that added ``conversations.urgency`` and ``conversations.due_at``."""

_WEIGHT_SINCE = 7
"""The revision that added ``conversations.weight``."""

_ROUTING_SINCE = 8
"""The revision that added the routing settings of ``assignment_policies``."""

ROUTING_COLUMNS = ("sticky_window", "skill_routing", "skill_relax_after")
"""The ``assignment_policies`` columns of a policy's routing settings (revision 8;
optional: a host's table has them only when mapped)."""

_TABLE_SINCE = {"event_outbox": 3}
"""The revision that added each table added after the first schema."""

_MIN_INT = -(2**63)
_MAX_INT = 2**63 - 1
_ID_LENGTH = 255


class IdKind(str, enum.Enum):
    """How ids of one entity are stored.

    ``INT``: a ``BIGINT`` column; only ``int`` ids (64-bit) are representable.
    ``STR``: a ``VARCHAR(255)`` column (``COLLATE "C"`` on PostgreSQL so that it sorts by
    code point like Python); only ``str`` ids are representable.
    ``MIXED``: a ``VARCHAR(255)`` column holding ``int`` and ``str`` ids, encoded as
    ``i<20 digits>`` / ``s<text>`` so that the text order is :func:`id_sort_key`'s.
    ``UUID``: a native ``uuid`` column on PostgreSQL (``CHAR(36)`` elsewhere); the ids
    are ``str`` in canonical form (lowercase, hyphenated: ``str(uuid.UUID(x)) == x``),
    which sorts as the database sorts the uuids.
    A string id must also be valid text (:func:`autoassign.model.text_problem`: no NUL,
    control character or lone surrogate). An id a column cannot represent is treated
    as missing by every read (``None``, empty, ``False``; never sent to the database)
    and rejected with ConfigurationError by the writers.
    """

    INT = "int"
    STR = "str"
    MIXED = "mixed"
    UUID = "uuid"

    def accepts(self, value: object) -> bool:
        if isinstance(value, bool):
            return False
        if self is IdKind.UUID:
            return isinstance(value, str) and _canonical_uuid(value)
        if self is IdKind.INT:
            return isinstance(value, int) and _MIN_INT <= value <= _MAX_INT
        if isinstance(value, int):
            return self is not IdKind.STR and _MIN_INT <= value <= _MAX_INT
        if not isinstance(value, str):
            return False
        # mixed ids carry a one-character prefix in the same column
        longest = _ID_LENGTH if self is IdKind.STR else _ID_LENGTH - 1
        return text_problem(value, max_length=longest, allow_empty=True) is None

    @property
    def is_text(self) -> bool:
        """Stored as text that sorts by code point with ``COLLATE "C"``."""
        return self in (IdKind.STR, IdKind.MIXED)


def _canonical_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


ENTITIES = (
    "account",
    "inbox",
    "agent",
    "team",
    "conversation",
    "policy",
    "capacity_policy",
    "limit",
)
"""The entities whose id kind :class:`SqlSchema` lets you choose."""


class _IntId(TypeDecorator[Any]):
    impl = sa.BigInteger
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":  # INTEGER PRIMARY KEY is the rowid (autoincrement)
            return dialect.type_descriptor(sa.Integer())
        return dialect.type_descriptor(sa.BigInteger())

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else int(value)


class _StrId(TypeDecorator[Any]):
    impl = sa.String(_ID_LENGTH)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.String(_ID_LENGTH, collation="C"))
        return dialect.type_descriptor(sa.String(_ID_LENGTH))


def _encode_mixed(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"i{value - _MIN_INT:020d}"
    return f"s{value}"


def _decode_mixed(value: str) -> Id:
    if value.startswith("i"):
        return int(value[1:]) + _MIN_INT
    if value.startswith("s"):
        return value[1:]
    raise ValueError(f"not a mixed id: {value!r}")


class _MixedId(_StrId):
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else _encode_mixed(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else _decode_mixed(value)


def _new_text_id() -> str:
    """A random hex id that is never all digits (an id of only ASCII digits would
    come back from a URL or JSON as an int; see ``autoassign.admin.coerce_id``)."""
    while True:
        value = uuid.uuid4().hex
        if not value.isdigit():
            return value


class _UuidId(TypeDecorator[Any]):
    impl = sa.String(36)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.UUID(as_uuid=False))
        return dialect.type_descriptor(sa.String(36))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else str(value)


def id_type(kind: IdKind) -> TypeEngine[Any]:
    """The column type of ids of ``kind``."""
    if kind is IdKind.INT:
        return _IntId()
    if kind is IdKind.UUID:
        return _UuidId()
    if kind is IdKind.STR:
        return _StrId()
    return _MixedId()


OpenCondition = Callable[[Any, datetime], ColumnElement[bool]]
"""An ``open_when`` condition: ``(columns, now) -> SQL boolean``."""


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out.

    ``naive=False`` (the default): ``TIMESTAMP WITH TIME ZONE`` where the database has
    it. ``naive=True``: a ``TIMESTAMP WITHOUT TIME ZONE`` column holding UTC (Rails'
    and Django's ``USE_TZ=False`` convention). SQLite always stores naive UTC text.
    """

    impl = sa.DateTime
    cache_ok = True

    def __init__(self, naive: bool = False) -> None:
        super().__init__(timezone=not naive)
        self.naive = naive

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ConfigurationError("datetimes must be timezone-aware")
        utc = value.astimezone(timezone.utc)
        if self.naive or dialect.name == "sqlite":
            return utc.replace(tzinfo=None)
        return utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def policy_name_key(table_name: str) -> str:
    """The name of the unique ``(account_id, name)`` index of the assignment policies
    table ``table_name``."""
    return f"ux_{table_name}_account_id_name"


Stored = str | int
"""One stored enum value."""


def _frozen_values(
    values: Mapping[E, Stored | Sequence[Stored]],
) -> Mapping[E, tuple[Stored, ...]]:
    frozen: dict[E, tuple[Stored, ...]] = {}
    for member, given in values.items():
        stored = (given,) if isinstance(given, str | int) else tuple(given)
        if not stored:
            raise ConfigurationError(f"{member!r} maps to no stored value")
        frozen[member] = stored
    return frozen


def _encode_field(field: str, encoding: EnumEncoding[E], member: E) -> Stored:
    """``encoding.encode(member)``, or a :class:`ConfigurationError` naming ``field``
    and what its column can store (an order or priority the host's enum lacks)."""
    try:
        return encoding.encode(member)
    except ConfigurationError:
        known = ", ".join(str(getattr(m, "value", m)) for m in encoding.values)
        raise ConfigurationError(
            f"{field} {getattr(member, 'value', member)!r} cannot be stored: the "
            f"mapped column stores only {known} (give it a stored value in "
            f"SqlSchema({field}=EnumEncoding(...)))",
            field=field,
        ) from None


@attrs.frozen
class EnumEncoding(Generic[E]):
    """How an enum is stored: ``values`` maps each member to its stored ``str`` or
    ``int``, or to a sequence of them when several stored values mean that member (a
    host with two "open" statuses): every one of them decodes to the member and the
    queries match all of them, and the first is what the library writes. (``values``
    holds a tuple per member.) A stored value not in the map decodes to ``fallback`` (if
    given) or raises :class:`~autoassign.errors.ConfigurationError`. Members missing
    from the map can never be written (reading them is fine)."""

    values: Mapping[E, tuple[Stored, ...]] = attrs.field(converter=_frozen_values)
    fallback: E | None = None

    def __attrs_post_init__(self) -> None:
        stored = [v for values in self.values.values() for v in values]
        if len(set(stored)) != len(stored):
            raise ConfigurationError("an encoding maps two members to one value")
        kinds = {isinstance(v, int) and not isinstance(v, bool) for v in stored}
        if len(kinds) > 1 or any(isinstance(v, bool) for v in stored):
            raise ConfigurationError("encoded values must be all str or all int")

    @property
    def is_int(self) -> bool:
        return all(isinstance(v, int) for vs in self.values.values() for v in vs)

    def column_type(self) -> TypeEngine[Any]:
        return sa.Integer() if self.is_int else sa.String(32)

    def encode(self, member: E) -> Stored:
        """The value written for ``member`` (the first of its stored values)."""
        return self.stored(member)[0]

    def stored(self, member: E) -> tuple[Stored, ...]:
        """Every stored value that means ``member``."""
        try:
            return self.values[member]
        except KeyError:
            raise ConfigurationError(f"{member!r} has no stored value") from None

    def decode(self, stored: object) -> E:
        for member, values in self.values.items():
            if stored in values:
                return member
        if self.fallback is not None:
            return self.fallback
        raise ConfigurationError(f"unknown stored value {stored!r}")


DEFAULT_STATUS_ENCODING: EnumEncoding[ConversationStatus] = EnumEncoding(
    {member: member.value for member in ConversationStatus}
)
"""Statuses stored as their names: ``'open'``, ``'resolved'``, ``'pending'``,
``'snoozed'``. (Chatwoot/Rails enums store ``0, 1, 2, 3`` in that order.)"""
DEFAULT_ORDER_ENCODING: EnumEncoding[AssignmentOrder] = EnumEncoding(
    {member: member.value for member in AssignmentOrder}
)
DEFAULT_PRIORITY_ENCODING: EnumEncoding[ConversationPriority] = EnumEncoding(
    {member: member.value for member in ConversationPriority}
)


def _column_map(columns: Mapping[str, str | None]) -> dict[str, str | None]:
    return dict(columns)


@attrs.frozen
class TableMap:
    """Where one logical table lives.

    ``name``: the physical table name. ``columns``: logical column name -> physical
    name; a column left out keeps its logical name; ``None`` says the host has no such
    column (allowed only for the optional columns listed in ``docs/sql.md``).
    ``create``: whether :meth:`SqlSchema.create_all` creates it (``False`` for a host's
    table). ``schema``: the database schema, if not the :class:`SqlSchema`'s.
    ``extra_columns``: more columns of a host's table that predicates read (physical
    name -> SQLAlchemy type), e.g. ``{"snoozed_until": UtcDateTime(naive=True)}`` for
    :class:`SqlSchema`'s ``open_when``; they are addressed by that name
    (``table.c.snoozed_until``) and the library never writes them.
    """

    name: str
    columns: Mapping[str, str | None] = attrs.field(factory=dict, converter=_column_map)
    create: bool = False
    schema: str | None = None
    extra_columns: Mapping[str, TypeEngine[Any]] = attrs.field(
        factory=dict, converter=dict
    )


LOGICAL_TABLES = (
    "accounts",
    "account_features",
    "agents",
    "inboxes",
    "inbox_members",
    "teams",
    "team_members",
    "assignment_policies",
    "inbox_assignment_policies",
    "capacity_policies",
    "capacity_policy_agents",
    "inbox_capacity_limits",
    "conversations",
    "conversation_labels",
    "event_outbox",
)


def _kinds(ids: IdKind | str | Mapping[str, IdKind | str]) -> dict[str, IdKind]:
    try:
        if isinstance(ids, IdKind | str):
            return dict.fromkeys(ENTITIES, IdKind(ids))
        unknown = set(ids) - {*ENTITIES, "default"}
        if unknown:
            raise ConfigurationError(
                f"unknown id entities: {', '.join(sorted(unknown))}", field="ids"
            )
        default = IdKind(ids.get("default", IdKind.INT))
        return {name: IdKind(ids.get(name, default)) for name in ENTITIES}
    except ValueError as exc:
        if isinstance(exc, ConfigurationError):
            raise
        raise ConfigurationError(
            "ids must be 'int', 'str', 'mixed' or 'uuid'", field="ids"
        ) from None


def labelled(table: sa.Table, names: Iterable[str]) -> list[sa.Label[Any]]:
    """The columns ``names`` of ``table``, labelled with their logical names; the ones a
    mapped host table does not have (optional columns mapped to ``None``) are left out."""
    return [table.c[name].label(name) for name in names if name in table.c]


class SqlSchema:
    """The logical tables, as SQLAlchemy Core tables.

    With no arguments it describes the library's own schema (every table created by
    :meth:`create_all`). ``tables`` maps logical table names (:data:`LOGICAL_TABLES`)
    to a :class:`TableMap` (or just a physical name) for a host's existing tables.
    ``schema`` is the database schema (PostgreSQL) of every table; ``prefix`` is put
    before the names of the tables the library creates. ``ids`` is an :class:`IdKind`
    for every entity, or a mapping ``{"default": ..., "agent": ...}``. ``status``,
    ``assignment_order`` and ``conversation_priority`` say how those enums are stored.
    ``naive_datetimes`` stores datetimes as naive UTC (``TIMESTAMP WITHOUT TIME ZONE``).
    ``unique_policy_names`` (default on) gives the library's own
    ``assignment_policies`` table a unique ``(account_id, name)`` index, as the
    reference has; turn it off only for test worlds that seed two same-named policies
    in one account. (A mapped host table is never altered;
    :class:`~autoassign.adapters.sql.SqlPolicyStore` enforces unique names either way.)
    ``single_account``: the account id of a single-account host. Its ``conversations``
    and ``inboxes`` tables then need no account column (map ``account_id`` to
    ``None``): no statement has an account predicate, every row reads back with this
    account, and an account other than it is never found (the writers reject it).
    Without it, ``conversations.account_id`` may still be mapped to ``None`` when the
    inboxes table has the account (tenants through a join): a conversation's account is
    its inbox's (a sub-select by the inbox's primary key, in the same statement).
    ``revision`` describes the tables as they were at that migration revision
    (default :data:`HEAD_REVISION`); the migrations use it, see :meth:`at_revision`.

    ``open_when``: extra conditions an open conversation must also meet to be
    assignable, each a callable ``(columns, now) -> SQL boolean`` of the conversations
    table's columns (``table.c``, or an alias's) and the current time, e.g. ``lambda c,
    now: sa.or_(c.snoozed_until.is_(None), c.snoozed_until <= now)`` or ``lambda c,
    now: c.on_hold.is_(False)`` (declare such columns with ``TableMap.extra_columns``).
    Every query uses one "open" expression (:meth:`open_condition`): the stored status
    is one of OPEN's stored values and every ``open_when`` holds. An open row failing a
    condition reads as ``held_status`` (default ``SNOOZED``; never ``OPEN``), so
    ``Conversation.is_assignable`` agrees with the SQL.
    """

    def __init__(
        self,
        *,
        tables: Mapping[str, TableMap | str] | None = None,
        schema: str | None = None,
        prefix: str = "",
        ids: IdKind | str | Mapping[str, IdKind | str] = IdKind.INT,
        status: EnumEncoding[ConversationStatus] = DEFAULT_STATUS_ENCODING,
        assignment_order: EnumEncoding[AssignmentOrder] = DEFAULT_ORDER_ENCODING,
        conversation_priority: EnumEncoding[
            ConversationPriority
        ] = DEFAULT_PRIORITY_ENCODING,
        naive_datetimes: bool = False,
        unique_policy_names: bool = True,
        open_when: Sequence[OpenCondition] = (),
        held_status: ConversationStatus = ConversationStatus.SNOOZED,
        metadata: sa.MetaData | None = None,
        revision: int = HEAD_REVISION,
        single_account: Id | None = None,
        labels: TaggingLabels | ArrayLabels | None = None,
    ) -> None:
        if isinstance(revision, bool) or not 1 <= revision <= HEAD_REVISION:
            raise ConfigurationError(
                f"revision must be between 1 and {HEAD_REVISION}, got {revision!r}",
                field="revision",
            )
        self.revision = revision
        self._options: dict[str, Any] = {
            "tables": tables,
            "schema": schema,
            "prefix": prefix,
            "ids": ids,
            "status": status,
            "assignment_order": assignment_order,
            "conversation_priority": conversation_priority,
            "naive_datetimes": naive_datetimes,
            "unique_policy_names": unique_policy_names,
            "single_account": single_account,
            "labels": labels,
        }
        maps = dict(tables or {})
        unknown = set(maps) - set(LOGICAL_TABLES)
        if unknown:
            raise ConfigurationError(
                f"unknown logical tables: {', '.join(sorted(unknown))}", field="tables"
            )
        self._maps: dict[str, TableMap] = {}
        for name in LOGICAL_TABLES:
            given = maps.get(name)
            if given is None:
                self._maps[name] = TableMap(prefix + name, create=True)
            elif isinstance(given, str):
                self._maps[name] = TableMap(given)
            else:
                self._maps[name] = given
        self.schema = schema
        self.ids = _kinds(ids)
        self.status = status
        self.assignment_order = assignment_order
        self.conversation_priority = conversation_priority
        self.naive_datetimes = naive_datetimes
        self.unique_policy_names = unique_policy_names
        if ConversationStatus.OPEN not in status.values:
            raise ConfigurationError("the status encoding needs OPEN", field="status")
        if held_status is ConversationStatus.OPEN:
            raise ConfigurationError(
                "held_status must be a ConversationStatus other than OPEN",
                field="held_status",
            )
        self.open_when = tuple(open_when)
        self.held_status = held_status
        if single_account is not None and not self.accepts("account", single_account):
            raise ConfigurationError(
                f"single_account {single_account!r} cannot be stored in a "
                f"{self.ids['account'].value} account id column",
                field="single_account",
            )
        self.single_account: Id | None = single_account
        self.metadata = metadata if metadata is not None else sa.MetaData()
        if labels is not None and not isinstance(labels, TaggingLabels | ArrayLabels):
            raise ConfigurationError(
                "labels must be a TaggingLabels, an ArrayLabels or None, got "
                f"{labels!r}",
                field="labels",
            )
        self.labels = labels
        if isinstance(labels, ArrayLabels):
            conv = self._maps["conversations"]
            extra: dict[str, TypeEngine[Any]] = dict(conv.extra_columns)
            extra[labels.column] = labels.column_type()
            self._maps["conversations"] = TableMap(
                conv.name,
                conv.columns,
                create=conv.create,
                schema=conv.schema,
                extra_columns=extra,  # type: ignore[arg-type]  # the converter (dict)
            )
        self._build()
        self.label_source: LabelSource
        if isinstance(labels, TaggingLabels):
            self.label_source = labels.build(
                self.metadata, self._id("conversation"), schema=self.schema
            )
        elif isinstance(labels, ArrayLabels):
            self.label_source = array_column(labels, self.conversations)
        else:
            self.label_source = join_table(self.conversation_labels)
        if single_account is None and "account_id" not in self.inboxes.c:
            raise ConfigurationError(
                "inboxes.account_id can be mapped to None only with single_account",
                field="inboxes.account_id",
            )
        if single_account is None and "account_id" not in self.teams.c:
            raise ConfigurationError(
                "teams.account_id can be mapped to None only with single_account",
                field="teams.account_id",
            )
        probe = datetime.now(timezone.utc)
        for condition in self.open_when:
            if not callable(condition):
                raise ConfigurationError(
                    f"open_when entries must be callables, got {condition!r}",
                    field="open_when",
                )
            try:
                built = condition(self.conversations.c, probe)
            except (AttributeError, KeyError) as exc:
                raise ConfigurationError(
                    f"an open_when condition reads an unknown column: {exc}",
                    field="open_when",
                ) from None
            if not isinstance(built, ColumnElement):
                raise ConfigurationError(
                    f"an open_when condition returned {built!r}, not an SQL expression",
                    field="open_when",
                )

    # -- what "open" means ------------------------------------------------------------

    def open_condition(self, columns: Any, now: datetime) -> ColumnElement[bool]:
        """The one SQL expression for "this conversation row is open (assignable but
        for its assignee)" over ``columns`` (the conversations table's ``.c`` or an
        alias's): the stored status is one of OPEN's stored values and every
        ``open_when`` condition holds at ``now``."""
        return sa.and_(
            self.status_is_open(columns),
            *(condition(columns, now) for condition in self.open_when),
        )

    def status_is_open(self, columns: Any) -> ColumnElement[bool]:
        """The stored status is one of OPEN's stored values (no ``open_when``)."""
        values = self.status.stored(ConversationStatus.OPEN)
        if len(values) == 1:
            return columns.status == sa.literal(values[0])  # type: ignore[no-any-return]
        return columns.status.in_(values)  # type: ignore[no-any-return]

    def held(self, columns: Any, now: datetime) -> ColumnElement[bool] | None:
        """True for a row some ``open_when`` condition rejects at ``now`` (``None``
        without conditions): :meth:`decode_status` then reads it as ``held_status``."""
        if not self.open_when:
            return None
        # CASE, not NOT(...): a condition that is NULL fails the WHERE, so it holds too
        return sa.case(
            (sa.and_(*(c(columns, now) for c in self.open_when)), sa.false()),
            else_=sa.true(),
        )

    def decode_status(self, stored: object, held: object = False) -> ConversationStatus:
        """A row's status: the stored value decoded, ``held_status`` instead of OPEN
        for a row :meth:`held` flagged."""
        status = self.status.decode(stored)
        if status is ConversationStatus.OPEN and held:
            return self.held_status
        return status

    # -- tenancy ----------------------------------------------------------------------

    @property
    def tenancy(self) -> str:
        """Where the conversations' account comes from: ``"column"`` (their own
        account column), ``"inbox"`` (their inbox's row) or ``"single"``
        (``single_account``, no account column)."""
        if "account_id" in self.conversations.c:
            return "column"
        return "single" if self.single_account is not None else "inbox"

    def account_of(self, logical: str) -> ColumnElement[Any]:
        """The account of a row of ``logical`` (``"conversations"``, ``"inboxes"`` or
        ``"teams"``),
        as an SQL expression: its account column; else ``single_account`` as a
        constant; else (conversations) the account of its inbox's row, sub-selected by
        the inbox's primary key."""
        table = self.tables[logical]
        if "account_id" in table.c:
            return table.c.account_id
        if self.single_account is not None:
            return sa.literal(self.single_account, type_=self._id("account"))
        inboxes = self.inboxes
        return (
            sa.select(inboxes.c.account_id)
            .where(inboxes.c.id == table.c.inbox_id)
            .scalar_subquery()
        )

    def account_is(self, logical: str, account: object) -> ColumnElement[bool]:
        """ "A row of ``logical`` belongs to ``account``": a predicate on its account
        column, or (``single_account`` with no account column) no predicate at all:
        ``true()`` for the configured account, ``false()`` for any other."""
        table = self.tables[logical]
        if "account_id" not in table.c and self.single_account is not None:
            return sa.true() if self.allows_account(account) else sa.false()
        return self.account_of(logical) == account

    def allows_account(self, account: object) -> bool:
        """Whether ``account`` can exist here: any storable id, or exactly
        ``single_account`` when that is set."""
        if self.single_account is not None:
            return account == self.single_account and type(account) is type(
                self.single_account
            )
        return self.accepts("account", account)

    # -- helpers ----------------------------------------------------------------------

    def id_kind(self, entity: str) -> IdKind:
        return self.ids[entity]

    def accepts(self, entity: str, value: object) -> bool:
        """Whether ``value`` can be stored as an id of ``entity``."""
        return self.ids[entity].accepts(value)

    def require(self, entity: str, value: object) -> None:
        if not self.accepts(entity, value):
            raise ConfigurationError(
                f"{entity} id {value!r} cannot be stored in a "
                f"{self.ids[entity].value} id column",
                field=f"{entity}_id",
            )

    def order_key(
        self, entity: str, column: ColumnElement[Any], dialect: Dialect
    ) -> ColumnElement[Any]:
        """``column`` as it must be compared and sorted to follow ``id_sort_key``."""
        if self.ids[entity].is_text and dialect.name == "postgresql":
            return column.collate("C")
        return column

    def policy_fields(self, row: Mapping[Any, Any]) -> dict[str, Any]:
        """The editable fields of an assignment policy row, decoded: what
        :class:`~autoassign.model.AssignmentPolicy` and the admin store's
        ``PolicyValues`` share."""
        enabled = row.get("enabled")
        return {
            "name": row["name"],
            "description": row.get("description") or "",
            "assignment_order": self.assignment_order.decode(row["assignment_order"]),
            "conversation_priority": self.conversation_priority.decode(
                row["conversation_priority"]
            ),
            "fair_distribution_limit": row["fair_distribution_limit"],
            "fair_distribution_window": row["fair_distribution_window"],
            "enabled": True if enabled is None else bool(enabled),
            # the routing settings: NULL, absent (a host's table) or invalid: as wired
            "sticky_window": stored_routing_seconds(row.get("sticky_window")),
            "skill_routing": stored_skill_routing(row.get("skill_routing")),
            "skill_relax_after": stored_routing_seconds(row.get("skill_relax_after")),
        }

    def policy_columns(self, policy: AssignmentPolicy | PolicyValues) -> dict[str, Any]:
        """The editable fields of an assignment policy (or its admin ``PolicyValues``),
        encoded for the ``assignment_policies`` columns of the same names: the inverse
        of :meth:`policy_fields`. A routing setting that is set but has no column (a
        host's table that maps none) raises :class:`ConfigurationError` naming it,
        rather than being dropped."""
        for name in ROUTING_COLUMNS:
            self.require_column("assignment_policies", name, getattr(policy, name))
        return {
            "name": policy.name,
            "description": policy.description,
            "assignment_order": _encode_field(
                "assignment_order", self.assignment_order, policy.assignment_order
            ),
            "conversation_priority": _encode_field(
                "conversation_priority",
                self.conversation_priority,
                policy.conversation_priority,
            ),
            "fair_distribution_limit": policy.fair_distribution_limit,
            "fair_distribution_window": policy.fair_distribution_window,
            "enabled": policy.enabled,
            **{name: getattr(policy, name) for name in ROUTING_COLUMNS},
        }

    def owned(self, logical: str) -> bool:
        return self._maps[logical].create

    def table_map(self, logical: str) -> TableMap:
        return self._maps[logical]

    def at_revision(self, revision: int) -> SqlSchema:
        """The same configuration (names, schema, ids, encodings), as the tables were at
        migration ``revision``, on a metadata of its own."""
        return SqlSchema(**self._options, revision=revision)

    @property
    def prefix(self) -> str:
        """The prefix of the tables the library creates."""
        return str(self._options["prefix"])

    def exists_at_revision(self, logical: str) -> bool:
        """Whether the library creates ``logical`` at this schema's revision: it owns
        the table and the table existed then (``event_outbox`` since revision 3)."""
        return self.owned(logical) and self.revision >= _TABLE_SINCE.get(logical, 1)

    def create_all(self, engine: Engine | sa.Connection) -> None:
        """Create the tables the library owns (``TableMap.create``) and their indexes,
        if they do not exist. Mapped host tables are left alone."""
        owned = [
            self.tables[name]
            for name in LOGICAL_TABLES
            if self.exists_at_revision(name)
        ]
        self.metadata.create_all(engine, tables=[*owned, *self.label_source.tables()])

    def drop_all(self, engine: Engine | sa.Connection) -> None:
        """Drop the tables the library owns."""
        owned = [
            self.tables[name]
            for name in LOGICAL_TABLES
            if self.exists_at_revision(name)
        ]
        self.metadata.drop_all(engine, tables=[*self.label_source.tables(), *owned])

    # -- the tables -------------------------------------------------------------------

    def _id(self, entity: str) -> TypeEngine[Any]:
        return id_type(self.ids[entity])

    def _generated(self, entity: str) -> dict[str, Any]:
        """Store-assigned ids: autoincrement integers, or random hex strings for text
        id columns (never reused either way)."""
        if self.ids[entity] is IdKind.INT:
            return {"autoincrement": True}
        if self.ids[entity] is IdKind.UUID:
            return {"default": lambda: str(uuid.uuid4())}
        return {"default": _new_text_id}

    def urgency_order(self, columns: Any) -> ColumnElement[int]:
        """``COALESCE(-urgency, 1)``: ascending, the most urgent first and a
        conversation without an urgency last (:attr:`Conversation.urgency_rank`).
        ``columns``: the conversations table's (or an alias's) ``c``."""
        # constants inline, not bound, so PostgreSQL matches the index's expression
        return sa.func.coalesce(-columns.urgency, sa.literal_column("1", sa.Integer()))

    def weight_of(self, columns: Any) -> ColumnElement[Any]:
        """``COALESCE(weight, 1)``: a conversation's weight (weighted capacity; a
        ``NULL`` counts 1). ``columns``: the conversations table's (or an alias's)
        ``c``, which must have ``weight``."""
        return sa.func.coalesce(columns.weight, sa.literal_column("1", sa.Integer()))

    def due_order(self, columns: Any) -> ColumnElement[datetime]:
        """``COALESCE(due_at, <NO_DUE_AT>)``: ascending, the earliest due first and a
        conversation without a due time last."""
        return sa.func.coalesce(
            columns.due_at,
            sa.literal(NO_DUE_AT, type_=columns.due_at.type, literal_execute=True),
        )

    def require_column(self, logical: str, column: str, value: object) -> None:
        """Refuse to store ``value`` (when set) in a column ``logical`` does not have
        (a host's table that maps no such column), instead of dropping it:
        :class:`ConfigurationError` naming the column."""
        if value is not None and column not in self.tables[logical].c:
            raise ConfigurationError(
                f"{logical}.{column} is not mapped: {value!r} cannot be stored (map "
                f"the column in TableMap({logical!r}, ...) or leave it unset)",
                field=column,
            )

    def _mapped(self, logical: str, column: str) -> bool:
        """Whether ``logical`` has ``column`` (it is not mapped to ``None``)."""
        return self._maps[logical].columns.get(column, column) is not None

    def _ts(self) -> TypeEngine[Any]:
        return UtcDateTime(naive=self.naive_datetimes)

    def _table(
        self,
        logical: str,
        columns: Iterable[tuple[str, TypeEngine[Any], bool, dict[str, Any]]],
        *extra: Any,
        **kwargs: Any,
    ) -> sa.Table:
        mapping = self._maps[logical]
        known = set()
        built: list[Any] = []
        for name, type_, optional, kw in columns:
            known.add(name)
            since = kw.pop("since", None)
            if since is not None and (
                self.revision < since if mapping.create else name not in mapping.columns
            ):
                # added after the first schema: a host's table has it only if mapped
                continue
            physical = mapping.columns.get(name, name)
            if physical is None:
                if not optional:
                    raise ConfigurationError(
                        f"{logical}.{name} is required and cannot be mapped to None",
                        field=f"{logical}.{name}",
                    )
                continue
            built.append(sa.Column(physical, type_, key=name, **kw))
        unknown = set(mapping.columns) - known
        if unknown:
            raise ConfigurationError(
                f"unknown columns for {logical}: {', '.join(sorted(unknown))}",
                field=logical,
            )
        for name, type_ in mapping.extra_columns.items():
            if name in known:
                raise ConfigurationError(
                    f"extra column {name!r} of {logical} is one of its logical columns",
                    field=logical,
                )
            built.append(sa.Column(name, type_, key=name, nullable=True))
        if mapping.create:
            built.extend(extra)
        return sa.Table(
            mapping.name,
            self.metadata,
            *built,
            schema=mapping.schema or self.schema,
            **kwargs,
        )

    def _build(self) -> None:
        def col(
            name: str, type_: TypeEngine[Any], optional: bool = False, **kw: Any
        ) -> tuple[str, TypeEngine[Any], bool, dict[str, Any]]:
            kw.setdefault("nullable", False)
            return (name, type_, optional, kw)

        def fk(
            source: str, columns: list[str], target: str, refs: list[str], **kw: Any
        ) -> list[Any]:
            if not (self.owned(source) and self.owned(target)):
                return []
            if not all(self._mapped(source, c) for c in columns):
                return []  # a column mapped away (an inbox with no account column)
            parent = self._maps[target]
            prefix = (
                f"{parent.schema or self.schema}."
                if (parent.schema or self.schema)
                else ""
            )
            return [
                sa.ForeignKeyConstraint(
                    columns,
                    [f"{prefix}{parent.name}.{ref}" for ref in refs],
                    **kw,
                )
            ]

        cascade = {"ondelete": "CASCADE"}
        autoinc = {"sqlite_autoincrement": True}
        ts = self._ts

        self.accounts = self._table(
            "accounts",
            [col("id", self._id("account"), primary_key=True, autoincrement=False)],
        )
        self.account_features = self._table(
            "account_features",
            [
                col("account_id", self._id("account"), primary_key=True),
                col("feature", sa.String(100), primary_key=True),
            ],
            *fk("account_features", ["account_id"], "accounts", ["id"], **cascade),
            sa.Index(None, "feature", "account_id"),
        )
        self.agents = self._table(
            "agents",
            [
                col("account_id", self._id("account"), primary_key=True),
                col("agent_id", self._id("agent"), primary_key=True),
                col("name", sa.String(255), optional=True, server_default=""),
                col("email", sa.String(255), optional=True, nullable=True),
                col("role", sa.String(32), optional=True, server_default="agent"),
            ],
            *fk("agents", ["account_id"], "accounts", ["id"], **cascade),
        )
        self.inboxes = self._table(
            "inboxes",
            [
                col("id", self._id("inbox"), primary_key=True, autoincrement=False),
                # optional with single_account (checked after the build)
                col("account_id", self._id("account"), optional=True),
                col("name", sa.String(255), optional=True, server_default=""),
                col("enable_auto_assignment", sa.Boolean(), optional=True),
                col("auto_assignment_config", sa.JSON(), optional=True, nullable=True),
            ],
            *fk("inboxes", ["account_id"], "accounts", ["id"]),
            *(
                [sa.Index(None, "account_id", "id")]
                if self._mapped("inboxes", "account_id")
                else []
            ),
        )
        self.inbox_members = self._table(
            "inbox_members",
            [
                col("position", sa.Integer(), optional=True, primary_key=True),
                col("inbox_id", self._id("inbox")),
                col("agent_id", self._id("agent")),
            ],
            *fk("inbox_members", ["inbox_id"], "inboxes", ["id"], **cascade),
            sa.UniqueConstraint("inbox_id", "agent_id"),
            sa.Index(None, "agent_id"),
            **autoinc,
        )
        self.teams = self._table(
            "teams",
            [
                col("id", self._id("team"), primary_key=True, autoincrement=False),
                col("account_id", self._id("account"), optional=True),
                col("allow_auto_assign", sa.Boolean(), optional=True),
            ],
            *fk("teams", ["account_id"], "accounts", ["id"]),
        )
        self.team_members = self._table(
            "team_members",
            [
                col("team_id", self._id("team"), primary_key=True),
                col("agent_id", self._id("agent"), primary_key=True),
            ],
            *fk("team_members", ["team_id"], "teams", ["id"], **cascade),
        )
        self.assignment_policies = self._table(
            "assignment_policies",
            [
                col(
                    "id",
                    self._id("policy"),
                    primary_key=True,
                    **self._generated("policy"),
                ),
                col("account_id", self._id("account")),
                col("name", sa.String(255)),
                col("description", sa.Text(), optional=True, server_default=""),
                col("assignment_order", self.assignment_order.column_type()),
                col("conversation_priority", self.conversation_priority.column_type()),
                col("fair_distribution_limit", sa.Integer(), nullable=True),
                col("fair_distribution_window", sa.Integer()),
                col("enabled", sa.Boolean(), optional=True),
                col("created_at", ts(), optional=True, nullable=True),
                col("updated_at", ts(), optional=True, nullable=True),
                *(
                    col(
                        name,
                        sa.Boolean() if name == "skill_routing" else sa.Integer(),
                        optional=True,
                        nullable=True,
                        since=_ROUTING_SINCE,
                    )
                    for name in ROUTING_COLUMNS
                ),
            ],
            *fk("assignment_policies", ["account_id"], "accounts", ["id"]),
            # names are unique per account: the reference's unique index, which also
            # serves the store's name look-up (revision 2; revision 1 had a plain one)
            sa.Index(
                policy_name_key(self._maps["assignment_policies"].name),
                "account_id",
                "name",
                unique=True,
            )
            if self.unique_policy_names and self.revision >= 2
            else sa.Index(None, "account_id", "name"),
            **autoinc,
        )
        self.inbox_assignment_policies = self._table(
            "inbox_assignment_policies",
            [
                # the primary key makes "one policy per inbox" a constraint
                col(
                    "inbox_id", self._id("inbox"), primary_key=True, autoincrement=False
                ),
                col("assignment_policy_id", self._id("policy")),
            ],
            *fk(
                "inbox_assignment_policies", ["inbox_id"], "inboxes", ["id"], **cascade
            ),
            *fk(
                "inbox_assignment_policies",
                ["assignment_policy_id"],
                "assignment_policies",
                ["id"],
                **cascade,
            ),
            sa.Index(None, "assignment_policy_id"),
        )
        self.capacity_policies = self._table(
            "capacity_policies",
            [
                col(
                    "id",
                    self._id("capacity_policy"),
                    primary_key=True,
                    **self._generated("capacity_policy"),
                ),
                col("account_id", self._id("account")),
                col("name", sa.String(255), optional=True, server_default="Capacity"),
                col("description", sa.Text(), optional=True, server_default=""),
                col("exclusion_rules", sa.JSON(), optional=True, nullable=True),
                col("created_at", ts(), optional=True, nullable=True),
                col("updated_at", ts(), optional=True, nullable=True),
                col(
                    "total_limit",
                    sa.Integer(),
                    optional=True,
                    nullable=True,
                    since=_URGENCY_SINCE,
                ),
            ],
            *fk("capacity_policies", ["account_id"], "accounts", ["id"]),
            sa.Index(None, "account_id", "id"),
            **autoinc,
        )
        self.capacity_policy_agents = self._table(
            "capacity_policy_agents",
            [
                # (account, agent) is the key: one capacity policy per agent per account
                col("account_id", self._id("account"), optional=True, primary_key=True),
                col("agent_id", self._id("agent"), primary_key=True),
                col("capacity_policy_id", self._id("capacity_policy")),
            ],
            *fk(
                "capacity_policy_agents",
                ["capacity_policy_id"],
                "capacity_policies",
                ["id"],
                **cascade,
            ),
            sa.Index(None, "capacity_policy_id", "agent_id"),
        )
        self.inbox_capacity_limits = self._table(
            "inbox_capacity_limits",
            [
                col(
                    "id",
                    self._id("limit"),
                    optional=True,
                    primary_key=True,
                    **self._generated("limit"),
                ),
                col("capacity_policy_id", self._id("capacity_policy")),
                col("inbox_id", self._id("inbox")),
                # NULL: an unlimited link (revision 4; NOT NULL before)
                col(
                    "conversation_limit",
                    sa.Integer(),
                    nullable=self.revision >= _NULLABLE_LIMIT_SINCE,
                ),
                col("created_at", ts(), optional=True, nullable=True),
                col("updated_at", ts(), optional=True, nullable=True),
            ],
            *fk(
                "inbox_capacity_limits",
                ["capacity_policy_id"],
                "capacity_policies",
                ["id"],
                **cascade,
            ),
            *fk("inbox_capacity_limits", ["inbox_id"], "inboxes", ["id"], **cascade),
            sa.UniqueConstraint("capacity_policy_id", "inbox_id"),
            sa.Index(None, "inbox_id"),
            sa.CheckConstraint("conversation_limit >= 0"),
            **autoinc,
        )
        self.conversations = self._table(
            "conversations",
            [
                col(
                    "id",
                    self._id("conversation"),
                    primary_key=True,
                    autoincrement=False,
                ),
                # optional: single_account, or the account of the conversation's inbox
                col("account_id", self._id("account"), optional=True),
                col("inbox_id", self._id("inbox")),
                col("status", self.status.column_type()),
                col("assignee_id", self._id("agent"), nullable=True),
                col("team_id", self._id("team"), optional=True, nullable=True),
                col("created_at", ts()),
                col("last_activity_at", ts(), optional=True),
                col(
                    "urgency",
                    sa.Integer(),
                    optional=True,
                    nullable=True,
                    since=_URGENCY_SINCE,
                ),
                col("due_at", ts(), optional=True, nullable=True, since=_URGENCY_SINCE),
                # the contact (sticky agents: SqlConversationRepository.previous_agents)
                col(
                    "contact_id",
                    self._id("conversation"),
                    optional=True,
                    nullable=True,
                    since=_URGENCY_SINCE,
                ),
                # what it counts for against capacity limits (weighted capacity)
                col(
                    "weight",
                    sa.Numeric(10, 3, asdecimal=False),
                    optional=True,
                    nullable=True,
                    since=_WEIGHT_SINCE,
                ),
            ],
            *fk("conversations", ["inbox_id"], "inboxes", ["id"]),
        )
        conv = self.conversations
        if self.owned("conversations"):
            unassigned_open = sa.and_(
                conv.c.assignee_id.is_(None), self.status_is_open(conv.c)
            )
            # open_counts, the claim's capacity count and earliest-created order:
            # (inbox, status, assignee) equality, then created_at, id already sorted.
            sa.Index(
                f"ix_{conv.name}_inbox_status_assignee",
                conv.c.inbox_id,
                conv.c.status,
                conv.c.assignee_id,
                conv.c.created_at,
                conv.c.id,
            )
            # open_totals and the claim's count across inboxes (a total limit)
            if self.revision >= _URGENCY_SINCE:
                sa.Index(
                    f"ix_{conv.name}_assignee_status", conv.c.assignee_id, conv.c.status
                )
            # a contact's recent conversations (sticky agents)
            if "contact_id" in conv.c:
                sa.Index(
                    f"ix_{conv.name}_contact_created",
                    conv.c.contact_id,
                    conv.c.created_at,
                )

            def unassigned(suffix: str, *order: Any) -> None:
                """A partial index over the unassigned open conversations, in one
                priority's order: PostgreSQL walks it and stops after the page."""
                sa.Index(
                    f"ix_{conv.name}_unassigned_{suffix}",
                    conv.c.inbox_id,
                    *order,
                    conv.c.created_at,
                    conv.c.id,
                    postgresql_where=unassigned_open,
                    sqlite_where=unassigned_open,
                )

            # earliest created (with only the index above, PostgreSQL prefers the
            # waiting index below and sorts the whole unassigned backlog)
            if self.revision >= _EARLIEST_INDEX_SINCE:
                unassigned("earliest")
            # highest urgency and earliest due: the expressions the queries order by
            urgency = [self.urgency_order(conv.c)] if "urgency" in conv.c else []
            if urgency:
                unassigned("urgency", *urgency)
            if "due_at" in conv.c:
                unassigned("due", self.due_order(conv.c), *urgency)
            # longest waiting
            if "last_activity_at" in conv.c:
                unassigned("waiting", conv.c.last_activity_at)
        self.conversation_labels = self._table(
            "conversation_labels",
            [
                col("conversation_id", self._id("conversation"), primary_key=True),
                col("label", sa.String(255), primary_key=True),
            ],
            *fk(
                "conversation_labels",
                ["conversation_id"],
                "conversations",
                ["id"],
                **cascade,
            ),
        )
        # One row per assignment whose events may not be published yet
        # (SqlEventOutbox): written by the claim's own statement, deleted once
        # published. No foreign key: a row needs nothing else to be published.
        # Revision 3 added it: the schema of an earlier revision keeps it off its
        # metadata (what that revision's database holds).
        shared, self.metadata = (
            self.metadata,
            (
                self.metadata
                if self.revision >= _TABLE_SINCE["event_outbox"]
                else sa.MetaData()
            ),
        )
        self.event_outbox = self._table(
            "event_outbox",
            [
                col("event_id", sa.String(64), primary_key=True),
                col("conversation_id", self._id("conversation")),
                col("inbox_id", self._id("inbox")),
                col("agent_id", self._id("agent")),
                col("policy_id", self._id("policy"), nullable=True),
                col("selector", sa.String(100)),
                col("occurred_at", ts()),
            ],
        )
        if self.owned("event_outbox"):
            outbox = self.event_outbox
            sa.Index(
                f"ix_{outbox.name}_inbox_occurred",
                outbox.c.inbox_id,
                outbox.c.occurred_at,
            )
            sa.Index(f"ix_{outbox.name}_conversation", outbox.c.conversation_id)
        self.metadata = shared
        self.tables: dict[str, sa.Table] = {
            name: getattr(self, name) for name in LOGICAL_TABLES
        }
