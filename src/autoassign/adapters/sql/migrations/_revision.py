"""What a revision needs from its run: the schema it migrates, as of a revision."""

from __future__ import annotations

from alembic import context

from autoassign.adapters.sql.schema import SqlSchema

SCHEMA_KEY = "autoassign.schema"
"""Where the revisions find their :class:`SqlSchema` (``Config.attributes``)."""


def schema_at(revision: int) -> SqlSchema:
    """The run's schema (the application's configuration) as of ``revision``."""
    schema = context.config.attributes[SCHEMA_KEY]
    assert isinstance(schema, SqlSchema)
    return schema.at_revision(revision)
