"""Fixtures for the SQL adapter tests: ``db`` runs a test on SQLite and on PostgreSQL.

Each PostgreSQL test gets its own database schema (``CREATE SCHEMA aa_<random>``),
dropped afterwards, so tests never see each other's tables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from autoassign.adapters.sql import SqlSchema, create_sqlite_engine

POSTGRES_URL = os.environ.get(
    "AUTOASSIGN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

_REACHABLE: dict[str, tuple[bool, str]] = {}


def postgres_reachable() -> tuple[bool, str]:
    if POSTGRES_URL not in _REACHABLE:
        engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("select 1"))
            _REACHABLE[POSTGRES_URL] = (True, "")
        except Exception as exc:  # any failure means "not reachable"
            _REACHABLE[POSTGRES_URL] = (
                False,
                f"{POSTGRES_URL}: {type(exc).__name__}: {exc}",
            )
        finally:
            engine.dispose()
    return _REACHABLE[POSTGRES_URL]


@attrs.define
class Db:
    """Makes engines and schemas on one database kind; cleans up after the test."""

    kind: str
    cache: dict[str, Any] = attrs.field(factory=dict)
    """Per-test scratch space (hypothesis examples reuse one schema)."""
    _engines: list[Engine] = attrs.field(factory=list)
    _schemas: list[str] = attrs.field(factory=list)
    _admin: Engine | None = None

    @property
    def url(self) -> str:
        return POSTGRES_URL

    def engine(self, **kwargs: Any) -> Engine:
        if self.kind == "sqlite":
            engine = create_sqlite_engine(**kwargs)
        else:
            engine = sa.create_engine(POSTGRES_URL, **kwargs)
        self._engines.append(engine)
        return engine

    def new_pg_schema(self) -> str:
        name = f"aa_{uuid.uuid4().hex[:12]}"
        admin = self._admin_engine()
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
        self._schemas.append(name)
        return name

    def _admin_engine(self) -> Engine:
        if self._admin is None:
            self._admin = sa.create_engine(POSTGRES_URL, poolclass=sa.NullPool)
        return self._admin

    def make(self, **schema_kwargs: Any) -> tuple[Engine, SqlSchema]:
        """A fresh engine and a created :class:`SqlSchema` (kwargs passed through)."""
        engine = self.engine()
        if self.kind == "postgres":
            schema_kwargs.setdefault("schema", self.new_pg_schema())
        schema = SqlSchema(**schema_kwargs)
        schema.create_all(engine)
        return engine, schema

    def host_tables(self, *ddl: str) -> tuple[Engine, str | None]:
        """A fresh engine (and PostgreSQL schema) with a host's tables made by ``ddl``
        statements; ``{q}`` in them is the schema-qualifying prefix (``"aa_x".`` or
        empty). Returns the engine and the PostgreSQL schema (``None`` on SQLite)."""
        engine = self.engine()
        pg_schema = self.new_pg_schema() if self.kind == "postgres" else None
        q = f'"{pg_schema}".' if pg_schema else ""
        with engine.begin() as conn:
            for statement in ddl:
                conn.execute(sa.text(statement.replace("{q}", q)))
        return engine, pg_schema

    def close(self) -> None:
        for engine in self._engines:
            engine.dispose()
        if self._admin is not None:
            with self._admin.begin() as conn:
                for name in self._schemas:
                    conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
            self._admin.dispose()


def _open_db(kind: str, require_service: Callable[[str, bool, str], None]) -> Db:
    if kind == "postgres":
        ok, detail = postgres_reachable()
        require_service("PostgreSQL", ok, detail)
    return Db(kind)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(
    request: pytest.FixtureRequest, require_service: Callable[[str, bool, str], None]
) -> Iterator[Db]:
    handle = _open_db(request.param, require_service)
    try:
        yield handle
    finally:
        handle.close()


@pytest.fixture
def sqlite_db(require_service: Callable[[str, bool, str], None]) -> Iterator[Db]:
    """SQLite only."""
    handle = _open_db("sqlite", require_service)
    try:
        yield handle
    finally:
        handle.close()


@pytest.fixture
def pg(require_service: Callable[[str, bool, str], None]) -> Iterator[Db]:
    """PostgreSQL only (tests using it must be marked ``postgres``)."""
    handle = _open_db("postgres", require_service)
    try:
        yield handle
    finally:
        handle.close()


class StatementCounter:
    """Counts the SQL statements an engine executes."""

    def __init__(self, engine: Engine) -> None:
        self.statements: list[str] = []
        sa.event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)

    def reset(self) -> None:
        self.statements.clear()

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def statement_counter() -> Callable[[Engine], StatementCounter]:
    """``statement_counter(engine)`` starts counting that engine's statements."""
    return StatementCounter


@pytest.fixture
def postgres_available() -> tuple[bool, str]:
    """``(reachable, detail)`` for the test PostgreSQL server."""
    return postgres_reachable()
