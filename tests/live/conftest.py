"""Fixtures for ``autoassign explain`` on a live system.

* ``live_redis``: the real Redis at ``AUTOASSIGN_TEST_REDIS_URL`` (default
  ``redis://127.0.0.1:6379/15``) under a unique key prefix; skipped without a server,
  required with ``CI=true`` (marked ``redis``). Cleaned by deleting the keys under that
  prefix one by one: never FLUSHDB.
* ``live_sql``: an SQLite file, and a fresh PostgreSQL schema (``CREATE SCHEMA aa_<random>``,
  dropped afterwards; marked ``postgres``) at ``AUTOASSIGN_TEST_POSTGRES_URL``.
* ``RecordingRedis``: a client that records every command it sends (pipelines included).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import redis
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from autoassign.adapters.sql import SqlSchema, create_sqlite_engine

REDIS_URL = os.environ.get("AUTOASSIGN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get(
    "AUTOASSIGN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _problem(connect: Callable[[], None]) -> str | None:
    try:
        connect()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _ping_redis() -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


def _ping_postgres() -> None:
    engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    finally:
        engine.dispose()


class RecordingRedis(redis.Redis):
    """Records ``(command, args)`` of everything sent, one entry per command, also
    inside pipelines."""

    sent: list[tuple[str, tuple[Any, ...]]]

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent.append((_name(args[0]), args[1:]))
        return super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction=transaction, shard_hint=shard_hint)
        queue = pipe.execute_command
        sent = self.sent

        def execute_command(*args: Any, **kwargs: Any) -> Any:
            sent.append((_name(args[0]), args[1:]))
            return queue(*args, **kwargs)

        pipe.execute_command = execute_command
        return pipe


def _name(command: object) -> str:
    text = command.decode() if isinstance(command, bytes) else str(command)
    return text.upper()


@attrs.define
class LiveRedis:
    url: str
    prefix: str
    client: Any
    """A plain client for seeding and snapshots (not the one explain uses)."""

    def list_keys(self) -> list[str]:
        """Every key under the prefix. SCAN on a unique prefix in the test database:
        it catches keys that no command of ours named."""
        return sorted(
            key.decode() if isinstance(key, bytes) else key
            for key in self.client.scan_iter(match=f"{self.prefix}*", count=1000)
        )


@pytest.fixture
def live_redis(
    request: pytest.FixtureRequest, require_service: Callable[[str, bool, str], None]
) -> Iterator[LiveRedis]:
    request.applymarker(pytest.mark.redis)
    problem = _problem(_ping_redis)
    require_service("Redis", problem is None, f"{REDIS_URL}: {problem}")
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=10)
    target = LiveRedis(REDIS_URL, f"aa-live-{uuid.uuid4().hex[:12]}", client)
    try:
        yield target
    finally:
        for key in target.list_keys():
            client.delete(key)  # one key per call
        client.close()


@attrs.define
class LiveSql:
    kind: str
    url: str
    """What ``--sql-url`` gets."""
    schema_name: str | None
    """What ``--sql-schema`` gets (PostgreSQL)."""
    engine: Engine
    """A writable engine for seeding and snapshots."""
    schema: SqlSchema

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table of the schema, in a stable order."""
        out: dict[str, list[tuple[Any, ...]]] = {}
        with self.engine.connect() as conn:
            for table in self.schema.metadata.sorted_tables:
                rows = conn.execute(sa.select(table)).all()
                out[table.name] = sorted((tuple(row) for row in rows), key=repr)
        return out


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live_sql(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    require_service: Callable[[str, bool, str], None],
) -> Iterator[LiveSql]:
    if request.param == "sqlite":
        path = tmp_path / "live.db"
        engine = create_sqlite_engine(path)
        schema = SqlSchema()
        schema.create_all(engine)
        try:
            yield LiveSql("sqlite", f"sqlite:///{path}", None, engine, schema)
        finally:
            engine.dispose()
        return
    problem = _problem(_ping_postgres)
    require_service("PostgreSQL", problem is None, f"{POSTGRES_URL}: {problem}")
    name = f"aa_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, poolclass=sa.NullPool)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    engine = sa.create_engine(POSTGRES_URL)
    try:
        schema = SqlSchema(schema=name)
        schema.create_all(engine)
        yield LiveSql("postgres", POSTGRES_URL, name, engine, schema)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        admin.dispose()
