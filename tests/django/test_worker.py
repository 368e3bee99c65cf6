"""``manage.py autoassign_worker`` on the Redis job queue: two worker processes drain
one queue at once with no double assignment; ``autoassign_cycle`` and
``autoassign_explain`` run on the settings alone."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from helpdesk.models import Ticket

from autoassign.integrations.django import (
    RedisJobQueue,
    get_autoassign,
    reset_autoassign,
    silenced,
)

from .conftest import EXAMPLE, HERE, Helpdesk

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

SRC = HERE.parent.parent / "src"


def _redis_jobs() -> Any:
    return override_settings(AUTOASSIGN={**settings.AUTOASSIGN, "JOBS": "redis"})


def _worker(helpdesk: Helpdesk) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "aa_django_settings",
        "PYTHONPATH": os.pathsep.join(str(p) for p in (SRC, HERE, EXAMPLE)),
        "AA_DJ_RUN_ID": settings.RUN_ID,
        "AA_DJ_JOBS": "redis",
        "AA_DJ_CLOCK_AT": helpdesk.clock.now().isoformat(),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "django",
            "autoassign_worker",
            "--burst",
            "--cycle-every",
            "0",
        ],
        cwd=Path(HERE),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_workers_at_once_assign_each_ticket_once(helpdesk: Helpdesk) -> None:
    with _redis_jobs():
        reset_autoassign()
        queues = [helpdesk.queue(f"q{i}") for i in range(4)]
        staff = [helpdesk.staff(name) for name in ("ann", "bob", "cy")]
        for queue in queues:
            for i in range(6):
                helpdesk.ticket(queue, f"{queue.slug}-{i}")
        assert Ticket.objects.exclude(assigned_to=None).count() == 0  # queued only
        jobs = get_autoassign().jobs
        assert isinstance(jobs, RedisJobQueue)
        for _ in range(5):  # duplicate requests: the lease makes them harmless
            for queue in queues:
                jobs.enqueue_assignment(queue.pk)
        workers = [_worker(helpdesk), _worker(helpdesk)]
        outputs = [worker.communicate(timeout=120) for worker in workers]
        for worker, (out, err) in zip(workers, outputs, strict=True):
            assert worker.returncode == 0, err
            assert "ran" in out
        assert Ticket.objects.filter(assigned_to=None).count() == 0
        for queue in queues:
            counts = helpdesk.open_counts(queue)
            assert sum(counts.values()) == 6
            assert max(counts.values()) <= 5  # capacity
            ledger = sum(helpdesk.ledger_count(queue, user) for user in staff)
            assert ledger == 6  # one entry per assignment: nothing assigned twice
    reset_autoassign()


def test_worker_refuses_the_inline_queue(helpdesk: Helpdesk) -> None:
    with pytest.raises(CommandError, match="JOBS"):
        call_command("autoassign_worker", "--burst")


def test_cycle_requests_a_pass_over_every_queue(helpdesk: Helpdesk) -> None:
    queue = helpdesk.queue()
    ann = helpdesk.staff("ann", online=False)
    with silenced():
        helpdesk.ticket(queue)
    get_autoassign().backend.presence.set_status(1, ann.pk, "online")
    get_autoassign().backend.presence.heartbeat(1, ann.pk)
    out = io.StringIO()
    call_command("autoassign_cycle", stdout=out)
    assert "1 enqueued" in out.getvalue()
    assert helpdesk.open_counts(queue) == {ann.pk: 1}


def test_explain_runs_on_the_settings(helpdesk: Helpdesk) -> None:
    queue = helpdesk.queue()
    helpdesk.staff("ann")
    out = io.StringIO()
    call_command("autoassign_explain", "--inbox", str(queue.pk), "--json", stdout=out)
    report = json.loads(out.getvalue())
    (inbox,) = report
    assert inbox["inbox"] == queue.pk
    gates = {gate["name"]: gate for gate in inbox["gates"]}
    assert gates["agents_online"]["numbers"] == {"online": 1, "members": 1}
    assert gates["capacity"]["numbers"]["online_with_limit"] == 1
