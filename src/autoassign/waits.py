"""Queue position and wait estimate of an unassigned conversation (read only).

:func:`estimate_wait` answers "where is this conversation in its inbox's queue, and how
long until someone takes it?" from what a pass would see now:

* **position**: 1 + the conversations of the inbox a pass would take before it (open,
  unassigned, not excluded, in the policy's priority order), read with the pass's own
  paged query, at most ``scan_limit`` of them;
* **agents free now**: the members who could take a conversation of it now (online,
  within their rate limit and capacity, allowed by its team): the first that many
  conversations of the queue are taken by the next pass;
* **the recent rate**: the inbox's auto-assignments in the policy's fair-distribution
  window, from the rate-limit ledger (which records every auto-assignment).

The estimate is a range, honest about its uncertainty: the conversations ahead of it
that the free agents cannot take, divided by the recent rate, with the rate's 95%
interval treating the window's count as a Poisson count. It is **unknown** (no
figures, and a reason) when nobody is online, when no conversation was assigned in the
window, or when the inbox does not auto-assign; **now** when a free agent can take it at
the next pass. It is an estimate from the recent past: arrivals of higher-priority
conversations, agents going offline and resolutions change it.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import attrs

from autoassign.decisions import AgentVerdict, GateFailure, exclusions_for_inbox
from autoassign.explain import inbox_verdicts
from autoassign.model import (
    AccountId,
    Conversation,
    ConversationId,
    InboxId,
    Team,
    TeamId,
)
from autoassign.service import AssignmentService, InboxState
from autoassign.wiring import Autoassign

__all__ = [
    "DEFAULT_WAIT_SCAN_LIMIT",
    "NO_SUCH_CONVERSATION",
    "WaitEstimate",
    "WaitStatus",
    "estimate_wait",
    "wait_estimator",
]

DEFAULT_WAIT_SCAN_LIMIT = 10_000
"""At most this many conversations ahead are counted (a position past it is reported
as at least this far back)."""

NO_SUCH_CONVERSATION = "no such conversation"
""":attr:`WaitEstimate.reason` for a conversation that was not found."""

_PAGE = 500
_Z = 1.96  # the 95% interval of a normal approximation to the Poisson count


class WaitStatus(str, enum.Enum):
    """What :func:`estimate_wait` could say."""

    NOW = "now"
    """An agent free now can take it: the next pass assigns it."""
    ESTIMATED = "estimated"
    """Queued behind others: ``low``..``high`` from the recent rate."""
    UNKNOWN = "unknown"
    """No figures: see ``reason`` (nobody online, no recent assignments, ...)."""
    NOT_WAITING = "not_waiting"
    """It is not in the queue: assigned, not open, or not found."""
    EXCLUDED = "excluded"
    """An exclusion rule keeps auto-assignment away from it: it waits for a person."""


@attrs.frozen(kw_only=True)
class WaitEstimate:
    """Where a conversation stands in its inbox's queue and how long it may wait."""

    conversation: ConversationId
    at: datetime
    status: WaitStatus
    reason: str
    inbox: InboxId | None = None
    position: int | None = None
    """1 for the next conversation a pass takes; ``None`` when not queued."""
    position_exact: bool = True
    """``False`` when more than the scan limit are ahead (``position`` is a floor)."""
    free_agents: int | None = None
    """Members who could take a conversation of its inbox (and team) now."""
    free_slots: int | None = None
    """How many conversations those members can take now (each one's room under its
    capacity limit and rate limit, summed), at most one pass's ``bulk_limit``."""
    online_agents: int | None = None
    recent_assignments: int | None = None
    """The inbox's auto-assignments within ``window``."""
    window: timedelta | None = None
    expected: timedelta | None = None
    low: timedelta | None = None
    high: timedelta | None = None
    """``None`` with a ``low`` when the rate's lower bound is 0 (no upper bound)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: durations in seconds, times in ISO 8601."""

        def seconds(value: timedelta | None) -> float | None:
            return None if value is None else round(value.total_seconds(), 3)

        return {
            "conversation": self.conversation,
            "at": self.at.isoformat(),
            "status": self.status.value,
            "reason": self.reason,
            "inbox": self.inbox,
            "position": self.position,
            "position_exact": self.position_exact,
            "free_agents": self.free_agents,
            "free_slots": self.free_slots,
            "online_agents": self.online_agents,
            "recent_assignments": self.recent_assignments,
            "window_seconds": seconds(self.window),
            "expected_seconds": seconds(self.expected),
            "low_seconds": seconds(self.low),
            "high_seconds": seconds(self.high),
        }


def _service_of(app_or_service: Autoassign | AssignmentService) -> AssignmentService:
    if isinstance(app_or_service, Autoassign):
        return app_or_service.service
    return app_or_service


def _position(
    service: AssignmentService,
    state: InboxState,
    record: Conversation,
    *,
    now: datetime,
    scan_limit: int,
) -> tuple[int, bool]:
    """1 + the conversations a pass takes before ``record`` (at most ``scan_limit``
    counted), and whether that is exact."""
    priority = state.policy.conversation_priority
    exclusions = exclusions_for_inbox(
        service.directory.capacity_policies_for_inbox(record.inbox), record.inbox
    )
    target = record.priority_key(priority)
    ahead = 0
    after: Conversation | None = None
    while ahead < scan_limit:
        page = service.conversations.unassigned_open(
            record.inbox,
            limit=min(_PAGE, scan_limit - ahead + 1),
            priority=priority,
            exclusions=exclusions,
            now=now,
            after=after,
        )
        for conversation in page:
            if conversation.id == record.id or (
                conversation.priority_key(priority) >= target
            ):
                return ahead + 1, True
            ahead += 1
            if ahead >= scan_limit:
                break
        if not page:
            return ahead + 1, True  # it is behind every queued one (it just arrived)
        after = page[-1]
    return scan_limit + 1, False


