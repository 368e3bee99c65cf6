"""Django for tests/django: settings from ``aa_django_settings`` and a PostgreSQL
database of this run's own (``CREATE DATABASE aa_dj_<pid>_<random>``, migrated once,
dropped at the end), so parallel runs never collide. Without PostgreSQL the tests
skip (fail with ``CI=true``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("django", reason="install autoassign[test] for the Django tests")
pytest.importorskip("helpdesk", reason="install autoassign[test] for the Django tests")

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aa_django_settings")

import django  # noqa: E402
import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402


def _admin_dsn() -> str:
    db = settings.DATABASES["default"]
    return f"host={db['HOST']} port={db['PORT']} user={db['USER']} dbname=test connect_timeout=3"


def _reachable() -> tuple[bool, str]:
    try:
        with psycopg.connect(_admin_dsn()) as conn:
            conn.execute("select 1")
    except Exception as exc:
        return False, f"{_admin_dsn()}: {type(exc).__name__}: {exc}"
    return True, ""


@pytest.fixture(scope="session")
def django_db(require_service: Callable[[str, bool, str], None]) -> Iterator[str]:
    """This run's own migrated PostgreSQL database; its name."""
    require_service("PostgreSQL", *_reachable())
    name = settings.DATABASES["default"]["NAME"]
    with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        call_command("migrate", run_syncdb=True, verbosity=0)
        yield name
    finally:
        connections.close_all()
        with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db(django_db: str) -> Any:
    """The run's database (a test empties what it uses)."""
    return connection
