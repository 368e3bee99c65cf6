"""Live wirings for ``autoassign explain`` (private to the command line).

Two ways to reach a running system, both read-only:

* ``--wiring module:attribute``: import the host's own factory (a callable taking no
  arguments, or an object) that returns its :class:`~autoassign.Autoassign` (or
  :class:`~autoassign.AssignmentService`). The host's adapters, table mapping, selectors
  and options are then exactly the ones its workers use.
* ``--redis-url`` and ``--sql-url``: the library's own adapters over the library's own
  schema (:class:`~autoassign.adapters.sql.SqlSchema`, optionally in a PostgreSQL schema or
  with a table prefix) and key layout (:class:`~autoassign.adapters.redis.RedisBackend`
  under a prefix). The database connection is made read-only by the database itself
  (PostgreSQL ``SET TRANSACTION READ ONLY`` through SQLAlchemy's ``postgresql_readonly``;
  SQLite opened with ``mode=ro`` and ``PRAGMA query_only``); the event bus and job queue
  refuse every call.

``explain`` itself only calls the ports' read methods; the tests in ``tests/live`` check
that a live explain leaves every Redis key and SQL row as it was.

Building a client from a URL is the command line's job (it is an application); the
library itself never does (see ``docs/redis.md``).
"""

from __future__ import annotations

import importlib
import os
import sys
import urllib.parse
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import attrs

from autoassign.clock import SystemClock
from autoassign.errors import AutoassignError, ConfigurationError
from autoassign.model import ConversationId, Id, InboxId
from autoassign.service import AssignmentService
from autoassign.wiring import Autoassign, build_autoassign

__all__ = [
    "LiveError",
    "LiveTarget",
    "WriteRefused",
    "connect_urls",
    "id_candidates",
    "load_wiring",
    "redact_url",
    "resolve_conversation",
    "resolve_inbox",
]


class LiveError(Exception):
    """A live wiring could not be set up (the command line exits with code 2)."""


class WriteRefused(AutoassignError):
    """A dry run tried to publish an event or enqueue a job."""


class _RefusingEvents:
    """:class:`~autoassign.ports.EventBus` of a dry run: publishing is a bug."""

    def publish(self, event: object) -> None:
        raise WriteRefused(f"explain is read-only: refused to publish {event!r}")


class _RefusingJobs:
    """:class:`~autoassign.ports.JobQueue` of a dry run: enqueueing is a bug."""

    def enqueue_assignment(self, inbox: InboxId) -> None:
        raise WriteRefused(f"explain is read-only: refused to enqueue inbox {inbox!r}")


@attrs.frozen(kw_only=True)
class LiveTarget:
    """A wired app and a one-line description of where it reads from."""

    app: Autoassign | AssignmentService
    description: str
    close: Callable[[], None] = attrs.field(default=lambda: None, eq=False)


# -- ids --------------------------------------------------------------------------------


def id_candidates(text: str) -> list[Id]:
    """How an id given on the command line may be stored: ``"42"`` may be the int
    ``42`` or the text ``"42"`` (int first); anything else is text."""
    if text.isascii() and text.isdigit() and (text == "0" or not text.startswith("0")):
        return [int(text), text]
    return [text]


def _resolve(text: str, exists: Callable[[Id], bool]) -> Id | None:
    for candidate in id_candidates(text):
        if exists(candidate):
            return candidate
    return None


def _service(app: Autoassign | AssignmentService) -> AssignmentService:
    return app.service if isinstance(app, Autoassign) else app


def resolve_inbox(app: Autoassign | AssignmentService, text: str) -> InboxId | None:
    """The inbox id ``text`` names in the app's directory, or ``None``."""
    directory = _service(app).directory
    return _resolve(text, lambda candidate: directory.inbox(candidate) is not None)


def resolve_conversation(
    app: Autoassign | AssignmentService, text: str
) -> ConversationId | None:
    """The conversation id ``text`` names in the app's repository, or ``None``."""
    conversations = _service(app).conversations
    return _resolve(text, lambda candidate: conversations.get(candidate) is not None)


# -- --wiring ---------------------------------------------------------------------------


def load_wiring(spec: str) -> LiveTarget:
    """Import ``module:attribute`` (dots allowed in both) and, if it is callable and not
    already an app, call it with no arguments. The current directory is searched first,
    as ``python -m`` would."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise LiveError(
            f"--wiring must look like 'package.module:factory', got {spec!r}"
        )
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise LiveError(f"--wiring: cannot import {module_name!r}: {exc}") from None
        for part in attribute.split("."):
            try:
                target = getattr(target, part)
            except AttributeError:
                raise LiveError(
                    f"--wiring: {module_name!r} has no attribute {attribute!r}"
                ) from None
        if callable(target) and not isinstance(target, Autoassign | AssignmentService):
            try:
                target = target()
            except Exception as exc:
                raise LiveError(
                    f"--wiring: {spec}() failed: {type(exc).__name__}: {exc}"
                ) from None
    finally:
        if added:
            sys.path.remove(cwd)
    if not isinstance(target, Autoassign | AssignmentService):
        raise LiveError(
            f"--wiring: {spec} must be (or return) an autoassign.Autoassign or "
            f"AssignmentService, got {type(target).__name__}"
        )
    return LiveTarget(app=target, description=f"wiring {spec}")


# -- --redis-url / --sql-url ------------------------------------------------------------


def redact_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``."""
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.hostname or ""
        if ":" in host:  # IPv6
            host = f"[{host}]"
        netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<unparsable url>"


