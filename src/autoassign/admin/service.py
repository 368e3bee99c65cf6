"""``PolicyAdmin``: the application service behind the admin API.

Every call carries an :class:`Actor`. Only an administrator of the account may act
(anyone else gets :class:`~autoassign.admin.errors.Unauthorized`); a resource of another
account is :class:`~autoassign.admin.errors.NotFound`. Input is validated in full before
anything changes: :class:`~autoassign.admin.errors.ValidationFailed` names every invalid
field with its reason. The ``*_json`` serialisers produce the reference JSON shapes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar

import attrs

from autoassign.admin.errors import NotFound, Unauthorized, ValidationFailed
from autoassign.admin.store import (
    POLICY_FIELDS,
    AgentInfo,
    CapacityPolicyRecord,
    CapacityPolicyValues,
    DuplicateInboxLimit,
    InboxInfo,
    InboxLimitRecord,
    NameTaken,
    PolicyRecord,
    PolicyStore,
    PolicyValues,
)
from autoassign.errors import ConfigurationError
from autoassign.model import (
    MAX_DESCRIPTION_LENGTH,
    MAX_EXCLUDE_OLDER_THAN_HOURS,
    MAX_FAIR_DISTRIBUTION_LIMIT,
    MAX_FAIR_DISTRIBUTION_WINDOW,
    MAX_ID_LENGTH,
    MAX_LABEL_LENGTH,
    MAX_NAME_LENGTH,
    MAX_ROUTING_SECONDS,
    MAX_TOTAL_LIMIT,
    AccountId,
    AssignmentOrder,
    ConversationPriority,
    ExclusionRules,
    Id,
    text_problem,
)

__all__ = [
    "MAX_CONVERSATION_LIMIT",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_ID_LENGTH",
    "MAX_LABEL_LENGTH",
    "MAX_NAME_LENGTH",
    "Actor",
    "PolicyAdmin",
    "agent_json",
    "capacity_policy_json",
    "coerce_id",
    "id_problem",
    "inbox_json",
    "inbox_limit_json",
    "policy_json",
]

E = TypeVar("E", bound=enum.Enum)
Role = Literal["administrator", "agent"]
ROLES: frozenset[str] = frozenset({"administrator", "agent"})
MAX_CONVERSATION_LIMIT = 2**31 - 1
"""The largest ``conversation_limit`` (a SQL ``integer`` column); ``null`` is an
unlimited link."""
MAX_LABELS = 1000

CAPACITY_FIELDS = ("name", "description", "exclusion_rules", "total_limit")
EXCLUSION_FIELDS = ("excluded_labels", "exclude_older_than_hours")
LIMIT_FIELDS = ("inbox_id", "conversation_limit")


def _check_role(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value not in ROLES:
        raise ConfigurationError(
            f"role must be one of {sorted(ROLES)}, got {value!r}", field="role"
        )


@attrs.frozen(kw_only=True)
class Actor:
    """Who is calling: a user of one account with a role."""

    account: AccountId
    user: Id
    role: Role = attrs.field(validator=_check_role)

    @property
    def is_administrator(self) -> bool:
        return self.role == "administrator"


# -- input parsing -----------------------------------------------------------------------


def coerce_id(value: object) -> Id | None:
    """An id from JSON or a URL: an int (not a bool), or a string (a string of ASCII
    digits becomes an int). ``None`` when ``value`` cannot be an id."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if id_problem(value) is not None:
            return None
        if value.isascii() and value.isdigit():
            return int(value)
        return value
    return None


