"""Domain values: accounts, inboxes, agents, conversations, policies and results.

Every value is an immutable ``attrs`` class. Ids are opaque: a host may use ``int`` or
``str`` (Redis stores them as text). Invalid values raise
:class:`~autoassign.errors.ConfigurationError` at construction, naming the field.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence, Set
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeAlias, TypeVar

import attrs

from autoassign.errors import ConfigurationError

__all__ = [
    "ADVANCED_ASSIGNMENT_FEATURE",
    "ASSIGNMENT_V2_FEATURE",
    "DEFAULT_FAIR_DISTRIBUTION_WINDOW",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_EXCLUDE_OLDER_THAN_HOURS",
    "MAX_FAIR_DISTRIBUTION_LIMIT",
    "MAX_FAIR_DISTRIBUTION_WINDOW",
    "MAX_FEATURE_LENGTH",
    "MAX_ID_LENGTH",
    "MAX_LABEL_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_ROUTING_SECONDS",
    "MAX_TOTAL_LIMIT",
    "MAX_URGENCY",
    "MAX_WEIGHT",
    "NO_DUE_AT",
    "OFF_SCHEDULE",
    "ONLINE",
    "WEIGHT_SCALE",
    "Account",
    "AccountId",
    "AgentId",
    "AssignmentOrder",
    "AssignmentPolicy",
    "CapacityPolicy",
    "Conversation",
    "ConversationId",
    "ConversationPriority",
    "ConversationStatus",
    "EffectivePolicy",
    "ExclusionRules",
    "Id",
    "Inbox",
    "InboxId",
    "LedgerUsage",
    "Load",
    "OverridePrecedence",
    "PolicyId",
    "PolicyOverrides",
    "PriorityKey",
    "Reservation",
    "Team",
    "TeamId",
    "add_load",
    "check_text",
    "check_weight",
    "fits",
    "id_sort_key",
    "load_from_units",
    "presence_matches",
    "stored_due_at",
    "stored_load",
    "stored_routing_seconds",
    "stored_skill_routing",
    "stored_total_limit",
    "stored_urgency",
    "stored_weight",
    "text_problem",
    "weight_units",
]

Id: TypeAlias = int | str
"""An opaque identifier: ``int`` or ``str``. Compared by equality only."""
AccountId: TypeAlias = Id
InboxId: TypeAlias = Id
AgentId: TypeAlias = Id
ConversationId: TypeAlias = Id
TeamId: TypeAlias = Id
PolicyId: TypeAlias = Id

ASSIGNMENT_V2_FEATURE = "assignment_v2"
"""The account feature flag that turns Assignment v2 on."""
ADVANCED_ASSIGNMENT_FEATURE = "advanced_assignment"
"""Informational only: autoassign does not gate balanced selection or capacity on it."""
ONLINE = "online"
"""The only presence status that makes an agent eligible (exact match)."""
OFF_SCHEDULE = "off_schedule"
"""The status :class:`autoassign.schedules.ScheduledPresence` reports for an agent who
is online but outside their working hours."""
DEFAULT_FAIR_DISTRIBUTION_WINDOW = 3600
MAX_FAIR_DISTRIBUTION_LIMIT = 100_000
MAX_FAIR_DISTRIBUTION_WINDOW = 30 * 24 * 3600
MAX_EXCLUDE_OLDER_THAN_HOURS = 24 * 365 * 100
"""The largest ``exclude_older_than_hours`` (100 years): a cutoff always computes."""
MAX_NAME_LENGTH = 255
"""The longest policy name (the reference's ``string(255)`` column)."""
MAX_DESCRIPTION_LENGTH = 10_000
"""The longest description, in characters."""
MAX_LABEL_LENGTH = 255
"""The longest label (conversation label or excluded label): the ``VARCHAR(255)`` label
column of the SQL schema."""
MAX_FEATURE_LENGTH = 100
"""The longest account feature flag: the ``VARCHAR(100)`` feature column."""
MAX_ID_LENGTH = 255
"""The longest string id: the ``VARCHAR(255)`` id columns."""
MAX_ROUTING_SECONDS = 365 * 24 * 3600
"""The largest :attr:`AssignmentPolicy.sticky_window` and
:attr:`AssignmentPolicy.skill_relax_after` (365 days, the longest
:attr:`StickyRouting.window <autoassign.sticky.StickyRouting.window>`)."""

# C0 controls, DEL and lone surrogates; prose keeps tab, newline and carriage return.
_BAD_TEXT = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
_BAD_PROSE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def text_problem(
    value: str, *, max_length: int, prose: bool = False, allow_empty: bool = False
) -> str | None:
    """Why ``value`` is not acceptable text, or ``None`` when it is.

    The one text rule of every boundary (model construction, the admin API, the SQL
    writers): text must encode as UTF-8 (no lone surrogates such as ``"\\ud800"``),
    must not contain NUL (U+0000) or any other C0 control character (U+0001-U+001F)
    or DEL (U+007F) -- except that ``prose`` (descriptions) may hold tab, newline and
    carriage return -- and must be at most ``max_length`` characters (and not empty
    unless ``allow_empty``). The reason reads after the field name:
    ``f"{field} {reason}"``.
    """
    found = (_BAD_PROSE if prose else _BAD_TEXT).search(value)
    if found is not None:
        char = found.group()
        if char == "\x00":
            return "must not contain NUL (U+0000)"
        if "\ud800" <= char <= "\udfff":
            return (
                f"must be valid UTF-8 text (lone surrogate U+{ord(char):04X} at "
                f"position {found.start()})"
            )
        return f"must not contain control character U+{ord(char):04X}"
    if not value and not allow_empty:
        return "can't be empty"
    if len(value) > max_length:
        return f"is too long (maximum is {max_length} characters)"
    return None


def check_text(
    field: str,
    value: object,
    *,
    max_length: int,
    prose: bool = False,
    allow_empty: bool = False,
) -> None:
    """Raise :class:`~autoassign.errors.ConfigurationError` naming ``field`` unless
    ``value`` is a string that :func:`text_problem` accepts."""
    if not isinstance(value, str):
        raise ConfigurationError(
            f"{field} must be a string, got {type(value).__name__}", field=field
        )
    problem = text_problem(
        value, max_length=max_length, prose=prose, allow_empty=allow_empty
    )
    if problem is not None:
        raise ConfigurationError(f"{field} {problem}", field=field)


def id_sort_key(value: Id) -> tuple[int, int | str]:
    """A total order over mixed ``int``/``str`` ids: ints first, then strings."""
    if isinstance(value, bool) or not isinstance(value, int):
        return (1, str(value))
    return (0, value)


def _check_id(field: str, value: object) -> None:
    kind = type(value)
    if kind is int:
        return
    if kind is str:
        assert isinstance(value, str)
        if len(value) <= MAX_ID_LENGTH and _BAD_TEXT.search(value) is None:
            return  # the common cases, checked without the general path
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigurationError(
            f"{field} must be an int or str id, got {type(value).__name__}", field=field
        )
    if isinstance(value, str):
        check_text(field, value, max_length=MAX_ID_LENGTH, allow_empty=True)


def _id_validator(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _check_id(attribute.name, value)


def _optional_id_validator(
    inst: object, attribute: attrs.Attribute[Any], value: object
) -> None:
    if value is not None:
        _check_id(attribute.name, value)


def _aware(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ConfigurationError(
            f"{attribute.name} must be a timezone-aware datetime", field=attribute.name
        )


def _strict_int(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(
            f"{field} must be an integer, got {type(value).__name__}", field=field
        )
    return value


def _features(values: Iterable[str]) -> frozenset[str]:
    return _labels(values, field="features", max_length=MAX_FEATURE_LENGTH)


def _ids(values: Iterable[Id]) -> frozenset[Id]:
    if isinstance(values, str):
        raise ConfigurationError(
            "expected a collection of ids, not a string", field="ids"
        )
    out = frozenset(values)
    for value in out:
        _check_id("ids", value)
    return out


def _bool_validator(
    inst: object, attribute: attrs.Attribute[Any], value: object
) -> None:
    if not isinstance(value, bool):
        raise ConfigurationError(
            f"{attribute.name} must be a boolean, got {type(value).__name__}",
            field=attribute.name,
        )


def _label_set(values: Iterable[str], field: str) -> frozenset[str]:
    if isinstance(values, str):
        raise ConfigurationError(
            f"{field} must be a collection of strings, not a string", field=field
        )
    out = frozenset(values)
    for label in out:
        if not isinstance(label, str):
            raise ConfigurationError(
                f"{field} must be strings, got {type(label).__name__}", field=field
            )
    return out


class _LabelsInOrder(frozenset[str]):
    """A frozenset that iterates in the order it was given (first occurrences): the
    admin API echoes ``excluded_labels`` as given, as the reference does. Equality,
    hashing and set operations are a frozenset's."""

    __slots__ = ("_order",)
    _order: tuple[str, ...]

    def __new__(cls, values: Iterable[str] = ()) -> _LabelsInOrder:
        order = tuple(dict.fromkeys(values))
        self = super().__new__(cls, order)
        self._order = order
        return self

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __repr__(self) -> str:
        items = ", ".join(map(repr, self._order))
        return f"frozenset({{{items}}})" if items else "frozenset()"


def _labels(
    values: Iterable[str], field: str = "labels", max_length: int = MAX_LABEL_LENGTH
) -> frozenset[str]:
    out = _label_set(values, field)
    for label in sorted(out):
        problem = text_problem(label, max_length=max_length)
        if problem is not None:
            raise ConfigurationError(
                f"{field} entry {_shown(label)} {problem}", field=field
            )
    return out


def _excluded_labels(values: Iterable[str]) -> frozenset[str]:
    if isinstance(values, _LabelsInOrder):
        return values
    if not isinstance(values, str | Set):  # keep a one-shot iterator's items
        values = list(values)
    _labels(values, field="excluded_labels")
    if isinstance(values, Set) and not isinstance(values, Sequence):
        values = sorted(values)  # a set has no order of its own: a stable one
    return _LabelsInOrder(values)


class ConversationStatus(str, enum.Enum):
    """A conversation's status. Only ``OPEN`` conversations are ever assigned."""

    OPEN = "open"
    RESOLVED = "resolved"
    PENDING = "pending"
    SNOOZED = "snoozed"


class AssignmentOrder(str, enum.Enum):
    """How an agent is chosen among the eligible ones."""

    ROUND_ROBIN = "round_robin"
    BALANCED = "balanced"
    MOST_AVAILABLE = "most_available"
    """The most spare capacity as a share of each agent's limit in the inbox (see
    :class:`~autoassign.selection.MostAvailableSelector`). Not in Assignment v2: a host
    schema whose order column cannot store it refuses it when written."""
    WEIGHTED_ROUND_ROBIN = "weighted_round_robin"
    """Turns in proportion to each agent's weight (see
    :class:`~autoassign.selection.WeightedRoundRobinSelector` and
    :mod:`autoassign.weights`); with every weight 1, exactly round robin. Not in
    Assignment v2."""


class ConversationPriority(str, enum.Enum):
    """Which conversations are assigned first."""

    EARLIEST_CREATED = "earliest_created"
    """FIFO: ``created_at`` ascending, then id."""
    LONGEST_WAITING = "longest_waiting"
    """``last_activity_at`` ascending, then ``created_at``, then id."""
    HIGHEST_URGENCY = "highest_urgency"
    """:attr:`Conversation.urgency` descending (a conversation without one after every
    level), then ``created_at``, then id: urgent first, first come first served
    within a level."""
    EARLIEST_DUE = "earliest_due"
    """:attr:`Conversation.due_at` ascending (one without a due time after every due
    time), then :attr:`Conversation.urgency` descending, then ``created_at``, then id:
    the SLA's next breach first."""


class OverridePrecedence(str, enum.Enum):
    """Whether an inbox's overrides beat its linked policy.

    ``INBOX`` (the default, the reference's community behaviour): a field set in
    :attr:`Inbox.overrides` replaces the policy's value for that inbox. ``POLICY`` (the
    reference's enterprise behaviour): the policy always wins and overrides are ignored.
    """

    INBOX = "inbox"
    POLICY = "policy"


@attrs.frozen(kw_only=True)
class Account:
    """A tenant. ``features`` holds its feature flags (``assignment_v2`` turns v2 on)."""

    id: AccountId = attrs.field(validator=_id_validator)
    features: frozenset[str] = attrs.field(default=frozenset(), converter=_features)

    def has_feature(self, name: str) -> bool:
        return name in self.features


def _check_limit(field: str, value: object) -> int | None:
    if value is None:
        return None
    number = _strict_int(field, value)
    if not 0 <= number <= MAX_FAIR_DISTRIBUTION_LIMIT:
        raise ConfigurationError(
            f"{field} must be between 0 and {MAX_FAIR_DISTRIBUTION_LIMIT}, got {number}",
            field=field,
        )
    return number


def _check_window(field: str, value: object) -> int:
    number = _strict_int(field, value)
    if not 1 <= number <= MAX_FAIR_DISTRIBUTION_WINDOW:
        raise ConfigurationError(
            f"{field} must be between 1 and {MAX_FAIR_DISTRIBUTION_WINDOW} seconds, "
            f"got {number}",
            field=field,
        )
    return number


def _name_validator(
    inst: object, attribute: attrs.Attribute[Any], value: object
) -> None:
    check_text(attribute.name, value, max_length=MAX_NAME_LENGTH)


def _description_validator(
    inst: object, attribute: attrs.Attribute[Any], value: object
) -> None:
    check_text(
        attribute.name,
        value,
        max_length=MAX_DESCRIPTION_LENGTH,
        prose=True,
        allow_empty=True,
    )


def _limit_validator(
    inst: object, attribute: attrs.Attribute[Any], value: object
) -> None:
    _check_limit(attribute.name, value)


def _window_validator(
    inst: object, attribute: attrs.Attribute[Any], value: object
) -> None:
    _check_window(attribute.name, value)


def _optional_window_validator(
    inst: object, attribute: attrs.Attribute[Any], value: object
) -> None:
    if value is not None:
        _check_window(attribute.name, value)


E = TypeVar("E", bound=enum.Enum)


def _to_enum(enum_type: type[E], value: object) -> E:
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except ValueError:
        allowed = ", ".join(repr(member.value) for member in enum_type)
        field = _ENUM_FIELDS.get(enum_type.__name__, enum_type.__name__)
        raise ConfigurationError(
            f"{field} must be one of {allowed}, got {value!r}", field=field
        ) from None


_ENUM_FIELDS = {
    "AssignmentOrder": "assignment_order",
    "ConversationPriority": "conversation_priority",
    "ConversationStatus": "status",
}


def _order(value: object) -> AssignmentOrder:
    return _to_enum(AssignmentOrder, value)


def _optional_order(value: object) -> AssignmentOrder | None:
    return None if value is None else _to_enum(AssignmentOrder, value)


def _priority(value: object) -> ConversationPriority:
    return _to_enum(ConversationPriority, value)


def _optional_priority(value: object) -> ConversationPriority | None:
    return None if value is None else _to_enum(ConversationPriority, value)


def _status(value: object) -> ConversationStatus:
    return _to_enum(ConversationStatus, value)


@attrs.frozen(kw_only=True)
class PolicyOverrides:
    """Per-inbox overrides of assignment-policy fields (``auto_assignment_config``).

    ``None`` means "not overridden". Build one from a host's JSON with
    :meth:`from_mapping`, which rejects unknown keys and wrong types.
    """

    assignment_order: AssignmentOrder | None = attrs.field(
        default=None, converter=_optional_order
    )
    conversation_priority: ConversationPriority | None = attrs.field(
        default=None, converter=_optional_priority
    )
    fair_distribution_limit: int | None = attrs.field(
        default=None, validator=_limit_validator
    )
    fair_distribution_window: int | None = attrs.field(
        default=None, validator=_optional_window_validator
    )

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> PolicyOverrides:
        known = {field.name for field in attrs.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigurationError(
                f"unknown override field(s): {', '.join(unknown)}", field=unknown[0]
            )
        return cls(**data)  # type: ignore[arg-type]


@attrs.frozen(kw_only=True)
class Inbox:
    """An inbox. ``enable_auto_assignment`` defaults to ``True`` as in the reference."""

    id: InboxId = attrs.field(validator=_id_validator)
    account: AccountId = attrs.field(validator=_id_validator)
    enable_auto_assignment: bool = attrs.field(default=True, validator=_bool_validator)
    overrides: PolicyOverrides = attrs.field(factory=PolicyOverrides)


@attrs.frozen(kw_only=True)
class Team:
    """A team. Conversations with a team only go to its members, and only if
    ``allow_auto_assign`` is set."""

    id: TeamId = attrs.field(validator=_id_validator)
    account: AccountId = attrs.field(validator=_id_validator)
    allow_auto_assign: bool = attrs.field(default=True, validator=_bool_validator)
    members: frozenset[AgentId] = attrs.field(default=frozenset(), converter=_ids)


_ROUTING_MEANING = {
    "sticky_window": "0 (sticky agents off)",
    "skill_relax_after": "0 (never relax)",
}


def _check_routing_seconds(field: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(
            f"{field} must be an integer number of seconds or None (as wired), "
            f"got {type(value).__name__}",
            field=field,
        )
    if not 0 <= value <= MAX_ROUTING_SECONDS:
        raise ConfigurationError(
            f"{field} must be None (as wired), {_ROUTING_MEANING[field]} or 1 to "
            f"{MAX_ROUTING_SECONDS} seconds, got {value}",
            field=field,
        )
    return value


def _routing_seconds_validator(
    inst: object, attribute: attrs.Attribute[Any], value: object
) -> None:
    _check_routing_seconds(attribute.name, value)


def _optional_bool_validator(
    inst: object, attribute: attrs.Attribute[Any], value: object
) -> None:
    if value is not None and not isinstance(value, bool):
        raise ConfigurationError(
            f"{attribute.name} must be None (as wired), True or False, got "
            f"{type(value).__name__}",
            field=attribute.name,
        )


def stored_routing_seconds(value: object) -> int | None:
    """A host's stored :attr:`AssignmentPolicy.sticky_window` or
    :attr:`AssignmentPolicy.skill_relax_after`: ``None`` (as wired) unless it is an
    integer from 0 to :data:`MAX_ROUTING_SECONDS`, so a row written outside the range
    routes as wired instead of failing every pass of its inboxes."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= MAX_ROUTING_SECONDS else None


def stored_skill_routing(value: object) -> bool | None:
    """A host's stored :attr:`AssignmentPolicy.skill_routing`: a boolean (or a
    database's ``0``/``1``) as a boolean, anything else ``None`` (as wired)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    return None


@attrs.frozen(kw_only=True)
class AssignmentPolicy:
    """How the inboxes linked to it are assigned.

    ``fair_distribution_limit``: at most this many auto-assignments per agent per inbox
    within ``fair_distribution_window`` seconds; ``None`` or ``0`` turns the limit off.
    ``enabled`` is a soft switch: a disabled policy assigns nothing.

    Routing settings (opt-in; each ``None``, the default, routes the policy's inboxes
    as the host wired :func:`~autoassign.build_autoassign`, see
    :mod:`autoassign.routing`):

    * ``sticky_window``: sticky agents' window for this policy, in seconds (``0``:
      sticky agents off here; ``None``: the wired :class:`StickyRouting.window
      <autoassign.sticky.StickyRouting>`).
    * ``skill_routing``: whether skills routing applies here (``False``: off, the
      conversations' requirements are ignored; ``True`` or ``None``: as wired).
    * ``skill_relax_after``: the wait in seconds after which requirements are dropped
      (``0``: never relax; ``None``: the wired
      :attr:`SkillRouting.relax_after <autoassign.skills.SkillRouting.relax_after>`).

    A setting whose port is not wired (no ``sticky=`` or ``skills=``) is ignored: the
    pass logs it once and routes as without it.
    """

    id: PolicyId = attrs.field(validator=_id_validator)
    account: AccountId = attrs.field(validator=_id_validator)
    name: str = attrs.field(default="Default")
    description: str = attrs.field(default="", validator=_description_validator)
    assignment_order: AssignmentOrder = attrs.field(
        default=AssignmentOrder.ROUND_ROBIN, converter=_order
    )
    conversation_priority: ConversationPriority = attrs.field(
        default=ConversationPriority.EARLIEST_CREATED,
        converter=_priority,
    )
    fair_distribution_limit: int | None = attrs.field(
        default=None, validator=_limit_validator
    )
    fair_distribution_window: int = attrs.field(
        default=DEFAULT_FAIR_DISTRIBUTION_WINDOW, validator=_window_validator
    )
    enabled: bool = attrs.field(default=True, validator=_bool_validator)
    sticky_window: int | None = attrs.field(
        default=None, validator=_routing_seconds_validator
    )
    skill_routing: bool | None = attrs.field(
        default=None, validator=_optional_bool_validator
    )
    skill_relax_after: int | None = attrs.field(
        default=None, validator=_routing_seconds_validator
    )

    @property
    def routing_set(self) -> bool:
        """Whether any of the routing settings (:attr:`sticky_window`,
        :attr:`skill_routing`, :attr:`skill_relax_after`) is set: with none, the
        policy's inboxes are routed as wired."""
        return (
            self.sticky_window is not None
            or self.skill_routing is not None
            or self.skill_relax_after is not None
        )

    @name.validator
    def _check_name(self, attribute: attrs.Attribute[str], value: object) -> None:
        if not isinstance(value, str) or not value.strip():
            raise ConfigurationError("name must be a non-empty string", field="name")
        if len(value) > MAX_NAME_LENGTH:
            raise ConfigurationError(
                f"name must be at most {MAX_NAME_LENGTH} characters", field="name"
            )
        check_text("name", value, max_length=MAX_NAME_LENGTH)


def _check_hours(field: str, value: object) -> int | None:
    if value is None:
        return None
    number = _strict_int(field, value)
    if not 0 < number <= MAX_EXCLUDE_OLDER_THAN_HOURS:
        raise ConfigurationError(
            f"{field} must be a positive number of hours (at most "
            f"{MAX_EXCLUDE_OLDER_THAN_HOURS}), got {number}",
            field=field,
        )
    return number


def _hours_validator(
    inst: object, attribute: attrs.Attribute[Any], value: object
) -> None:
    _check_hours(attribute.name, value)


def _text_tuple(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _shown(value: object, width: int = 40) -> str:
    """``value`` for a message: its repr, cut to ``width`` characters."""
    text = repr(value[:width] if isinstance(value, str) else value)
    return text + "..." if isinstance(value, str) and len(value) > width else text


@attrs.frozen(kw_only=True)
class ExclusionRules:
    """Conversations never auto-assigned.

    ``excluded_labels``: a conversation carrying *any* of them (exact, case-sensitive) is
    excluded. ``exclude_older_than_hours``: a conversation whose ``created_at`` is more
    than this many hours before now is excluded. Both rules apply together.
    """

    excluded_labels: frozenset[str] = attrs.field(
        default=frozenset(), converter=_excluded_labels
    )
    exclude_older_than_hours: int | None = attrs.field(
        default=None, validator=_hours_validator
    )
    unusable: tuple[str, ...] = attrs.field(default=(), converter=_text_tuple)
    """What stored rules held that cannot be applied (set by :meth:`from_stored`):
    one description per skipped label or threshold. A pass logs each once and
    applies the rest."""

    @classmethod
    def from_stored(
        cls, excluded_labels: object = (), exclude_older_than_hours: object = None
    ) -> ExclusionRules:
        """Rules read back from storage (a host's database, possibly written before
        validation): never raises. A label that is not valid text (see
        :func:`text_problem`; e.g. NUL, a lone surrogate, over-long) or not a string
        is left out, as is an invalid ``exclude_older_than_hours``; each is described
        in :attr:`unusable`, and the rest applies."""
        labels: list[str] = []  # in stored order
        unusable: list[str] = []
        raw = excluded_labels
        if isinstance(raw, str) or not isinstance(raw, Iterable):
            raw = [raw] if raw else []
        for label in raw:
            if not isinstance(label, str):
                problem: str | None = f"must be a string, got {type(label).__name__}"
            else:
                problem = text_problem(label, max_length=MAX_LABEL_LENGTH)
                if problem is None:
                    labels.append(label)
                    continue
            unusable.append(f"excluded label {_shown(label)} {problem}")
        hours: int | None = None
        try:
            hours = _check_hours("exclude_older_than_hours", exclude_older_than_hours)
        except ConfigurationError as error:
            unusable.append(str(error))
        return cls(
            excluded_labels=labels,
            exclude_older_than_hours=hours,
            unusable=sorted(unusable),
        )

    @property
    def is_empty(self) -> bool:
        return not self.excluded_labels and self.exclude_older_than_hours is None

    def cutoff(self, now: datetime) -> datetime | None:
        """The oldest ``created_at`` still eligible at ``now``, or ``None``."""
        if self.exclude_older_than_hours is None:
            return None
        return now - timedelta(hours=self.exclude_older_than_hours)

    def excludes(self, conversation: Conversation, now: datetime) -> bool:
        if self.excluded_labels & conversation.labels:
            return True
        cutoff = self.cutoff(now)
        return cutoff is not None and conversation.created_at < cutoff

    @classmethod
    def combine(cls, rules: Iterable[ExclusionRules]) -> ExclusionRules:
        """Several capacity policies' rules: labels united, the smallest age threshold.

        Rules are immutable values, so the combination of equal rules is reused (a pass
        combines its inbox's rules every time; building the result validates and sorts
        every label)."""
        parts = tuple(rules)
        if cls is not ExclusionRules:
            return cls._combine(parts)
        found = _COMBINED.get(parts)
        if found is None:
            if len(_COMBINED) >= _COMBINED_MAX:
                _COMBINED.clear()
            found = _COMBINED[parts] = cls._combine(parts)
        return found

    @classmethod
    def _combine(cls, rules: Iterable[ExclusionRules]) -> ExclusionRules:
        labels: set[str] = set()
        hours: int | None = None
        for rule in rules:
            labels |= rule.excluded_labels
            if rule.exclude_older_than_hours is not None and (
                hours is None or rule.exclude_older_than_hours < hours
            ):
                hours = rule.exclude_older_than_hours
        return cls(excluded_labels=labels, exclude_older_than_hours=hours)


_COMBINED: dict[tuple[ExclusionRules, ...], ExclusionRules] = {}
"""Recent :meth:`ExclusionRules.combine` results, by their (hashable, immutable) parts."""
_COMBINED_MAX = 1024


def _inbox_limits(
    value: Mapping[InboxId, int | None],
) -> Mapping[InboxId, int | None]:
    out: dict[InboxId, int | None] = {}
    for inbox, limit in dict(value).items():
        _check_id("inbox_limits key", inbox)
        if limit is None:  # an unlimited link: exclusion rules only
            out[inbox] = None
            continue
        number = _strict_int("conversation_limit", limit)
        if number < 0:
            raise ConfigurationError(
                f"conversation_limit must be >= 0 or None (unlimited), got {number}",
                field="conversation_limit",
            )
        out[inbox] = number
    return out


MAX_TOTAL_LIMIT = 2**31 - 1
"""The largest :attr:`CapacityPolicy.total_limit` (what a SQL ``INTEGER`` holds)."""


def _total_limit(value: object) -> int | None:
    if value is None:
        return None
    number = _strict_int("total_limit", value)
    if not 0 <= number <= MAX_TOTAL_LIMIT:
        raise ConfigurationError(
            f"total_limit must be between 0 and {MAX_TOTAL_LIMIT} or None (no limit "
            f"across inboxes), got {number}",
            field="total_limit",
        )
    return number


@attrs.frozen(kw_only=True)
class CapacityPolicy:
    """An agent capacity policy: per-inbox open-conversation limits for its ``agents``.

    ``inbox_limits`` links the policy to inboxes: a number is the most open
    conversations each of its agents may hold there (``0``: never assigned there);
    ``None`` is an *unlimited* link (capacity never removes anyone for it, but the
    policy's rules still apply there). An inbox with no link is unlimited too. Its
    ``exclusion_rules`` apply to every inbox the policy links (:meth:`links`), limited
    or not.

    ``total_limit`` (optional): the most open conversations each of its agents may
    hold across **all** the account's inboxes, whoever assigned them, checked in every
    inbox the policy links, besides that inbox's own limit. ``None``: no such limit.
    """

    id: PolicyId = attrs.field(validator=_id_validator)
    account: AccountId = attrs.field(validator=_id_validator)
    name: str = attrs.field(default="Capacity", validator=_name_validator)
    description: str = attrs.field(default="", validator=_description_validator)
    inbox_limits: Mapping[InboxId, int | None] = attrs.field(
        factory=dict, converter=_inbox_limits, hash=False
    )
    agents: frozenset[AgentId] = attrs.field(default=frozenset(), converter=_ids)
    exclusion_rules: ExclusionRules = attrs.field(factory=ExclusionRules)
    total_limit: int | None = attrs.field(default=None, converter=_total_limit)

    def links(self, inbox: InboxId) -> bool:
        """Whether the policy has a link (a limit, or an unlimited one) for ``inbox``:
        its exclusion rules apply there."""
        return inbox in self.inbox_limits

    def limit_for(self, inbox: InboxId) -> int | None:
        """The limit for ``inbox``; ``None`` when there is none (no link, or an
        unlimited one: :meth:`links` tells them apart)."""
        return self.inbox_limits.get(inbox)


MAX_URGENCY = 1_000_000
"""The highest :attr:`Conversation.urgency`; levels run from 0 up to it."""

NO_DUE_AT = datetime(9999, 12, 31, tzinfo=UTC)
"""Where a conversation without a due time sorts under
:attr:`ConversationPriority.EARLIEST_DUE` (and the value adapters store in its place
in an order expression): after every due time a conversation may have."""

PriorityKey: TypeAlias = tuple[Any, ...]
"""A conversation's sort key under one :class:`ConversationPriority`
(:meth:`Conversation.priority_key`); keys are compared only within one priority."""


def _urgency(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(
            f"urgency must be an integer or None, got {type(value).__name__}",
            field="urgency",
        )
    if not 0 <= value <= MAX_URGENCY:
        raise ConfigurationError(
            f"urgency must be between 0 and {MAX_URGENCY}, got {value}",
            field="urgency",
        )


def _due_at(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    _aware(inst, attribute, value)
    assert isinstance(value, datetime)
    if value >= NO_DUE_AT:
        raise ConfigurationError(
            f"due_at must be before {NO_DUE_AT.isoformat()}", field="due_at"
        )


WEIGHT_SCALE = 1000
"""Weights and loads are exact in thousandths: a :attr:`Conversation.weight` is a
whole number of them (``0.001`` to :data:`MAX_WEIGHT`), and capacity compares sums of
them, so ``0.1 + 0.2`` fills a limit of ``0.3`` exactly."""

MAX_WEIGHT = 1000
"""The largest :attr:`Conversation.weight`."""

Load: TypeAlias = int | float
"""An agent's open conversations as capacity counts them: their number, or with
weighted conversations the sum of their weights (an ``int`` when whole)."""


def weight_units(value: Load) -> int:
    """``value`` (a weight or a load) in thousandths, rounded to the nearest one."""
    return (
        int(value) * WEIGHT_SCALE
        if isinstance(value, int)
        else round(value * WEIGHT_SCALE)
    )


def load_from_units(units: int) -> Load:
    """A number of thousandths as a :data:`Load`: an ``int`` when it is whole."""
    whole, rest = divmod(units, WEIGHT_SCALE)
    return whole if not rest else units / WEIGHT_SCALE


def add_load(load: Load, weight: Load) -> Load:
    """``load + weight``, exact in thousandths (no float drift)."""
    if isinstance(load, int) and isinstance(weight, int):
        return load + weight
    return load_from_units(weight_units(load) + weight_units(weight))


def fits(load: Load, weight: Load, limit: int) -> bool:
    """Whether a conversation of ``weight`` fits beside ``load`` under ``limit``:
    ``load + weight <= limit``, exact in thousandths. With weights of 1 it is
    ``load < limit``, the count Assignment v2 compares."""
    if isinstance(load, int) and isinstance(weight, int):
        return load + weight <= limit
    return weight_units(load) + weight_units(weight) <= limit * WEIGHT_SCALE


def stored_load(value: object) -> Load:
    """A count or a sum of weights as a database returns it (an ``int``, a ``float``
    or a ``Decimal``) as a :data:`Load`, exact in thousandths."""
    if isinstance(value, int):
        return value
    if not isinstance(value, (float, Decimal)):
        raise TypeError(f"a load must be a number, got {type(value).__name__}")
    return load_from_units(round(float(value) * WEIGHT_SCALE))


def check_weight(value: object, *, field: str = "weight") -> Load:
    """``value`` as a conversation weight (an ``int`` when whole), or
    :class:`ConfigurationError` naming ``field``: a number from ``0.001`` to
    :data:`MAX_WEIGHT` in whole thousandths."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(
            f"{field} must be a number, got {type(value).__name__}", field=field
        )
    if not math.isfinite(value) or not 0 < value <= MAX_WEIGHT:
        raise ConfigurationError(
            f"{field} must be above 0 and at most {MAX_WEIGHT}, got {value!r}",
            field=field,
        )
    units = weight_units(value)
    if units < 1 or abs(value * WEIGHT_SCALE - units) > 1e-6:
        raise ConfigurationError(
            f"{field} must be a whole number of thousandths (0.001), got {value!r}",
            field=field,
        )
    return load_from_units(units)


def stored_weight(value: object) -> Load:
    """A host's stored value as a :attr:`Conversation.weight`: ``1`` when it is not a
    valid weight (``None``, out of range, not a number), so one bad row counts as one
    conversation instead of failing the page it is on. Decimals are accepted."""
    if isinstance(value, Decimal):
        value = float(value)
    try:
        return check_weight(value)
    except ConfigurationError:
        return 1


def stored_total_limit(value: object) -> int | None:
    """A host's stored :attr:`CapacityPolicy.total_limit`: ``None`` stays no limit; a
    value that is not one (negative, too large, not an integer) reads as ``0``, so a
    bad row assigns its agents nothing rather than without a limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return value if 0 <= value <= MAX_TOTAL_LIMIT else 0


def stored_urgency(value: object) -> int | None:
    """A host's stored value as a :attr:`Conversation.urgency`: ``None`` when it is not
    an integer from 0 to :data:`MAX_URGENCY`, so one row a host wrote outside the range
    reads as "no urgency" instead of failing the page it is on."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= MAX_URGENCY else None


def stored_due_at(value: object) -> datetime | None:
    """A host's stored value as a :attr:`Conversation.due_at`: ``None`` unless it is an
    aware datetime before :data:`NO_DUE_AT`."""
    if not isinstance(value, datetime) or value.tzinfo is None or value >= NO_DUE_AT:
        return None
    return value


@attrs.frozen(kw_only=True)
class Conversation:
    """A conversation as the core sees it. The host owns the real record.

    ``urgency`` (optional, 0 to :data:`MAX_URGENCY`, higher first) and ``due_at``
    (optional, for example an SLA's first-response due time) matter only to the
    priorities :attr:`ConversationPriority.HIGHEST_URGENCY` and
    :attr:`ConversationPriority.EARLIEST_DUE`.

    ``weight`` (default 1) is what the conversation counts for against capacity
    limits (weighted capacity: a chat may count 1, an email 0.5): an agent may take it
    when the sum of the weights of their open conversations plus this one's stays
    within the limit. With every weight 1 that is the count of Assignment v2."""

    id: ConversationId = attrs.field(validator=_id_validator)
    inbox: InboxId = attrs.field(validator=_id_validator)
    account: AccountId = attrs.field(validator=_id_validator)
    status: ConversationStatus = attrs.field(
        default=ConversationStatus.OPEN, converter=_status
    )
    assignee: AgentId | None = attrs.field(
        default=None, validator=_optional_id_validator
    )
    team: TeamId | None = attrs.field(default=None, validator=_optional_id_validator)
    labels: frozenset[str] = attrs.field(default=frozenset(), converter=_labels)
    created_at: datetime = attrs.field(validator=_aware)
    last_activity_at: datetime = attrs.field(validator=_aware)
    urgency: int | None = attrs.field(default=None, validator=_urgency)
    due_at: datetime | None = attrs.field(default=None, validator=_due_at)
    weight: Load = attrs.field(default=1, converter=check_weight)

    def with_assignee(self, agent: AgentId | None) -> Conversation:
        """This conversation with ``assignee`` set to ``agent``: what
        ``attrs.evolve(self, assignee=agent)`` returns, checking only ``agent`` (the
        other fields are this valid conversation's), for adapters that store the
        result of a claim on a hot path."""
        if agent is not None:
            _check_id("assignee", agent)
        new = object.__new__(Conversation)
        for name in _CONVERSATION_FIELDS:
            object.__setattr__(new, name, getattr(self, name))
        object.__setattr__(new, "assignee", agent)
        return new

    @property
    def urgency_rank(self) -> int:
        """``-urgency``, and ``1`` without one: ascending puts the most urgent first
        and those without an urgency last (the expression SQL adapters order by)."""
        return 1 if self.urgency is None else -self.urgency

    @property
    def is_assignable(self) -> bool:
        """Open and without an assignee."""
        return self.status is ConversationStatus.OPEN and self.assignee is None

    def priority_key(self, priority: ConversationPriority) -> PriorityKey:
        """The sort key for ``priority``: a total order (the id breaks ties)."""
        ident = id_sort_key(self.id)
        if priority is ConversationPriority.LONGEST_WAITING:
            return (self.last_activity_at, self.created_at, ident)
        if priority is ConversationPriority.HIGHEST_URGENCY:
            return (self.urgency_rank, self.created_at, ident)
        if priority is ConversationPriority.EARLIEST_DUE:
            due = NO_DUE_AT if self.due_at is None else self.due_at
            return (due, self.urgency_rank, self.created_at, ident)
        return (self.created_at, ident)

    def on_page(
        self,
        priority: ConversationPriority,
        *,
        after: Conversation | None,
        exclude_teams: Collection[TeamId],
    ) -> bool:
        """Whether a page of
        :meth:`~autoassign.ports.ConversationRepository.unassigned_open` with these
        ``after`` and ``exclude_teams`` may hold this conversation: it comes strictly
        after ``after`` in ``priority`` order and its team (if any) is not excluded. For
        repositories that filter in Python."""
        if self.team is not None and self.team in exclude_teams:
            return False
        return after is None or self.priority_key(priority) > after.priority_key(
            priority
        )


_CONVERSATION_FIELDS = tuple(field.name for field in attrs.fields(Conversation))


@attrs.frozen(kw_only=True)
class EffectivePolicy:
    """A policy with an inbox's overrides applied: what a pass actually uses."""

    policy: AssignmentPolicy
    assignment_order: AssignmentOrder
    conversation_priority: ConversationPriority
    fair_distribution_limit: int | None
    fair_distribution_window: int

    @property
    def rate_limited(self) -> bool:
        return bool(self.fair_distribution_limit)

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self.fair_distribution_window)

    @classmethod
    def resolve(
        cls,
        policy: AssignmentPolicy,
        overrides: PolicyOverrides,
        precedence: OverridePrecedence = OverridePrecedence.INBOX,
    ) -> EffectivePolicy:
        def pick(name: str) -> Any:
            override = getattr(overrides, name)
            if precedence is OverridePrecedence.INBOX and override is not None:
                return override
            return getattr(policy, name)

        return cls(
            policy=policy,
            assignment_order=pick("assignment_order"),
            conversation_priority=pick("conversation_priority"),
            fair_distribution_limit=pick("fair_distribution_limit"),
            fair_distribution_window=pick("fair_distribution_window"),
        )


@attrs.frozen(kw_only=True)
class LedgerUsage:
    """One agent's standing in an inbox's fair-distribution ledger at one instant: how
    many auto-assignments fall inside the window, and when the oldest and the newest of
    them were made (``count`` stays exact until ``oldest`` leaves the window)."""

    count: int
    oldest: datetime | None = None
    last: datetime | None = None


def presence_matches(
    expect_online: Mapping[AgentId, bool], statuses: Mapping[AgentId, str]
) -> bool:
    """Whether every agent of ``expect_online`` is online (status exactly
    :data:`ONLINE`; absent means offline) exactly when expected."""
    return all(
        (statuses.get(agent) == ONLINE) is expected
        for agent, expected in expect_online.items()
    )


@attrs.frozen(kw_only=True)
class Reservation:
    """What :meth:`autoassign.ports.Reservations.reserve` did: the presence it read and
    whether it took the agent's fair-distribution slot. Failures are reported here, not
    raised, because the two halves can fail apart (the pass degrades differently for
    each)."""

    statuses: Mapping[AgentId, str] = attrs.field(factory=dict)
    """The statuses read (agents with none are absent): empty when nothing was asked
    or presence failed."""
    presence_error: Exception | None = None
    """Presence could not be read: nothing was recorded (nobody counts as online)."""
    confirmed: bool = False
    """Presence was read and every agent was online exactly when expected."""
    recorded: bool = False
    """An entry for the conversation is in the ledger now, made by this call."""
    refused: bool = False
    """The ledger refused: the agent already has ``limit`` entries in the window."""
    ledger_error: Exception | None = None
    """The ledger failed after presence was confirmed: nothing was recorded."""
