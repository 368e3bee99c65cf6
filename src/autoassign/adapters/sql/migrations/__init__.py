"""Alembic migrations for the library's own SQL tables (the ``sql`` extra).

:func:`upgrade` brings a database to a revision (by default the head,
:data:`~autoassign.adapters.sql.schema.HEAD_REVISION`): it creates the tables of an
empty database, adopts one that :meth:`SqlSchema.create_all
<autoassign.adapters.sql.SqlSchema.create_all>` made before migrations existed, and
applies every later revision. The revisions take the :class:`SqlSchema` they run for
(prefix, database schema, id kinds, encodings), so one set of migrations serves every
configuration; mapped host tables are never touched. The applied revision is kept in the
table ``<prefix>autoassign_version`` (never Alembic's default ``alembic_version``, so a
host's own Alembic history is left alone).

One revision per schema change: ``versions/NNNN_<what>.py`` with ``revision = "NNNN"``;
see ``docs/sql.md`` ("Migrations") for how to add one.
"""

from __future__ import annotations

from pathlib import Path

try:
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError
except ImportError as exc:  # exercised in a subprocess test
    raise ImportError(
        "autoassign.adapters.sql.migrations needs Alembic: install autoassign[sql]"
    ) from exc

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from autoassign.adapters.sql.migrations._revision import SCHEMA_KEY
from autoassign.adapters.sql.schema import HEAD_REVISION, SqlSchema
from autoassign.errors import ConfigurationError

__all__ = [
    "HEAD",
    "current_revision",
    "revision_id",
    "upgrade",
    "version_table",
]

HEAD = f"{HEAD_REVISION:04d}"
"""The Alembic id of the head revision."""

_SCRIPTS = Path(__file__).resolve().parent


def revision_id(revision: int) -> str:
    """The Alembic id of schema ``revision`` (``1`` -> ``"0001"``)."""
    return f"{revision:04d}"


def version_table(schema: SqlSchema) -> str:
    """The name of the table that records the applied revision."""
    return f"{schema.prefix}autoassign_version"


def _config(connection: sa.Connection, schema: SqlSchema) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    config.attributes[SCHEMA_KEY] = schema
    return config


def current_revision(
    bind: Engine | sa.Connection, schema: SqlSchema | None = None
) -> str | None:
    """The revision recorded in the database, or ``None`` (never upgraded: empty, or
    made by ``create_all``)."""
    schema = schema or SqlSchema()
    with _connection(bind) as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "version_table": version_table(schema),
                "version_table_schema": schema.schema,
            },
        )
        return context.get_current_revision()


def upgrade(
    bind: Engine | sa.Connection,
    schema: SqlSchema | None = None,
    *,
    revision: str = "head",
) -> str | None:
    """Bring the library's tables in ``bind``'s database to ``revision`` (default the
    head), in one transaction where the database allows it.

    Args:
        bind: an engine (a connection is taken and committed) or a connection (the
            caller commits).
        schema: the configuration the tables were created with (default
            ``SqlSchema()``); give the same ``prefix``, ``schema``, ``ids`` and
            encodings as the application uses.
        revision: an Alembic revision id (``"0002"``) or ``"head"``.

    Returns:
        The revision the database is at afterwards.

    Raises:
        ConfigurationError: ``schema`` is at another revision than the head (pass the
            application's schema, not :meth:`SqlSchema.at_revision`'s), ``revision`` is
            unknown, or the data cannot be migrated (the message says what to fix).
    """
    schema = schema or SqlSchema()
    if schema.revision != HEAD_REVISION:
        raise ConfigurationError(
            "upgrade needs the head schema (SqlSchema(...) without revision=)",
            field="schema",
        )
    scripts = ScriptDirectory(str(_SCRIPTS))
    try:
        scripts.get_revision(revision)  # before anything touches the database
    except CommandError as exc:  # an unknown or malformed revision
        raise ConfigurationError(
            f"cannot upgrade to revision {revision!r}: {exc}", field="revision"
        ) from None
    with _connection(bind) as connection:
        command.upgrade(_config(connection, schema), revision)
    return current_revision(bind, schema)


class _connection:
    """A connection to work on: the given one, or a new one from an engine, committed
    when the block succeeds."""

    def __init__(self, bind: Engine | sa.Connection) -> None:
        self._bind = bind
        self._owned: sa.Connection | None = None

    def __enter__(self) -> sa.Connection:
        if isinstance(self._bind, sa.Connection):
            return self._bind
        self._owned = self._bind.connect()
        return self._owned

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._owned is None:
            return
        try:
            if exc_type is None:
                self._owned.commit()
            else:
                self._owned.rollback()
        finally:
            self._owned.close()
