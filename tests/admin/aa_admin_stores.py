"""The admin API over every store: the in-memory store, the SQL store on SQLite and on
PostgreSQL (one schema per test, emptied and seeded again for each example), with the
same seeded world, and a store-agnostic read-back of everything the API can change.

Imported by tests/admin/test_fuzz.py and tests/reliability/test_bad_input.py (their
conftests put this directory on ``sys.path``).
"""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from autoassign.adapters.sql import (
    LOGICAL_TABLES,
    SqlPolicyStore,
    SqlSchema,
    SqlWriter,
    create_sqlite_engine,
)
from autoassign.admin import (
    Actor,
    AdminApp,
    ApiAccessTokenAuthenticator,
    InMemoryPolicyStore,
    PolicyAdmin,
    PolicyStore,
)
from autoassign.model import Account, Inbox
from autoassign.testing import FakeClock, InMemoryBackend

POSTGRES_URL = os.environ.get(
    "AUTOASSIGN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TOKENS = {
    "admin": Actor(account=1, user="root", role="administrator"),
    "agent": Actor(account=1, user="ann", role="agent"),
    "other": Actor(account=2, user="boss", role="administrator"),
}
STORE_KINDS = [
    "memory",
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
]
ACCOUNTS = (1, 2)
INBOXES = (10, 11, 20)
MEMBERS = {10: ["ann", "bob"], 11: ["ann"], 20: ["zed"]}
USERS = ((1, "ann"), (1, "bob"), (1, "root"), (2, "zed"))
SQL_IDS = {
    "default": "mixed",
    "policy": "int",
    "capacity_policy": "int",
    "limit": "int",
}
"""Text columns for accounts, inboxes and agents (so string ids reach the database);
generated integer ids for what the store creates."""


def postgres_reachable() -> tuple[bool, str]:
    engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        return True, ""
    except Exception as exc:  # any failure means "not reachable"
        return False, f"{POSTGRES_URL}: {type(exc).__name__}: {exc}"
    finally:
        engine.dispose()


