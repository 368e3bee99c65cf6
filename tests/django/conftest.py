"""Django for tests/django: settings from ``aa_django_settings`` and a PostgreSQL
database of this run's own (``CREATE DATABASE aa_dj_<pid>_<random>``, migrated once,
dropped at the end), so parallel runs never collide. Without PostgreSQL the tests
skip (fail with ``CI=true``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("django", reason="install autoassign[test] for the Django tests")
pytest.importorskip("helpdesk", reason="install autoassign[test] for the Django tests")

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent.parent / "examples" / "django_helpdesk"
for entry in (HERE, EXAMPLE):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aa_django_settings")

import django  # noqa: E402
import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402

django.setup()

import attrs  # noqa: E402
from aa_djtest.wiring import CLOCK  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Permission  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402
from helpdesk.models import FollowUp, Queue, Ticket  # noqa: E402

from autoassign.events import AssigneeChanged  # noqa: E402
from autoassign.integrations.django import (  # noqa: E402
    DjangoAutoassign,
    agent_seen,
    autoassign_event,
    get_autoassign,
    reset_autoassign,
)
from autoassign.testing import FakeClock  # noqa: E402


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


@attrs.define
class Helpdesk:
    """The example helpdesk in one test: queues, staff, tickets, and what autoassign
    published."""

    events: list[object] = attrs.field(factory=list)

    @property
    def app(self) -> DjangoAutoassign:
        return get_autoassign()

    @property
    def clock(self) -> FakeClock:
        return CLOCK

    def queue(self, slug: str = "support") -> Any:
        return Queue.objects.create(
            title=slug.title(), slug=slug, allow_public_submission=True
        )

    def staff(self, name: str, *, online: bool = True) -> Any:
        user = get_user_model().objects.create_user(name, is_staff=True)
        if online:
            agent_seen(self.app, user.pk)
        return user

    def ticket(self, queue: Any, title: str = "help") -> Any:
        return Ticket.objects.create(title=title, queue=queue)

    def assigned(self) -> list[AssigneeChanged]:
        return [e for e in self.events if isinstance(e, AssigneeChanged)]

    def open_counts(self, queue: Any) -> dict[Any, int]:
        rows = (
            Ticket.objects.filter(queue=queue, status__in=Ticket.OPEN_STATUSES)
            .exclude(assigned_to=None)
            .values_list("assigned_to_id", flat=True)
        )
        counts: dict[Any, int] = {}
        for agent in rows:
            counts[agent] = counts.get(agent, 0) + 1
        return counts

    def ledger_count(self, queue: Any, agent: Any) -> int:
        usage = self.app.backend.ledger.usage(
            queue.pk, [agent.pk], now=CLOCK.now(), window=timedelta(days=1)
        )
        found = usage.get(agent.pk)
        return found.count if found is not None else 0


def _wipe_redis(prefix: str) -> None:
    client = get_autoassign().redis
    for key in client.scan_iter(match=f"{prefix}*", count=500):
        client.delete(key)


@pytest.fixture
def helpdesk(
    db: Any, require_service: Callable[[str, bool, str], None]
) -> Iterator[Helpdesk]:
    """A clean helpdesk (no tickets, queues or users; no autoassign keys) with the
    example's wiring; the clock moved on a day so no earlier window counts."""
    try:
        get_autoassign().redis.ping()
    except Exception as exc:
        require_service("Redis", False, f"{settings.AUTOASSIGN['REDIS']}: {exc}")
    prefix = settings.AUTOASSIGN["PREFIX"]
    FollowUp.objects.all().delete()
    Ticket.objects.all().delete()
    Queue.objects.all().delete()
    Permission.objects.filter(codename__startswith="queue_access_").delete()
    get_user_model().objects.all().delete()
    _wipe_redis(prefix)
    CLOCK.advance(timedelta(days=1))
    world = Helpdesk()

    def record(sender: Any, event: object, **_: Any) -> None:
        world.events.append(event)

    autoassign_event.connect(record, dispatch_uid="tests-events")
    try:
        yield world
    finally:
        autoassign_event.disconnect(dispatch_uid="tests-events")
        _wipe_redis(prefix)
        reset_autoassign()
