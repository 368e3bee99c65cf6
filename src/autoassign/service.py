"""The assignment service: one bulk pass over one inbox (the spec's
``perform_bulk_assignment``). Orchestration only: every decision is made by
:mod:`autoassign.decisions` and the selectors; every read and write goes through a port.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime

import attrs

from autoassign.decisions import (
    GateFailure,
    RecentAssignments,
    SkipReason,
    capacity_limits,
    check_gates,
    evaluate_agents,
    exclusions_for_inbox,
    skip_reason_for,
)
from autoassign.errors import ConfigurationError
from autoassign.events import AssigneeChanged, ConversationUpdated
from autoassign.model import (
    ONLINE,
    Account,
    AgentId,
    AssignmentOrder,
    Conversation,
    EffectivePolicy,
    Inbox,
    InboxId,
    OverridePrecedence,
    Team,
)
from autoassign.ports import (
    Clock,
    ConversationRepository,
    Directory,
    EventBus,
    Presence,
    RateLimitLedger,
    RotationStore,
)
from autoassign.results import Assignment, AssignmentResult, Degradation, Skip
from autoassign.selection import (
    BalancedSelector,
    RoundRobinSelector,
    SelectionContext,
    Selector,
)

__all__ = ["DEFAULT_BULK_LIMIT", "AssignmentService", "InboxState", "check_bulk_limit"]

logger = logging.getLogger(__name__)

DEFAULT_BULK_LIMIT = 100


def check_bulk_limit(value: object, *, field: str = "limit") -> int:
    """Validate a bulk limit: a positive integer (``bool`` is not an integer here)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(
            f"{field} must be a positive integer, got {value!r}", field=field
        )
    return value


@attrs.frozen(kw_only=True)
class InboxState:
    """An inbox that passed its gates, with its effective policy."""

    account: Account
    inbox: Inbox
    policy: EffectivePolicy


@attrs.define
class _Pass:
    """The mutable bookkeeping of one pass."""

    state: InboxState
    members: Sequence[AgentId]
    statuses: Mapping[AgentId, str]
    recent: RecentAssignments | None
    rate_limiting: bool
    limits: Mapping[AgentId, int]
    """Each agent's capacity limit in the inbox, read once per pass: configuration
    changes take effect on the next pass; open counts are read per conversation."""
    assignments: list[Assignment] = attrs.field(factory=list)
    skips: list[Skip] = attrs.field(factory=list)
    degraded: set[Degradation] = attrs.field(factory=set)
    unpublished: list[object] = attrs.field(factory=list)

    def skip(
        self, conversation: Conversation, reason: SkipReason, detail: str = ""
    ) -> None:
        self.skips.append(
            Skip(conversation=conversation.id, reason=reason, detail=detail)
        )


def _log_extra(inbox: InboxId, **more: object) -> dict[str, object]:
    extra: dict[str, object] = {"autoassign_inbox": inbox}
    extra.update({f"autoassign_{key}": value for key, value in more.items()})
    return extra


