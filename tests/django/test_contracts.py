"""The shipped ConversationRepository contract on :class:`DjangoConversationRepository`
over PostgreSQL, through a mapping (``aa_djtest.Ticket``: its id columns take the
suite's int and str ids; labels in a tagging table). The capacity race must pass every
run: the claim's per-agent advisory lock makes it exact."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest
from aa_djtest.models import Ticket, TicketLabel
from django.db import connection, connections

from autoassign.integrations.django import (
    ConversationMapping,
    DjangoConversationRepository,
)
from autoassign.model import Conversation, ConversationStatus
from autoassign.ports import ConversationRepository
from autoassign.testing.contracts import ConversationRepositoryContract

pytestmark = pytest.mark.postgres

MAPPING = ConversationMapping(
    model="aa_djtest.Ticket",
    inbox="inbox",
    assignee="assignee",
    status="status",
    status_map={s.value: s for s in ConversationStatus},
    created="created",
    last_activity="activity",
    team="team",
    account="account",
    labels="labels__name",
)


def seed(conversations: Sequence[Conversation]) -> None:
    """Replace every ticket with ``conversations``."""
    with connection.cursor() as cursor:  # the ORM's delete sorts mixed int/str pks
        cursor.execute(
            f"TRUNCATE {TicketLabel._meta.db_table}, {Ticket._meta.db_table}"
        )
    Ticket.objects.bulk_create(
        Ticket(
            id=c.id,
            inbox=c.inbox,
            account=c.account,
            assignee=c.assignee,
            team=c.team,
            status=c.status.value,
            created=c.created_at,
            activity=c.last_activity_at,
        )
        for c in conversations
    )
    TicketLabel.objects.bulk_create(
        TicketLabel(ticket_id=c.id, name=label)
        for c in conversations
        for label in sorted(c.labels)
    )


class ThreadSafe:
    """Wraps a repository for the suite's races: a call on a thread other than the main
    one closes that thread's Django connection afterwards, as Django's request cycle
    would."""

    def __init__(self, inner: DjangoConversationRepository) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            finally:
                if threading.current_thread() is not threading.main_thread():
                    connections.close_all()

        return call


class TestDjangoConversationRepository(ConversationRepositoryContract):
    @pytest.fixture(autouse=True)
    def _db(self, db: Any) -> None:
        return None

    def make_repository(
        self, conversations: Sequence[Conversation]
    ) -> ConversationRepository:
        seed(conversations)
        return ThreadSafe(DjangoConversationRepository(MAPPING))  # type: ignore[return-value]
