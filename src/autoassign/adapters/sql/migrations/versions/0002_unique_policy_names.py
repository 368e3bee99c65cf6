"""Assignment policy names are unique per account: the plain ``(account_id, name)``
index of ``assignment_policies`` becomes a unique index, as the reference has.

Skipped for a mapped host table and for ``SqlSchema(unique_policy_names=False)``. A
table that already enforces it (a unique index or constraint on those columns, as a
``create_all`` of an earlier release made) keeps that. Refuses, naming them, if an
account already has two policies of one name.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from autoassign.adapters.sql.migrations._revision import schema_at
from autoassign.adapters.sql.schema import policy_name_key
from autoassign.errors import ConfigurationError

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None


def _target() -> tuple[sa.Table, list[str]] | None:
    head = schema_at(2)
    if not (head.owned("assignment_policies") and head.unique_policy_names):
        return None
    table = head.assignment_policies
    return table, [table.c.account_id.name, table.c.name.name]


def _duplicates(table: sa.Table) -> list[tuple[object, object]]:
    query = (
        sa.select(table.c.account_id, table.c.name)
        .group_by(table.c.account_id, table.c.name)
        .having(sa.func.count() > 1)
        .order_by(table.c.account_id, table.c.name)
    )
    return [(row[0], row[1]) for row in op.get_bind().execute(query)]


def upgrade() -> None:
    target = _target()
    if target is None:
        return
    table, columns = target
    inspector = sa.inspect(op.get_bind())
    indexes = inspector.get_indexes(table.name, schema=table.schema)
    constraints = inspector.get_unique_constraints(table.name, schema=table.schema)
    enforced = any(
        i["unique"] and i["column_names"] == columns for i in indexes
    ) or any(c["column_names"] == columns for c in constraints)
    if not enforced:
        duplicates = _duplicates(table)
        if duplicates:
            listed = ", ".join(f"account {a!r}: {n!r}" for a, n in duplicates[:10])
            raise ConfigurationError(
                "cannot make assignment policy names unique per account: rename "
                f"these duplicates first ({listed})",
                field="assignment_policies.name",
            )
        op.create_index(
            policy_name_key(table.name),
            table.name,
            columns,
            unique=True,
            schema=table.schema,
        )
    for index in indexes:  # the plain index is redundant now
        if index["name"] and not index["unique"] and index["column_names"] == columns:
            op.drop_index(index["name"], table_name=table.name, schema=table.schema)


def downgrade() -> None:
    raise NotImplementedError("autoassign's migrations are forward-only")