@attrs.define
class AssignmentService:
    """Assigns an inbox's open, unassigned conversations to eligible agents.

    Build it with :func:`autoassign.build_autoassign`. The service holds no state
    of its own between passes, so any number of workers may share the same backends; the
    inbox lease (see :class:`autoassign.jobs.AssignmentJob`) keeps two passes of one inbox
    from overlapping.
    """

    directory: Directory
    conversations: ConversationRepository
    presence: Presence
    ledger: RateLimitLedger
    rotation: RotationStore
    events: EventBus
    clock: Clock
    bulk_limit: int = attrs.field(default=DEFAULT_BULK_LIMIT)
    override_precedence: OverridePrecedence = OverridePrecedence.INBOX
    selectors: Mapping[AssignmentOrder, Selector] = attrs.field(factory=dict)

    @bulk_limit.validator
    def _check_limit(self, attribute: attrs.Attribute[int], value: int) -> None:
        check_bulk_limit(value, field="bulk_limit")

    def __attrs_post_init__(self) -> None:
        defaults: dict[AssignmentOrder, Selector] = {
            AssignmentOrder.ROUND_ROBIN: RoundRobinSelector(self.rotation),
            AssignmentOrder.BALANCED: BalancedSelector(),
        }
        defaults.update(self.selectors)
        self.selectors = defaults

    # -- reading the configuration ------------------------------------------------------

    def load_inbox(self, inbox: InboxId) -> InboxState | GateFailure:
        """The inbox with its effective policy, or the first gate that fails."""
        record = self.directory.inbox(inbox)
        account = self.directory.account(record.account) if record is not None else None
        policy = self.directory.policy_for_inbox(inbox) if account is not None else None
        failure = check_gates(account, record, policy)
        if failure is not None:
            return failure
        assert record is not None
        assert account is not None
        assert policy is not None
        return InboxState(
            account=account,
            inbox=record,
            policy=EffectivePolicy.resolve(
                policy, record.overrides, self.override_precedence
            ),
        )

    def selector_for(self, order: AssignmentOrder) -> Selector:
        return self.selectors[order]

    def read_statuses(
        self, account: Account, members: Sequence[AgentId]
    ) -> Mapping[AgentId, str] | None:
        """Presence for ``members``; ``None`` if presence failed (nobody is online)."""
        try:
            return self.presence.statuses(account.id, members)
        except Exception:
            logger.warning(
                "presence unavailable; treating every agent as offline",
                exc_info=True,
                extra={"autoassign_account": account.id},
            )
            return None

    def read_recent(
        self, state: InboxState, members: Sequence[AgentId], now: datetime
    ) -> RecentAssignments | None:
        """The ledger snapshot for ``members``; ``None`` if the ledger failed."""
        window = state.policy.window
        try:
            times = self.ledger.recent(state.inbox.id, members, now=now, window=window)
        except Exception:
            logger.warning(
                "rate-limit ledger unavailable; rate limiting is skipped for this pass",
                exc_info=True,
                extra=_log_extra(state.inbox.id),
            )
            return None
        return RecentAssignments(
            window=window, times={agent: list(ts) for agent, ts in times.items()}
        )

    # -- the pass -------------------------------------------------------------------------

    def perform_bulk_assignment(
        self, inbox: InboxId, *, limit: int | None = None
    ) -> AssignmentResult:
        """Assign up to ``limit`` (default :attr:`bulk_limit`) of the inbox's open,
        unassigned conversations, one at a time in priority order."""
        batch = check_bulk_limit(self.bulk_limit if limit is None else limit)
        loaded = self.load_inbox(inbox)
        if isinstance(loaded, GateFailure):
            logger.debug(
                "inbox %s skipped: %s", inbox, loaded.value, extra=_log_extra(inbox)
            )
            return AssignmentResult(inbox=inbox, gate=loaded)

        now = self.clock.now()
        capacity_policies = self.directory.capacity_policies_for_inbox(inbox)
        conversations = self.conversations.unassigned_open(
            inbox,
            limit=batch,
            priority=loaded.policy.conversation_priority,
            exclusions=exclusions_for_inbox(capacity_policies, inbox),
            now=now,
        )
        if not conversations:
            return AssignmentResult(inbox=inbox)

        run = _Pass(
            state=loaded,
            members=self.directory.inbox_members(inbox),
            statuses={},
            recent=None,
            rate_limiting=loaded.policy.rate_limited,
            limits=capacity_limits(capacity_policies, inbox),
        )
        if not self._read_presence(run, conversations):
            # Nobody online: nothing else is touched (no ledger, no rotation).
            return self._result(inbox, conversations, run)
        members = run.members

        selector = self.selector_for(loaded.policy.assignment_order)
        run.recent = self.read_recent(loaded, members, now)
        if run.recent is None:
            run.degraded.add(Degradation.RATE_LIMIT_SKIPPED)
            run.rate_limiting = False

        for index, conversation in enumerate(conversations):
            if index > 0 and not self._refresh(run, conversations[index:]):
                break
            self._assign_one(run, conversation, selector)
        return self._result(inbox, conversations, run)

    def _result(
        self, inbox: InboxId, conversations: Sequence[Conversation], run: _Pass
    ) -> AssignmentResult:
        stopped = next(
            (
                skip.reason
                for skip in run.skips
                if skip.reason is SkipReason.PASS_STOPPED
            ),
            None,
        )
        return AssignmentResult(
            inbox=inbox,
            fetched=len(conversations),
            assignments=tuple(run.assignments),
            skips=tuple(run.skips),
            degraded=frozenset(run.degraded),
            unpublished_events=tuple(run.unpublished),
            stopped=stopped,
        )

    def _refresh(self, run: _Pass, remaining: Sequence[Conversation]) -> bool:
        """Before each conversation after the first: re-check the gates, membership and
        presence. ``False`` stops the pass (every remaining conversation is skipped)."""
        inbox = run.state.inbox.id
        loaded = self.load_inbox(inbox)
        if isinstance(loaded, GateFailure):
            logger.info(
                "pass stopped mid-way: %s", loaded.value, extra=_log_extra(inbox)
            )
            for conversation in remaining:
                run.skip(conversation, SkipReason.PASS_STOPPED, loaded.value)
            return False
        run.state = loaded
        run.members = self.directory.inbox_members(inbox)
        return self._read_presence(run, remaining)

    def _read_presence(self, run: _Pass, remaining: Sequence[Conversation]) -> bool:
        """Read the members' statuses into ``run``. ``False`` when nobody is online
        (presence failing counts as nobody): every remaining conversation is skipped."""
        statuses = self.read_statuses(run.state.account, run.members)
        if statuses is None:
            run.degraded.add(Degradation.PRESENCE_UNAVAILABLE)
        run.statuses = statuses or {}
        if any(run.statuses.get(agent) == ONLINE for agent in run.members):
            return True
        for conversation in remaining:
            run.skip(conversation, SkipReason.NO_AGENT_ONLINE)
        return False

    def _team_for(
        self, run: _Pass, conversation: Conversation
    ) -> Team | SkipReason | None:
        if conversation.team is None:
            return None
        team = self.directory.team(conversation.team)
        if team is None or team.account != run.state.account.id:
            return SkipReason.TEAM_NOT_FOUND
        if not team.allow_auto_assign:
            return SkipReason.TEAM_NOT_AUTO_ASSIGNABLE
        return team

    def _assign_one(
        self,
        run: _Pass,
        queued: Conversation,
        selector: Selector,
    ) -> None:
        inbox = run.state.inbox.id
        try:
            self._try_assign(run, queued, selector)
        except Exception as exc:
            logger.warning(
                "assignment of conversation %s failed: %s",
                queued.id,
                exc,
                exc_info=True,
                extra=_log_extra(inbox, conversation=queued.id),
            )
            run.skip(queued, SkipReason.BACKEND_ERROR, type(exc).__name__)

    def _try_assign(self, run: _Pass, queued: Conversation, selector: Selector) -> None:
        state = run.state
        inbox = state.inbox.id
        policy = state.policy
        now = self.clock.now()

        conversation = self.conversations.get(queued.id)
        if (
            conversation is None
            or conversation.inbox != inbox
            or not conversation.is_assignable
        ):
            run.skip(queued, SkipReason.NOT_ASSIGNABLE)
            return
        team = self._team_for(run, conversation)
        if isinstance(team, SkipReason):
            run.skip(conversation, team)
            return

        limits = run.limits
        candidates = [
            agent
            for agent in run.members
            if run.statuses.get(agent) == ONLINE
            and (team is None or agent in team.members)
        ]
        open_counts: dict[AgentId, int] | None = None
        if candidates and (
            selector.needs_open_counts or any(agent in limits for agent in candidates)
        ):
            open_counts = dict(self.conversations.open_counts(inbox, candidates))

        lost_race: set[AgentId] = set()
        for _attempt in range(len(run.members) + 1):
            verdicts = evaluate_agents(
                members=run.members,
                statuses=run.statuses,
                team=team,
                recent=run.recent if run.rate_limiting else None,
                rate_limit=policy.fair_distribution_limit,
                now=now,
                open_counts=open_counts,
                limits=limits,
            )
            eligible = [
                v.agent for v in verdicts if v.eligible and v.agent not in lost_race
            ]
            if not eligible:
                removed = Counter(
                    v.removed_by.value for v in verdicts if v.removed_by is not None
                )
                detail = ", ".join(f"{name}={n}" for name, n in sorted(removed.items()))
                run.skip(conversation, skip_reason_for(verdicts), detail)
                return
            context = SelectionContext(
                inbox=inbox,
                conversation=conversation,
                members=run.members,
                eligible=eligible,
                open_counts=open_counts or {},
                last_assigned=self._last_assigned(run, eligible),
            )
            agent = selector.select(context)
            if agent is None or agent not in eligible:
                if agent is not None:
                    logger.error(
                        "selector %s chose %r, who is not eligible",
                        selector.name,
                        agent,
                        extra=_log_extra(inbox),
                    )
                run.skip(conversation, SkipReason.NO_AGENT_SELECTED)
                return

            if not self._reserve(run, agent, conversation, now):
                # Another worker took the agent's last slot: it is full now.
                assert run.recent is not None
                assert policy.fair_distribution_limit
                run.recent.fill(agent, now, policy.fair_distribution_limit)
                continue
            # If the claim raises, its outcome is unknown: the reservation stays (the
            # agent only looks busier until the window ends; never an overshoot).
            claimed = self.conversations.claim(
                conversation.id, agent, capacity_limit=limits.get(agent)
            )
            if claimed:
                self._assigned(run, conversation, agent, selector, now)
                return
            fresh = self.conversations.get(conversation.id)
            if fresh is None or fresh.assignee != agent:
                # Release only a reservation that is surely unused: if another worker
                # gave the conversation to this same agent, the entry is theirs now.
                self._release(run, agent, conversation)
            if fresh is None or not fresh.is_assignable:
                run.skip(conversation, SkipReason.CLAIM_LOST)
                return
            # Still assignable, so the repository refused the agent's capacity.
            lost_race.add(agent)
            if open_counts is not None and agent in limits:
                open_counts[agent] = max(open_counts.get(agent, 0), limits[agent])
        run.skip(conversation, SkipReason.NO_AGENT_SELECTED)

    def _last_assigned(
        self, run: _Pass, agents: Sequence[AgentId]
    ) -> dict[AgentId, datetime]:
        if run.recent is None:
            return {}
        out: dict[AgentId, datetime] = {}
        for agent in agents:
            last = run.recent.last(agent)
            if last is not None:
                out[agent] = last
        return out

    def _reserve(
        self, run: _Pass, agent: AgentId, conversation: Conversation, now: datetime
    ) -> bool:
        """Record the assignment in the ledger before claiming (check and record are one
        atomic step there). ``False``: the agent is at its limit after all."""
        if run.recent is None:
            return True  # the ledger is down: rate limiting skipped for the pass
        policy = run.state.policy
        try:
            return self.ledger.try_record(
                run.state.inbox.id,
                agent,
                conversation.id,
                now=now,
                window=policy.window,
                limit=policy.fair_distribution_limit if run.rate_limiting else None,
            )
        except Exception:
            logger.warning(
                "rate-limit ledger failed; rate limiting is skipped for the rest of the pass",
                exc_info=True,
                extra=_log_extra(run.state.inbox.id),
            )
            run.degraded.add(Degradation.RATE_LIMIT_SKIPPED)
            run.recent = None
            run.rate_limiting = False
            return True

    def _release(self, run: _Pass, agent: AgentId, conversation: Conversation) -> None:
        if run.recent is None:
            return
        try:
            self.ledger.discard(run.state.inbox.id, agent, conversation.id)
        except Exception:
            # A leftover entry only makes the agent look busier until the window ends.
            logger.warning(
                "could not discard a ledger reservation",
                exc_info=True,
                extra=_log_extra(run.state.inbox.id, agent=agent),
            )

    def _assigned(
        self,
        run: _Pass,
        conversation: Conversation,
        agent: AgentId,
        selector: Selector,
        now: datetime,
    ) -> None:
        inbox = run.state.inbox.id
        if run.recent is not None:
            run.recent.add(agent, now)
        run.assignments.append(
            Assignment(conversation=conversation.id, agent=agent, occurred_at=now)
        )
        logger.debug(
            "conversation %s assigned to %s",
            conversation.id,
            agent,
            extra=_log_extra(inbox, agent=agent, conversation=conversation.id),
        )
        events: list[object] = [
            AssigneeChanged(
                conversation=conversation.id,
                agent=agent,
                previous_agent=None,
                inbox=inbox,
                policy=run.state.policy.policy.id,
                selector=selector.name,
                occurred_at=now,
            ),
            ConversationUpdated(
                conversation=conversation.id,
                inbox=inbox,
                changed_attributes=("assignee",),
                occurred_at=now,
            ),
        ]
        for event in events:
            try:
                self.events.publish(event)
            except Exception:
                logger.warning(
                    "event bus failed; the assignment stands and the event is kept on "
                    "the result",
                    exc_info=True,
                    extra=_log_extra(inbox, conversation=conversation.id),
                )
                run.degraded.add(Degradation.EVENTS_UNPUBLISHED)
                run.unpublished.append(event)
