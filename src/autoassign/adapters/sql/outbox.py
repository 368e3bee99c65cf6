""":class:`SqlEventOutbox`: the event outbox in the ``event_outbox`` table, written by
the claim's own statement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from autoassign.adapters.sql._db import Database
from autoassign.adapters.sql.repository import SqlConversationRepository
from autoassign.model import Conversation, InboxId
from autoassign.outbox import OutboxRecord, StagedClaims
from autoassign.ports import CheckedClaims, ConversationRepository

__all__ = ["SqlEventOutbox"]


class SqlEventOutbox(StagedClaims):
    """:class:`~autoassign.ports.EventOutbox` over ``schema.event_outbox`` (one row per
    record, keyed by its id; created by :meth:`SqlSchema.create_all
    <autoassign.adapters.sql.SqlSchema.create_all>`), on the repository's engine.

    Claims made through it with its own ``repository`` write the row **in the claim's
    statement** (PostgreSQL: ``WITH claimed AS (UPDATE ... RETURNING id) INSERT ...``;
    SQLite: the same transaction), so an assignment costs no extra round trip and a
    row exists exactly when the claim committed. With any other repository it stages
    the row first (one more statement) and then claims
    (:func:`autoassign.outbox.stage_then_claim`). ``due`` is one ``SELECT`` and
    ``confirm`` one ``DELETE`` per pass.
    """

    def __init__(self, repository: SqlConversationRepository) -> None:
        self.repository = repository
        self.schema = repository.schema
        self._db = Database(repository.engine)

    def __repr__(self) -> str:
        return f"SqlEventOutbox({self.schema.event_outbox.name!r})"

    def stage(self, record: OutboxRecord) -> None:
        with self._db.write("stage outbox record") as conn:
            conn.execute(self.repository.outbox_insert(record))

    def claim(
        self,
        conversations: ConversationRepository,
        record: OutboxRecord,
        *,
        capacity_limit: int | None,
        total_limit: int | None = None,
    ) -> bool:
        if conversations is self.repository:
            return self.repository.claim(
                record.conversation,
                record.agent,
                capacity_limit=capacity_limit,
                record=record,
                total_limit=total_limit,
            )
        return super().claim(
            conversations,
            record,
            capacity_limit=capacity_limit,
            total_limit=total_limit,
        )

    def claim_checked(
        self,
        conversations: CheckedClaims,
        record: OutboxRecord,
        expected: Conversation,
        *,
        capacity_limit: int | None,
        total_limit: int | None = None,
    ) -> bool:
        """:class:`~autoassign.ports.CheckedOutboxClaims`: with its own repository the
        row is written in the checked claim's statement, as :meth:`claim` does."""
        if conversations is self.repository:
            return self.repository.claim_checked(
                expected,
                record.agent,
                capacity_limit=capacity_limit,
                record=record,
                total_limit=total_limit,
            )
        return super().claim_checked(
            conversations,
            record,
            expected,
            capacity_limit=capacity_limit,
            total_limit=total_limit,
        )

    def due(
        self, inbox: InboxId, *, staged_before: datetime, limit: int
    ) -> Sequence[OutboxRecord]:
        if limit <= 0 or not self.schema.accepts("inbox", inbox):
            return ()
        table = self.schema.event_outbox
        stmt = (
            sa.select(table)
            .where(table.c.inbox_id == inbox, table.c.occurred_at < staged_before)
            .order_by(table.c.occurred_at, table.c.event_id)
            .limit(limit)
        )
        with self._db.read("due outbox records") as conn:
            return tuple(
                OutboxRecord(
                    id=row.event_id,
                    inbox=row.inbox_id,
                    conversation=row.conversation_id,
                    agent=row.agent_id,
                    policy=row.policy_id,
                    selector=row.selector,
                    occurred_at=row.occurred_at,
                )
                for row in conn.execute(stmt)
            )

    def confirm(self, inbox: InboxId, records: Sequence[OutboxRecord]) -> None:
        records = [
            r for r in records if self.schema.accepts("conversation", r.conversation)
        ]
        if not records or not self.schema.accepts("inbox", inbox):
            return
        table = self.schema.event_outbox
        superseded = sa.or_(
            *(
                sa.and_(
                    table.c.conversation_id == record.conversation,
                    table.c.occurred_at <= record.occurred_at,
                )
                for record in records
            ),
            table.c.event_id.in_(sorted({record.id for record in records})),
        )
        with self._db.write("confirm outbox records") as conn:
            conn.execute(sa.delete(table).where(table.c.inbox_id == inbox, superseded))

    def discard(self, inbox: InboxId, records: Sequence[OutboxRecord]) -> None:
        ids = sorted({record.id for record in records})
        if not ids or not self.schema.accepts("inbox", inbox):
            return
        table = self.schema.event_outbox
        with self._db.write("discard outbox records") as conn:
            conn.execute(
                sa.delete(table).where(
                    table.c.inbox_id == inbox, table.c.event_id.in_(ids)
                )
            )
