"""Django settings for tests/django: the example project's (examples/django_helpdesk,
django-helpdesk wired with autoassign) with this run's own PostgreSQL database and
Redis key prefix, a fake clock, and the test app."""

from __future__ import annotations

import os
import uuid

from helpdesk_site.settings import *  # noqa: F403
from helpdesk_site.settings import AUTOASSIGN, DATABASES, INSTALLED_APPS

RUN_ID = os.environ.get("AA_DJ_RUN_ID") or f"{os.getpid()}_{uuid.uuid4().hex[:8]}"

DATABASES["default"].update(
    HOST=os.environ.get("AUTOASSIGN_TEST_PG_HOST", "127.0.0.1"),
    PORT=os.environ.get("AUTOASSIGN_TEST_PG_PORT", "5432"),
    USER=os.environ.get("AUTOASSIGN_TEST_PG_USER", "postgres"),
    NAME=f"aa_dj_{RUN_ID}",
    CONN_MAX_AGE=0,
    OPTIONS={"connect_timeout": 5},
)
INSTALLED_APPS = [*INSTALLED_APPS, "autoassign.integrations.django.config", "aa_djtest"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
AUTOASSIGN = {
    **AUTOASSIGN,
    "REDIS": os.environ.get("AUTOASSIGN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "PREFIX": f"aa-test-django-{RUN_ID}",
    "CLOCK": "aa_djtest.wiring.clock",
    "JOBS": os.environ.get("AA_DJ_JOBS", "inline"),
    "OPTIONS": {"strict": True},
}
