"""A host's URLconf for the admin API tests: the shipped include, and a view with a
host-provided permission check (users in the ``autoassign-admins`` group)."""

from __future__ import annotations

from typing import Any

from django.urls import include, path, re_path

from autoassign.admin import Actor
from autoassign.integrations.django.admin_api import AdminApiView


def group_actor(request: Any) -> Actor | None:
    user = request.user
    if user.is_authenticated and user.groups.filter(name="autoassign-admins").exists():
        return Actor(account=1, user=user.pk, role="administrator")
    return None


urlpatterns = [
    path("autoassign/", include("autoassign.integrations.django.admin_urls")),
    re_path(r"^by-group/(?P<path>api/.*)$", AdminApiView(actor=group_actor)),
]
