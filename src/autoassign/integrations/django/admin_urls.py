"""The admin API's URLs: ``path("autoassign/", include(
"autoassign.integrations.django.admin_urls"))`` serves ``autoassign/api/v1/accounts/...``
to active staff users, over the configuration models (see ``docs/django.md``)."""

from __future__ import annotations

from django.urls import re_path

from autoassign.integrations.django.admin_api import AdminApiView

__all__ = ["app_name", "urlpatterns"]

app_name = "autoassign_admin"

urlpatterns = [
    re_path(r"^(?P<path>api/.*)$", AdminApiView(), name="api"),
]
