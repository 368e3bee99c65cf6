"""Django admin registration of the configuration models."""

from __future__ import annotations

from django.contrib import admin

from autoassign.integrations.django.config.models import (
    AssignmentPolicyRow,
    CapacityLimitRow,
    CapacityPolicyRow,
    InboxPolicyLink,
)

__all__ = ["AssignmentPolicyAdmin", "CapacityPolicyAdmin"]


class _LinkInline(admin.TabularInline):  # type: ignore[type-arg]
    model = InboxPolicyLink
    extra = 1


class _LimitInline(admin.TabularInline):  # type: ignore[type-arg]
    model = CapacityLimitRow
    extra = 1


@admin.register(AssignmentPolicyRow)
class AssignmentPolicyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Policies with their inbox links inline."""

    list_display = (
        "name",
        "account",
        "assignment_order",
        "fair_distribution_limit",
        "enabled",
    )
    inlines = (_LinkInline,)


@admin.register(CapacityPolicyRow)
class CapacityPolicyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Capacity policies with their per-inbox limits inline."""

    list_display = ("name", "account", "exclude_older_than_hours")
    filter_horizontal = ("agents",)
    inlines = (_LimitInline,)
