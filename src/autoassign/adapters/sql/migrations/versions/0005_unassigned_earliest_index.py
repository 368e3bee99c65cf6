"""The partial index ``ix_<conversations>_unassigned_earliest (inbox_id, created_at, id)
WHERE assignee_id IS NULL AND <open>``: the earliest-created page of
``unassigned_open`` is read in index order and stops after the page. Without it
PostgreSQL prefers the longest-waiting partial index and sorts the inbox's whole
unassigned backlog on every page.

Skipped when the host maps ``conversations`` onto a table of its own (docs/sql.md names
the index such a table needs), and when the index already exists (a ``create_all`` of
this release). ``CREATE INDEX`` locks the table against writes while it builds; on a
large table, create the index ``CONCURRENTLY`` by hand first (same name and columns) and
this revision adopts it.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

from autoassign.adapters.sql._db import index_names
from autoassign.adapters.sql.migrations._revision import schema_at

revision = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    head = schema_at(5)
    if not head.owned("conversations"):
        return
    table = head.conversations
    name = f"ix_{table.name}_unassigned_earliest"
    bind = op.get_bind()
    if name in index_names(bind, table):
        return
    next(index for index in table.indexes if index.name == name).create(bind)


def downgrade() -> None:
    raise NotImplementedError("autoassign's migrations are forward-only")
