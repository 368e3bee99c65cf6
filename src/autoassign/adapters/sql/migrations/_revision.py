"""What a revision needs from its run: the schema it migrates, as of a revision."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from autoassign.adapters.sql.schema import SqlSchema

SCHEMA_KEY = "autoassign.schema"
"""Where the revisions find their :class:`SqlSchema` (``Config.attributes``)."""


def schema_at(revision: int) -> SqlSchema:
    """The run's schema (the application's configuration) as of ``revision``."""
    schema = context.config.attributes[SCHEMA_KEY]
    assert isinstance(schema, SqlSchema)
    return schema.at_revision(revision)


def add_missing_columns(
    bind: sa.Connection, table: sa.Table, names: tuple[str, ...]
) -> None:
    """Add each of ``names`` (nullable, of ``table``'s type) that the database's table
    does not have yet (a ``create_all`` of a later release may have made it)."""
    inspector = sa.inspect(bind)
    present = {
        c["name"] for c in inspector.get_columns(table.name, schema=table.schema)
    }
    for name in names:
        column = table.c[name]
        if column.name not in present:
            op.add_column(
                table.name,
                sa.Column(column.name, column.type, nullable=True),
                schema=table.schema,
            )
