"""Fixtures for the delivery tests: a PostgreSQL schema of their own (dropped after
the test) and a real Redis key prefix (exactly the keys used are deleted after the
test: no FLUSHDB). Both are skipped without a server, and required with ``CI=true``."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import sqlalchemy as sa

POSTGRES_URL = os.environ.get(
    "AUTOASSIGN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("AUTOASSIGN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def pg_schema(require_service: Callable[[str, bool, str], None]) -> Iterator[str]:
    """A fresh PostgreSQL schema name (created; dropped with CASCADE afterwards)."""
    engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    name = f"aa_rel_{uuid.uuid4().hex[:10]}"
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    except Exception as exc:  # any failure means "not reachable"
        engine.dispose()
        require_service("PostgreSQL", False, f"{POSTGRES_URL}: {exc}")
    try:
        yield name
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        engine.dispose()


@pytest.fixture
def redis_prefix(
    require_service: Callable[[str, bool, str], None],
) -> Iterator[str]:
    """A unique key prefix on the real Redis; its keys are deleted afterwards (found
    by the prefix's known key names, never by KEYS or SCAN)."""
    client: Any = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service("Redis", False, f"{REDIS_URL}: {exc}")
    prefix = f"aa-rel-{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        from autoassign.adapters.redis import KeySchema  # noqa: PLC0415

        keys = KeySchema(prefix)
        client.delete(
            keys.outbox(10), keys.outbox_due(10), keys.outbox_conversations(10)
        )
        client.close()
