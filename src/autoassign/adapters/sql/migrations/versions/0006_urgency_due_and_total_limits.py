"""``conversations.urgency`` (an integer, ``NULL``: none) and ``conversations.due_at``
(a time, ``NULL``: none), read by the ``highest_urgency`` and ``earliest_due``
conversation priorities, with their partial indexes ``ix_<conversations>_unassigned_urgency``
and ``ix_<conversations>_unassigned_due`` over the unassigned open conversations; the
index ``ix_<conversations>_assignee_status (assignee_id, status)``, for an agent's open
conversations across inboxes (a capacity policy's ``total_limit``); the nullable column
``conversations.contact_id`` with the index ``ix_<conversations>_contact_created`` (sticky
agents); and the nullable column ``capacity_policies.total_limit``. Every column is
nullable, so every row is kept as it is.

Skipped when the host maps ``conversations`` onto a table of its own (docs/sql.md says
how to map a host's own priority and due-time columns), and column by column and index
by index when one already exists (a ``create_all`` of this release). ``CREATE INDEX``
locks the table against writes while it builds; on a large table, create the indexes
``CONCURRENTLY`` by hand first (same names and expressions) and this revision adopts
them.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

from autoassign.adapters.sql._db import index_names
from autoassign.adapters.sql.migrations._revision import add_missing_columns, schema_at

revision = "0006"
down_revision: str | None = "0005"
branch_labels = None
depends_on = None

_COLUMNS = ("urgency", "due_at", "contact_id")


def upgrade() -> None:
    head = schema_at(6)
    bind = op.get_bind()
    if head.owned("capacity_policies"):
        add_missing_columns(bind, head.capacity_policies, ("total_limit",))
    if not head.owned("conversations"):
        return
    table = head.conversations
    add_missing_columns(bind, table, _COLUMNS)
    existing = index_names(bind, table)
    for suffix in (
        "unassigned_urgency",
        "unassigned_due",
        "assignee_status",
        "contact_created",
    ):
        name = f"ix_{table.name}_{suffix}"
        if name not in existing:
            next(index for index in table.indexes if index.name == name).create(bind)


def downgrade() -> None:
    raise NotImplementedError("autoassign's migrations are forward-only")
