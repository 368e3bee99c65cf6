"""``conversations.weight`` (a decimal, ``NULL``: 1): what a conversation counts for
against capacity limits (weighted capacity). The column is nullable, so every row is
kept as it is and counts 1, as before.

Skipped when the host maps ``conversations`` onto a table of its own (docs/sql.md says
how to map a host's own weight column), and when the column already exists (a
``create_all`` of this release).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

from autoassign.adapters.sql.migrations._revision import add_missing_columns, schema_at

revision = "0007"
down_revision: str | None = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    head = schema_at(7)
    if head.owned("conversations"):
        add_missing_columns(op.get_bind(), head.conversations, ("weight",))


def downgrade() -> None:
    raise NotImplementedError("autoassign's migrations are forward-only")
