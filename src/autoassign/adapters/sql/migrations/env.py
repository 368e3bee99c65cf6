"""The Alembic environment of the library's migrations: online only, on the connection
and :class:`~autoassign.adapters.sql.SqlSchema` that
:func:`autoassign.adapters.sql.migrations.upgrade` passes in ``config.attributes``."""

from __future__ import annotations

from alembic import context

from autoassign.adapters.sql.migrations import version_table
from autoassign.adapters.sql.migrations._revision import SCHEMA_KEY


def _run() -> None:
    config = context.config
    connection = config.attributes["connection"]
    schema = config.attributes[SCHEMA_KEY]
    context.configure(
        connection=connection,
        target_metadata=None,
        version_table=version_table(schema),
        version_table_schema=schema.schema,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


_run()
