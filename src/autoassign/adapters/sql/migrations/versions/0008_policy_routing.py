"""``assignment_policies.sticky_window`` (an integer of seconds), ``skill_routing``
(a boolean) and ``skill_relax_after`` (an integer of seconds): a policy's routing
settings (``NULL``: as wired). The columns are nullable, so every row is kept as it
is and its inboxes are routed as before.

Skipped when the host maps ``assignment_policies`` onto a table of its own (docs/sql.md
says how to map a host's own columns; without them a setting is refused, never
dropped), and column by column when a column already exists (a ``create_all`` of this
release).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

from autoassign.adapters.sql.migrations._revision import add_missing_columns, schema_at
from autoassign.adapters.sql.schema import ROUTING_COLUMNS

revision = "0008"
down_revision: str | None = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    head = schema_at(8)
    if head.owned("assignment_policies"):
        add_missing_columns(op.get_bind(), head.assignment_policies, ROUTING_COLUMNS)


def downgrade() -> None:
    raise NotImplementedError("autoassign's migrations are forward-only")
