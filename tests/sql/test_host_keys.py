"""A mapped conversation id that is not unique (issue 17): Chatwoot's ``display_id`` is
unique per account only. The mapping refuses it, and a claim that matches two rows
anyway is rolled back: both accounts' rows stay untouched."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from autoassign.adapters.sql import (
    EnumEncoding,
    SqlConversationRepository,
    SqlSchema,
    TableMap,
)
from autoassign.errors import ConfigurationError
from autoassign.model import ConversationStatus as S

RAILS = EnumEncoding({S.OPEN: 0, S.RESOLVED: 1, S.PENDING: 2, S.SNOOZED: 3})


def _host(
    db: Any, key: str, second_display_id: int = 1
) -> tuple[sa.Engine, SqlSchema, str]:
    """A Chatwoot-like conversations table; ``key`` is the DDL of its keys. Rows 1 and
    2 belong to accounts 1 and 2, with display ids 1 and ``second_display_id``."""
    engine, pg_schema = db.host_tables(
        "CREATE TABLE {q}conversations (id BIGINT NOT NULL, display_id BIGINT"
        " NOT NULL, account_id BIGINT NOT NULL, inbox_id BIGINT NOT NULL,"
        " status INTEGER NOT NULL, assignee_id BIGINT,"
        f" created_at TIMESTAMP NOT NULL, {key})",
        "INSERT INTO {q}conversations VALUES"
        " (1, 1, 1, 10, 0, NULL, '2024-01-01'),"
        f" (2, {int(second_display_id)}, 2, 10, 0, NULL, '2024-01-01')",
    )
    q = f'"{pg_schema}".' if pg_schema else ""
    schema = SqlSchema(
        schema=pg_schema,
        prefix="aa_",
        naive_datetimes=True,
        tables={
            "conversations": TableMap(
                "conversations",
                {
                    "id": "display_id",
                    "team_id": None,
                    "last_activity_at": None,
                    "status": "status",
                },
            )
        },
        status=RAILS,
    )
    schema.create_all(engine)
    return engine, schema, q


def _rows(engine: sa.Engine, q: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                sa.text(f"SELECT id, assignee_id FROM {q}conversations ORDER BY id")
            )
        ]


def test_a_per_account_number_is_refused_as_the_conversation_id(db: Any) -> None:
    engine, schema, _ = _host(db, "PRIMARY KEY (id), UNIQUE (account_id, display_id)")
    with pytest.raises(ConfigurationError, match="display_id") as caught:
        SqlConversationRepository(engine, schema)
    assert caught.value.field == "conversations.id"


@pytest.mark.parametrize(
    "key", ["PRIMARY KEY (display_id)", "PRIMARY KEY (id), UNIQUE (display_id)"]
)
def test_a_unique_id_column_is_accepted(db: Any, key: str) -> None:
    engine, schema, q = _host(db, key, second_display_id=2)
    repo = SqlConversationRepository(engine, schema)
    assert repo.claim(2, 7)
    assert _rows(engine, q) == [(1, None), (2, 7)]


def test_a_unique_index_counts_but_a_partial_one_does_not(db: Any) -> None:
    engine, schema, q = _host(db, "PRIMARY KEY (id)", second_display_id=2)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE UNIQUE INDEX full_display ON {q}conversations (display_id)"
            )
        )
    assert SqlConversationRepository(engine, schema).claim(1, 7)
    engine, schema, q = _host(db, "PRIMARY KEY (id)", second_display_id=2)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE UNIQUE INDEX partial_display ON {q}conversations"
                " (display_id) WHERE status = 0"
            )
        )
    with pytest.raises(ConfigurationError):
        SqlConversationRepository(engine, schema)


def test_a_claim_matching_two_accounts_rows_rolls_back(db: Any) -> None:
    engine, schema, q = _host(db, "PRIMARY KEY (id)")
    repo = SqlConversationRepository(engine, schema, check_key=False)
    with pytest.raises(ConfigurationError, match="matched 2 rows"):
        repo.claim(1, 7)
    with pytest.raises(ConfigurationError, match="matched 2 rows"):
        repo.claim(1, 7, capacity_limit=5)
    assert _rows(engine, q) == [(1, None), (2, None)]