def _range(
    queued_behind: int, count: int, window: timedelta
) -> tuple[timedelta, timedelta, timedelta | None]:
    """Expected, low and high waits for ``queued_behind`` conversations to be taken at
    the rate ``count`` per ``window`` (a Poisson count's 95% interval)."""
    spread = _Z * math.sqrt(count)
    expected = window * (queued_behind / count)
    low = window * (queued_behind / (count + spread))
    slowest = count - spread
    high = window * (queued_behind / slowest) if slowest > 0 else None
    return expected, low, high


def estimate_wait(
    app_or_service: Autoassign | AssignmentService,
    conversation: ConversationId,
    *,
    scan_limit: int = DEFAULT_WAIT_SCAN_LIMIT,
    account: AccountId | None = None,
) -> WaitEstimate:
    """The queue position and wait estimate of ``conversation`` now (see the module's
    description). Writes nothing. With ``account``, a conversation of another account
    is reported as not found. Reads: the conversation, the inbox's gates and
    policy, its queue up to the conversation (paged, at most ``scan_limit``), presence,
    the ledger and open counts of the members, as a pass would."""
    if scan_limit < 1:
        raise ValueError(f"scan_limit must be positive, got {scan_limit!r}")
    service = _service_of(app_or_service)
    now = service.clock.now()
    base: dict[str, Any] = {"conversation": conversation, "at": now}
    record = service.conversations.get(conversation)
    if record is None or (account is not None and record.account != account):
        return WaitEstimate(
            **base, status=WaitStatus.NOT_WAITING, reason=NO_SUCH_CONVERSATION
        )
    base["inbox"] = record.inbox
    if not record.is_assignable:
        why = "assigned" if record.assignee is not None else f"{record.status.value}"
        return WaitEstimate(
            **base, status=WaitStatus.NOT_WAITING, reason=f"it is {why}"
        )
    loaded = service.load_inbox(record.inbox)
    if isinstance(loaded, GateFailure):
        return WaitEstimate(
            **base,
            status=WaitStatus.UNKNOWN,
            reason=f"the inbox does not auto-assign: {loaded.value}",
        )
    exclusions = exclusions_for_inbox(
        service.directory.capacity_policies_for_inbox(record.inbox), record.inbox
    )
    if exclusions.excludes(record, now):
        return WaitEstimate(
            **base,
            status=WaitStatus.EXCLUDED,
            reason="an exclusion rule of the inbox's capacity policy applies",
        )
    position, exact = _position(service, loaded, record, now=now, scan_limit=scan_limit)
    team = _team(service, record.team)
    verdicts, recent, _ = inbox_verdicts(service, loaded, team=team, now=now)
    online = sum(1 for verdict in verdicts if verdict.status == "online")
    eligible = [verdict for verdict in verdicts if verdict.eligible]
    slots = int(min(service.bulk_limit, sum(_room(verdict) for verdict in eligible)))
    window = loaded.policy.window
    count = 0 if recent is None else sum(usage.count for usage in recent.usage.values())
    base.update(
        position=position,
        position_exact=exact,
        free_agents=len(eligible),
        free_slots=slots,
        online_agents=online,
        recent_assignments=count,
        window=window,
    )
    if record.team is not None and (team is None or not team.allow_auto_assign):
        return WaitEstimate(
            **base,
            status=WaitStatus.UNKNOWN,
            reason="its team does not allow auto-assignment",
        )
    if slots >= position:
        zero = timedelta(0)
        return WaitEstimate(
            **base,
            status=WaitStatus.NOW,
            reason=f"the free agents can take {slots} conversation(s) now; it is "
            f"number {position}",
            expected=zero,
            low=zero,
            high=zero,
        )
    if online == 0:
        return WaitEstimate(
            **base, status=WaitStatus.UNKNOWN, reason="nobody in the inbox is online"
        )
    if count == 0:
        return WaitEstimate(
            **base,
            status=WaitStatus.UNKNOWN,
            reason="no conversation of the inbox was auto-assigned in the last "
            f"{window}: no rate to estimate from",
        )
    expected, low, high = _range(position - slots, count, window)
    return WaitEstimate(
        **base,
        status=WaitStatus.ESTIMATED,
        reason=f"{position - slots} in the queue after what the free agents take now, "
        f"at {count} "
        f"assignment(s) per {window}",
        expected=expected,
        low=low,
        high=high,
    )


def _room(verdict: AgentVerdict) -> int | float:
    """How many more conversations an eligible agent can take now."""
    room: int | float = math.inf
    if verdict.capacity_limit is not None and verdict.open_conversations is not None:
        room = verdict.capacity_limit - verdict.open_conversations
    if verdict.rate_limit is not None and verdict.recent_assignments is not None:
        room = min(room, verdict.rate_limit - verdict.recent_assignments)
    return max(room, 0)


def _team(service: AssignmentService, team: TeamId | None) -> Team | None:
    return None if team is None else service.directory.team(team)


def wait_estimator(
    app_or_service: Autoassign | AssignmentService,
    *,
    scan_limit: int = DEFAULT_WAIT_SCAN_LIMIT,
) -> Callable[[AccountId, ConversationId], WaitEstimate]:
    """``(account, conversation) -> WaitEstimate`` over the app, for
    :class:`~autoassign.admin.AdminApp`'s ``waits`` (the HTTP route
    ``GET .../conversations/{conversation_id}/wait_estimate``)."""

    def estimate(account: AccountId, conversation: ConversationId) -> WaitEstimate:
        return estimate_wait(
            app_or_service, conversation, scan_limit=scan_limit, account=account
        )

    return estimate
