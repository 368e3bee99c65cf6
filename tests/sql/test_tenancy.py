"""A host's tables with no account column (a single-account host) and with the
account only on the inbox (tenants through a join), on SQLite and PostgreSQL
(issue 16). The shipped contract suites run on both mappings in ``test_contracts.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from autoassign.adapters.sql import (
    SqlConversationRepository,
    SqlDirectory,
    SqlPolicyStore,
    SqlSchema,
    SqlWriter,
    TableMap,
)
from autoassign.errors import ConfigurationError
from autoassign.model import (
    AssignmentPolicy,
    Conversation,
    ConversationPriority,
    ExclusionRules,
    Inbox,
)
from autoassign.testing import EPOCH

RAILS = {"team_id": None, "last_activity_at": None}


def _reads_account(statement: str) -> bool:
    """Whether a statement names an account column after its select list (the
    single account itself is selected as a constant, ``? AS account_id``)."""
    return "account" in statement.lower().partition("from")[2]


def _tickets(
    engine: sa.Engine, q: str, rows: list[tuple[int, int, int | None]]
) -> None:
    """Conversations ``(id, inbox, assignee)``, open, created an hour apart."""
    with engine.begin() as conn:
        for at, (id_, inbox, assignee) in enumerate(rows):
            conn.execute(
                sa.text(
                    f"INSERT INTO {q}tickets (id, inbox_id, status, assignee_id,"
                    " created_at) VALUES (:i, :n, 'open', :a, :c)"
                ),
                {
                    "i": id_,
                    "n": inbox,
                    "a": assignee,
                    "c": (EPOCH + timedelta(hours=at)).replace(tzinfo=None),
                },
            )


# -- a single-account host: no account column anywhere ------------------------------


def single_account_host(db: Any) -> tuple[sa.Engine, SqlSchema, str]:
    engine, pg_schema = db.host_tables(
        "CREATE TABLE {q}tickets (id BIGINT PRIMARY KEY, inbox_id BIGINT NOT NULL,"
        " status VARCHAR(16) NOT NULL, assignee_id BIGINT,"
        " created_at TIMESTAMP NOT NULL)",
        "CREATE TABLE {q}desks (id BIGINT PRIMARY KEY, name VARCHAR(255))",
        "CREATE TABLE {q}desk_agents (desk_id BIGINT NOT NULL,"
        " user_id BIGINT NOT NULL)",
    )
    schema = SqlSchema(
        schema=pg_schema,
        prefix="aa_",
        naive_datetimes=True,
        single_account=7,
        tables={
            "conversations": TableMap("tickets", {"account_id": None, **RAILS}),
            "inboxes": TableMap(
                "desks",
                {
                    "account_id": None,
                    "enable_auto_assignment": None,
                    "auto_assignment_config": None,
                },
            ),
            "inbox_members": TableMap(
                "desk_agents",
                {"position": None, "inbox_id": "desk_id", "agent_id": "user_id"},
            ),
        },
    )
    schema.create_all(engine)
    q = f'"{pg_schema}".' if pg_schema else ""
    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO {q}desks VALUES (10, 'Support')"))
        conn.execute(sa.text(f"INSERT INTO {q}desk_agents VALUES (10, 4), (10, 5)"))
    _tickets(engine, q, [(1, 10, None), (2, 10, None), (3, 10, 5)])
    return engine, schema, q


def test_single_account_repository_has_no_account_predicate(
    db: Any, statement_counter: Callable[[sa.Engine], Any]
) -> None:
    engine, schema, q = single_account_host(db)
    assert schema.tenancy == "single"
    repo = SqlConversationRepository(engine, schema)
    counter = statement_counter(engine)
    assert repo.get(1) == Conversation(
        id=1, inbox=10, account=7, created_at=EPOCH, last_activity_at=EPOCH
    )
    got = repo.unassigned_open(
        10,
        limit=10,
        priority=ConversationPriority.EARLIEST_CREATED,
        exclusions=ExclusionRules(),
        now=EPOCH,
    )
    assert [(c.id, c.account) for c in got] == [(1, 7), (2, 7)]
    counter.reset()
    assert repo.claim(1, 4, capacity_limit=1)
    assert counter.count == 1  # still one statement
    assert not repo.claim(2, 4, capacity_limit=1)
    assert repo.open_counts(10, [4, 5]) == {4: 1, 5: 1}
    assert not any(_reads_account(s) for s in counter.statements)
    with engine.connect() as conn:
        assignee = conn.execute(
            sa.text(f"SELECT assignee_id FROM {q}tickets WHERE id = 1")
        ).scalar_one()
    assert assignee == 4


def test_single_account_directory_and_writers(
    db: Any, statement_counter: Callable[[sa.Engine], Any]
) -> None:
    engine, schema, _ = single_account_host(db)
    writer = SqlWriter(engine, schema)
    writer.put_policy(AssignmentPolicy(id=3, account=7, name="Main"))
    writer.link_policy(10, 3)
    directory = SqlDirectory(engine, schema)
    counter = statement_counter(engine)
    assert directory.inbox(10) == Inbox(id=10, account=7)
    assert directory.inboxes_of_agent(7, 4) == (10,)
    assert [i.id for b in directory.iter_inboxes(7, batch_size=5) for i in b] == [10]
    assert not any(_reads_account(s) for s in counter.statements)
    # another account is never found (and never sent to the database)
    counter.reset()
    assert directory.inboxes_of_agent(8, 4) == ()
    assert list(directory.iter_inboxes(8, batch_size=5)) == []
    assert list(directory.iter_inboxes_with_policies([8], batch_size=5)) == []
    assert counter.statements == []
    pages = list(directory.iter_inboxes_with_policies([7, 8], batch_size=1))
    assert [[(i.id, i.account, p and p.id) for i, p in page] for page in pages] == [
        [(10, 7, 3)]
    ]
    assert directory.policy_for_inbox(10) == AssignmentPolicy(
        id=3, account=7, name="Main"
    )
    store = SqlPolicyStore(engine, schema)
    assert store.inbox_exists(7, 10)
    assert not store.inbox_exists(8, 10)
    with pytest.raises(ConfigurationError):
        writer.put_inbox(Inbox(id=11, account=8))
    with pytest.raises(ConfigurationError):
        writer.put_policy(AssignmentPolicy(id=4, account=8))


def test_single_account_mistakes() -> None:
    with pytest.raises(
        ConfigurationError
    ):  # an inbox's account must come from somewhere
        SqlSchema(tables={"inboxes": TableMap("desks", {"account_id": None})})
    with pytest.raises(ConfigurationError):
        SqlSchema(single_account="acme")  # int account ids
    with pytest.raises(ConfigurationError):
        SqlSchema(tables={"conversations": TableMap("t", {"inbox_id": None})})
    assert SqlSchema(single_account="acme", ids="str").single_account == "acme"
    assert SqlSchema().tenancy == "column"


# -- tenants through a join: conversations -> inbox -> account ------------------------


def through_inbox_host(db: Any) -> tuple[sa.Engine, SqlSchema, str]:
    engine, pg_schema = db.host_tables(
        "CREATE TABLE {q}tickets (id BIGINT PRIMARY KEY, inbox_id BIGINT NOT NULL,"
        " status VARCHAR(16) NOT NULL, assignee_id BIGINT,"
        " created_at TIMESTAMP NOT NULL)",
        "CREATE TABLE {q}desks (id BIGINT PRIMARY KEY, account_id BIGINT NOT NULL)",
    )
    schema = SqlSchema(
        schema=pg_schema,
        prefix="aa_",
        naive_datetimes=True,
        tables={
            "conversations": TableMap("tickets", {"account_id": None, **RAILS}),
            "inboxes": TableMap(
                "desks",
                {"enable_auto_assignment": None, "auto_assignment_config": None},
            ),
        },
    )
    schema.create_all(engine)
    q = f'"{pg_schema}".' if pg_schema else ""
    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO {q}desks VALUES (10, 1), (20, 2)"))
    _tickets(engine, q, [(1, 10, None), (2, 20, None), (3, 20, 5), (4, 20, None)])
    return engine, schema, q


def test_through_inbox_repository(
    db: Any, statement_counter: Callable[[sa.Engine], Any]
) -> None:
    engine, schema, q = through_inbox_host(db)
    assert schema.tenancy == "inbox"
    repo = SqlConversationRepository(engine, schema)
    assert repo.get(1) == Conversation(
        id=1, inbox=10, account=1, created_at=EPOCH, last_activity_at=EPOCH
    )
    second = repo.get(2)
    assert second is not None
    assert second.account == 2
    got = repo.unassigned_open(
        20,
        limit=10,
        priority=ConversationPriority.EARLIEST_CREATED,
        exclusions=ExclusionRules(),
        now=EPOCH,
    )
    assert [(c.id, c.account) for c in got] == [(2, 2), (4, 2)]
    counter = statement_counter(engine)
    assert repo.claim(2, 5, capacity_limit=2)
    assert not repo.claim(4, 5, capacity_limit=2)
    assert counter.count == 2  # one statement per claim
    assert repo.open_counts(20, [5]) == {5: 2}
    # the account is read from the inbox's row, in the same statement
    counter.reset()
    moved = repo.get(4)
    assert counter.count == 1
    assert "desks" in counter.statements[0]
    assert moved is not None
    assert moved.account == 2
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {q}desks SET account_id = 3 WHERE id = 20"))
    moved = repo.get(4)
    assert moved is not None
    assert moved.account == 3


def test_through_inbox_directory(db: Any) -> None:
    engine, schema, _ = through_inbox_host(db)
    writer = SqlWriter(engine, schema)
    writer.put_policy(AssignmentPolicy(id=3, account=2))
    writer.link_policy(20, 3)
    directory = SqlDirectory(engine, schema)
    assert directory.inbox(20) == Inbox(id=20, account=2)
    assert [i.id for b in directory.iter_inboxes(2, batch_size=5) for i in b] == [20]
    assert list(directory.iter_inboxes(1, batch_size=5)) == []
    writer.put_conversation(
        Conversation(
            id=9, inbox=10, account=1, created_at=EPOCH, last_activity_at=EPOCH
        ),
        ensure_inbox=False,
    )
    fetched = SqlConversationRepository(engine, schema).get(9)
    assert fetched is not None
    assert fetched.account == 1
    with pytest.raises(ConfigurationError):  # the inbox's account is the account
        writer.put_conversation(
            Conversation(
                id=8, inbox=10, account=2, created_at=EPOCH, last_activity_at=EPOCH
            ),
            ensure_inbox=False,
        )
    assert SqlConversationRepository(engine, schema).get(8) is None
