"""End to end on the example project: the unmodified django-helpdesk, wired only with
the Django integration and the host's lines in examples/django_helpdesk, on
PostgreSQL and Redis, in-process jobs (``JOBS = "inline"``: a pass runs right after
the commit that asked for it, so every race below happens deterministically)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.db.models.signals import post_save
from django.test import Client, override_settings
from helpdesk.forms import PublicTicketForm
from helpdesk.models import Ticket
from helpdesk.update_ticket import update_ticket

from autoassign.integrations.django import (
    ConversationHooks,
    agent_seen,
    get_autoassign,
    reset_autoassign,
    silenced,
)

from .conftest import Helpdesk

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _submit(queue: Any) -> Ticket:
    form = PublicTicketForm(
        data={
            "queue": str(queue.pk),
            "title": "My printer is on fire",
            "body": "Please help",
            "submitter_email": "customer@example.com",
            "priority": "3",
        }
    )
    assert form.is_valid(), form.errors
    return form.save(user=None)


def _settings(**changes: Any) -> Any:
    return override_settings(AUTOASSIGN={**settings.AUTOASSIGN, **changes})


class _SaveCounter:
    def __init__(self) -> None:
        self.saves = 0

    def __call__(self, **_: Any) -> None:
        self.saves += 1


@pytest.mark.parametrize("atomic", [False, True], ids=["autocommit", "atomic_requests"])
def test_public_form_triple_save_keeps_one_assignee(
    helpdesk: Helpdesk, atomic: bool
) -> None:
    """PublicTicketForm.save() saves the one in-memory ticket three times. Under
    autocommit the engine assigns it after the first save; the guard keeps that
    assignment: one assignee, one AssigneeChanged, one ledger entry."""
    queue = helpdesk.queue()
    staff = [helpdesk.staff("ann"), helpdesk.staff("bob")]
    counter = _SaveCounter()
    post_save.connect(counter, sender=Ticket, dispatch_uid="count", weak=False)
    try:
        with transaction.atomic() if atomic else nullcontext():
            ticket = _submit(queue)
    finally:
        post_save.disconnect(sender=Ticket, dispatch_uid="count")
    assert counter.saves == 3
    stored = Ticket.objects.get(pk=ticket.pk)
    assert stored.assigned_to_id is not None
    if not atomic:  # the guard kept the engine's assignee on the instance
        assert ticket.assigned_to_id == stored.assigned_to_id
    (event,) = helpdesk.assigned()
    assert event.conversation == ticket.pk
    assert event.agent == stored.assigned_to_id
    assert {user.pk: helpdesk.ledger_count(queue, user) for user in staff} == {
        user.pk: int(user.pk == stored.assigned_to_id) for user in staff
    }


@pytest.fixture(params=[False, True], ids=["autocommit", "ATOMIC_REQUESTS"])
def atomic_requests(request: pytest.FixtureRequest) -> Iterator[bool]:
    """The database's ``ATOMIC_REQUESTS``, off then on (read per request)."""
    saved = connection.settings_dict["ATOMIC_REQUESTS"]
    connection.settings_dict["ATOMIC_REQUESTS"] = request.param
    try:
        yield request.param
    finally:
        connection.settings_dict["ATOMIC_REQUESTS"] = saved


def test_public_submit_over_http_keeps_one_assignee(
    helpdesk: Helpdesk, atomic_requests: bool
) -> None:
    """The same triple save through django-helpdesk's own public submit view, with and
    without ``ATOMIC_REQUESTS``."""
    queue = helpdesk.queue()
    staff = [helpdesk.staff("ann"), helpdesk.staff("bob")]
    counter = _SaveCounter()
    post_save.connect(counter, sender=Ticket, dispatch_uid="count", weak=False)
    try:
        response = Client().post(
            "/tickets/submit/",
            {
                "queue": str(queue.pk),
                "title": "My printer is on fire",
                "body": "Please help",
                "submitter_email": "customer@example.com",
                "priority": "3",
            },
        )
    finally:
        post_save.disconnect(sender=Ticket, dispatch_uid="count")
    assert response.status_code == 302, response.content[:500]
    assert counter.saves == 3
    (ticket,) = Ticket.objects.all()
    assert ticket.assigned_to_id in {user.pk for user in staff}
    (event,) = helpdesk.assigned()
    assert (event.conversation, event.agent) == (ticket.pk, ticket.assigned_to_id)
    assert sum(helpdesk.ledger_count(queue, user) for user in staff) == 1


def test_without_the_guard_the_triple_save_assigns_again(helpdesk: Helpdesk) -> None:
    """The hazard the guard prevents, shown on the same wiring with the guard off:
    the stale saves write the empty assignee back and the ticket is assigned again."""
    queue = helpdesk.queue()
    helpdesk.staff("ann")
    helpdesk.staff("bob")
    model = get_autoassign().repository.model
    hooks = ConversationHooks(
        repository=get_autoassign().repository,
        triggers=lambda: get_autoassign().bundle.triggers,
        guard=False,
        dispatch_uid="autoassign",
    )
    assert model is Ticket
    hooks.disconnect()  # the example's hooks (same dispatch_uid)
    hooks.connect()
    try:
        _submit(queue)
    finally:
        hooks.disconnect()
        ConversationHooks(
            repository=get_autoassign().repository,
            triggers=lambda: get_autoassign().bundle.triggers,
        ).connect()
    assert len(helpdesk.assigned()) > 1


