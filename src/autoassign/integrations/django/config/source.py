""":class:`ModelPolicies`: the directory's policies read from the configuration models."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import attrs

from autoassign.integrations.django.config.models import (
    CapacityLimitRow,
    CapacityPolicyRow,
    InboxPolicyLink,
)
from autoassign.integrations.django.repository import _errors
from autoassign.model import AccountId, AssignmentPolicy, CapacityPolicy, InboxId

__all__ = ["ModelPolicies"]


@attrs.frozen
class ModelPolicies:
    """Policies, inbox links and capacity from the ``autoassign_config`` tables, for
    :class:`~autoassign.integrations.django.DjangoDirectory` (``policy_source=``): the
    rows of ``account`` only. Every read is one query (capacity: three, whatever the
    number of policies)."""

    account: AccountId = 1

    def policy_for_inbox(self, inbox: InboxId) -> AssignmentPolicy | None:
        with _errors("policy for inbox"):
            link = (
                InboxPolicyLink.objects.select_related("policy")
                .filter(inbox_id=inbox, policy__account=self.account)
                .first()
            )
        return link.policy.to_policy(self.account) if link is not None else None

    def policies_for_inboxes(
        self, inboxes: Collection[InboxId]
    ) -> dict[InboxId, AssignmentPolicy]:
        """The linked policy of each of ``inboxes`` that has one, in one query (what
        :meth:`policy_for_inbox` returns for each)."""
        with _errors("policies for inboxes"):
            links = list(
                InboxPolicyLink.objects.select_related("policy").filter(
                    inbox_id__in=list(inboxes), policy__account=self.account
                )
            )
        return {link.inbox_id: link.policy.to_policy(self.account) for link in links}

    def linked(self, inboxes: Collection[InboxId]) -> set[InboxId]:
        """Which of ``inboxes`` have a linked policy."""
        with _errors("linked inboxes"):
            return set(
                InboxPolicyLink.objects.filter(
                    inbox_id__in=list(inboxes), policy__account=self.account
                ).values_list("inbox_id", flat=True)
            )

    def capacity_policies_for_inbox(self, inbox: InboxId) -> Sequence[CapacityPolicy]:
        with _errors("capacity policies"):
            rows = list(
                CapacityPolicyRow.objects.filter(
                    account=self.account, limits__inbox_id=inbox
                )
                .distinct()
                .order_by("pk")
            )
            ids = [row.pk for row in rows]
            limits: dict[Any, dict[InboxId, int | None]] = {pk: {} for pk in ids}
            for policy, limit_inbox, limit in CapacityLimitRow.objects.filter(
                policy_id__in=ids
            ).values_list("policy_id", "inbox_id", "conversation_limit"):
                limits[policy][limit_inbox] = limit
            agents: dict[Any, set[Any]] = {pk: set() for pk in ids}
            for policy, agent in CapacityPolicyRow.objects.filter(
                pk__in=ids, agents__isnull=False
            ).values_list("pk", "agents"):
                agents[policy].add(agent)
        return tuple(
            row.to_policy(self.account, limits[row.pk], frozenset(agents[row.pk]))
            for row in rows
        )
