"""The Django app (``"autoassign.integrations.django"`` in ``INSTALLED_APPS``)."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["AutoassignConfig"]


class AutoassignConfig(AppConfig):
    """Registers the management commands. Connects nothing by itself: the host calls
    :func:`~autoassign.integrations.django.connect_triggers` and
    :func:`~autoassign.integrations.django.connect_presence` (usually from its own
    ``AppConfig.ready``)."""

    name = "autoassign.integrations.django"
    label = "autoassign"
    verbose_name = "autoassign"