def test_orm_tickets_go_fairly_to_online_staff_within_capacity(
    helpdesk: Helpdesk,
) -> None:
    """Balanced order over three online agents (capacity 5 each); an offline agent
    gets nothing; past capacity tickets wait."""
    queue = helpdesk.queue()
    staff = [helpdesk.staff(name) for name in ("ann", "bob", "cy")]
    away = helpdesk.staff("dee", online=False)
    for i in range(12):
        helpdesk.ticket(queue, f"t{i}")
    counts = helpdesk.open_counts(queue)
    assert counts == {user.pk: 4 for user in staff}
    for i in range(6):
        helpdesk.ticket(queue, f"u{i}")
    assert helpdesk.open_counts(queue) == {user.pk: 5 for user in staff}
    assert Ticket.objects.filter(assigned_to=None).count() == 3
    assert away.pk not in helpdesk.open_counts(queue)
    assert len(helpdesk.assigned()) == 15
    assert len({e.conversation for e in helpdesk.assigned()}) == 15


def test_the_most_urgent_tickets_go_first(helpdesk: Helpdesk) -> None:
    """``highest_urgency`` over django-helpdesk's own ``priority`` (1 critical ... 5
    very low, turned round by the example's ``urgency_levels``): with one slot left,
    the critical ticket is assigned first whatever its age; then ``earliest_due``
    takes the ticket due soonest."""
    with _settings(
        POLICY={"conversation_priority": "highest_urgency"}, CAPACITY_LIMIT=1
    ):
        reset_autoassign()
        queue = helpdesk.queue()
        with silenced():  # a backlog saved before anyone is online
            low = Ticket.objects.create(title="low", queue=queue, priority=5)
            normal = Ticket.objects.create(title="normal", queue=queue, priority=3)
            critical = Ticket.objects.create(title="critical", queue=queue, priority=1)
        ann = helpdesk.staff("ann")
        assert [e.conversation for e in helpdesk.assigned()] == [critical.pk]
        critical.refresh_from_db()
        assert critical.assigned_to_id == ann.pk
        assert {low.pk, normal.pk} == set(
            Ticket.objects.filter(assigned_to=None).values_list("pk", flat=True)
        )
    with _settings(POLICY={"conversation_priority": "earliest_due"}, CAPACITY_LIMIT=1):
        reset_autoassign()
        now = helpdesk.clock.now()
        Ticket.objects.filter(pk=low.pk).update(due_date=now + timedelta(hours=1))
        Ticket.objects.filter(pk=normal.pk).update(due_date=now + timedelta(hours=9))
        bob = helpdesk.staff("bob")
        low.refresh_from_db()
        assert low.assigned_to_id == bob.pk
        assert helpdesk.assigned()[-1].conversation == low.pk
    reset_autoassign()


def test_the_outbox_setting_stages_events_in_redis(helpdesk: Helpdesk) -> None:
    """``OUTBOX = True``: the claim's events are staged in Redis first and confirmed
    once published, so one ticket gives one event and leaves nothing staged."""
    with _settings(OUTBOX=True):
        reset_autoassign()
        app = get_autoassign()
        assert app.bundle.service.outbox is app.backend.outbox
        queue = helpdesk.queue()
        helpdesk.staff("ann")
        ticket = helpdesk.ticket(queue)
        assert [e.conversation for e in helpdesk.assigned()] == [ticket.pk]
        later = helpdesk.clock.now() + timedelta(days=1)
        assert (
            list(app.backend.outbox.due(queue.pk, staged_before=later, limit=10)) == []
        )
    reset_autoassign()
    assert get_autoassign().bundle.service.outbox is None  # off by default
    reset_autoassign()


def test_a_returning_submitter_gets_their_previous_agent(helpdesk: Helpdesk) -> None:
    """``STICKY``: the example maps ``submitter_email`` as the contact; a second
    ticket of the same submitter goes to the agent of their first, although round
    robin would pick the other; someone new goes by round robin."""
    with _settings(STICKY={"WINDOW": 86_400}):
        reset_autoassign()
        queue = helpdesk.queue()
        ann, bob = helpdesk.staff("ann"), helpdesk.staff("bob")
        first = Ticket.objects.create(
            title="first", queue=queue, submitter_email="carol@example.com"
        )
        first.refresh_from_db()
        again = Ticket.objects.create(
            title="again", queue=queue, submitter_email="carol@example.com"
        )
        new = Ticket.objects.create(
            title="new", queue=queue, submitter_email="dave@example.com"
        )
        for ticket in (again, new):
            ticket.refresh_from_db()
        assert again.assigned_to_id == first.assigned_to_id
        assert {first.assigned_to_id, new.assigned_to_id} == {ann.pk, bob.pk}
    reset_autoassign()


