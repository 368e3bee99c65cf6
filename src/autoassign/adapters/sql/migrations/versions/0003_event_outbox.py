"""The ``event_outbox`` table (``SqlEventOutbox``): one row per assignment whose events
may not be published yet, with its two indexes.

Skipped when the host maps ``event_outbox`` onto a table of its own. A table that already
exists (a ``create_all`` of this release) is left as it is.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

from autoassign.adapters.sql.migrations._revision import schema_at

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    head = schema_at(3)
    if not head.exists_at_revision("event_outbox"):
        return
    # the table and its indexes, unless they exist
    head.event_outbox.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    raise NotImplementedError("autoassign's migrations are forward-only")
