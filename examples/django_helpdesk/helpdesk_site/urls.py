"""django-helpdesk's URLs, as its install guide has them."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("", include("helpdesk.urls", namespace="helpdesk")),
]
