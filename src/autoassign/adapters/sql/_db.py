"""Connections, error translation and engine helpers shared by the SQL adapters."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import warnings
import weakref
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import SingletonThreadPool, StaticPool

from autoassign.errors import BackendError, BackendUnavailable

__all__ = [
    "Database",
    "advisory_lock_key",
    "create_sqlite_engine",
    "index_names",
    "quiet_reflection",
    "translate_errors",
]


@contextlib.contextmanager
def quiet_reflection() -> Iterator[None]:
    """Reflection without SQLite's warning for an index on an expression (such as the
    ``highest_urgency`` order's): SQLite's reflection leaves those out (of
    ``get_indexes`` and of ``get_unique_constraints``, which reads them), and no
    caller needs them; :func:`index_names` lists them."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "Skipped unsupported reflection of expression-based index"
        )
        yield


def index_names(bind: sa.Connection, table: sa.Table) -> set[str]:
    """The names of ``table``'s indexes, those on expressions included (SQLite: from
    ``sqlite_master``, whose reflection skips them)."""
    if bind.dialect.name == "sqlite":
        master = f"{table.schema}.sqlite_master" if table.schema else "sqlite_master"
        rows = bind.execute(
            sa.text(
                f"SELECT name FROM {master} WHERE type = 'index' AND tbl_name = :t"
            ),
            {"t": table.name},
        )
        return {str(row[0]) for row in rows}
    return {
        str(index["name"])
        for index in sa.inspect(bind).get_indexes(table.name, schema=table.schema)
    }


_LOCKS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def _shared_connection_lock(engine: Engine) -> threading.RLock | None:
    """Engines whose pool hands every thread the same DBAPI connection (SQLite
    ``:memory:`` with a StaticPool) need their transactions serialised in-process."""
    if not isinstance(engine.pool, StaticPool | SingletonThreadPool):
        return None
    with _LOCKS_GUARD:
        lock = _LOCKS.get(engine)
        if lock is None:
            lock = _LOCKS[engine] = threading.RLock()
        return lock


def advisory_lock_key(namespace: str, value: object) -> int:
    """A stable signed 64-bit PostgreSQL advisory-lock key for ``value`` in
    ``namespace`` (int 7 and str "7" differ, and so do namespaces)."""
    digest = hashlib.blake2b(
        f"autoassign:{namespace}:{type(value).__name__}:{value}".encode(),
        digest_size=8,
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextlib.contextmanager
def translate_errors(operation: str) -> Iterator[None]:
    """Re-raise SQLAlchemy errors as :class:`BackendUnavailable` (connection lost,
    refused, timed out) or :class:`BackendError`, with the driver's error as cause."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated or isinstance(
            exc, sa.exc.OperationalError | sa.exc.InterfaceError
        ):
            raise BackendUnavailable(f"{operation}: {type(exc.orig).__name__}") from exc
        raise BackendError(f"{operation}: {type(exc.orig).__name__}") from exc
    except sa.exc.TimeoutError as exc:  # the pool had no connection to give
        raise BackendUnavailable(f"{operation}: pool timeout") from exc
    except sa.exc.SQLAlchemyError as exc:
        raise BackendError(f"{operation}: {type(exc).__name__}") from exc


class Database:
    """An engine plus the lock its pool may need."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = _shared_connection_lock(engine)
        # PostgreSQL reads run in autocommit: no BEGIN and ROLLBACK round trips around
        # each one (every statement is consistent on its own).
        self._autocommit = engine.dialect.name == "postgresql"
        # A single-statement write may commit on its own, unless the engine is read-only
        # (``postgresql_readonly``, which only a transaction enforces).
        self.autocommit_writes = self._autocommit and not (
            engine.get_execution_options().get("postgresql_readonly", False)
        )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self._lock is None:
            yield
        else:
            with self._lock:
                yield

    @contextlib.contextmanager
    def read(self, operation: str) -> Iterator[sa.Connection]:
        """A connection for reads: in autocommit on PostgreSQL (each statement sees
        its own snapshot; no BEGIN or ROLLBACK is sent), elsewhere in a transaction
        rolled back at the end."""
        with self._locked(), translate_errors(operation), self.engine.connect() as conn:
            if self._autocommit:
                conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn

    @contextlib.contextmanager
    def autocommit(self, operation: str) -> Iterator[sa.Connection]:
        """A connection in autocommit (PostgreSQL): each statement commits on its own,
        one round trip, no BEGIN or COMMIT."""
        with self._locked(), translate_errors(operation), self.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn

    @contextlib.contextmanager
    def write(self, operation: str) -> Iterator[sa.Connection]:
        """A connection in a transaction committed at the end (rolled back on error)."""
        with self._locked(), translate_errors(operation), self.engine.begin() as conn:
            yield conn


def _enable_sqlite_foreign_keys(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def create_sqlite_engine(
    path: str | os.PathLike[str] = ":memory:", **kwargs: Any
) -> Engine:
    """An SQLite engine with foreign keys on. ``":memory:"`` (the default) uses one
    shared connection (a StaticPool) so that every thread sees the same database; the
    adapters serialise their use of it. A file path gives an ordinary pooled engine,
    which is what concurrent workers in one process should use."""
    if str(path) == ":memory:":
        kwargs.setdefault("poolclass", StaticPool)
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("check_same_thread", False)
        engine = sa.create_engine(
            "sqlite+pysqlite://", connect_args=connect_args, **kwargs
        )
    else:
        engine = sa.create_engine(f"sqlite+pysqlite:///{os.fspath(path)}", **kwargs)
    event.listen(engine, "connect", _enable_sqlite_foreign_keys)
    return engine
