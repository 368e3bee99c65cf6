"""Faults done for real: PostgreSQL terminates the integration's connection, and a Redis
server this test started stops in the middle of the helpdesk's work. The host's saves
never break; autoassign reports the failure and catches up once the service is back."""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from helpdesk.models import Ticket

from autoassign.errors import BackendUnavailable
from autoassign.integrations.django import agent_seen, get_autoassign, reset_autoassign

from .conftest import Helpdesk, _admin_dsn

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_a_terminated_database_connection_is_backend_unavailable(
    helpdesk: Helpdesk,
) -> None:
    queue = helpdesk.queue()
    ticket = helpdesk.ticket(queue)
    repository = get_autoassign().repository
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    with psycopg.connect(_admin_dsn(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    with pytest.raises(BackendUnavailable) as info:
        repository.get(ticket.pk)
    assert info.value.__cause__ is not None
    connection.close()  # Django reconnects on the next query
    found = repository.get(ticket.pk)
    assert found is not None
    assert found.id == ticket.pk


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _RedisServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def own_redis(require_service: Any) -> Iterator[_RedisServer]:
    server = _RedisServer(_free_port())
    try:
        server.start()
    except (OSError, RuntimeError) as exc:
        require_service("redis-server", False, str(exc))
    try:
        yield server
    finally:
        server.stop()


def test_redis_stopping_never_breaks_a_save_and_the_backlog_is_taken_later(
    helpdesk: Helpdesk, own_redis: _RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"redis://127.0.0.1:{own_redis.port}/0"
    with override_settings(
        AUTOASSIGN={
            **settings.AUTOASSIGN,
            "REDIS": url,
            "OPTIONS": {"strict": False},
        }
    ):
        reset_autoassign()
        queue = helpdesk.queue()
        ann = helpdesk.staff("ann")
        first = helpdesk.ticket(queue, "before")
        assert Ticket.objects.get(pk=first.pk).assigned_to_id == ann.pk
        own_redis.stop()
        with caplog.at_level(logging.WARNING):
            waiting = helpdesk.ticket(queue, "during")  # the save itself succeeds
        assert Ticket.objects.get(pk=waiting.pk).assigned_to_id is None
        logged = [record.getMessage() for record in caplog.records]
        assert any(
            line.startswith("presence unavailable; treating every agent as offline")
            for line in logged
        )
        own_redis.start()  # an empty Redis: presence and history are gone
        agent_seen(get_autoassign(), ann.pk)
        assert Ticket.objects.get(pk=waiting.pk).assigned_to_id == ann.pk
    reset_autoassign()
