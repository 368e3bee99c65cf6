"""The host's autoassign code: who may take a queue's tickets, and the hooks."""

from __future__ import annotations

from django.apps import AppConfig
from django.contrib.auth import get_user_model

from autoassign.integrations.django import connect_presence, connect_triggers


def members(queue_id):
    """Every active staff user may take any queue's tickets (django-helpdesk's
    default; filter by ``queue.permission_name`` for per-queue staff)."""
    staff = get_user_model().objects.filter(is_staff=True, is_active=True)
    return staff.values_list("pk", flat=True)


class HostAutoassign(AppConfig):
    name = "helpdesk_site"

    def ready(self):
        connect_triggers()
        connect_presence()
