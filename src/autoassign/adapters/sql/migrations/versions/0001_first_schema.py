"""The first schema: every table of the SQL adapter as first released.

Creates the tables (and their indexes) that do not exist yet, so it also adopts a
database that ``SqlSchema.create_all`` made before migrations existed: the later
revisions then bring it to the head.

Revision ID: 0001
"""

from __future__ import annotations

from alembic import op

from autoassign.adapters.sql.migrations._revision import schema_at

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema_at(1).create_all(op.get_bind())


def downgrade() -> None:
    raise NotImplementedError("autoassign's migrations are forward-only")
