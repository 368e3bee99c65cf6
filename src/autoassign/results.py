"""What a pass returns."""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from autoassign.decisions import GateFailure, SkipReason
from autoassign.model import AgentId, ConversationId, InboxId, PolicyId

__all__ = ["Assignment", "AssignmentResult", "Degradation", "Skip"]


class Degradation(str, enum.Enum):
    """A dependency that failed during a pass, and what the pass did instead."""

    RATE_LIMIT_SKIPPED = "rate_limit_skipped"
    """The ledger was unavailable: rate limiting was skipped for (the rest of) the pass."""
    PRESENCE_UNAVAILABLE = "presence_unavailable"
    """Presence was unavailable: nobody was considered online."""
    EVENTS_UNPUBLISHED = "events_unpublished"
    """The event bus failed; the events are in ``unpublished_events``."""
    ROTATION_UNAVAILABLE = "rotation_unavailable"
    """The selector could not rank the agents (the rotation store failed): the pass
    ranked them in membership order instead (round robin within the pass, or fewest open
    conversations first for balanced) and left the stored queue as it was."""


@attrs.frozen(kw_only=True)
class Assignment:
    conversation: ConversationId
    agent: AgentId
    occurred_at: datetime
    waiting_since: datetime | None = None
    """Since when the conversation waited, as the pass read it: its last activity, or
    its creation if that is later (``occurred_at - waiting_since`` is the wait the
    metrics observe); ``None`` when not known."""


@attrs.frozen(kw_only=True)
class Skip:
    conversation: ConversationId
    reason: SkipReason
    detail: str = ""


@attrs.frozen(kw_only=True)
class AssignmentResult:
    """The outcome of one bulk pass over one inbox.

    ``gate`` is set when a prerequisite failed and nothing was done. ``assignments`` are
    the successful claims (``assigned_count`` counts only those), ``skips`` say why each
    other fetched conversation was left alone. ``policy`` is the id of the assignment
    policy the pass applied (``None`` when a gate failed before one was known).
    """

    inbox: InboxId
    gate: GateFailure | None = None
    fetched: int = 0
    assignments: tuple[Assignment, ...] = ()
    skips: tuple[Skip, ...] = ()
    degraded: frozenset[Degradation] = frozenset()
    unpublished_events: tuple[object, ...] = ()
    stopped: SkipReason | None = None
    policy: PolicyId | None = None

    @property
    def assigned_count(self) -> int:
        return len(self.assignments)
