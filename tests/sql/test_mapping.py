"""Mapping the adapter onto a host's existing tables: other table and column names,
integer statuses, naive UTC timestamps, missing optional columns."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from autoassign.adapters.sql import (
    EnumEncoding,
    SqlConversationRepository,
    SqlDirectory,
    SqlSchema,
    SqlWriter,
    TableMap,
)
from autoassign.errors import ConfigurationError
from autoassign.model import (
    Account,
    AssignmentPolicy,
    Conversation,
    ConversationPriority,
    ConversationStatus,
    ExclusionRules,
    Inbox,
)
from autoassign.testing import EPOCH

# Chatwoot-style: Rails enum integers, timestamps without time zone holding UTC.
RAILS_STATUS = EnumEncoding(
    {
        ConversationStatus.OPEN: 0,
        ConversationStatus.RESOLVED: 1,
        ConversationStatus.PENDING: 2,
        ConversationStatus.SNOOZED: 3,
    }
)


def host_schema(db: Any) -> tuple[sa.Engine, SqlSchema]:
    engine = db.engine()
    pg_schema = db.new_pg_schema() if db.kind == "postgres" else None
    q = f'"{pg_schema}".' if pg_schema else ""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE TABLE {q}helpdesk_conversations ("
                " display_id BIGINT PRIMARY KEY, acct BIGINT NOT NULL, inbox BIGINT NOT NULL,"
                " state INTEGER NOT NULL DEFAULT 0, user_id BIGINT, created TIMESTAMP NOT NULL,"
                " touched_at TIMESTAMP, note TEXT)"
            )
        )
        conn.execute(
            sa.text(
                f"CREATE TABLE {q}helpdesk_tags (conv BIGINT NOT NULL, tag VARCHAR(80) NOT NULL)"
            )
        )
    schema = SqlSchema(
        schema=pg_schema,
        prefix="aa_",
        status=RAILS_STATUS,
        naive_datetimes=True,
        tables={
            "conversations": TableMap(
                "helpdesk_conversations",
                {
                    "id": "display_id",
                    "account_id": "acct",
                    "inbox_id": "inbox",
                    "status": "state",
                    "assignee_id": "user_id",
                    "created_at": "created",
                    "team_id": None,
                    "last_activity_at": None,
                },
            ),
            "conversation_labels": TableMap(
                "helpdesk_tags", {"conversation_id": "conv", "label": "tag"}
            ),
        },
    )
    schema.create_all(engine)  # only the library's own aa_* tables
    return engine, schema


def test_repository_on_host_tables(db: Any) -> None:
    engine, schema = host_schema(db)
    q = f'"{schema.schema}".' if schema.schema else ""
    with engine.begin() as conn:
        for i, (state, user, hours) in enumerate(
            [
                (0, None, 0),
                (0, None, 1),
                (1, None, 0),
                (0, 9, 0),
                (2, None, 0),
                (0, None, 5),
            ],
            start=1,
        ):
            conn.execute(
                sa.text(
                    f"INSERT INTO {q}helpdesk_conversations"
                    " (display_id, acct, inbox, state, user_id, created)"
                    " VALUES (:i, 1, 10, :s, :u, :c)"
                ),
                {
                    "i": i,
                    "s": state,
                    "u": user,
                    "c": (EPOCH - timedelta(hours=hours)).replace(tzinfo=None),
                },
            )
        conn.execute(
            sa.text(f"INSERT INTO {q}helpdesk_tags VALUES (1, 'vip'), (2, 'x')")
        )
    repo = SqlConversationRepository(engine, schema)
    first = repo.get(1)
    assert first == Conversation(
        id=1,
        inbox=10,
        account=1,
        labels={"vip"},
        created_at=EPOCH,
        last_activity_at=EPOCH,  # no activity column: created_at stands in
    )
    pending = repo.get(5)
    assert pending is not None
    assert pending.status is ConversationStatus.PENDING
    rules = ExclusionRules(excluded_labels={"vip"}, exclude_older_than_hours=3)
    got = repo.unassigned_open(
        10,
        limit=10,
        priority=ConversationPriority.LONGEST_WAITING,
        exclusions=rules,
        now=EPOCH,
    )
    assert [c.id for c in got] == [2]
    assert repo.claim(2, 4, capacity_limit=1)
    assert not repo.claim(6, 4, capacity_limit=1)
    assert repo.open_counts(10, [4, 9]) == {4: 1, 9: 1}
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                f"SELECT user_id, state FROM {q}helpdesk_conversations WHERE display_id = 2"
            )
        ).one()
    assert tuple(row) == (4, 0)


def test_owned_tables_beside_host_tables(db: Any) -> None:
    engine, schema = host_schema(db)
    assert schema.owned("inboxes")
    assert not schema.owned("conversations")
    assert schema.inboxes.name == "aa_inboxes"
    writer = SqlWriter(engine, schema)
    writer.put_account(Account(id=1, features={"assignment_v2"}))
    writer.put_inbox(Inbox(id=10, account=1), [4, 5])
    writer.put_policy(AssignmentPolicy(id=3, account=1))
    writer.link_policy(10, 3)
    directory = SqlDirectory(engine, schema)
    assert directory.inbox_members(10) == (4, 5)
    assert directory.policy_for_inbox(10) == AssignmentPolicy(id=3, account=1)


def test_mapping_mistakes_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError):
        SqlSchema(tables={"conversation": "x"})
    with pytest.raises(ConfigurationError):
        SqlSchema(tables={"conversations": TableMap("c", {"assignee": "user_id"})})
    with pytest.raises(ConfigurationError):
        SqlSchema(tables={"conversations": TableMap("c", {"inbox_id": None})})
    with pytest.raises(ConfigurationError):
        SqlSchema(ids="guid")
    with pytest.raises(ConfigurationError, match=r"teams\.account_id"):
        SqlSchema(tables={"teams": TableMap("teams", {"account_id": None})})
    assert (
        "account_id"
        not in SqlSchema(
            single_account=1, tables={"teams": TableMap("teams", {"account_id": None})}
        ).teams.c
    )
    with pytest.raises(ConfigurationError):
        SqlSchema(status=EnumEncoding({ConversationStatus.RESOLVED: 1}))
    with pytest.raises(ConfigurationError):
        EnumEncoding({ConversationStatus.OPEN: 0, ConversationStatus.RESOLVED: "r"})
