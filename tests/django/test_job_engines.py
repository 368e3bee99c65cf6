"""``AUTOASSIGN['JOBS']`` selects the job engine: a ticket saved through the ORM
enqueues its queue's job through Celery or RQ, and that engine's job assigns it; and
the legacy path reassigns through the Django repository (issue 15)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
import rq
from celery import Celery
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import override_settings
from helpdesk.models import FollowUp, Ticket

from autoassign.integrations import rq as rq_integration
from autoassign.integrations.celery import (
    ASSIGNMENT_TASK,
    CeleryJobQueue,
    register_tasks,
)
from autoassign.integrations.django import get_autoassign, reset_autoassign, silenced
from autoassign.integrations.rq import RQJobQueue
from autoassign.triggers import RoundRobinLegacyAssigner

from .conftest import Helpdesk

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(autouse=True)
def _no_tickets_left(helpdesk: Helpdesk) -> Iterator[None]:
    """Tickets assigned here reference users (a protected foreign key) that later
    modules delete: remove them afterwards."""
    yield
    FollowUp.objects.all().delete()
    Ticket.objects.all().delete()


class RecordingCelery:
    """A Celery app whose ``send_task`` is recorded (the message a broker would
    carry), with the real app's registered tasks to run it."""

    def __init__(self) -> None:
        self.app = Celery("aa-dj-engines", broker="memory://", set_as_current=False)
        self.sent: list[tuple[str, list[Any], str | None]] = []

    def send_task(self, name: str, args: Any = (), **options: Any) -> None:
        self.sent.append((name, list(args), options.get("queue")))

    def run_sent(self) -> None:
        sent, self.sent = self.sent, []
        for name, args, _queue in sent:
            self.app.tasks[name].apply(args=args).get()


def _jobs(setting: Any) -> Any:
    return override_settings(AUTOASSIGN={**settings.AUTOASSIGN, "JOBS": setting})


def test_celery_engine_enqueues_and_its_task_assigns(helpdesk: Helpdesk) -> None:
    celery = RecordingCelery()
    register_tasks(celery.app, lambda: get_autoassign().bundle, periodic_every=None)
    with _jobs({"ENGINE": "celery", "APP": celery, "QUEUE": "tickets"}):
        reset_autoassign()
        assert isinstance(get_autoassign().jobs, CeleryJobQueue)
        queue = helpdesk.queue()
        ann = helpdesk.staff("ann")
        ticket = helpdesk.ticket(queue)
        assert celery.sent == [(ASSIGNMENT_TASK, [queue.pk], "tickets")]
        ticket.refresh_from_db()
        assert ticket.assigned_to_id is None  # only enqueued
        celery.run_sent()
        ticket.refresh_from_db()
        assert ticket.assigned_to_id == ann.pk
        assert len(helpdesk.assigned()) == 1
    reset_autoassign()


def test_rq_engine_enqueues_and_its_worker_assigns(helpdesk: Helpdesk) -> None:
    name = f"aa-dj-{uuid.uuid4().hex[:8]}"
    with _jobs({"ENGINE": "rq", "QUEUE": name, "JOB_TIMEOUT": 60}):
        reset_autoassign()
        jobs = get_autoassign().jobs
        assert isinstance(jobs, RQJobQueue)
        assert jobs.job_timeout is not None
        assert jobs.job_timeout.total_seconds() == 60
        queue = helpdesk.queue()
        ann = helpdesk.staff("ann")
        tickets = [helpdesk.ticket(queue, f"t{i}") for i in range(3)]
        rq_queue = rq.Queue(name, connection=get_autoassign().redis)
        try:
            assert rq_queue.count == 1  # three saves, one coalesced job
            rq_integration.configure(lambda: get_autoassign().bundle)
            worker = rq.SimpleWorker([rq_queue], connection=get_autoassign().redis)
            assert worker.work(burst=True)
        finally:
            rq_integration.configure(None)
            rq_queue.delete(delete_jobs=True)
        assignees = {Ticket.objects.get(pk=t.pk).assigned_to_id for t in tickets}
        assert assignees == {ann.pk}
    reset_autoassign()


def test_the_legacy_path_reassigns_a_ticket_whose_owner_left(
    helpdesk: Helpdesk,
) -> None:
    """With ``assignment_v2`` off, a ticket saved open whose assignee is no longer a
    member of its queue goes to a member (the reference's v1), through the Django
    repository's ``reassign``."""
    app = get_autoassign()
    queue = helpdesk.queue()
    ann = helpdesk.staff("ann")
    gone = get_user_model().objects.create_user("gone", is_staff=False)  # not a member
    with silenced():
        ticket = helpdesk.ticket(queue)
        Ticket.objects.filter(pk=ticket.pk).update(assigned_to=gone)
    v1 = attrs.evolve(app.directory, features=frozenset())
    legacy = RoundRobinLegacyAssigner(
        directory=v1,
        presence=app.backend.presence,
        rotation=app.backend.rotation,
        conversations=app.repository,
        reassigner=app.repository,
    )
    conversation = app.repository.get(ticket.pk)
    assert conversation is not None
    assert conversation.assignee == gone.pk
    assert legacy.assign(conversation) == ann.pk
    ticket.refresh_from_db()
    assert ticket.assigned_to_id == ann.pk
    # the bundle wires the repository as its reassigner
    assert app.bundle.triggers.legacy is not None
    assert getattr(app.bundle.triggers.legacy, "reassigner", None) is app.repository
