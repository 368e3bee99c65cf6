"""An inbox link with no limit: ``inbox_capacity_limits.conversation_limit`` becomes
nullable (``NULL``: an unlimited link, whose capacity policy's exclusion rules still
apply). Every row is kept as it is; the ``>= 0`` check stays (``NULL`` passes it).

PostgreSQL drops the column's ``NOT NULL``; SQLite cannot alter a column, so the table
is rebuilt (rows, ids, keys, indexes and checks copied; the ``AUTOINCREMENT`` counter
kept, so a deleted limit's id is still never reused). Skipped when the host maps
``inbox_capacity_limits`` onto a table of its own, and when the column already allows
``NULL`` (a ``create_all`` of this release).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from autoassign.adapters.sql.migrations._revision import schema_at

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def _sqlite_counter(bind: sa.Connection, name: str) -> int | None:
    """The table's ``AUTOINCREMENT`` high-water mark, if SQLite keeps one."""
    if bind.dialect.name != "sqlite":
        return None
    has_sequence = bind.execute(
        sa.text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")
    ).first()
    if has_sequence is None:
        return None
    value = bind.execute(
        sa.text("SELECT seq FROM sqlite_sequence WHERE name = :name"), {"name": name}
    ).scalar()
    return None if value is None else int(value)


def upgrade() -> None:
    head = schema_at(4)
    if not head.exists_at_revision("inbox_capacity_limits"):
        return
    table = head.inbox_capacity_limits
    column = table.c.conversation_limit
    bind = op.get_bind()
    found = {
        c["name"]: c
        for c in sa.inspect(bind).get_columns(table.name, schema=table.schema)
    }
    if found[column.name]["nullable"]:
        return
    counter = _sqlite_counter(bind, table.name)
    before = schema_at(3).inbox_capacity_limits  # the table as revision 3 made it
    with op.batch_alter_table(
        table.name, schema=table.schema, copy_from=before
    ) as batch:
        batch.alter_column(column.name, existing_type=sa.Integer(), nullable=True)
    if counter is not None:  # the rebuilt table restarts at its largest id
        bind.execute(
            sa.text("UPDATE sqlite_sequence SET seq = :seq WHERE name = :name"),
            {"seq": counter, "name": table.name},
        )


def downgrade() -> None:
    raise NotImplementedError("autoassign's migrations are forward-only")
