"""Domain values: accounts, inboxes, agents, conversations, policies and results.

Every value is an immutable ``attrs`` class. Ids are opaque: a host may use ``int`` or
``str`` (Redis stores them as text). Invalid values raise
:class:`~autoassign.errors.ConfigurationError` at construction, naming the field.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence, Set
from datetime import datetime, timedelta
from typing import Any, TypeAlias, TypeVar

import attrs

from autoassign.errors import ConfigurationError

__all__ = [
    "ADVANCED_ASSIGNMENT_FEATURE",
    "ASSIGNMENT_V2_FEATURE",
    "DEFAULT_FAIR_DISTRIBUTION_WINDOW",
    "MAX_FAIR_DISTRIBUTION_LIMIT",
    "MAX_FAIR_DISTRIBUTION_WINDOW",
    "ONLINE",
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
    "OverridePrecedence",
    "PolicyId",
    "PolicyOverrides",
    "Reservation",
    "Team",
    "TeamId",
    "id_sort_key",
    "presence_matches",
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
DEFAULT_FAIR_DISTRIBUTION_WINDOW = 3600
MAX_FAIR_DISTRIBUTION_LIMIT = 100_000
MAX_FAIR_DISTRIBUTION_WINDOW = 30 * 24 * 3600


def id_sort_key(value: Id) -> tuple[int, int | str]:
    """A total order over mixed ``int``/``str`` ids: ints first, then strings."""
    if isinstance(value, bool) or not isinstance(value, int):
        return (1, str(value))
    return (0, value)


def _check_id(field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigurationError(
            f"{field} must be an int or str id, got {type(value).__name__}", field=field
        )


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
    return _labels(values, field="features")


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


def _labels(values: Iterable[str], field: str = "labels") -> frozenset[str]:
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


class ConversationPriority(str, enum.Enum):
    """Which conversations are assigned first."""

    EARLIEST_CREATED = "earliest_created"
    """FIFO: ``created_at`` ascending, then id."""
    LONGEST_WAITING = "longest_waiting"
    """``last_activity_at`` ascending, then ``created_at``, then id."""


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


@attrs.frozen(kw_only=True)
class AssignmentPolicy:
    """How the inboxes linked to it are assigned.

    ``fair_distribution_limit``: at most this many auto-assignments per agent per inbox
    within ``fair_distribution_window`` seconds; ``None`` or ``0`` turns the limit off.
    ``enabled`` is a soft switch: a disabled policy assigns nothing.
    """

    id: PolicyId = attrs.field(validator=_id_validator)
    account: AccountId = attrs.field(validator=_id_validator)
    name: str = attrs.field(default="Default")
    description: str = ""
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

    @name.validator
    def _check_name(self, attribute: attrs.Attribute[str], value: object) -> None:
        if not isinstance(value, str) or not value.strip():
            raise ConfigurationError("name must be a non-empty string", field="name")
        if len(value) > 255:
            raise ConfigurationError(
                "name must be at most 255 characters", field="name"
            )


def _hours_validator(
    inst: object, attribute: attrs.Attribute[Any], value: object
) -> None:
    if value is None:
        return
    number = _strict_int(attribute.name, value)
    if number <= 0:
        raise ConfigurationError(
            f"{attribute.name} must be a positive number of hours, got {number}",
            field=attribute.name,
        )


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
        """Several capacity policies' rules: labels united, the smallest age threshold."""
        labels: set[str] = set()
        hours: int | None = None
        for rule in rules:
            labels |= rule.excluded_labels
            if rule.exclude_older_than_hours is not None and (
                hours is None or rule.exclude_older_than_hours < hours
            ):
                hours = rule.exclude_older_than_hours
        return cls(excluded_labels=labels, exclude_older_than_hours=hours)


def _inbox_limits(value: Mapping[InboxId, int]) -> Mapping[InboxId, int]:
    out: dict[InboxId, int] = {}
    for inbox, limit in dict(value).items():
        _check_id("inbox_limits key", inbox)
        number = _strict_int("conversation_limit", limit)
        if number < 0:
            raise ConfigurationError(
                f"conversation_limit must be >= 0, got {number}",
                field="conversation_limit",
            )
        out[inbox] = number
    return out


@attrs.frozen(kw_only=True)
class CapacityPolicy:
    """An agent capacity policy: per-inbox open-conversation limits for its ``agents``.

    No limit for an inbox means unlimited there; a limit of ``0`` means never assigned.
    Its ``exclusion_rules`` apply to every inbox the policy has a limit for.
    """

    id: PolicyId = attrs.field(validator=_id_validator)
    account: AccountId = attrs.field(validator=_id_validator)
    name: str = "Capacity"
    description: str = ""
    inbox_limits: Mapping[InboxId, int] = attrs.field(
        factory=dict, converter=_inbox_limits, hash=False
    )
    agents: frozenset[AgentId] = attrs.field(default=frozenset(), converter=_ids)
    exclusion_rules: ExclusionRules = attrs.field(factory=ExclusionRules)

    def limit_for(self, inbox: InboxId) -> int | None:
        return self.inbox_limits.get(inbox)


@attrs.frozen(kw_only=True)
class Conversation:
    """A conversation as the core sees it. The host owns the real record."""

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

    @property
    def is_assignable(self) -> bool:
        """Open and without an assignee."""
        return self.status is ConversationStatus.OPEN and self.assignee is None

    def priority_key(
        self, priority: ConversationPriority
    ) -> tuple[datetime, datetime, tuple[int, int | str]]:
        """The sort key for ``priority``: a total order (the id breaks ties)."""
        if priority is ConversationPriority.LONGEST_WAITING:
            return (self.last_activity_at, self.created_at, id_sort_key(self.id))
        return (self.created_at, self.created_at, id_sort_key(self.id))

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