def id_problem(value: str) -> str | None:
    """Why the string ``value`` cannot be an id (empty, over
    :data:`~autoassign.model.MAX_ID_LENGTH` characters, or not valid text: see
    :func:`~autoassign.model.text_problem`), or ``None``."""
    return text_problem(value, max_length=MAX_ID_LENGTH)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Checker:
    """Collects every field error of one request."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def fail(self, field: str, reason: str) -> None:
        self.errors.setdefault(field, reason)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)

    def known(
        self, data: Mapping[str, object], allowed: Sequence[str], prefix: str = ""
    ) -> None:
        for key in data:
            if key not in allowed:
                self.fail(f"{prefix}{key}", "is not a permitted field")

    def name(self, data: Mapping[str, object], required: bool) -> str | None:
        if "name" not in data:
            if required:
                self.fail("name", "can't be blank")
            return None
        value = data["name"]
        if value is None or (isinstance(value, str) and not value.strip()):
            self.fail("name", "can't be blank")
        elif not isinstance(value, str):
            self.fail("name", "must be a string")
        elif problem := text_problem(value, max_length=MAX_NAME_LENGTH):
            self.fail("name", problem)
        else:
            return value
        return None

    def description(self, data: Mapping[str, object]) -> str | None:
        if "description" not in data:
            return None
        value = data["description"]
        if value is None:
            return ""
        if not isinstance(value, str):
            self.fail("description", "must be a string or null")
            return None
        problem = text_problem(
            value, max_length=MAX_DESCRIPTION_LENGTH, prose=True, allow_empty=True
        )
        if problem:
            self.fail("description", problem)
            return None
        return value

    def integer(
        self,
        data: Mapping[str, object],
        field: str,
        low: int,
        high: int,
        *,
        nullable: bool = False,
        label: str | None = None,
    ) -> tuple[bool, int | None]:
        """``(present and valid, value)``."""
        label = label or field
        if field not in data:
            return (False, None)
        value = data[field]
        if value is None:
            if nullable:
                return (True, None)
            self.fail(label, "can't be blank")
        elif not _is_int(value):
            self.fail(label, "must be an integer")
        else:
            assert isinstance(value, int)
            if not low <= value <= high:
                self.fail(label, f"must be between {low} and {high}")
            else:
                return (True, value)
        return (False, None)

    def enum_value(
        self, data: Mapping[str, object], field: str, kind: type[E]
    ) -> E | None:
        if field not in data:
            return None
        value = data[field]
        allowed = [member.value for member in kind]
        if isinstance(value, str) and value in allowed:
            return kind(value)
        self.fail(field, f"must be one of: {', '.join(allowed)}")
        return None

    def boolean(self, data: Mapping[str, object], field: str) -> bool | None:
        if field not in data:
            return None
        value = data[field]
        if isinstance(value, bool):
            return value
        self.fail(field, "must be true or false")
        return None

    def nullable_boolean(
        self, data: Mapping[str, object], field: str
    ) -> tuple[bool, bool | None]:
        """``(present and valid, value)``: ``true``, ``false`` or ``null``."""
        if field not in data:
            return (False, None)
        value = data[field]
        if value is None or isinstance(value, bool):
            return (True, value)
        self.fail(field, "must be true, false or null")
        return (False, None)

    def exclusion_rules(self, data: Mapping[str, object]) -> ExclusionRules | None:
        if "exclusion_rules" not in data:
            return None
        value = data["exclusion_rules"]
        if value is None:
            return ExclusionRules()
        if not isinstance(value, Mapping):
            self.fail("exclusion_rules", "must be an object")
            return None
        before = len(self.errors)
        self.known(value, EXCLUSION_FIELDS, prefix="exclusion_rules.")
        labels: list[str] = []
        raw_labels = value.get("excluded_labels")
        if raw_labels is not None:
            if not isinstance(raw_labels, list):
                self.fail(
                    "exclusion_rules.excluded_labels", "must be a list of strings"
                )
            elif len(raw_labels) > MAX_LABELS:
                self.fail(
                    "exclusion_rules.excluded_labels",
                    f"must have at most {MAX_LABELS} labels",
                )
            elif not all(isinstance(label, str) and label for label in raw_labels):
                self.fail(
                    "exclusion_rules.excluded_labels",
                    "must be a list of non-empty strings",
                )
            elif problem := next(
                filter(
                    None,
                    (
                        text_problem(label, max_length=MAX_LABEL_LENGTH)
                        for label in raw_labels
                    ),
                ),
                None,
            ):
                self.fail("exclusion_rules.excluded_labels", f"entries {problem}")
            else:
                labels = list(raw_labels)
        _, hours = self.integer(
            value,
            "exclude_older_than_hours",
            1,
            MAX_EXCLUDE_OLDER_THAN_HOURS,
            nullable=True,
            label="exclusion_rules.exclude_older_than_hours",
        )
        if len(self.errors) != before:
            return None
        return ExclusionRules(excluded_labels=labels, exclude_older_than_hours=hours)

    def conversation_limit(self, data: Mapping[str, object]) -> int | None:
        """An inbox limit's required ``conversation_limit``: an integer from 0 to
        :data:`MAX_CONVERSATION_LIMIT`, or ``null`` for an unlimited link (``None``
        also when it is invalid: the error is recorded)."""
        if "conversation_limit" not in data:
            self.fail("conversation_limit", "can't be blank")
            return None
        _, value = self.integer(
            data, "conversation_limit", 0, MAX_CONVERSATION_LIMIT, nullable=True
        )
        return value

    def identifier(self, data: Mapping[str, object], field: str) -> Id | None:
        if field not in data or data[field] is None:
            self.fail(field, "can't be blank")
            return None
        raw = data[field]
        value = coerce_id(raw)
        if value is None:
            problem = id_problem(raw) if isinstance(raw, str) else None
            self.fail(field, problem or "must be an integer or string id")
        return value


def _object(data: object) -> Mapping[str, object]:
    if not isinstance(data, Mapping):
        raise ValidationFailed({"base": "must be a JSON object"})
    return data


def _parse_policy(data: object, current: PolicyValues | None) -> PolicyValues:
    body = _object(data)
    check = _Checker()
    check.known(body, POLICY_FIELDS)
    name = check.name(body, required=current is None)
    description = check.description(body)
    order = check.enum_value(body, "assignment_order", AssignmentOrder)
    priority = check.enum_value(body, "conversation_priority", ConversationPriority)
    has_limit, limit = check.integer(
        body, "fair_distribution_limit", 0, MAX_FAIR_DISTRIBUTION_LIMIT, nullable=True
    )
    _, window = check.integer(
        body, "fair_distribution_window", 1, MAX_FAIR_DISTRIBUTION_WINDOW
    )
    enabled = check.boolean(body, "enabled")
    routing: dict[str, Any] = {}
    for field in ("sticky_window", "skill_relax_after"):
        has, seconds = check.integer(body, field, 0, MAX_ROUTING_SECONDS, nullable=True)
        if has:
            routing[field] = seconds
    has_routing, skill_routing = check.nullable_boolean(body, "skill_routing")
    if has_routing:
        routing["skill_routing"] = skill_routing
    check.raise_if_any()
    base = current if current is not None else PolicyValues(name=name or "")
    base = attrs.evolve(base, **routing)
    return PolicyValues(
        name=base.name if name is None else name,
        description=base.description if description is None else description,
        assignment_order=base.assignment_order if order is None else order,
        conversation_priority=(
            base.conversation_priority if priority is None else priority
        ),
        fair_distribution_limit=limit if has_limit else base.fair_distribution_limit,
        fair_distribution_window=(
            base.fair_distribution_window if window is None else window
        ),
        enabled=base.enabled if enabled is None else enabled,
        sticky_window=base.sticky_window,
        skill_routing=base.skill_routing,
        skill_relax_after=base.skill_relax_after,
    )


def _parse_capacity(
    data: object, current: CapacityPolicyValues | None
) -> CapacityPolicyValues:
    body = _object(data)
    check = _Checker()
    check.known(body, CAPACITY_FIELDS)
    name = check.name(body, required=current is None)
    description = check.description(body)
    rules = check.exclusion_rules(body)
    has_total, total = check.integer(
        body, "total_limit", 0, MAX_TOTAL_LIMIT, nullable=True
    )
    check.raise_if_any()
    base = current if current is not None else CapacityPolicyValues(name=name or "")
    return CapacityPolicyValues(
        name=base.name if name is None else name,
        description=base.description if description is None else description,
        exclusion_rules=base.exclusion_rules if rules is None else rules,
        total_limit=total if has_total else base.total_limit,
    )


# -- serialisers -------------------------------------------------------------------------


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())


ROUTING_FIELDS = ("sticky_window", "skill_routing", "skill_relax_after")
"""An assignment policy's routing settings (:mod:`autoassign.routing`), shown by
:func:`policy_json` only when set."""


def policy_json(record: PolicyRecord) -> dict[str, Any]:
    """The reference's assignment policy JSON, with each routing setting
    (``sticky_window``, ``skill_routing``, ``skill_relax_after``) that is set (absent
    otherwise, so the reference's shape is unchanged)."""
    values = record.values
    routing = {
        field: getattr(values, field)
        for field in ROUTING_FIELDS
        if getattr(values, field) is not None
    }
    return {
        "id": record.id,
        "name": values.name,
        "description": values.description,
        "assignment_order": values.assignment_order.value,
        "conversation_priority": values.conversation_priority.value,
        "fair_distribution_limit": values.fair_distribution_limit,
        "fair_distribution_window": values.fair_distribution_window,
        "enabled": values.enabled,
        "assigned_inbox_count": record.assigned_inbox_count,
        "created_at": _unix(record.created_at),
        "updated_at": _unix(record.updated_at),
        **routing,
    }


def _exclusion_rules_json(rules: ExclusionRules) -> dict[str, Any]:
    """The rules that are set, labels in the order given: ``{}`` for none (the
    reference's ``exclusion_rules`` column default)."""
    out: dict[str, Any] = {}
    if rules.excluded_labels:
        out["excluded_labels"] = list(rules.excluded_labels)
    if rules.exclude_older_than_hours is not None:
        out["exclude_older_than_hours"] = rules.exclude_older_than_hours
    return out


def capacity_policy_json(record: CapacityPolicyRecord) -> dict[str, Any]:
    """The reference's agent capacity policy JSON, with ``total_limit`` when one is
    set (absent otherwise, so the reference's shape is unchanged)."""
    rules = record.values.exclusion_rules
    extra = (
        {}
        if record.values.total_limit is None
        else {"total_limit": record.values.total_limit}
    )
    return {
        "id": record.id,
        "name": record.values.name,
        "description": record.values.description,
        "exclusion_rules": _exclusion_rules_json(rules),
        "created_at": _unix(record.created_at),
        "updated_at": _unix(record.updated_at),
        "account_id": record.account,
        "assigned_agent_count": record.assigned_agent_count,
        "inbox_capacity_limits": [
            {
                "id": limit.id,
                "inbox_id": limit.inbox,
                "conversation_limit": limit.conversation_limit,
            }
            for limit in record.inbox_limits
        ],
        **extra,
    }


def inbox_limit_json(
    record: InboxLimitRecord, *, inbox_name: str | None = None
) -> dict[str, Any]:
    """An inbox limit; with ``inbox_name`` as the reference's update view renders it."""
    out: dict[str, Any] = {"id": record.id, "inbox_id": record.inbox}
    if inbox_name is not None:
        out["inbox_name"] = inbox_name
    out.update(
        {
            "agent_capacity_policy_id": record.policy_id,
            "conversation_limit": record.conversation_limit,
            "created_at": _unix(record.created_at),
            "updated_at": _unix(record.updated_at),
        }
    )
    return out


def inbox_json(info: InboxInfo) -> dict[str, Any]:
    """The inbox partial: ``{id, name}``."""
    return {"id": info.id, "name": info.name}


def agent_json(info: AgentInfo) -> dict[str, Any]:
    """The user partial: ``{id, account_id, name, email, role}``."""
    return {
        "id": info.id,
        "account_id": info.account,
        "name": info.name,
        "email": info.email,
        "role": info.role,
    }


# -- the service -------------------------------------------------------------------------

POLICY_NOT_FOUND = "Assignment policy not found"
DUPLICATE_LIMIT = "Inbox has already been assigned to this policy"


class PolicyAdmin:
    """Validated, authorised, account-scoped administration over a
    :class:`~autoassign.admin.store.PolicyStore`.

    Methods take the payload *inside* the reference's wrapper (the HTTP layer unwraps
    ``{"assignment_policy": {...}}``) as a JSON-like mapping.
    """

    def __init__(self, store: PolicyStore) -> None:
        self.store = store

    @staticmethod
    def authorize(actor: Actor | None, account: AccountId) -> Actor:
        """The actor if it is an administrator of ``account``; else
        :class:`Unauthorized`."""
        if actor is None or actor.account != account or not actor.is_administrator:
            raise Unauthorized()
        return actor

    # -- assignment policies -------------------------------------------------------------

    def list_policies(
        self, actor: Actor | None, account: AccountId
    ) -> Sequence[PolicyRecord]:
        self.authorize(actor, account)
        return self.store.list_policies(account)

    def get_policy(
        self, actor: Actor | None, account: AccountId, policy: Id
    ) -> PolicyRecord:
        self.authorize(actor, account)
        return self._policy(account, policy)

    def _policy(self, account: AccountId, policy: Id) -> PolicyRecord:
        record = self.store.get_policy(account, policy)
        if record is None:
            raise NotFound()
        return record

    def create_policy(
        self, actor: Actor | None, account: AccountId, data: object
    ) -> PolicyRecord:
        self.authorize(actor, account)
        values = _parse_policy(data, None)
        try:
            return self.store.create_policy(account, values)
        except NameTaken:
            raise ValidationFailed({"name": "has already been taken"}) from None

    def update_policy(
        self, actor: Actor | None, account: AccountId, policy: Id, data: object
    ) -> PolicyRecord:
        self.authorize(actor, account)
        current = self._policy(account, policy)
        values = _parse_policy(data, current.values)
        try:
            record = self.store.update_policy(account, policy, values)
        except NameTaken:
            raise ValidationFailed({"name": "has already been taken"}) from None
        if record is None:
            raise NotFound()
        return record

    def delete_policy(
        self, actor: Actor | None, account: AccountId, policy: Id
    ) -> None:
        self.authorize(actor, account)
        if not self.store.delete_policy(account, policy):
            raise NotFound()

    def policy_inboxes(
        self, actor: Actor | None, account: AccountId, policy: Id
    ) -> Sequence[InboxInfo]:
        self.authorize(actor, account)
        self._policy(account, policy)
        return self.store.inboxes_of_policy(account, policy)

    # -- inbox links ---------------------------------------------------------------------

    def inbox_policy(
        self, actor: Actor | None, account: AccountId, inbox: Id
    ) -> PolicyRecord:
        self.authorize(actor, account)
        if not self.store.inbox_exists(account, inbox):
            raise NotFound()
        record = self.store.policy_of_inbox(account, inbox)
        if record is None:
            raise NotFound(POLICY_NOT_FOUND)
        return record

    def link_inbox(
        self, actor: Actor | None, account: AccountId, inbox: Id, data: object
    ) -> PolicyRecord:
        """Link ``inbox`` to ``data["assignment_policy_id"]``, replacing any link."""
        self.authorize(actor, account)
        if not self.store.inbox_exists(account, inbox):
            raise NotFound()
        body = _object(data)
        check = _Checker()
        check.known(body, ("assignment_policy_id",))
        policy = check.identifier(body, "assignment_policy_id")
        check.raise_if_any()
        assert policy is not None
        # False when the policy (or the inbox) is not in the account
        if not self.store.link_inbox(account, inbox, policy):
            raise NotFound()
        return self._policy(account, policy)

    def unlink_inbox(self, actor: Actor | None, account: AccountId, inbox: Id) -> None:
        self.authorize(actor, account)
        if not self.store.inbox_exists(account, inbox):
            raise NotFound()
        if not self.store.unlink_inbox(account, inbox):
            raise NotFound(POLICY_NOT_FOUND)

    # -- capacity policies ---------------------------------------------------------------

    def list_capacity_policies(
        self, actor: Actor | None, account: AccountId
    ) -> Sequence[CapacityPolicyRecord]:
        self.authorize(actor, account)
        return self.store.list_capacity_policies(account)

    def get_capacity_policy(
        self, actor: Actor | None, account: AccountId, policy: Id
    ) -> CapacityPolicyRecord:
        self.authorize(actor, account)
        return self._capacity(account, policy)

    def _capacity(self, account: AccountId, policy: Id) -> CapacityPolicyRecord:
        record = self.store.get_capacity_policy(account, policy)
        if record is None:
            raise NotFound()
        return record

    def create_capacity_policy(
        self, actor: Actor | None, account: AccountId, data: object
    ) -> CapacityPolicyRecord:
        self.authorize(actor, account)
        return self.store.create_capacity_policy(account, _parse_capacity(data, None))

    def update_capacity_policy(
        self, actor: Actor | None, account: AccountId, policy: Id, data: object
    ) -> CapacityPolicyRecord:
        self.authorize(actor, account)
        current = self._capacity(account, policy)
        values = _parse_capacity(data, current.values)
        record = self.store.update_capacity_policy(account, policy, values)
        if record is None:
            raise NotFound()
        return record

    def delete_capacity_policy(
        self, actor: Actor | None, account: AccountId, policy: Id
    ) -> None:
        self.authorize(actor, account)
        if not self.store.delete_capacity_policy(account, policy):
            raise NotFound()

    # -- capacity policy agents ----------------------------------------------------------

    def capacity_policy_agents(
        self, actor: Actor | None, account: AccountId, policy: Id
    ) -> Sequence[AgentInfo]:
        self.authorize(actor, account)
        self._capacity(account, policy)
        return self.store.agents_of_capacity_policy(account, policy)

    def add_capacity_policy_agent(
        self, actor: Actor | None, account: AccountId, policy: Id, data: object
    ) -> AgentInfo:
        """Put ``data["user_id"]`` on the policy, moving it off any other one."""
        self.authorize(actor, account)
        self._capacity(account, policy)
        body = _object(data)
        check = _Checker()
        check.known(body, ("user_id",))
        agent = check.identifier(body, "user_id")
        check.raise_if_any()
        assert agent is not None
        info = self.store.agent_info(account, agent)
        if info is None or not self.store.add_agent(account, policy, agent):
            raise NotFound()
        return info

    def remove_capacity_policy_agent(
        self, actor: Actor | None, account: AccountId, policy: Id, agent: Id
    ) -> None:
        self.authorize(actor, account)
        self._capacity(account, policy)
        if not self.store.remove_agent(account, policy, agent):
            raise NotFound()

    # -- inbox limits --------------------------------------------------------------------

    def add_inbox_limit(
        self, actor: Actor | None, account: AccountId, policy: Id, data: object
    ) -> InboxLimitRecord:
        self.authorize(actor, account)
        self._capacity(account, policy)
        body = _object(data)
        check = _Checker()
        check.known(body, LIMIT_FIELDS)
        inbox = check.identifier(body, "inbox_id")
        limit = check.conversation_limit(body)
        check.raise_if_any()
        assert inbox is not None
        if not self.store.inbox_exists(account, inbox):
            raise NotFound()
        try:
            record = self.store.add_inbox_limit(account, policy, inbox, limit)
        except DuplicateInboxLimit:
            raise ValidationFailed(
                {"inbox_id": "has already been assigned to this policy"},
                message=DUPLICATE_LIMIT,
                error=DUPLICATE_LIMIT,
            ) from None
        if record is None:
            raise NotFound()
        return record

    def update_inbox_limit(
        self,
        actor: Actor | None,
        account: AccountId,
        policy: Id,
        limit: Id,
        data: object,
    ) -> InboxLimitRecord:
        self.authorize(actor, account)
        self._capacity(account, policy)
        if self.store.get_inbox_limit(account, policy, limit) is None:
            raise NotFound()
        body = _object(data)
        check = _Checker()
        check.known(body, ("conversation_limit",))
        value = check.conversation_limit(body)
        check.raise_if_any()
        record = self.store.update_inbox_limit(account, policy, limit, value)
        if record is None:
            raise NotFound()
        return record

    def delete_inbox_limit(
        self, actor: Actor | None, account: AccountId, policy: Id, limit: Id
    ) -> None:
        self.authorize(actor, account)
        self._capacity(account, policy)
        if not self.store.delete_inbox_limit(account, policy, limit):
            raise NotFound()

    def inbox_name(self, account: AccountId, inbox: Id) -> str | None:
        """The inbox's display name (for the limit update view)."""
        info = self.store.inbox_info(account, inbox)
        return None if info is None else info.name
