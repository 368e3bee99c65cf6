"""The :class:`PolicyStore` port: where policy administration reads and writes.

Records returned by a store are immutable ``attrs`` values. Every method is scoped by
account: a record of another account is treated exactly like a missing one (``None`` /
``False``), so callers can never tell them apart. Values handed to a store have already
been validated by :class:`autoassign.admin.PolicyAdmin`; a store only enforces the
invariants that need atomicity (unique names, one limit per inbox per policy, one
capacity policy per agent).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import attrs

from autoassign.model import (
    DEFAULT_FAIR_DISTRIBUTION_WINDOW,
    AccountId,
    AgentId,
    AssignmentOrder,
    ConversationPriority,
    ExclusionRules,
    Id,
    InboxId,
    PolicyId,
)

__all__ = [
    "DEFAULT_FAIR_DISTRIBUTION_LIMIT",
    "POLICY_FIELDS",
    "AgentInfo",
    "CapacityPolicyRecord",
    "CapacityPolicyValues",
    "DuplicateInboxLimit",
    "InboxInfo",
    "InboxLimitRecord",
    "LimitId",
    "NameTaken",
    "PolicyRecord",
    "PolicyStore",
    "PolicyValues",
    "StoreConflict",
]

LimitId = Id
"""The id of one inbox capacity limit."""

DEFAULT_FAIR_DISTRIBUTION_LIMIT = 100
"""The reference's column default for ``fair_distribution_limit``."""


class StoreConflict(Exception):
    """A write would break a uniqueness invariant; nothing was changed."""

    field: str = "base"


class NameTaken(StoreConflict):
    """Another assignment policy of the account already has this name."""

    field = "name"


class DuplicateInboxLimit(StoreConflict):
    """The capacity policy already has a limit for this inbox."""

    field = "inbox_id"


@attrs.frozen(kw_only=True)
class PolicyValues:
    """The editable fields of an assignment policy (already validated)."""

    name: str
    description: str = ""
    assignment_order: AssignmentOrder = AssignmentOrder.ROUND_ROBIN
    conversation_priority: ConversationPriority = ConversationPriority.EARLIEST_CREATED
    fair_distribution_limit: int | None = DEFAULT_FAIR_DISTRIBUTION_LIMIT
    fair_distribution_window: int = DEFAULT_FAIR_DISTRIBUTION_WINDOW
    enabled: bool = True
    sticky_window: int | None = None
    """:attr:`~autoassign.model.AssignmentPolicy.sticky_window` (``None``: as
    wired)."""
    skill_routing: bool | None = None
    """:attr:`~autoassign.model.AssignmentPolicy.skill_routing` (``None``: as
    wired)."""
    skill_relax_after: int | None = None
    """:attr:`~autoassign.model.AssignmentPolicy.skill_relax_after` (``None``: as
    wired)."""


POLICY_FIELDS: tuple[str, ...] = tuple(
    field.name for field in attrs.fields(PolicyValues)
)
"""The editable fields of an assignment policy, in order: :class:`PolicyValues`'
attributes, which :class:`~autoassign.model.AssignmentPolicy` shares (and the SQL
``assignment_policies`` columns of the same names)."""


@attrs.frozen(kw_only=True)
class PolicyRecord:
    """A stored assignment policy as the admin API shows it."""

    id: PolicyId
    account: AccountId
    values: PolicyValues
    assigned_inbox_count: int
    created_at: datetime
    updated_at: datetime


@attrs.frozen(kw_only=True)
class CapacityPolicyValues:
    """The editable fields of an agent capacity policy (already validated)."""

    name: str
    description: str = ""
    exclusion_rules: ExclusionRules = attrs.field(factory=ExclusionRules)
    total_limit: int | None = None
    """:attr:`~autoassign.model.CapacityPolicy.total_limit`."""


@attrs.frozen(kw_only=True)
class InboxLimitRecord:
    """One per-inbox conversation limit of a capacity policy; it has its own id.
    ``conversation_limit`` ``None``: an unlimited link (the policy's exclusion rules
    apply in the inbox, capacity removes nobody)."""

    id: LimitId
    policy_id: PolicyId
    inbox: InboxId
    conversation_limit: int | None
    created_at: datetime
    updated_at: datetime


