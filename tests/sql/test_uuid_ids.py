"""UUID ids (issue 16): ``SqlSchema(ids="uuid")`` (a native ``uuid`` column on
PostgreSQL, ``CHAR(36)`` on SQLite), for every entity or only some (Chatwoot's
conversations also have a ``uuid`` column). Ids are canonical UUID strings; anything
else is treated as missing by reads and refused by writers, never sent to the
database."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from autoassign import (
    Account,
    AssignmentPolicy,
    Conversation,
    ConversationPriority,
    ExclusionRules,
    Inbox,
    build_autoassign,
)
from autoassign.adapters.sql import (
    IdKind,
    SqlConversationRepository,
    SqlDirectory,
    SqlWriter,
)
from autoassign.errors import ConfigurationError
from autoassign.model import ASSIGNMENT_V2_FEATURE, ConversationStatus
from autoassign.testing import EPOCH, FakeClock, InMemoryBackend

from .conftest import Db


def _id(n: int) -> str:
    return str(uuid.UUID(int=n))


@pytest.mark.parametrize(
    "value", ["ann", "ABCDEF00-0000-0000-0000-000000000001", "", 5]
)
def test_only_canonical_uuids_are_ids(value: object) -> None:
    assert not IdKind.UUID.accepts(value)
    assert IdKind.UUID.accepts(_id(1))


@pytest.mark.parametrize("everything", [True, False], ids=["all-uuid", "conversations"])
def test_a_pass_over_uuid_keyed_tables(db: Db, everything: bool) -> None:
    kind = "uuid" if everything else {"default": "int", "conversation": "uuid"}
    engine, schema = db.make(ids=kind)
    account, inbox, policy = (_id(1), _id(10), _id(5)) if everything else (1, 10, 5)
    ann, bob = (_id(101), _id(102)) if everything else (101, 102)
    writer = SqlWriter(engine, schema)
    writer.put_account(Account(id=account, features=frozenset({ASSIGNMENT_V2_FEATURE})))
    writer.put_inbox(Inbox(id=inbox, account=account), members=[ann, bob])
    writer.put_policy(AssignmentPolicy(id=policy, account=account))
    writer.link_policy(inbox, policy)
    conversations = [
        Conversation(
            id=_id(1000 + n),
            inbox=inbox,
            account=account,
            status=ConversationStatus.OPEN,
            created_at=EPOCH,
            last_activity_at=EPOCH,
            labels=frozenset({"vip"}) if n == 3 else frozenset(),
        )
        for n in range(4)
    ]
    writer.put_conversations(conversations)
    repository = SqlConversationRepository(engine, schema)
    directory = SqlDirectory(engine, schema)
    assert directory.inbox_members(inbox) == (ann, bob)
    assert tuple(directory.inboxes_of_agent(account, ann)) == (inbox,)
    found = repository.get(_id(1003))
    assert found is not None
    assert found.id == _id(1003)
    assert found.labels == frozenset({"vip"})
    page = repository.unassigned_open(
        inbox,
        limit=10,
        priority=ConversationPriority.EARLIEST_CREATED,
        exclusions=ExclusionRules(excluded_labels=frozenset({"vip"})),
        now=EPOCH,
    )
    assert [c.id for c in page] == [_id(1000), _id(1001), _id(1002)]
    # an id the column cannot hold is missing: no query error
    assert repository.get("not-a-uuid") is None
    assert repository.claim("not-a-uuid", ann) is False

    clock = FakeClock()
    backend = InMemoryBackend(clock=clock)
    for agent in (ann, bob):
        backend.set_status(account, agent, "online")
    app = build_autoassign(
        directory=directory,
        conversations=repository,
        presence=backend.presence,
        ledger=backend.ledger,
        rotation=backend.rotation,
        lease=backend.lease,
        events=backend.events,
        jobs=backend.jobs,
        clock=clock,
    )
    result = app.service.perform_bulk_assignment(inbox)
    assert result.assigned_count == 4
    assert sorted(repository.open_counts(inbox, [ann, bob]).values()) == [2, 2]


def test_writers_refuse_an_id_the_column_cannot_hold(db: Db) -> None:
    engine, schema = db.make(ids="uuid")
    with pytest.raises(ConfigurationError):
        SqlWriter(engine, schema).put_account(Account(id="acme"))


def test_uuid_is_a_known_id_kind(db: Db) -> None:
    with pytest.raises(ConfigurationError, match="'uuid'"):
        db.make(ids="guid")
    engine, schema = db.make(ids={"default": "uuid"})
    assert schema.ids["agent"] is IdKind.UUID
    del engine


def test_store_assigned_ids_are_uuids(db: Db) -> None:
    _engine, schema = db.make(ids="uuid")
    column: Any = schema.assignment_policies.c.id
    assert IdKind.UUID.accepts(column.default.arg(None))
