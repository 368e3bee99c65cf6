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
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import attrs

from autoassign._quietlog import degradations
from autoassign.events import AssigneeChanged, ConversationUpdated
from autoassign.model import AgentId, Conversation, ConversationId, InboxId, PolicyId

if TYPE_CHECKING:
    from autoassign.ports import (
        CheckedClaims,
        ConversationRepository,
        EventBus,
        EventOutbox,
    )

__all__ = [
    "DEFAULT_OUTBOX_GRACE",
    "OutboxRecord",
    "OutboxRelay",
    "RelayReport",
    "StagedClaims",
    "confirm_quietly",
    "new_event_id",
    "stage_then_claim",
    "total_claim_options",
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


def total_claim_options(total_limit: int | None) -> dict[str, Any]:
    """The keyword arguments that pass ``total_limit`` on to a claim: none without
    one, so a repository without :class:`~autoassign.ports.TotalCapacity` is called
    exactly as before."""
    return {} if total_limit is None else {"total_limit": total_limit}


def stage_then_claim(
    outbox: EventOutbox,
    conversations: ConversationRepository,
    record: OutboxRecord,
    *,
    capacity_limit: int | None,
    expected: Conversation | None = None,
    total_limit: int | None = None,
) -> bool:
    """The generic :meth:`~autoassign.ports.EventOutbox.claim`, for a repository that
    cannot write the record itself: :meth:`~autoassign.ports.EventOutbox.stage` the
    record (if that raises, nothing was claimed), claim, and
    :meth:`~autoassign.ports.EventOutbox.discard` it if the claim did not assign (best
    effort: a record left behind is dropped by the relay, which finds the conversation
    is not the agent's). A claim that raises leaves the record for the caller to
    judge. With ``expected`` the claim is
    :meth:`~autoassign.ports.CheckedClaims.claim_checked` of that row (the repository
    must have it). ``total_limit`` is passed on to the claim only when set (a
    repository with :class:`~autoassign.ports.TotalCapacity` takes it)."""
    outbox.stage(record)
    extra = total_claim_options(total_limit)
    if expected is not None:
        claimed = cast("CheckedClaims", conversations).claim_checked(
            expected, record.agent, capacity_limit=capacity_limit, **extra
        )
    else:
        claimed = conversations.claim(
            record.conversation, record.agent, capacity_limit=capacity_limit, **extra
        )
    if not claimed:
        try:
            outbox.discard(record.inbox, [record])
        except Exception:
            degradations.failed(
                logger,
                "outbox",
                "could not remove the outbox record of a lost claim; the relay drops it",
                extra={"autoassign_inbox": record.inbox},
            )
    return claimed


class StagedClaims:
    """Base of the shipped outboxes that stage records before the claim: their
    ``claim`` is :func:`stage_then_claim` over their own ``stage`` and ``discard``."""

    def claim(
        self,
        conversations: ConversationRepository,
        record: OutboxRecord,
        *,
        capacity_limit: int | None,
        total_limit: int | None = None,
    ) -> bool:
        """Stage ``record``, then claim (see :func:`stage_then_claim`)."""
        outbox = cast("EventOutbox", self)
        return stage_then_claim(
            outbox,
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
        """Stage ``record``, then claim ``expected`` with
        :meth:`~autoassign.ports.CheckedClaims.claim_checked`."""
        outbox = cast("EventOutbox", self)
        return stage_then_claim(
            outbox,
            cast("ConversationRepository", conversations),
            record,
            capacity_limit=capacity_limit,
            expected=expected,
            total_limit=total_limit,
        )


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

    It takes the records older than ``grace`` (oldest first, at most ``limit``) and
    re-reads each one's conversation once. If the conversation is assigned to a
    record's agent (open or since resolved: the assignment happened), the newest such
    record is published again, with its event ids, and confirmed (which removes the
    older records of that conversation too: superseded). Every other record (the
    conversation is missing, unassigned or someone else's) is a claim that never took
    effect, or that was undone by a later change with events of its own: it is
    discarded unpublished. A failing read or publish stops the run; the records not
    yet settled stay.
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
            by_conversation: dict[ConversationId, list[OutboxRecord]] = {}
            for record in due:
                by_conversation.setdefault(record.conversation, []).append(record)
            for conversation, records in by_conversation.items():
                stored = self.conversations.get(conversation)
                assignee = None if stored is None else stored.assignee
                standing = [r for r in records if r.agent == assignee]
                if standing:
                    for event in standing[-1].events():
                        self.events.publish(event)
                    republished.append(standing[-1])
                    newer = standing[-1].occurred_at
                    dropped += [r for r in records if r.occurred_at > newer]
                else:
                    dropped += records
        except Exception:
            failed = True
            degradations.failed(
                logger,
                "outbox",
                "outbox relay stopped; the records left are published by a later pass",
                extra={"autoassign_inbox": inbox},
            )
        if not confirm_quietly(self.outbox, inbox, republished):
            failed = True
        if dropped:
            try:
                self.outbox.discard(inbox, dropped)
            except Exception:
                failed = True
                degradations.failed(
                    logger,
                    "outbox",
                    "could not discard outbox records of claims that never took "
                    "effect; a later pass discards them",
                    extra={"autoassign_inbox": inbox},
                )
        if republished:
            logger.info(
                "outbox relay published %d left-over assignments of inbox %s",
                len(republished),
                inbox,
                extra={"autoassign_inbox": inbox},
            )
        if not failed:
            degradations.recovered(logger, "outbox")
        return RelayReport(
            republished=tuple(republished), dropped=tuple(dropped), failed=failed
        )


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
        degradations.failed(
            logger,
            "outbox",
            "could not confirm published outbox records; a later pass publishes them "
            "again (same event ids)",
            extra={"autoassign_inbox": inbox},
        )
        return False
    return True
