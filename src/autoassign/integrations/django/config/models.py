"""Assignment policies, inbox links, capacity policies and limits as Django models.

Inbox and agent ids are stored as integers (the host's primary keys); agents are a
many-to-many to the user model. Field rules follow :mod:`autoassign.model`, which
validates every row when it is read (:meth:`AssignmentPolicyRow.to_policy`), so the
admin's ``clean()`` refuses what the engine would refuse.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from autoassign.errors import ConfigurationError
from autoassign.model import (
    DEFAULT_FAIR_DISTRIBUTION_WINDOW,
    AccountId,
    AssignmentOrder,
    AssignmentPolicy,
    CapacityPolicy,
    ConversationPriority,
    ExclusionRules,
    stored_routing_seconds,
    stored_skill_routing,
    stored_total_limit,
)

__all__ = [
    "AssignmentPolicyRow",
    "CapacityLimitRow",
    "CapacityPolicyRow",
    "InboxPolicyLink",
    "default_account",
]


def _check(build: Any) -> None:
    try:
        build()
    except ConfigurationError as exc:
        raise ValidationError({exc.field or "__all__": str(exc)}) from exc


def default_account() -> Any:
    """A new row's account: ``AUTOASSIGN['ACCOUNT']`` (default ``1``), the one account
    of a single-account host."""
    return getattr(settings, "AUTOASSIGN", {}).get("ACCOUNT", 1)


def _account_field() -> Any:
    return models.BigIntegerField(
        default=default_account,
        help_text="The account (tenant) id; AUTOASSIGN['ACCOUNT'] on a single-account"
        " host.",
    )


def _stamp_field() -> Any:
    return models.DateTimeField(default=timezone.now, editable=False)


class AssignmentPolicyRow(models.Model):
    """An :class:`~autoassign.AssignmentPolicy` (names are unique per account)."""

    account = _account_field()
    name: models.CharField[str, str] = models.CharField(max_length=255)
    description: models.TextField[str, str] = models.TextField(blank=True, default="")
    assignment_order: models.CharField[str, str] = models.CharField(
        max_length=32,
        choices=[(o.value, o.value) for o in AssignmentOrder],
        default=AssignmentOrder.ROUND_ROBIN.value,
    )
    conversation_priority: models.CharField[str, str] = models.CharField(
        max_length=32,
        choices=[(p.value, p.value) for p in ConversationPriority],
        default=ConversationPriority.EARLIEST_CREATED.value,
    )
    fair_distribution_limit: models.PositiveIntegerField[int | None, int | None] = (
        models.PositiveIntegerField(null=True, blank=True)
    )
    fair_distribution_window: models.PositiveIntegerField[int, int] = (
        models.PositiveIntegerField(default=DEFAULT_FAIR_DISTRIBUTION_WINDOW)
    )
    enabled: models.BooleanField[bool, bool] = models.BooleanField(default=True)
    sticky_window: models.PositiveIntegerField[int | None, int | None] = (
        models.PositiveIntegerField(
            null=True,
            blank=True,
            help_text="Sticky agents' window in seconds for this policy's inboxes "
            "(0: off there; empty: as wired).",
        )
    )
    skill_routing: models.BooleanField[bool | None, bool | None] = models.BooleanField(
        null=True,
        blank=True,
        help_text="Whether skills routing applies to this policy's inboxes (No: "
        "off there; empty or Yes: as wired).",
    )
    skill_relax_after: models.PositiveIntegerField[int | None, int | None] = (
        models.PositiveIntegerField(
            null=True,
            blank=True,
            help_text="Seconds of waiting after which skill requirements are dropped "
            "(0: never; empty: as wired).",
        )
    )
    created_at = _stamp_field()
    updated_at = _stamp_field()

    class Meta:
        verbose_name = "assignment policy"
        verbose_name_plural = "assignment policies"
        constraints = (
            models.UniqueConstraint(
                fields=("account", "name"), name="autoassign_policy_name_per_account"
            ),
        )

    def __str__(self) -> str:
        return str(self.name)

    def to_policy(self, account: AccountId) -> AssignmentPolicy:
        """The domain policy (raises ConfigurationError for an invalid row; a routing
        setting out of range reads as unset, as wired, as in the SQL adapter)."""
        return self._policy(self.pk, account)

    def _policy(
        self, id: Any, account: AccountId, *, stored: bool = True
    ) -> AssignmentPolicy:
        """``stored``: the routing settings as a pass reads them (never failing);
        ``False``: as given, so that :meth:`clean` refuses what the model would."""
        routing: dict[str, Any] = {
            "sticky_window": self.sticky_window,
            "skill_routing": self.skill_routing,
            "skill_relax_after": self.skill_relax_after,
        }
        if stored:
            routing = {
                "sticky_window": stored_routing_seconds(self.sticky_window),
                "skill_routing": stored_skill_routing(self.skill_routing),
                "skill_relax_after": stored_routing_seconds(self.skill_relax_after),
            }
        return AssignmentPolicy(
            id=id,
            account=account,
            name=self.name,
            description=self.description,
            assignment_order=self.assignment_order,
            conversation_priority=self.conversation_priority,
            fair_distribution_limit=self.fair_distribution_limit,
            fair_distribution_window=self.fair_distribution_window,
            enabled=self.enabled,
            **routing,
        )

    def clean(self) -> None:
        _check(
            lambda: self._policy(self.pk if self.pk is not None else 0, 1, stored=False)
        )


class InboxPolicyLink(models.Model):
    """Links one inbox (the host's primary key) to one assignment policy."""

    inbox_id: models.BigIntegerField[int, int] = models.BigIntegerField(unique=True)
    policy: models.ForeignKey[AssignmentPolicyRow, AssignmentPolicyRow] = (
        models.ForeignKey(
            AssignmentPolicyRow, on_delete=models.CASCADE, related_name="links"
        )
    )

    class Meta:
        verbose_name = "inbox policy link"

    def __str__(self) -> str:
        return f"inbox {self.inbox_id} -> {self.policy}"


class CapacityPolicyRow(models.Model):
    """A :class:`~autoassign.CapacityPolicy`: its agents, exclusion rules and limits
    (names need not be unique)."""

    account = _account_field()
    name: models.CharField[str, str] = models.CharField(max_length=255)
    description: models.TextField[str, str] = models.TextField(blank=True, default="")
    agents = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="autoassign_capacity"
    )
    excluded_labels = models.JSONField(default=list, blank=True)
    exclude_older_than_hours: models.PositiveIntegerField[int | None, int | None] = (
        models.PositiveIntegerField(null=True, blank=True)
    )
    total_limit: models.PositiveIntegerField[int | None, int | None] = (
        models.PositiveIntegerField(
            null=True,
            blank=True,
            help_text="The most open conversations each agent may hold across all "
            "inboxes (empty: no such limit).",
        )
    )
    created_at = _stamp_field()
    updated_at = _stamp_field()

    class Meta:
        verbose_name = "capacity policy"
        verbose_name_plural = "capacity policies"

    def __str__(self) -> str:
        return str(self.name)

    def rules(self) -> ExclusionRules:
        labels = self.excluded_labels
        if not isinstance(labels, list):
            raise ConfigurationError(
                "excluded_labels must be a list of labels", field="excluded_labels"
            )
        return ExclusionRules(
            excluded_labels=labels,
            exclude_older_than_hours=self.exclude_older_than_hours,
        )

    def clean(self) -> None:
        _check(self.rules)

    def to_policy(
        self,
        account: AccountId,
        limits: dict[Any, int | None],
        agents: frozenset[Any],
    ) -> CapacityPolicy:
        return CapacityPolicy(
            id=self.pk,
            account=account,
            name=self.name,
            description=self.description,
            inbox_limits=limits,
            agents=agents,
            exclusion_rules=self.rules(),
            total_limit=stored_total_limit(self.total_limit),
        )


class CapacityLimitRow(models.Model):
    """At most ``conversation_limit`` open conversations per agent of the policy in the
    inbox (``0``: never assigned there); empty (``NULL``): an unlimited link, where the
    policy's exclusion rules apply and capacity caps nobody."""

    policy: models.ForeignKey[CapacityPolicyRow, CapacityPolicyRow] = models.ForeignKey(
        CapacityPolicyRow, on_delete=models.CASCADE, related_name="limits"
    )
    inbox_id: models.BigIntegerField[int, int] = models.BigIntegerField()
    conversation_limit: models.PositiveIntegerField[int | None, int | None] = (
        models.PositiveIntegerField(
            null=True,
            blank=True,
            help_text="Empty: unlimited (the policy's exclusion rules still apply).",
        )
    )
    created_at = _stamp_field()
    updated_at = _stamp_field()

    class Meta:
        verbose_name = "capacity limit"
        unique_together = (("policy", "inbox_id"),)

    def __str__(self) -> str:
        if self.conversation_limit is None:
            return f"{self.policy}: inbox {self.inbox_id} unlimited"
        return f"{self.policy}: inbox {self.inbox_id} <= {self.conversation_limit}"