def test_rate_limit_holds(helpdesk: Helpdesk) -> None:
    with _settings(
        POLICY={"fair_distribution_limit": 2, "fair_distribution_window": 3600},
        CAPACITY_LIMIT=None,
    ):
        reset_autoassign()
        queue = helpdesk.queue()
        staff = [helpdesk.staff(name) for name in ("ann", "bob")]
        for i in range(7):
            helpdesk.ticket(queue, f"t{i}")
        assert helpdesk.open_counts(queue) == {user.pk: 2 for user in staff}
        assert Ticket.objects.filter(assigned_to=None).count() == 3
        assert len(helpdesk.assigned()) == 4
        # the window has passed, and the Redis ledger's clock-skew margin (2 x 1 s)
        helpdesk.clock.advance(timedelta(seconds=3600 + 2))
        for user in staff:  # back from idle: each coming online requests a pass
            agent_seen(get_autoassign(), user.pk)
        counts = helpdesk.open_counts(queue)
        assert sum(counts.values()) == 7
        assert sorted(counts.values()) == [3, 4]
    reset_autoassign()


def test_resolving_through_helpdesk_frees_capacity(helpdesk: Helpdesk) -> None:
    queue = helpdesk.queue()
    ann = helpdesk.staff("ann")
    tickets = [helpdesk.ticket(queue, f"t{i}") for i in range(7)]
    assert helpdesk.open_counts(queue) == {ann.pk: 5}
    mine = Ticket.objects.filter(assigned_to=ann).order_by("pk").first()
    assert mine is not None
    update_ticket(ann, mine, comment="fixed", new_status=Ticket.RESOLVED_STATUS)
    assert Ticket.objects.get(pk=mine.pk).status == Ticket.RESOLVED_STATUS
    assert helpdesk.open_counts(queue) == {ann.pk: 5}
    waiting = Ticket.objects.filter(assigned_to=None).count()
    assert waiting == len(tickets) - 6


def test_on_hold_tickets_are_not_assigned(helpdesk: Helpdesk) -> None:
    queue = helpdesk.queue()
    helpdesk.staff("ann")
    held = Ticket.objects.create(title="wait", queue=queue, on_hold=True)
    assert Ticket.objects.get(pk=held.pk).assigned_to_id is None
    held.on_hold = False
    held.save()
    assert Ticket.objects.get(pk=held.pk).assigned_to_id is not None


def test_an_agent_logging_in_takes_the_backlog(helpdesk: Helpdesk) -> None:
    queue = helpdesk.queue()
    ann = helpdesk.staff("ann", online=False)
    for i in range(3):
        helpdesk.ticket(queue, f"t{i}")
    assert Ticket.objects.filter(assigned_to=None).count() == 3
    Client().force_login(ann)
    assert helpdesk.open_counts(queue) == {ann.pk: 3}


def test_idle_agents_go_offline_and_come_back_with_a_request(
    helpdesk: Helpdesk,
) -> None:
    queue = helpdesk.queue()
    ann = helpdesk.staff("ann", online=False)
    client = Client()
    client.force_login(ann)
    helpdesk.clock.advance(timedelta(seconds=301))  # past IDLE_TIMEOUT (300 s)
    ticket = helpdesk.ticket(queue)
    assert Ticket.objects.get(pk=ticket.pk).assigned_to_id is None
    client.get("/no-such-page/")  # any request: the middleware sees the agent
    assert Ticket.objects.get(pk=ticket.pk).assigned_to_id == ann.pk


def test_logging_out_stops_assignment(helpdesk: Helpdesk) -> None:
    queue = helpdesk.queue()
    ann = helpdesk.staff("ann", online=False)
    client = Client()
    client.force_login(ann)
    client.logout()
    ticket = helpdesk.ticket(queue)
    assert Ticket.objects.get(pk=ticket.pk).assigned_to_id is None


def test_silenced_saves_call_no_trigger(helpdesk: Helpdesk) -> None:
    queue = helpdesk.queue()
    helpdesk.staff("ann")
    with silenced():
        tickets = [helpdesk.ticket(queue, f"t{i}") for i in range(3)]
    assert Ticket.objects.filter(assigned_to=None).count() == 3
    assert helpdesk.assigned() == []
    get_autoassign().bundle.job.run(queue.pk)
    assert {Ticket.objects.get(pk=t.pk).assigned_to_id for t in tickets} != {None}


def test_a_deliberate_unassign_is_saved(helpdesk: Helpdesk) -> None:
    """The guard only keeps an assignee the instance never saw: code that loads an
    assigned ticket and clears it saves it cleared (then the trigger assigns again,
    to the next agent)."""
    queue = helpdesk.queue()
    helpdesk.staff("ann")
    ticket = helpdesk.ticket(queue)
    loaded = Ticket.objects.get(pk=ticket.pk)
    assert loaded.assigned_to_id is not None
    with silenced():
        loaded.assigned_to = None
        loaded.save()
    assert Ticket.objects.get(pk=ticket.pk).assigned_to_id is None