class AdminWorld:
    """One kind of store with the admin app over it; :meth:`fresh` empties and seeds
    it again (call it at the start of every hypothesis example)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._engine: sa.Engine | None = None
        self._schema: SqlSchema | None = None
        self._pg_schema: str | None = None
        if kind == "postgres":
            self._pg_schema = f"aa_{uuid.uuid4().hex[:12]}"
            self._engine = sa.create_engine(POSTGRES_URL)
            with self._engine.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{self._pg_schema}"'))
            self._schema = SqlSchema(ids=SQL_IDS, schema=self._pg_schema)
            self._schema.create_all(self._engine)
        self.store: PolicyStore
        self.app: AdminApp

    def close(self) -> None:
        if self._engine is not None:
            if self._pg_schema is not None:
                with self._engine.begin() as conn:
                    conn.execute(
                        sa.text(f'DROP SCHEMA IF EXISTS "{self._pg_schema}" CASCADE')
                    )
            self._engine.dispose()

    def fresh(self) -> AdminApp:
        clock = FakeClock()
        if self.kind == "memory":
            backend = InMemoryBackend(clock=clock)
            for account in ACCOUNTS:
                backend.add_account(account)
            for inbox in INBOXES:
                backend.add_inbox(
                    inbox, account=2 if inbox == 20 else 1, members=MEMBERS[inbox]
                )
            memory = InMemoryPolicyStore(backend.world, clock)
            for account, user in USERS:
                memory.add_user(account, user, name=user.title())
            self.store = memory
        else:
            engine, schema = self._sql_tables()
            writer = SqlWriter(engine, schema)
            for account in ACCOUNTS:
                writer.put_account(Account(id=account, features={"assignment_v2"}))
            for inbox in INBOXES:
                writer.put_inbox(
                    Inbox(id=inbox, account=2 if inbox == 20 else 1),
                    MEMBERS[inbox],
                    name=f"Inbox {inbox}",
                )
            for account, user in USERS:
                writer.put_agent(account, user, name=user.title())
            self.store = SqlPolicyStore(engine, schema, clock=clock)
        admin = PolicyAdmin(self.store)
        root = TOKENS["admin"]
        policy = admin.create_policy(root, 1, {"name": "P"})
        admin.link_inbox(root, 1, 10, {"assignment_policy_id": policy.id})
        capacity = admin.create_capacity_policy(
            root, 1, {"name": "C", "exclusion_rules": {"excluded_labels": ["vip"]}}
        )
        admin.add_inbox_limit(
            root, 1, capacity.id, {"inbox_id": 10, "conversation_limit": 2}
        )
        admin.add_capacity_policy_agent(root, 1, capacity.id, {"user_id": "ann"})
        admin.create_policy(TOKENS["other"], 2, {"name": "Q"})
        self.app = AdminApp(
            admin, ApiAccessTokenAuthenticator(TOKENS), max_body_bytes=64 * 1024
        )
        return self.app

    def _sql_tables(self) -> tuple[sa.Engine, SqlSchema]:
        if self._engine is None:  # SQLite: one in-memory database per test
            self._engine = create_sqlite_engine()
            self._schema = SqlSchema(ids=SQL_IDS)
            self._schema.create_all(self._engine)
        assert self._schema is not None
        tables = [self._schema.tables[name] for name in LOGICAL_TABLES]
        with self._engine.begin() as conn:
            if self.kind == "postgres":
                owned = ", ".join(f'"{self._pg_schema}"."{t.name}"' for t in tables)
                conn.execute(sa.text(f"TRUNCATE {owned} RESTART IDENTITY CASCADE"))
            else:  # children first (foreign keys); ids restart with the table
                for table in reversed(self._schema.metadata.sorted_tables):
                    conn.execute(sa.delete(table))
                conn.execute(sa.text("DELETE FROM sqlite_sequence"))
        return self._engine, self._schema

    def snapshot(self) -> Any:
        """Everything the admin API can change, read back through the port."""
        store = self.store
        out: list[Any] = []
        for account in ACCOUNTS:
            policies = store.list_policies(account)
            capacities = store.list_capacity_policies(account)
            out.append(policies)
            out.append(capacities)
            out.extend(store.inboxes_of_policy(account, p.id) for p in policies)
            out.extend(
                store.agents_of_capacity_policy(account, c.id) for c in capacities
            )
            out.extend(store.policy_of_inbox(account, inbox) for inbox in INBOXES)
        return out


def open_world(
    kind: str, require_service: Callable[[str, bool, str], None]
) -> Iterator[AdminWorld]:
    """The body of a ``world`` fixture parametrized over :data:`STORE_KINDS`."""
    if kind == "postgres":
        require_service("PostgreSQL", *postgres_reachable())
    handle = AdminWorld(kind)
    try:
        yield handle
    finally:
        handle.close()


def send(
    app: AdminApp,
    method: str,
    path: str | bytes,
    body: bytes = b"",
    *,
    token: str | None = "admin",
    content_type: str = "application/json",
) -> tuple[int, bytes]:
    """One in-process WSGI request. ``path`` is the raw path: bytes as given, or a
    string sent as UTF-8 (lone surrogates included), the way a server hands raw bytes
    over; the response body must be JSON (or empty)."""
    raw = path if isinstance(path, bytes) else path.encode("utf-8", "surrogatepass")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": raw.decode("latin-1"),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": content_type,
        "wsgi.input": io.BytesIO(body),
    }
    if token is not None:
        environ["HTTP_API_ACCESS_TOKEN"] = token
    status: list[int] = []

    def start_response(line: str, headers: list[tuple[str, str]]) -> None:
        status.append(int(line.split(maxsplit=1)[0]))

    out = b"".join(app(environ, start_response))
    if out:
        json.loads(out)  # every response body is JSON
    return status[0], out
