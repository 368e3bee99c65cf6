"""The shipped assignment state machine with its conversations in PostgreSQL through
:class:`DjangoConversationRepository` (directory, presence, ledger, rotation, lease in
memory): the engine over the ORM repository behaves as the reference model says."""

from __future__ import annotations

import os
from typing import Any

import pytest
from aa_djtest.models import Ticket, TicketLabel
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from autoassign.adapters.memory import InMemoryBackend, InMemoryWorld
from autoassign.integrations.django import DjangoConversationRepository
from autoassign.model import Conversation, ConversationId
from autoassign.testing import FakeClock
from autoassign.testing.stateful import assignment_machine

from .test_contracts import MAPPING, seed

pytestmark = pytest.mark.postgres


def _write(conversation: Conversation) -> None:
    TicketLabel.objects.filter(ticket_id=conversation.id).delete()
    Ticket.objects.update_or_create(
        id=conversation.id,
        defaults={
            "inbox": conversation.inbox,
            "account": conversation.account,
            "assignee": conversation.assignee,
            "team": conversation.team,
            "status": conversation.status.value,
            "created": conversation.created_at,
            "activity": conversation.last_activity_at,
            "urgency": conversation.urgency,
            "due": conversation.due_at,
            "weight": None if conversation.weight == 1 else conversation.weight,
        },
    )
    TicketLabel.objects.bulk_create(
        TicketLabel(ticket_id=conversation.id, name=label)
        for label in sorted(conversation.labels)
    )


class _OrmWorld(InMemoryWorld):
    """The machine edits this world; conversations are written through to the ORM and
    read back from it before each change (the engine's claims only happen there)."""

    def __init__(self, clock: FakeClock, repo: DjangoConversationRepository) -> None:
        super().__init__(clock)
        self._repo = repo

    def put_conversation(self, conversation: Conversation) -> None:
        super().put_conversation(conversation)
        _write(conversation)

    def remove_conversation(self, conversation: ConversationId) -> None:
        super().remove_conversation(conversation)
        Ticket.objects.filter(id=conversation).delete()

    def update_conversation(
        self, conversation: ConversationId, **changes: Any
    ) -> tuple[Conversation, Conversation]:
        stored = self._repo.get(conversation)
        if stored is not None:
            super().put_conversation(stored)
        before, after = super().update_conversation(conversation, **changes)
        _write(after)
        return before, after


class _OrmBackend(InMemoryBackend):
    def __init__(self, *, clock: FakeClock) -> None:
        super().__init__(clock=clock)
        seed([])
        repo = DjangoConversationRepository(MAPPING)
        self.world = _OrmWorld(clock, repo)
        self.directory = self.world
        self.conversations = repo  # type: ignore[assignment]


def test_assignment_machine_on_the_orm_repository(db: Any) -> None:
    run_state_machine_as_test(
        assignment_machine(lambda clock: _OrmBackend(clock=clock)),
        settings=settings(
            max_examples=25 if os.environ.get("CI") else 10,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
