"""The event outbox: no assignment event is ever lost.

Every claim goes with an :class:`OutboxRecord` that holds everything its two events
(:class:`~autoassign.events.AssigneeChanged` and
:class:`~autoassign.events.ConversationUpdated`) are made of, including their stable
ids. An :class:`~autoassign.ports.EventOutbox` stores the record no later than the claim
commits (the SQL adapter in the claim's own statement; the others stage it just before
the claim, see :func:`stage_then_claim`); the pass removes it (*confirms* it) only after
both events were published. A record left behind (the bus failed, the claim's reply was
lost, the worker died) is published again by a later pass over the inbox, once it is
older than the grace (:data:`DEFAULT_OUTBOX_GRACE`), if the assignment stands: see
:class:`OutboxRelay` and "Delivery guarantee" in ``docs/concepts.md``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import attrs

from autoassign.events import AssigneeChanged, ConversationUpdated
from autoassign.model import AgentId, ConversationId, InboxId, PolicyId

if TYPE_CHECKING:
    from autoassign.ports import ConversationRepository, EventBus, EventOutbox

__all__ = [
    "DEFAULT_OUTBOX_GRACE",
    "OutboxRecord",
    "OutboxRelay",
    "RelayReport",
    "confirm_quietly",
    "new_event_id",
    "stage_then_claim",
]

logger = logging.getLogger(__name__)

DEFAULT_OUTBOX_GRACE = timedelta(minutes=5)
"""How old a record must be before a pass publishes it again (the default lease TTL: a
younger record may belong to a pass that is still running and will confirm it)."""


def new_event_id() -> str:
    """A fresh assignment id: 32 hex digits (a random UUID)."""
    return uuid.uuid4().hex


@attrs.frozen(kw_only=True)
class OutboxRecord:
    """One assignment whose events may not have been published yet.

    ``id`` identifies the assignment; its events' ids derive from it
    (``"<id>:assignee.changed"``, ``"<id>:conversation.updated"``), so every
    re-publication carries the same ids. ``occurred_at`` is the time of the claim and
    of the events, and when the record was staged.
    """

    id: str
    inbox: InboxId
    conversation: ConversationId
    agent: AgentId
    policy: PolicyId | None
    selector: str
    occurred_at: datetime

    def events(self) -> tuple[AssigneeChanged, ConversationUpdated]:
        """The assignment's two events, the same on every call."""
        return (
            AssigneeChanged(
                event_id=f"{self.id}:{AssigneeChanged.name}",
                conversation=self.conversation,
                agent=self.agent,
                previous_agent=None,
                inbox=self.inbox,
                policy=self.policy,
                selector=self.selector,
                occurred_at=self.occurred_at,
            ),
            ConversationUpdated(
                event_id=f"{self.id}:{ConversationUpdated.name}",
                conversation=self.conversation,
                inbox=self.inbox,
                changed_attributes=("assignee",),
                occurred_at=self.occurred_at,
            ),
        )


def stage_then_claim(
    conversations: ConversationRepository,
    record: OutboxRecord,
    *,
    capacity_limit: int | None,
    stage: Callable[[OutboxRecord], None],
    unstage: Callable[[OutboxRecord], None],
) -> bool:
    """The generic :meth:`~autoassign.ports.EventOutbox.claim`, for a repository that
    cannot write the record itself: ``stage`` the record (if that raises, nothing was
    claimed), claim, and ``unstage`` it if the claim did not assign (best effort: a
    record left behind is dropped by the relay, which finds the conversation is not
    the agent's). A claim that raises leaves the record for the caller to judge."""
    stage(record)
    claimed = conversations.claim(
        record.conversation, record.agent, capacity_limit=capacity_limit
    )
    if not claimed:
        try:
            unstage(record)
        except Exception:
            logger.warning(
                "could not remove the outbox record of a lost claim; the relay drops it",
                exc_info=True,
                extra={"autoassign_inbox": record.inbox},
            )
    return claimed


@attrs.frozen(kw_only=True)
class RelayReport:
    """What one :meth:`OutboxRelay.run` did."""

    republished: tuple[OutboxRecord, ...] = ()
    """Records whose assignment stands: their events were published again."""
    dropped: tuple[OutboxRecord, ...] = ()
    """Records whose claim never took effect (or was undone): removed unpublished."""
    failed: bool = False
    """A read or a publish failed: what was left stays for a later pass."""


@attrs.frozen(kw_only=True)
class OutboxRelay:
    """Publishes what earlier passes left in the outbox (called once at the start of
    each pass over the inbox, so under the inbox lease when run by the job).

    For each record older than ``grace`` (oldest first, at most ``limit``) it re-reads
    the conversation: assigned to the record's agent (open or since resolved: the
    assignment happened) means publish its events again, with their ids, then remove
    the record; anything else (missing, unassigned, someone else's) means the claim
    never took effect, or was undone by a later change that has events of its own, so
    the record is removed unpublished. A failing read or publish stops the run; the
    records not yet settled stay.
    """

    outbox: EventOutbox
    conversations: ConversationRepository
    events: EventBus
    grace: timedelta = DEFAULT_OUTBOX_GRACE

    def run(self, inbox: InboxId, *, now: datetime, limit: int) -> RelayReport:
        """Settle up to ``limit`` of ``inbox``'s records staged before ``now - grace``.
        Never raises for a failing backend (logged at WARNING)."""
        republished: list[OutboxRecord] = []
        dropped: list[OutboxRecord] = []
        failed = False
        try:
            due = self.outbox.due(inbox, staged_before=now - self.grace, limit=limit)
            for record in due:
                if not self._settle(record):
                    dropped.append(record)
                    continue
                for event in record.events():
                    self.events.publish(event)
                republished.append(record)
        except Exception:
            failed = True
            logger.warning(
                "outbox relay stopped; the records left are published by a later pass",
                exc_info=True,
                extra={"autoassign_inbox": inbox},
            )
        if not confirm_quietly(self.outbox, inbox, republished + dropped):
            failed = True
        if republished:
            logger.info(
                "outbox relay published %d left-over assignments of inbox %s",
                len(republished),
                inbox,
                extra={"autoassign_inbox": inbox},
            )
        return RelayReport(
            republished=tuple(republished), dropped=tuple(dropped), failed=failed
        )

    def _settle(self, record: OutboxRecord) -> bool:
        """Whether the record's assignment stands (raises if the read fails)."""
        conversation = self.conversations.get(record.conversation)
        return conversation is not None and conversation.assignee == record.agent


def confirm_quietly(
    outbox: EventOutbox, inbox: InboxId, records: Sequence[OutboxRecord]
) -> bool:
    """Confirm ``records`` (settled); whether that worked. A failure is logged: the
    records are published again by a later pass (same event ids)."""
    if not records:
        return True
    try:
        outbox.confirm(inbox, records)
    except Exception:
        logger.warning(
            "could not confirm published outbox records; a later pass publishes them "
            "again (same event ids)",
            exc_info=True,
            extra={"autoassign_inbox": inbox},
        )
        return False
    return True
