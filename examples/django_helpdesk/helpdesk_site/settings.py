"""Settings of the example helpdesk. What autoassign needs: the three lines marked
``# host`` and the ``AUTOASSIGN`` block at the end; the rest is what django-helpdesk's
own install guide asks for."""

from __future__ import annotations

import os

from django.db.models import Q

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only")
DEBUG = True
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
SITE_ID = 1
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "helpdesk_site.urls"
LOGIN_URL = "/login/"
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
HELPDESK_TEAMS_MODE_ENABLED = False

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "rest_framework",
    "helpdesk",
    "autoassign.integrations.django",  # host
    "helpdesk_site.autoassign_host.HostAutoassign",  # host
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "autoassign.integrations.django.PresenceMiddleware",  # host
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
STATIC_URL = "/static/"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PORT": os.environ.get("PGPORT", "5432"),
        "USER": os.environ.get("PGUSER", "postgres"),
        "NAME": os.environ.get("PGDATABASE", "helpdesk"),
    }
}

# --- autoassign: the host's settings ---
AUTOASSIGN = {
    "CONVERSATIONS": {  # django-helpdesk's Ticket, mapped
        "model": "helpdesk.Ticket",
        "inbox": "queue",
        "assignee": "assigned_to",
        "status": "status",
        # OPEN and REOPENED are open; RESOLVED, CLOSED and DUPLICATE are not
        "status_map": {
            1: "open",
            2: "open",
            3: "resolved",
            4: "resolved",
            5: "resolved",
        },
        "created": "created",
        "last_activity": "modified",
        # for the highest_urgency and earliest_due priorities: priority runs from
        # 1 (critical) to 5 (very low), so the scale is turned round
        "urgency": "priority",
        "urgency_levels": {1: 4, 2: 3, 3: 2, 4: 1, 5: 0},
        "due": "due_date",
        "contact": "submitter_email",  # for sticky agents (AUTOASSIGN["STICKY"])
        "not_assignable": Q(on_hold=True),
    },
    "INBOX_MODEL": "helpdesk.Queue",
    "MEMBERS": "helpdesk_site.autoassign_host.members",
    "POLICY": {"assignment_order": "balanced", "fair_distribution_limit": 20},
    "CAPACITY_LIMIT": 5,
    "REDIS": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    "PREFIX": "helpdesk:autoassign",
}
# --- end of autoassign ---