def _redis_client(url: str, *, cluster: bool) -> Any:
    """The client for ``--redis-url`` (a seam the tests wrap)."""
    try:
        import redis  # noqa: PLC0415
        from redis.cluster import RedisCluster  # noqa: PLC0415
    except ImportError:
        raise LiveError(
            "--redis-url needs redis-py: pip install 'autoassign[redis]'"
        ) from None
    options = {"socket_connect_timeout": 5, "socket_timeout": 30}
    try:
        if cluster:
            return RedisCluster.from_url(url, **options)
        return redis.Redis.from_url(url, **options)
    except (ValueError, redis.RedisError) as exc:
        raise LiveError(f"--redis-url {redact_url(url)}: {exc}") from None


def _read_only_engine(url: str) -> Any:
    try:
        import sqlalchemy as sa  # noqa: PLC0415
    except ImportError:
        raise LiveError(
            "--sql-url needs SQLAlchemy: pip install 'autoassign[sql]' (or "
            "'autoassign[postgres]')"
        ) from None
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise LiveError(f"--sql-url: not a database URL: {redact_url(url)}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or parsed.query.get("mode") == "memory":
            raise LiveError(
                "--sql-url: an in-memory SQLite database is empty; give a file"
            )
        if not database.startswith("file:"):
            path = urllib.parse.quote(os.path.abspath(database), safe="/")
            database = f"file:{path}"
        parsed = parsed.set(
            database=database, query={**parsed.query, "mode": "ro", "uri": "true"}
        )
    try:
        engine = sa.create_engine(parsed)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise LiveError(f"--sql-url {redact_url(url)}: {exc}") from None
    if backend == "sqlite":

        def query_only(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA query_only = ON")
            finally:
                cursor.close()

        sa.event.listen(engine, "connect", query_only)
    elif backend == "postgresql":
        engine = engine.execution_options(postgresql_readonly=True)
    return engine


def connect_urls(
    *,
    redis_url: str,
    sql_url: str,
    redis_cluster: bool = False,
    redis_prefix: str = "autoassign",
    presence_window: timedelta | None = None,
    require_heartbeat: bool = True,
    sql_schema: str | None = None,
    sql_table_prefix: str = "",
    sql_ids: str = "int",
    override_precedence: str = "inbox",
) -> LiveTarget:
    """A read-only app over the library's own Redis keys and SQL tables."""
    try:
        import sqlalchemy as sa  # noqa: PLC0415

        from autoassign.adapters.redis import (  # noqa: PLC0415
            DEFAULT_PRESENCE_WINDOW,
            RedisBackend,
        )
        from autoassign.adapters.sql import (  # noqa: PLC0415
            SqlConversationRepository,
            SqlDirectory,
            SqlSchema,
        )
    except ImportError as exc:
        raise LiveError(
            f"--redis-url/--sql-url need the redis and sql extras: pip install "
            f"'autoassign[redis,postgres]' ({exc})"
        ) from None
    try:
        schema = SqlSchema(schema=sql_schema, prefix=sql_table_prefix, ids=sql_ids)
    except ConfigurationError as exc:
        raise LiveError(f"--sql-ids: {exc}") from None
    client = _redis_client(redis_url, cluster=redis_cluster)
    try:
        backend = RedisBackend(
            client,
            prefix=redis_prefix,
            presence_window=presence_window or DEFAULT_PRESENCE_WINDOW,
            require_heartbeat=require_heartbeat,
        )
    except ConfigurationError as exc:
        client.close()
        raise LiveError(f"--redis-prefix/--presence-window: {exc}") from None
    engine = _read_only_engine(sql_url)

    def close() -> None:
        client.close()
        engine.dispose()

    try:
        try:
            client.ping()
        except Exception as exc:
            raise LiveError(
                f"--redis-url: cannot reach {redact_url(redis_url)}: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        try:
            inspector = sa.inspect(engine)
            for logical in ("inboxes", "conversations"):
                table = getattr(schema, logical)
                if not inspector.has_table(table.name, schema=table.schema):
                    where = f" in schema {table.schema!r}" if table.schema else ""
                    raise LiveError(
                        f"--sql-url: no table {table.name!r}{where}: is this the "
                        "library's schema (see --sql-schema, --sql-table-prefix)? A "
                        "host with its own tables uses --wiring"
                    )
        except sa.exc.SQLAlchemyError as exc:
            raise LiveError(
                f"--sql-url: cannot read {redact_url(sql_url)}: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            ) from None
        try:
            app = build_autoassign(
                directory=SqlDirectory(engine, schema),
                conversations=SqlConversationRepository(engine, schema),
                presence=backend.presence,
                ledger=backend.ledger,
                reservations=backend.reservations,
                rotation=backend.rotation,
                lease=backend.lease,
                events=_RefusingEvents(),
                jobs=_RefusingJobs(),
                clock=SystemClock(),
                override_precedence=override_precedence,
                legacy_fallback=False,
                environ={},
            )
        except ConfigurationError as exc:
            raise LiveError(str(exc)) from None
    except BaseException:
        close()
        raise
    where = f"{sa.engine.make_url(sql_url).render_as_string(hide_password=True)}"
    if sql_schema:
        where += f" (schema {sql_schema!r})"
    return LiveTarget(
        app=app,
        description=(
            f"Redis {redact_url(redis_url)} (prefix {redis_prefix!r}), SQL {where}"
        ),
        close=close,
    )
