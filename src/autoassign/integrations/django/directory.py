""":class:`DjangoDirectory`: the directory port for the common Django shape: one
account (no tenant column), inboxes from a model, membership from a queryset the host
provides, agents as user primary keys, policies given in configuration."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import attrs
from django.apps import apps
from django.db import models

from autoassign.errors import ConfigurationError
from autoassign.integrations.django.repository import _errors
from autoassign.model import (
    ASSIGNMENT_V2_FEATURE,
    Account,
    AccountId,
    AgentId,
    AssignmentPolicy,
    CapacityPolicy,
    Inbox,
    InboxId,
    Team,
    TeamId,
    id_sort_key,
)

__all__ = ["DjangoDirectory", "Members", "PolicySource"]

Members = Callable[[InboxId], Iterable[AgentId]]
"""The agents of an inbox: any iterable of ids, usually a queryset such as
``User.objects.filter(is_staff=True, is_active=True).values_list("pk", flat=True)``."""


class PolicySource(Protocol):
    """Where a :class:`DjangoDirectory` reads policies instead of its own fields (the
    configuration models' :class:`~autoassign.integrations.django.config.source.ModelPolicies`)."""

    def policy_for_inbox(self, inbox: InboxId) -> AssignmentPolicy | None: ...

    def linked(self, inboxes: Collection[InboxId]) -> set[InboxId]: ...

    def capacity_policies_for_inbox(
        self, inbox: InboxId
    ) -> Sequence[CapacityPolicy]: ...


def _model(value: type[models.Model] | str, field: str) -> type[models.Model]:
    if isinstance(value, str):
        try:
            return apps.get_model(value)
        except (LookupError, ValueError) as exc:
            raise ConfigurationError(
                f"{field}: {value!r} is not an installed model: {exc}", field=field
            ) from None
    return value


@attrs.define(kw_only=True)
class DjangoDirectory:
    """:class:`~autoassign.ports.Directory` for a single-account Django host.

    Args:
        inbox_model: the inbox model (django-helpdesk's ``"helpdesk.Queue"``), or its
            label. Every row is an inbox of ``account``.
        members: ``members(inbox_id)`` returns the inbox's agents (a permission, a
            group, a through table: whatever queryset the host has). Returned in id
            order, duplicates removed.
        enabled: a boolean field of ``inbox_model`` that switches auto-assignment on
            for the inbox, or ``None`` (always on).
        account_id: the one account's id.
        features: the account's feature flags (``assignment_v2`` turns v2 on).
        policy: the assignment policy linked to every inbox without an entry in
            ``policies``; ``None`` links none.
        policies: per-inbox policies.
        capacity_limit: every member of every inbox may hold at most this many open
            conversations in it (``None``: no limit). Read as one capacity policy
            (id ``"default"``) whose agents are the inbox's members.
        capacity_policies: further capacity policies (their ``account`` must be
            ``account_id``).
        teams: ``teams(team_id)`` returns a :class:`~autoassign.Team` or ``None``
            (hosts with teams); default: no teams.
        policy_source: read policies, links and capacity from here instead of
            ``policy``, ``policies``, ``capacity_limit`` and ``capacity_policies``.
        agent_inboxes: ``agent_inboxes(agent)`` returns the agent's inboxes;
            default: every inbox whose ``members`` include the agent (one query per
            inbox).
    """

    inbox_model: type[models.Model] | str
    members: Members
    enabled: str | None = None
    account_id: AccountId = 1
    features: frozenset[str] = frozenset({ASSIGNMENT_V2_FEATURE})
    policy: AssignmentPolicy | None = None
    policies: Mapping[InboxId, AssignmentPolicy] = attrs.field(factory=dict)
    capacity_limit: int | None = None
    capacity_policies: Sequence[CapacityPolicy] = ()
    teams: Callable[[TeamId], Team | None] | None = None
    agent_inboxes: Callable[[AgentId], Iterable[InboxId]] | None = None
    policy_source: PolicySource | None = None

    def __attrs_post_init__(self) -> None:
        limit: object = self.capacity_limit
        if limit is not None and (type(limit) is not int or limit < 0):
            raise ConfigurationError(
                f"capacity_limit must be a non-negative integer or None, "
                f"got {self.capacity_limit!r}",
                field="capacity_limit",
            )
        for policy in (self.policy, *self.policies.values(), *self.capacity_policies):
            if policy is not None and policy.account != self.account_id:
                raise ConfigurationError(
                    f"policy {policy.id!r} belongs to account {policy.account!r}, "
                    f"not to this directory's account {self.account_id!r}",
                    field="account_id",
                )

    def _inboxes(self) -> models.QuerySet[Any]:
        return _model(self.inbox_model, "inbox_model")._default_manager.all()

    def _fields(self) -> list[str]:
        return ["pk", self.enabled] if self.enabled else ["pk"]

    def _inbox(self, row: Mapping[str, Any]) -> Inbox:
        return Inbox(
            id=row["pk"],
            account=self.account_id,
            enable_auto_assignment=bool(row[self.enabled]) if self.enabled else True,
        )

    def _policy(self, inbox: InboxId) -> AssignmentPolicy | None:
        return self.policies.get(inbox, self.policy)

    def _exists(self, inbox: InboxId) -> bool:
        with _errors("inbox lookup"):
            return bool(self._inboxes().filter(pk=inbox).exists())

    # -- the port ---------------------------------------------------------------------

    def account(self, account: AccountId) -> Account | None:
        if account != self.account_id:
            return None
        return Account(id=self.account_id, features=self.features)

    def inbox(self, inbox: InboxId) -> Inbox | None:
        with _errors("inbox lookup"):
            rows = list(self._inboxes().filter(pk=inbox).values(*self._fields()))
        return self._inbox(rows[0]) if rows else None

    def inbox_members(self, inbox: InboxId) -> Sequence[AgentId]:
        with _errors("inbox members"):
            found = set(self.members(inbox))
        return sorted(found, key=id_sort_key)

    def team(self, team: TeamId) -> Team | None:
        return self.teams(team) if self.teams is not None else None

    def policy_for_inbox(self, inbox: InboxId) -> AssignmentPolicy | None:
        if self.policy_source is not None:
            return self.policy_source.policy_for_inbox(inbox)
        policy = self._policy(inbox)
        if policy is None or not self._exists(inbox):
            return None
        return policy

    def capacity_policies_for_inbox(self, inbox: InboxId) -> Sequence[CapacityPolicy]:
        if self.policy_source is not None:
            return self.policy_source.capacity_policies_for_inbox(inbox)
        found = [p for p in self.capacity_policies if p.links(inbox)]
        if self.capacity_limit is not None and self._exists(inbox):
            found.insert(
                0,
                CapacityPolicy(
                    id="default",
                    account=self.account_id,
                    name="Default capacity",
                    inbox_limits={inbox: self.capacity_limit},
                    agents=frozenset(self.inbox_members(inbox)),
                ),
            )
        return found

    def inboxes_of_agent(self, account: AccountId, agent: AgentId) -> Sequence[InboxId]:
        if account != self.account_id:
            return ()
        if self.agent_inboxes is not None:
            with _errors("inboxes of agent"):
                return sorted(set(self.agent_inboxes(agent)), key=id_sort_key)
        with _errors("inboxes of agent"):
            ids = list(self._inboxes().order_by("pk").values_list("pk", flat=True))
        return [inbox for inbox in ids if agent in set(self.members(inbox))]

    def iter_accounts(
        self, *, feature: str, batch_size: int
    ) -> Iterator[Sequence[Account]]:
        record = self.account(self.account_id)
        if record is not None and record.has_feature(feature):
            yield [record]

    def iter_inboxes_with_policies(
        self, accounts: Sequence[AccountId], *, batch_size: int
    ) -> Iterator[Sequence[tuple[Inbox, AssignmentPolicy | None]]]:
        """:class:`~autoassign.ports.PagedPolicyDirectory`: the linked inboxes with
        their policies, a page at a time; with the configuration models, one query per
        page for the policies (a source with ``policies_for_inboxes``), instead of
        one :meth:`policy_for_inbox` per inbox."""
        if self.account_id not in accounts:
            return
        for page in self.iter_inboxes(self.account_id, batch_size=batch_size):
            source = self.policy_source
            if source is None:
                yield [(inbox, self._policy(inbox.id)) for inbox in page]
                continue
            bulk = getattr(source, "policies_for_inboxes", None)
            if bulk is None:
                yield [(inbox, source.policy_for_inbox(inbox.id)) for inbox in page]
                continue
            found = bulk([inbox.id for inbox in page])
            yield [(inbox, found.get(inbox.id)) for inbox in page]

    def iter_inboxes(
        self, account: AccountId, *, batch_size: int
    ) -> Iterator[Sequence[Inbox]]:
        if account != self.account_id:
            return
        with _errors("iter inboxes"):
            rows = list(self._inboxes().order_by("pk").values(*self._fields()))
        if self.policy_source is not None:
            with_link = self.policy_source.linked([row["pk"] for row in rows])
            linked = [self._inbox(row) for row in rows if row["pk"] in with_link]
        else:
            linked = [
                self._inbox(row) for row in rows if self._policy(row["pk"]) is not None
            ]
        for start in range(0, len(linked), max(1, batch_size)):
            yield linked[start : start + batch_size]
