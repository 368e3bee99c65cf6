"""Sticky agents on SQL (issue 18): ``SqlConversationRepository.previous_agents``
(:class:`~autoassign.ports.ContactHistory`) over ``conversations.contact_id``, on
SQLite and PostgreSQL: one statement per page, the newest earlier conversation of the
same contact with an assignee, within the window and the account; and a pass that
uses it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from autoassign import AssignmentPolicy, build_autoassign
from autoassign.adapters.memory import InMemoryEventBus, InMemoryJobQueue
from autoassign.adapters.sql import (
    SqlConversationRepository,
    SqlDirectory,
    SqlSchema,
    SqlWriter,
)
from autoassign.errors import ConfigurationError
from autoassign.model import ASSIGNMENT_V2_FEATURE, Account, Conversation, Inbox
from autoassign.ports import ContactHistory
from autoassign.sticky import StickyRouting
from autoassign.testing import EPOCH, FakeClock, InMemoryBackend

from .conftest import Db


def _conversation(
    number: int, minutes: float, *, assignee: str | None = None, account: int = 1
) -> Conversation:
    at = EPOCH + timedelta(minutes=minutes)
    return Conversation(
        id=number,
        inbox=10 if account == 1 else 20,
        account=account,
        assignee=assignee,
        created_at=at,
        last_activity_at=at,
    )


def _world(db: Db) -> tuple[Any, Any, SqlConversationRepository]:
    engine, schema = db.make(ids={"default": "int", "agent": "str"})
    writer = SqlWriter(engine, schema)
    writer.put_account(Account(id=1, features={ASSIGNMENT_V2_FEATURE}))
    writer.put_account(Account(id=2, features={ASSIGNMENT_V2_FEATURE}))
    writer.put_inbox(Inbox(id=10, account=1), ["ann", "bob"])
    writer.put_inbox(Inbox(id=20, account=2), ["zed"])
    return engine, schema, SqlConversationRepository(engine, schema)


def _contacts(engine: Any, schema: Any, contacts: dict[int, int]) -> None:
    """Each conversation's contact (the host writes it; ints: 901 carol, 902 dave,
    903 erin)."""
    conv = schema.conversations
    with engine.begin() as conn:
        for conversation, contact in contacts.items():
            conn.execute(
                sa.update(conv)
                .where(conv.c.id == conversation)
                .values(contact_id=contact)
            )


def test_previous_agents_of_a_page(db: Db) -> None:
    engine, schema, repository = _world(db)
    stored = [
        _conversation(1, 0, assignee="ann"),  # carol, long ago
        _conversation(2, 50, assignee="bob"),  # carol, newest with an assignee
        _conversation(3, 55),  # carol, no assignee
        _conversation(4, 60),  # carol again: the page's
        _conversation(5, 30, assignee="ann"),  # dave
        _conversation(6, 60),  # dave again
        _conversation(7, 60),  # erin: no history
        _conversation(8, 40, assignee="zed", account=2),  # carol of another account
    ]
    SqlWriter(engine, schema).put_conversations(stored)
    _contacts(engine, schema, {1: 901, 2: 901, 3: 901, 4: 901})
    _contacts(engine, schema, {5: 902, 6: 902, 7: 903, 8: 901})
    assert isinstance(repository, ContactHistory)
    page = [c for c in stored if c.id in (4, 6, 7)]
    since = EPOCH
    assert repository.previous_agents(1, page, since=since) == {4: "bob", 6: "ann"}
    later = EPOCH + timedelta(minutes=45)  # dave's is older than the window now
    assert repository.previous_agents(1, page, since=later) == {4: "bob"}
    assert repository.previous_agents(1, [], since=since) == {}
    assert repository.previous_agents(2, page, since=since) == {}


def test_a_pass_prefers_the_previous_agent(db: Db) -> None:
    engine, schema, repository = _world(db)
    clock = FakeClock(EPOCH + timedelta(minutes=60))
    writer = SqlWriter(engine, schema)
    writer.put_policy(AssignmentPolicy(id=1, account=1))
    writer.link_policy(10, 1)
    writer.put_conversations(
        [_conversation(1, 10, assignee="bob"), _conversation(2, 60)]
    )
    _contacts(engine, schema, {1: 901, 2: 901})
    memory = InMemoryBackend(clock=clock)
    for agent in ("ann", "bob"):
        memory.set_status(1, agent, "online")
    app = build_autoassign(
        directory=SqlDirectory(engine, schema),
        conversations=SqlConversationRepository(engine, schema, clock=clock),
        presence=memory.presence,
        ledger=memory.ledger,
        rotation=memory.rotation,
        lease=memory.lease,
        events=InMemoryEventBus(),
        jobs=InMemoryJobQueue(),
        clock=clock,
        environ={},
        sticky=StickyRouting(history=repository, window=timedelta(hours=2)),
    )
    result = app.service.perform_bulk_assignment(10)
    assert [(a.conversation, a.agent) for a in result.assignments] == [(2, "bob")]


def test_without_a_contact_column_it_says_so(db: Db) -> None:
    engine, schema = db.make()
    assert "contact_id" in schema.conversations.c  # the library's own, at the head
    bare = SqlSchema(schema=schema.schema, revision=5)
    repository = SqlConversationRepository(engine, bare)
    with pytest.raises(ConfigurationError) as info:
        repository.previous_agents(1, [_conversation(1, 0)], since=EPOCH)
    assert info.value.field == "conversations.contact_id"
