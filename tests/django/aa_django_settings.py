"""Django settings for tests/django: PostgreSQL (database ``test`` on 127.0.0.1 holds
nothing of ours: each run creates and drops its own database), django-helpdesk and the
test app."""

from __future__ import annotations

import os
import uuid

RUN_DATABASE = f"aa_dj_{os.getpid()}_{uuid.uuid4().hex[:8]}"

SECRET_KEY = "tests-only"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SITE_ID = 1
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.sites",
    "django.contrib.humanize",
    "rest_framework",
    "helpdesk",
    "autoassign.integrations.django",
    "aa_djtest",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ.get("AUTOASSIGN_TEST_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("AUTOASSIGN_TEST_PG_PORT", "5432"),
        "USER": os.environ.get("AUTOASSIGN_TEST_PG_USER", "postgres"),
        "NAME": RUN_DATABASE,
        "CONN_MAX_AGE": 0,
        "OPTIONS": {"connect_timeout": 5},
    }
}
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
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
ROOT_URLCONF = "aa_djtest.urls"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
HELPDESK_PUBLIC_TICKET_QUEUE = None
AUTOASSIGN: dict[str, object] = {}
HELPDESK_TEAMS_MODE_ENABLED = False
