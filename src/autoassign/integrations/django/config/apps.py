"""The optional configuration app."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["ConfigAppConfig"]


class ConfigAppConfig(AppConfig):
    """Assignment and capacity policies stored in Django tables (label
    ``autoassign_config``)."""

    name = "autoassign.integrations.django.config"
    label = "autoassign_config"
    verbose_name = "autoassign configuration"
    default_auto_field = "django.db.models.BigAutoField"
