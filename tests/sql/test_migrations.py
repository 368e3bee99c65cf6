"""Migrations of the library's own tables (issue 16): a database made by the first
schema, upgraded to the head, is the same as a fresh ``create_all`` (columns, types,
nullability, defaults, keys, indexes, unique and check constraints), with its rows kept;
on SQLite and PostgreSQL.

The first schema is the DDL SQLAlchemy compiled from the first commit that added the SQL
tables (6e17d72), captured in ``tests/sql/data/first_schema.<dialect>.sql``.
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.schema import CreateIndex, CreateTable

from autoassign import cli
from autoassign.adapters.sql import (
    HEAD_REVISION,
    SqlDirectory,
    SqlPolicyStore,
    SqlSchema,
)
from autoassign.adapters.sql._db import index_names, quiet_reflection
from autoassign.adapters.sql.migrations import (
    HEAD,
    current_revision,
    upgrade,
    version_table,
)
from autoassign.adapters.sql.schema import ROUTING_COLUMNS
from autoassign.errors import ConfigurationError

from .conftest import Db

DATA = Path(__file__).resolve().parent / "data"
DIALECTS = {"sqlite": sqlite.dialect(), "postgres": postgresql.dialect()}
_FILES = {"sqlite": "sqlite", "postgres": "postgresql"}


def first_schema_sql(kind: str) -> list[str]:
    text = (DATA / f"first_schema.{_FILES[kind]}.sql").read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    return [statement.strip() for statement in body.split(";") if statement.strip()]


@attrs.define
class Place:
    """An empty database to migrate: on PostgreSQL a schema of its own, either named
    by the ``SqlSchema`` (``qualified``) or the connections' search path (as an
    application on the ``public`` schema sees it)."""

    db: Db
    engine: Engine
    pg_schema: str | None
    qualified: bool

    def schema(self, **options: Any) -> SqlSchema:
        return SqlSchema(schema=self.pg_schema if self.qualified else None, **options)

    def fresh_snapshot(self, schema: SqlSchema) -> dict[str, Any]:
        """``create_all`` of the same configuration on an empty database of the same
        names (PostgreSQL: the same schema, emptied, since index names contain it)."""
        if self.pg_schema is None:
            engine = self.db.engine()
        else:
            engine = self.engine
            with engine.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{self.pg_schema}" CASCADE'))
                conn.execute(sa.text(f'CREATE SCHEMA "{self.pg_schema}"'))
        fresh = schema.at_revision(HEAD_REVISION)
        fresh.create_all(engine)
        return snapshot(engine, fresh)


def _place(db: Db, *, qualified: bool = False) -> Place:
    if db.kind == "sqlite":
        return Place(db, db.engine(), None, qualified)
    name = db.new_pg_schema()
    options = (
        {} if qualified else {"connect_args": {"options": f"-csearch_path={name}"}}
    )
    return Place(db, db.engine(**options), name, qualified)


def _create_first_schema(db: Db) -> tuple[Place, SqlSchema]:
    place = _place(db)
    with place.engine.begin() as conn:
        for statement in first_schema_sql(db.kind):
            conn.execute(sa.text(statement))
    return place, place.schema()


def _default(value: object) -> object:
    if value is None:
        return None
    text = str(value)
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    return re.sub(r"::[a-z ]+$", "", text)


def _options(options: dict[str, Any]) -> str:
    """An index's dialect options (a partial index's WHERE), as comparable text."""
    return repr(
        sorted(
            (key, re.sub(r"[\s()]+", "", str(value)).lower())
            for key, value in options.items()
        )
    )


def _index_names(engine: Engine, table: str, where: str | None) -> set[str]:
    with engine.connect() as conn:
        return index_names(conn, sa.Table(table, sa.MetaData(), schema=where))


def snapshot(engine: Engine, schema: SqlSchema) -> dict[str, Any]:
    """What the comparison covers, table by table (the version table left out)."""
    with quiet_reflection():
        return _snapshot(engine, schema)


def _snapshot(engine: Engine, schema: SqlSchema) -> dict[str, Any]:
    inspector = sa.inspect(engine)
    where = schema.schema
    out: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names(schema=where)):
        if table == version_table(schema):
            continue
        out[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], _default(c.get("default")))
                for c in inspector.get_columns(table, schema=where)
            ],
            "primary_key": inspector.get_pk_constraint(table, schema=where)[
                "constrained_columns"
            ],
            "foreign_keys": sorted(
                (
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    (fk.get("options") or {}).get("ondelete"),
                )
                for fk in inspector.get_foreign_keys(table, schema=where)
            ),
            "indexes": sorted(
                (
                    index["name"],
                    tuple(index["column_names"]),
                    bool(index["unique"]),
                    _options(index.get("dialect_options", {})),
                )
                for index in inspector.get_indexes(table, schema=where)
            ),
            # those on expressions too (SQLite's reflection leaves them out)
            "index_names": sorted(_index_names(engine, table, where)),
            "unique": sorted(
                tuple(u["column_names"])
                for u in inspector.get_unique_constraints(table, schema=where)
            ),
            "checks": sorted(
                re.sub(r"\s+", "", str(c["sqltext"]))
                for c in inspector.get_check_constraints(table, schema=where)
            ),
        }
    return out


def _seed(engine: Engine, schema: SqlSchema) -> None:
    with engine.begin() as conn:
        conn.execute(sa.insert(schema.accounts), [{"id": 1}, {"id": 2}])
        conn.execute(
            sa.insert(schema.inboxes),
            [
                {
                    "id": 10,
                    "account_id": 1,
                    "name": "Support",
                    "enable_auto_assignment": True,
                }
            ],
        )
        policy = {
            "description": "",
            "assignment_order": "round_robin",
            "conversation_priority": "earliest_created",
            "fair_distribution_limit": 5,
            "fair_distribution_window": 3600,
            "enabled": True,
        }
        conn.execute(
            sa.insert(schema.assignment_policies),
            [
                {"id": 1, "account_id": 1, "name": "Same", **policy},
                {"id": 2, "account_id": 2, "name": "Same", **policy},
            ],
        )
        conn.execute(
            sa.insert(schema.inbox_assignment_policies),
            [{"inbox_id": 10, "assignment_policy_id": 1}],
        )


def _rows(engine: Engine, schema: SqlSchema) -> dict[str, list[Any]]:
    """The seeded tables' rows, in the first schema's columns (those every revision
    must keep; a later revision's columns may not exist yet)."""
    first = schema.at_revision(1)
    with engine.connect() as conn:
        return {
            name: sorted(
                map(tuple, conn.execute(sa.select(first.tables[name]))), key=str
            )
            for name in (
                "accounts",
                "inboxes",
                "assignment_policies",
                "inbox_assignment_policies",
            )
        }


def test_revision_1_is_the_first_schema() -> None:
    """The migrations' first revision builds exactly the captured first schema, so
    later changes to schema.py cannot rewrite history."""
    first = SqlSchema().at_revision(1)
    for kind, dialect in DIALECTS.items():
        built = []
        for table in first.metadata.sorted_tables:
            built.append(str(CreateTable(table).compile(dialect=dialect)).strip())
            for index in sorted(table.indexes, key=lambda i: i.name or ""):
                built.append(str(CreateIndex(index).compile(dialect=dialect)).strip())
        assert built == first_schema_sql(kind), kind


def test_upgrading_the_first_schema_equals_a_fresh_database(db: Db) -> None:
    place, schema = _create_first_schema(db)
    engine = place.engine
    _seed(engine, schema)
    before = _rows(engine, schema)
    assert current_revision(engine, schema) is None
    assert upgrade(engine, schema) == HEAD == f"{HEAD_REVISION:04d}"
    assert current_revision(engine, schema) == HEAD
    upgraded = snapshot(engine, schema)
    assert _rows(engine, schema) == before
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:  # now enforced
        conn.execute(
            sa.insert(schema.assignment_policies),
            {
                "account_id": 1,
                "name": "Same",
                "assignment_order": "round_robin",
                "conversation_priority": "earliest_created",
                "fair_distribution_window": 3600,
                "enabled": True,
            },
        )
    assert upgraded == place.fresh_snapshot(schema)


def test_upgrade_creates_an_empty_database_and_is_idempotent(db: Db) -> None:
    place = _place(db, qualified=True)
    schema = place.schema()
    assert upgrade(place.engine, schema) == HEAD
    once = snapshot(place.engine, schema)
    assert upgrade(place.engine, schema) == HEAD
    assert snapshot(place.engine, schema) == once
    assert once == place.fresh_snapshot(schema)


def test_upgrade_adopts_a_database_create_all_made(db: Db) -> None:
    place = _place(db, qualified=True)
    schema = place.schema()
    schema.create_all(place.engine)
    _seed(place.engine, schema)
    before = (snapshot(place.engine, schema), _rows(place.engine, schema))
    assert current_revision(place.engine, schema) is None
    assert upgrade(place.engine, schema) == HEAD
    assert (snapshot(place.engine, schema), _rows(place.engine, schema)) == before


def test_duplicate_names_stop_the_upgrade_and_change_nothing(db: Db) -> None:
    place, schema = _create_first_schema(db)
    engine = place.engine
    _seed(engine, schema)
    with engine.begin() as conn:
        conn.execute(
            sa.update(schema.assignment_policies)
            .where(schema.assignment_policies.c.id == 2)
            .values(account_id=1)
        )
    before = snapshot(engine, schema)
    with pytest.raises(ConfigurationError, match=r"account 1: 'Same'"):
        upgrade(engine, schema)
    # PostgreSQL runs the whole upgrade in one transaction; on SQLite each revision
    # commits on its own, so the database stays at 0001 (which it is)
    expected = None if db.kind == "postgres" else "0001"
    assert current_revision(engine, schema) == expected
    assert snapshot(engine, schema) == before


@pytest.mark.parametrize(
    "options",
    [
        {"prefix": "aa_"},
        {"ids": "str", "naive_datetimes": True},
        {"ids": "mixed", "unique_policy_names": False},
    ],
    ids=["prefix", "str-ids", "mixed-ids-no-unique"],
)
def test_every_configuration_upgrades_to_its_fresh_schema(
    db: Db, options: dict[str, Any]
) -> None:
    place = _place(db, qualified=True)
    schema = place.schema(**options)
    schema.at_revision(1).create_all(place.engine)
    assert upgrade(place.engine, schema) == HEAD
    names = set(sa.inspect(place.engine).get_table_names(schema=schema.schema))
    assert version_table(schema) in names
    assert all(table.startswith(schema.prefix) for table in names)
    assert snapshot(place.engine, schema) == place.fresh_snapshot(schema)


def test_a_hosts_own_alembic_history_is_left_alone(db: Db) -> None:
    place = _place(db, qualified=True)
    host = sa.Table(
        "alembic_version",
        sa.MetaData(),
        sa.Column("version_num", sa.String(32), primary_key=True),
        schema=place.pg_schema,
    )
    host.create(place.engine)
    with place.engine.begin() as conn:
        conn.execute(sa.insert(host), {"version_num": "host_rev_42"})
    upgrade(place.engine, place.schema())
    with place.engine.connect() as conn:
        assert conn.execute(sa.select(host.c.version_num)).scalars().all() == [
            "host_rev_42"
        ]


def test_a_mapped_host_table_is_never_touched(sqlite_db: Db) -> None:
    engine = sqlite_db.engine()
    with engine.begin() as conn:  # the host's own table, with duplicate names
        conn.execute(
            sa.text(
                "CREATE TABLE host_policies (id INTEGER PRIMARY KEY, account_id INTEGER, "
                "name TEXT, description TEXT, assignment_order TEXT, "
                "conversation_priority TEXT, fair_distribution_limit INTEGER, "
                "fair_distribution_window INTEGER, enabled BOOLEAN)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO host_policies (account_id, name) VALUES (1, 'a'), (1, 'a')"
            )
        )
    schema = SqlSchema(tables={"assignment_policies": "host_policies"})
    assert upgrade(engine, schema) == HEAD
    assert sa.inspect(engine).get_indexes("host_policies") == []


def test_upgrade_needs_the_head_schema(sqlite_db: Db) -> None:
    with pytest.raises(ConfigurationError, match="head schema"):
        upgrade(sqlite_db.engine(), SqlSchema().at_revision(1))
    with pytest.raises(ConfigurationError, match="revision"):
        SqlSchema(revision=HEAD_REVISION + 1)
    engine = sqlite_db.engine()
    with pytest.raises(ConfigurationError, match="'9999'") as error:
        upgrade(engine, SqlSchema(), revision="9999")
    assert error.value.field == "revision"
    assert sa.inspect(engine).get_table_names() == []


def test_the_cli_upgrades_a_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "app.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        for statement in first_schema_sql("sqlite"):
            conn.execute(sa.text(statement))
    engine.dispose()
    out = io.StringIO()
    assert cli.main(["db", "upgrade", "--url", f"sqlite:///{path}"], stdout=out) == 0
    assert HEAD in out.getvalue()
    engine = sa.create_engine(f"sqlite:///{path}")
    assert current_revision(engine) == HEAD
    engine.dispose()
    assert cli.main(["db", "upgrade", "--url", "nosuchdriver://x"], stdout=out) == 2
    err = capsys.readouterr().err
    assert err.startswith("autoassign db: error:")
    assert len(err.strip().splitlines()) == 1


def test_0004_makes_inbox_links_unlimited_and_keeps_every_row(db: Db) -> None:
    """Issue 16: from 0003, ``conversation_limit`` becomes nullable (an unlimited
    link); the limits (ids, values, stamps) are kept, the check and keys still hold,
    and an id once used is never given again."""
    place = _place(db, qualified=True)
    schema = place.schema()
    engine = place.engine
    schema.at_revision(1).create_all(engine)
    assert upgrade(engine, schema, revision="0003") == "0003"
    old = schema.at_revision(3)
    _seed(engine, old)
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    with engine.begin() as conn:
        conn.execute(sa.insert(old.capacity_policies), {"id": 5, "account_id": 1})
        conn.execute(
            sa.insert(old.inboxes),
            {"id": 11, "account_id": 1, "name": "B", "enable_auto_assignment": True},
        )
        conn.execute(
            sa.insert(old.inbox_capacity_limits),
            [
                {"capacity_policy_id": 5, "inbox_id": 10, "conversation_limit": 3},
                {"capacity_policy_id": 5, "inbox_id": 11, "conversation_limit": 0},
            ],
        )
        conn.execute(
            sa.update(old.inbox_capacity_limits).values(
                created_at=stamp, updated_at=stamp
            )
        )
        # the limit with the largest id is deleted: its id must never come back
        conn.execute(
            sa.delete(old.inbox_capacity_limits).where(
                old.inbox_capacity_limits.c.inbox_id == 11
            )
        )
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:  # 0003: NOT NULL
        conn.execute(
            sa.insert(old.inbox_capacity_limits),
            {"capacity_policy_id": 5, "inbox_id": 11, "conversation_limit": None},
        )
    limits = schema.inbox_capacity_limits
    with engine.connect() as conn:
        before = [tuple(row) for row in conn.execute(sa.select(limits))]
    tables = _rows(engine, schema)
    assert upgrade(engine, schema) == HEAD
    assert _rows(engine, schema) == tables
    with engine.begin() as conn:
        assert [tuple(row) for row in conn.execute(sa.select(limits))] == before
        new = conn.execute(
            sa.insert(limits).returning(limits.c.id),
            {"capacity_policy_id": 5, "inbox_id": 11, "conversation_limit": None},
        ).scalar_one()
        assert new > 2, "the deleted limit's id is not reused"
        assert (
            conn.execute(
                sa.select(limits.c.conversation_limit).where(limits.c.id == new)
            ).scalar_one()
            is None
        )
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:  # >= 0 holds
        conn.execute(
            sa.insert(limits),
            {"capacity_policy_id": 5, "inbox_id": 10, "conversation_limit": -1},
        )
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:  # one per inbox
        conn.execute(
            sa.insert(limits),
            {"capacity_policy_id": 5, "inbox_id": 10, "conversation_limit": None},
        )
    upgraded = snapshot(engine, schema)
    assert upgrade(engine, schema) == HEAD  # idempotent
    assert snapshot(engine, schema) == upgraded
    assert upgraded == place.fresh_snapshot(schema)


def test_0008_adds_the_policy_routing_settings_and_keeps_every_policy(db: Db) -> None:
    """From 0007, ``assignment_policies`` gains ``sticky_window``, ``skill_routing``
    and ``skill_relax_after``, all ``NULL`` (as wired) on the existing rows, which
    the directory reads as before; the store can then keep each setting."""
    place = _place(db, qualified=True)
    schema = place.schema()
    engine = place.engine
    schema.at_revision(1).create_all(engine)
    assert upgrade(engine, schema, revision="0007") == "0007"
    old = schema.at_revision(7)
    assert "sticky_window" not in old.assignment_policies.c
    _seed(engine, old)
    tables = _rows(engine, schema)
    assert upgrade(engine, schema) == HEAD
    assert _rows(engine, schema) == tables
    routing = [schema.assignment_policies.c[name] for name in ROUTING_COLUMNS]
    with engine.connect() as conn:
        assert set(conn.execute(sa.select(*routing))) == {(None, None, None)}
    policy = SqlDirectory(engine, schema).policy_for_inbox(10)
    assert policy is not None
    assert not policy.routing_set
    store = SqlPolicyStore(engine, schema)
    stored = store.update_policy(
        1,
        1,
        attrs.evolve(
            store_values(store, 1),
            sticky_window=0,
            skill_routing=False,
            skill_relax_after=60,
        ),
    )
    assert stored is not None
    read = SqlDirectory(engine, schema).policy_for_inbox(10)
    assert read is not None
    assert (read.sticky_window, read.skill_routing, read.skill_relax_after) == (
        0,
        False,
        60,
    )
    upgraded = snapshot(engine, schema)
    assert upgrade(engine, schema) == HEAD  # idempotent
    assert snapshot(engine, schema) == upgraded
    assert upgraded == place.fresh_snapshot(schema)


def store_values(store: SqlPolicyStore, policy: int) -> Any:
    record = store.get_policy(1, policy)
    assert record is not None
    return record.values