@attrs.frozen(kw_only=True)
class CapacityPolicyRecord:
    """A stored agent capacity policy with its limits (ordered by limit id) and the
    number of agents on it."""

    id: PolicyId
    account: AccountId
    values: CapacityPolicyValues
    inbox_limits: tuple[InboxLimitRecord, ...]
    assigned_agent_count: int
    created_at: datetime
    updated_at: datetime


@attrs.frozen(kw_only=True)
class InboxInfo:
    """What the admin API shows of an inbox (the host owns the real record)."""

    id: InboxId
    account: AccountId
    name: str


@attrs.frozen(kw_only=True)
class AgentInfo:
    """What the admin API shows of an agent (the host owns the real record)."""

    id: AgentId
    account: AccountId
    name: str
    email: str | None = None
    role: str = "agent"


class PolicyStore(Protocol):
    """**Port:** persistent policy administration, scoped by account.

    Guarantees every implementation keeps:

    * Account scoping: a record whose account differs from the ``account`` argument is
      invisible (reads return ``None``/empty, writes return ``None``/``False`` and
      change nothing).
    * Atomicity: each method is one transaction; when it raises or reports "not found"
      nothing has changed.
    * Ids are assigned by the store, never reused within a store, and stable.
    * ``created_at``/``updated_at`` come from the store's clock; a write that changes a
      record sets its ``updated_at``.
    * Every committed change is visible to the next assignment pass (the store writes
      to, or is, the host's :class:`~autoassign.ports.Directory`).
    * Lists are ordered by id (using :func:`autoassign.model.id_sort_key`).
    """

    # -- assignment policies -------------------------------------------------------------

    def list_policies(self, account: AccountId) -> Sequence[PolicyRecord]:
        """**Port:** every assignment policy of ``account``, ordered by id."""
        ...

    def get_policy(self, account: AccountId, policy: PolicyId) -> PolicyRecord | None:
        """**Port:** one assignment policy of ``account``, or ``None``."""
        ...

    def create_policy(self, account: AccountId, values: PolicyValues) -> PolicyRecord:
        """**Port:** store a new policy and return it. Raises :class:`NameTaken` (and
        stores nothing) if a policy of ``account`` already has ``values.name``."""
        ...

    def update_policy(
        self, account: AccountId, policy: PolicyId, values: PolicyValues
    ) -> PolicyRecord | None:
        """**Port:** replace every editable field of the policy; ``None`` if it does not
        exist in ``account``. Raises :class:`NameTaken` if another policy of the account
        has ``values.name``. Links are kept."""
        ...

    def delete_policy(self, account: AccountId, policy: PolicyId) -> bool:
        """**Port:** delete the policy and unlink every inbox linked to it, atomically.
        Returns whether it existed."""
        ...

    # -- inbox links ---------------------------------------------------------------------

    def policy_of_inbox(
        self, account: AccountId, inbox: InboxId
    ) -> PolicyRecord | None:
        """**Port:** the policy linked to ``inbox`` (at most one), or ``None``."""
        ...

    def link_inbox(self, account: AccountId, inbox: InboxId, policy: PolicyId) -> bool:
        """**Port:** link ``inbox`` to ``policy``, replacing any existing link. Returns
        ``False`` (and changes nothing) if the inbox or the policy is not in
        ``account``."""
        ...

    def unlink_inbox(self, account: AccountId, inbox: InboxId) -> bool:
        """**Port:** remove the inbox's link. Returns whether there was one."""
        ...

    def inboxes_of_policy(
        self, account: AccountId, policy: PolicyId
    ) -> Sequence[InboxInfo]:
        """**Port:** the inboxes linked to ``policy``, ordered by id (empty when the
        policy does not exist)."""
        ...

    # -- capacity policies ---------------------------------------------------------------

    def list_capacity_policies(
        self, account: AccountId
    ) -> Sequence[CapacityPolicyRecord]:
        """**Port:** every capacity policy of ``account``, ordered by id."""
        ...

    def get_capacity_policy(
        self, account: AccountId, policy: PolicyId
    ) -> CapacityPolicyRecord | None:
        """**Port:** one capacity policy of ``account``, or ``None``."""
        ...

    def create_capacity_policy(
        self, account: AccountId, values: CapacityPolicyValues
    ) -> CapacityPolicyRecord:
        """**Port:** store a new capacity policy (no limits, no agents) and return it.
        Names need not be unique."""
        ...

    def update_capacity_policy(
        self, account: AccountId, policy: PolicyId, values: CapacityPolicyValues
    ) -> CapacityPolicyRecord | None:
        """**Port:** replace the editable fields (limits and agents are kept); ``None``
        if the policy does not exist in ``account``."""
        ...

    def delete_capacity_policy(self, account: AccountId, policy: PolicyId) -> bool:
        """**Port:** delete the policy and its inbox limits, and take its agents off it
        (they end with no capacity policy), atomically. Returns whether it existed."""
        ...

    # -- inbox limits --------------------------------------------------------------------

    def get_inbox_limit(
        self, account: AccountId, policy: PolicyId, limit: LimitId
    ) -> InboxLimitRecord | None:
        """**Port:** one limit of ``policy``, or ``None``."""
        ...

    def add_inbox_limit(
        self,
        account: AccountId,
        policy: PolicyId,
        inbox: InboxId,
        conversation_limit: int | None,
    ) -> InboxLimitRecord | None:
        """**Port:** add a limit for ``inbox`` to ``policy`` (``conversation_limit``
        ``None``: an unlimited link, stored as such). ``None`` if the policy or
        the inbox is not in ``account``; raises :class:`DuplicateInboxLimit` if the
        policy already has a limit for ``inbox``."""
        ...

    def update_inbox_limit(
        self,
        account: AccountId,
        policy: PolicyId,
        limit: LimitId,
        conversation_limit: int | None,
    ) -> InboxLimitRecord | None:
        """**Port:** change a limit's ``conversation_limit`` (``None``: unlimited);
        ``None`` if the limit is not one of ``policy`` in ``account``."""
        ...

    def delete_inbox_limit(
        self, account: AccountId, policy: PolicyId, limit: LimitId
    ) -> bool:
        """**Port:** delete one limit of ``policy``. Returns whether it existed."""
        ...

    # -- agents --------------------------------------------------------------------------

    def agents_of_capacity_policy(
        self, account: AccountId, policy: PolicyId
    ) -> Sequence[AgentInfo]:
        """**Port:** the agents on ``policy``, ordered by id (empty when the policy does
        not exist)."""
        ...

    def capacity_policy_of_agent(
        self, account: AccountId, agent: AgentId
    ) -> PolicyId | None:
        """**Port:** the id of the agent's capacity policy in ``account`` (at most one),
        or ``None``."""
        ...

    def add_agent(self, account: AccountId, policy: PolicyId, agent: AgentId) -> bool:
        """**Port:** put ``agent`` on ``policy``, atomically taking it off any other
        capacity policy of ``account`` (a move). Idempotent. ``False`` (nothing
        changed) if the policy or the agent is not in ``account``."""
        ...

    def remove_agent(
        self, account: AccountId, policy: PolicyId, agent: AgentId
    ) -> bool:
        """**Port:** take ``agent`` off ``policy``. Returns whether it was on it."""
        ...

    # -- host lookups --------------------------------------------------------------------

    def inbox_exists(self, account: AccountId, inbox: InboxId) -> bool:
        """**Port:** whether ``inbox`` exists and belongs to ``account``."""
        ...

    def agent_exists(self, account: AccountId, agent: AgentId) -> bool:
        """**Port:** whether ``agent`` is a user of ``account``."""
        ...

    def inbox_info(self, account: AccountId, inbox: InboxId) -> InboxInfo | None:
        """**Port:** the inbox as the API shows it, or ``None`` if not in ``account``."""
        ...

    def agent_info(self, account: AccountId, agent: AgentId) -> AgentInfo | None:
        """**Port:** the agent as the API shows it, or ``None`` if not in ``account``."""
        ...
