"""The assignment service: one bulk pass over one inbox (the spec's
``perform_bulk_assignment``). Orchestration only: every decision is made by
:mod:`autoassign.decisions` and the selectors; every read and write goes through a port.
"""

from __future__ import annotations

import enum
import itertools
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import cast

import attrs

from autoassign._quietlog import degradations
from autoassign.clock import ledger_skew_margin
from autoassign.decisions import (
    AgentFilter,
    AgentVerdict,
    GateFailure,
    RecentAssignments,
    SkipReason,
    capacity_limits,
    check_gates,
    evaluate_agent,
    evaluate_agents,
    exclusions_for_inbox,
    skip_reason_for,
    total_limits,
    unusable_exclusion_rules,
)
from autoassign.errors import ConfigurationError
from autoassign.metrics import Metrics, Tracing, observe_quietly
from autoassign.model import (
    OFF_SCHEDULE,
    ONLINE,
    Account,
    AgentId,
    AssignmentOrder,
    AssignmentPolicy,
    Conversation,
    ConversationId,
    EffectivePolicy,
    Inbox,
    InboxId,
    LedgerUsage,
    Load,
    OverridePrecedence,
    Team,
    TeamId,
    add_load,
)
from autoassign.outbox import (
    DEFAULT_OUTBOX_GRACE,
    OutboxRecord,
    OutboxRelay,
    confirm_quietly,
    new_event_id,
    total_claim_options,
)
from autoassign.ports import (
    AgentWeights,
    CheckedClaims,
    CheckedOutboxClaims,
    Clock,
    ConversationRepository,
    Directory,
    EventBus,
    EventOutbox,
    OnlinePresence,
    Presence,
    RateLimitLedger,
    Reservations,
    RotationStore,
    ScheduleBook,
    TotalCapacity,
)
from autoassign.reservations import SequentialReservations
from autoassign.results import Assignment, AssignmentResult, Degradation, Skip
from autoassign.routing import PolicyRouting, resolve_routing
from autoassign.selection import (
    BalancedSelector,
    MostAvailableSelector,
    Ranking,
    RankingInput,
    RoundRobinSelector,
    Selector,
    WeightedRoundRobinSelector,
    fallback_ranking,
)
from autoassign.skills import SkillRouting
from autoassign.sticky import StickyRouting

__all__ = [
    "DEFAULT_BULK_LIMIT",
    "DEFAULT_MAX_PAGES",
    "DEFAULT_RECHECK_INTERVAL",
    "DEFAULT_USAGE_BATCH",
    "AssignmentService",
    "InboxState",
    "check_bulk_limit",
    "check_recheck_interval",
]

logger = logging.getLogger(__name__)

DEFAULT_BULK_LIMIT = 100

DEFAULT_RECHECK_INTERVAL = timedelta(seconds=1)
"""A pass re-reads its gates and the inbox's membership at most this often by default
(:attr:`AssignmentService.recheck_interval`)."""


def check_recheck_interval(value: object) -> timedelta:
    """Validate a recheck interval: a ``timedelta`` from zero to one hour."""
    if not isinstance(value, timedelta) or not (
        timedelta(0) <= value <= timedelta(hours=1)
    ):
        raise ConfigurationError(
            f"recheck_interval must be a timedelta from 0 to 1 hour, got {value!r}",
            field="recheck_interval",
        )
    return value


DEFAULT_MAX_PAGES = 10
"""A pass reads at most this many pages of conversations by default
(:attr:`AssignmentService.max_pages`)."""

_WARNED_RULES: set[tuple[object, str]] = set()
"""The unusable stored rules already logged by this process: ``(policy, problem)``."""

_WARNED_ROUTING: set[tuple[object, str]] = set()
"""The policy routing settings already logged as ignored by this process:
``(policy, field)``."""


def _presence_down(account: object, error: BaseException | None = None) -> None:
    """Presence failed (``error``, or the exception being handled): nobody is online."""
    degradations.failed(
        logger,
        "presence",
        "presence unavailable; treating every agent as offline",
        error=error,
        extra={"autoassign_account": account},
    )


def _ledger_ok() -> None:
    degradations.recovered(logger, "rate-limit ledger")


def _warn_unusable_rules(found: Sequence[tuple[object, str]], inbox: InboxId) -> None:
    """Log each stored exclusion rule the pass skips, once per process."""
    for policy, problem in found:
        if (policy, problem) in _WARNED_RULES:
            continue
        _WARNED_RULES.add((policy, problem))
        logger.warning(
            "capacity policy %r: stored exclusion rule skipped, the rest applies: %s",
            policy,
            problem,
            extra=_log_extra(inbox),
        )


def _warn_ignored_routing(
    policy: AssignmentPolicy, routing: PolicyRouting, inbox: InboxId
) -> None:
    """Log each routing setting of ``policy`` that cannot apply (its port is not
    wired), once per process: the pass routes as without it."""
    for field in routing.ignored:
        if (policy.id, field) in _WARNED_ROUTING:
            continue
        _WARNED_ROUTING.add((policy.id, field))
        logger.warning(
            "assignment policy %r: %s = %r is ignored: %s not wired "
            "(build_autoassign(%s=...)), so its inboxes are routed without it",
            policy.id,
            field,
            getattr(policy, field),
            *(
                ("sticky agents are", "sticky")
                if field == "sticky_window"
                else ("skills routing is", "skills")
            ),
            extra=_log_extra(inbox, policy=policy.id),
        )


DEFAULT_USAGE_BATCH = 128
"""A pass reads ledger usage lazily, for the online agents its walk reaches: this many
per read by default (:attr:`AssignmentService.usage_batch`)."""


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
    """The mutable bookkeeping of one pass.

    At the start (and again if the inbox's membership changes mid-pass) the pass takes a
    snapshot: presence of every member, the ledger's usage and the open counts of the
    online members, and the selector's ranking. Per conversation it then walks the
    ranking lazily and confirms the presence of the agent it chose, so the work per
    assignment does not grow with the number of agents.
    """

    state: InboxState
    members: Sequence[AgentId]
    limits: Mapping[AgentId, int]
    """Each agent's capacity limit in the inbox, read once per pass: configuration
    changes take effect on the next pass."""
    routing: PolicyRouting
    """Skills routing and sticky agents for this pass (the wiring with the policy's
    routing settings), resolved once when it starts, like :attr:`limits`."""
    total_limits: Mapping[AgentId, int] = attrs.field(factory=dict)
    """Each agent's limit across the account's inboxes (capacity policies'
    ``total_limit``), read with :attr:`limits`."""
    open_totals: dict[AgentId, Load] | None = None
    """Open conversations across the account's inboxes of the members with a total
    limit: read with the snapshot, kept current with the pass's assignments."""
    previous: Mapping[ConversationId, AgentId] = attrs.field(factory=dict)
    """Sticky agents: the previous agent of each conversation of the current page
    whose contact had one (read once per page)."""
    member_set: frozenset[AgentId] = frozenset()
    statuses: dict[AgentId, str] = attrs.field(factory=dict)
    recent: RecentAssignments | None = None
    """The ledger, read lazily as the walk reaches agents; ``None`` once it failed."""
    rate_limiting: bool = False
    last_assigned: dict[AgentId, datetime] = attrs.field(factory=dict)
    """Each member's newest ledger entry, read with the snapshot when the selector
    needs it, then kept current with the pass's own assignments."""
    open_counts: dict[AgentId, Load] | None = None
    """Open conversations (or the sum of their weights) in the inbox of the online
    members, when the selector or a capacity limit needs them: read with the snapshot,
    then kept current with the pass's own assignments (the claim re-checks capacity
    atomically)."""
    agent_skills: dict[AgentId, Mapping[str, int]] | None = None
    """The skills of the members read so far in this snapshot, when skills routing is
    on (``None``: off, or the skill book failed). Read lazily, as the walk of a
    conversation that requires skills reaches online members, in batches of
    :attr:`AssignmentService.usage_batch`, so a pass costs the same whatever the
    team's size."""
    skills_read: set[AgentId] = attrs.field(factory=set)
    """The members whose skills were read in this snapshot (in :attr:`agent_skills`
    when they have any)."""
    ranking: Ranking | None = None
    rank_error: str = ""
    """Why the selector could not rank (every conversation is skipped)."""
    fresh: bool = False
    """The presence snapshot was just read: the next conversation needs no
    confirmation."""
    assignments: list[Assignment] = attrs.field(factory=list)
    skips: list[Skip] = attrs.field(factory=list)
    degraded: set[Degradation] = attrs.field(factory=set)
    unpublished: list[object] = attrs.field(factory=list)
    blocked_teams: dict[TeamId, tuple[SkipReason, str]] = attrs.field(factory=dict)
    """Teams nobody can take a conversation of, for the rest of the snapshot (their
    later conversations are skipped at once, and later pages leave them out)."""
    saturated_by: tuple[SkipReason, str] | None = None
    """Set when nobody can take a conversation without a team, so nobody can take any
    more in this snapshot: the skip's reason and detail, given to the rest of its page
    (and no further page is read)."""
    stopped_early: SkipReason | None = None
    """Set when the pass skipped the rest of a page because nobody could take any."""
    halted: bool = False
    """The gates failed mid-pass (the rest was skipped with ``pass_stopped``)."""
    checked_at: datetime | None = None
    """When the gates and the membership were last read (``None``: never yet)."""
    teams: dict[TeamId, Team | None] = attrs.field(factory=dict)
    """The teams read since then (read again after the next refresh)."""
    published: list[OutboxRecord] = attrs.field(factory=list)
    """Outbox records whose events were all published: confirmed once, at the end."""

    def skip(
        self,
        conversation: Conversation,
        reason: SkipReason,
        detail: str = "",
        *,
        lasting: bool = True,
    ) -> None:
        """Skip ``conversation``. ``lasting=False``: the verdict may not hold for the
        next conversation (presence failed; the next one reads it again), so it blocks
        neither its team nor the rest of the pass."""
        self.skips.append(
            Skip(conversation=conversation.id, reason=reason, detail=detail)
        )
        if not lasting or reason not in _NOBODY_CAN_TAKE:
            return
        if conversation.team is None:
            if self.saturated_by is None:
                self.saturated_by = (reason, detail)
        else:
            self.blocked_teams.setdefault(conversation.team, (reason, detail))


_NOBODY_CAN_TAKE = frozenset(
    {
        SkipReason.TEAM_NOT_FOUND,
        SkipReason.TEAM_NOT_AUTO_ASSIGNABLE,
        SkipReason.NO_AGENT_ONLINE,
        SkipReason.NO_TEAM_MEMBER_ONLINE,
        SkipReason.ALL_RATE_LIMITED,
        SkipReason.ALL_AT_CAPACITY,
    }
)
"""Skip reasons that hold for every later conversation of the same team (or, without
a team, for every later conversation) until the next snapshot: within a pass agents only
become less eligible (presence is re-read at the next snapshot or pass)."""


class _Reserved(enum.Enum):
    TAKEN = "taken"
    REFUSED = "refused"
    PRESENCE_CHANGED = "presence_changed"
    PRESENCE_FAILED = "presence_failed"


def _preferring(
    prefer: AgentId | None, candidates: Iterator[AgentId]
) -> Iterator[AgentId]:
    """``prefer`` first (when given), then ``candidates`` without it; without
    ``prefer``, ``candidates`` itself (no extra step on the walk)."""
    if prefer is None:
        return candidates
    return itertools.chain(
        (prefer,), (agent for agent in candidates if agent != prefer)
    )


class _Lookahead(Iterator[AgentId]):
    """An iterator over a ranking that can look ahead without losing what it saw."""

    def __init__(self, source: Iterator[AgentId]) -> None:
        self._source = source
        self._buffer: deque[AgentId] = deque()

    def __next__(self) -> AgentId:
        if self._buffer:
            return self._buffer.popleft()
        return next(self._source)

    def peek(self, wanted: Callable[[AgentId], bool], limit: int) -> list[AgentId]:
        """Up to ``limit`` of the next items for which ``wanted`` is true; the items
        passed on the way stay to be iterated."""
        found = [agent for agent in self._buffer if wanted(agent)][:limit]
        while len(found) < limit:
            agent = next(self._source, _END)
            if agent is _END:
                break
            self._buffer.append(agent)
            if wanted(agent):
                found.append(agent)
        return found


_END: AgentId = object()  # type: ignore[assignment]


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
    reservations: Reservations | None = None
    """Presence confirmation and ledger reservation in one call; ``None`` (the default)
    becomes a :class:`~autoassign.reservations.SequentialReservations` over
    :attr:`presence` and :attr:`ledger` when the service is built."""
    usage_batch: int = attrs.field(default=DEFAULT_USAGE_BATCH)
    """How many agents' ledger usage one lazy read covers (the agent the walk reached
    and the next unread online agents of the ranking). With round robin a pass reaches
    about one new agent per conversation, so the default covers a default-sized pass in
    one read."""
    outbox: EventOutbox | None = None
    """Where each claim's :class:`~autoassign.outbox.OutboxRecord` is kept until its
    events are published (at-least-once delivery); ``None``: events a failing bus or a
    dead worker did not publish are lost (see "Delivery guarantee" in the docs)."""
    outbox_grace: timedelta = DEFAULT_OUTBOX_GRACE
    """How old a left-over outbox record must be before a pass publishes it again."""

    recheck_interval: timedelta = attrs.field(default=DEFAULT_RECHECK_INTERVAL)
    """How often (by the :class:`~autoassign.ports.Clock`) a pass re-reads the inbox's
    gates (inbox, account, policy) and membership between conversations: a policy
    disabled or an agent removed mid-pass takes effect within this delay. Zero re-reads
    them before every conversation (the reference's behaviour, and 4 directory reads
    per conversation)."""
    max_pages: int = attrs.field(default=DEFAULT_MAX_PAGES)
    """How many pages of :attr:`bulk_limit` conversations one pass may read to find
    conversations it can assign past those nobody can take (teams nobody can take are
    left out of later pages by the query itself)."""
    metrics: Metrics | None = None
    """Told of every pass (its result and wall time), whoever runs it: the job, the
    host, ``explain``-free code paths; ``None`` (the default): no call, no timer read."""
    tracing: Tracing | None = None
    """Opens a span around every pass (:class:`~autoassign.metrics.Tracing`);
    ``None`` (the default): nothing."""
    schedules: ScheduleBook | None = None
    """Inboxes' business hours (:mod:`autoassign.schedules`): outside them a pass
    assigns nothing (:attr:`GateFailure.OUTSIDE_BUSINESS_HOURS
    <autoassign.decisions.GateFailure.OUTSIDE_BUSINESS_HOURS>`). Agents' working hours
    are applied by wrapping :attr:`presence` (``build_autoassign(schedules=)`` does
    both)."""
    skills: SkillRouting | None = None
    """Skills-based routing (:mod:`autoassign.skills`): a conversation's required
    skills remove the agents who lack them (``None``: off). A policy's routing
    settings may tune or turn it off for its inboxes (:meth:`routing_for`)."""
    sticky: StickyRouting | None = None
    """Sticky agents (:mod:`autoassign.sticky`): a returning contact's previous agent
    is judged first (``None``: off). A policy's ``sticky_window`` may change the window
    or turn it off for its inboxes (:meth:`routing_for`)."""
    agent_weights: AgentWeights | None = None
    """Agents' weights for the ``weighted_round_robin`` order
    (:mod:`autoassign.weights`); ``None``: every agent has weight 1."""

    _capabilities: dict[type, tuple[object, bool]] = attrs.field(
        factory=dict, init=False, repr=False, eq=False
    )
    """The last adapter object each optional capability was checked on, with the
    verdict (:meth:`_supports`)."""

    @bulk_limit.validator
    def _check_limit(self, attribute: attrs.Attribute[int], value: int) -> None:
        check_bulk_limit(value, field="bulk_limit")

    @usage_batch.validator
    def _check_batch(self, attribute: attrs.Attribute[int], value: int) -> None:
        check_bulk_limit(value, field="usage_batch")

    @recheck_interval.validator
    def _check_interval(
        self, attribute: attrs.Attribute[timedelta], value: timedelta
    ) -> None:
        check_recheck_interval(value)

    @max_pages.validator
    def _check_pages(self, attribute: attrs.Attribute[int], value: int) -> None:
        check_bulk_limit(value, field="max_pages")

    def __attrs_post_init__(self) -> None:
        defaults: dict[AssignmentOrder, Selector] = {
            AssignmentOrder.ROUND_ROBIN: RoundRobinSelector(self.rotation),
            AssignmentOrder.BALANCED: BalancedSelector(self.rotation),
            AssignmentOrder.MOST_AVAILABLE: MostAvailableSelector(self.rotation),
            AssignmentOrder.WEIGHTED_ROUND_ROBIN: WeightedRoundRobinSelector(
                self.rotation, self.agent_weights
            ),
        }
        defaults.update(self.selectors)
        self.selectors = defaults
        if self.reservations is None:
            self.reservations = SequentialReservations(self.presence, self.ledger)

    # -- reading the configuration ------------------------------------------------------

    def load_inbox(self, inbox: InboxId) -> InboxState | GateFailure:
        """The inbox with its effective policy, or the first gate that fails."""
        record = self.directory.inbox(inbox)
        account = self.directory.account(record.account) if record is not None else None
        policy = self.directory.policy_for_inbox(inbox) if account is not None else None
        failure = check_gates(account, record, policy)
        if failure is not None:
            return failure
        if self.schedules is not None and not self.in_business_hours(inbox):
            return GateFailure.OUTSIDE_BUSINESS_HOURS
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

    def in_business_hours(self, inbox: InboxId) -> bool:
        """Whether ``inbox`` is within its business hours now (always, without
        :attr:`schedules` or without hours for it)."""
        if self.schedules is None:
            return True
        hours = self.schedules.inbox_hours(inbox)
        return hours is None or hours.is_open(self.clock.now())

    def _supports(self, port: object, capability: type) -> bool:
        """``isinstance(port, capability)`` for a ``runtime_checkable`` capability,
        checked once per adapter object: a protocol check walks the protocol's members
        on every call, and a pass asks several times. Replacing the adapter (another
        object) checks again."""
        known = self._capabilities.get(capability)
        if known is not None and known[0] is port:
            return known[1]
        verdict = isinstance(port, capability)
        self._capabilities[capability] = (port, verdict)
        return verdict

    def selector_for(self, order: AssignmentOrder) -> Selector:
        return self.selectors[order]

    def routing_for(self, policy: AssignmentPolicy) -> PolicyRouting:
        """Skills routing and sticky agents for ``policy``'s inboxes: :attr:`skills`
        and :attr:`sticky` with the policy's routing settings applied
        (:func:`~autoassign.routing.resolve_routing`; reads nothing)."""
        return resolve_routing(policy, skills=self.skills, sticky=self.sticky)

    def read_statuses(
        self, account: Account, members: Sequence[AgentId]
    ) -> Mapping[AgentId, str] | None:
        """Presence for ``members``; ``None`` if presence failed (nobody is online)."""
        try:
            statuses = self.presence.statuses(account.id, members)
        except Exception:
            _presence_down(account.id)
            return None
        degradations.recovered(logger, "presence")
        return statuses

    def _nobody_online(self, run: _Pass) -> SkipReason:
        """Why nobody is online: with working hours, members online but off shift
        (one more presence read, only on this path) make it
        :attr:`SkipReason.NO_AGENT_ON_SCHEDULE`."""
        if self.schedules is not None and run.members:
            statuses = self.read_statuses(run.state.account, run.members) or {}
            if OFF_SCHEDULE in statuses.values():
                return SkipReason.NO_AGENT_ON_SCHEDULE
        return SkipReason.NO_AGENT_ONLINE

    def read_online(
        self, account: Account, members: Sequence[AgentId]
    ) -> dict[AgentId, str] | None:
        """The snapshot's presence: the online ones of ``members`` (as statuses:
        every other member is offline to the pass), read with
        :meth:`~autoassign.ports.OnlinePresence.online` when the presence adapter
        offers it (no read per member), else as :meth:`read_statuses`. ``None`` if
        presence failed (nobody is online)."""
        presence = self.presence
        if not self._supports(presence, OnlinePresence):
            statuses = self.read_statuses(account, members)
            return None if statuses is None else dict(statuses)
        try:
            online = cast(OnlinePresence, presence).online(account.id, members)
        except Exception:
            _presence_down(account.id)
            return None
        degradations.recovered(logger, "presence")
        return dict.fromkeys(online, ONLINE)

    def read_skills(
        self, account: Account, members: Sequence[AgentId]
    ) -> dict[AgentId, Mapping[str, int]] | None:
        """The members' skills from :attr:`skills`' book (one read); ``None`` if it
        failed (logged: conversations requiring skills are then skipped) or skills
        routing is off."""
        if self.skills is None:
            return None
        try:
            found = self.skills.book.agent_skills(account.id, members)
        except Exception as exc:
            degradations.failed(
                logger,
                "skills",
                "the skill book failed: conversations that require skills are "
                "skipped until it answers",
                error=exc,
                extra={"autoassign_account": account.id},
            )
            return None
        degradations.recovered(logger, "skills")
        return dict(found)

    def requirements(
        self,
        conversation: Conversation,
        now: datetime,
        *,
        policy: AssignmentPolicy | None = None,
    ) -> tuple[dict[str, int], bool]:
        """The skills ``conversation`` requires now, and whether its requirements were
        relaxed (:meth:`SkillRouting.requirements
        <autoassign.skills.SkillRouting.requirements>`); ``({}, False)`` with skills
        routing off. With ``policy``, its routing settings apply
        (:meth:`routing_for`): its relaxation, or no requirements where it turns
        skills routing off."""
        skills = self.skills if policy is None else self.routing_for(policy).skills
        return _requirements(skills, conversation, now)

    def read_recent(
        self, state: InboxState, members: Sequence[AgentId], now: datetime
    ) -> RecentAssignments | None:
        """The ledger's usage of ``members``, read now (eager); ``None`` if the ledger
        failed."""
        recent = self._recent(state, lazy=False)
        try:
            found = self.ledger.usage(
                state.inbox.id, members, now=now, window=state.policy.window
            )
        except Exception:
            self._ledger_failed(state.inbox.id)
            return None
        _ledger_ok()
        recent.usage.update(found)
        return recent

    def read_last_assigned(
        self, state: InboxState, members: Sequence[AgentId], now: datetime
    ) -> Mapping[AgentId, datetime] | None:
        """Each member's newest ledger entry in the window; ``None`` if the ledger
        failed."""
        try:
            found = self.ledger.last_assigned(
                state.inbox.id, members, now=now, window=state.policy.window
            )
        except Exception:
            self._ledger_failed(state.inbox.id)
            return None
        _ledger_ok()
        return found

    def _ledger_failed(
        self, inbox: InboxId, message: str = "rate limiting is skipped for this pass"
    ) -> None:
        degradations.failed(
            logger,
            "rate-limit ledger",
            "rate-limit ledger unavailable; %s",
            message,
            extra=_log_extra(inbox),
        )

    def _recent(self, state: InboxState, *, lazy: bool) -> RecentAssignments:
        inbox, window = state.inbox.id, state.policy.window

        def load(
            agents: Sequence[AgentId], at: datetime
        ) -> Mapping[AgentId, LedgerUsage] | None:
            try:
                found = self.ledger.usage(inbox, agents, now=at, window=window)
            except Exception:
                self._ledger_failed(
                    inbox, "rate limiting is skipped for the agents it could not read"
                )
                return None
            _ledger_ok()
            return found

        # The pass's counts stay exact for as long as the ledger counts an entry: its
        # window plus the ledger's clock-skew margin.
        return RecentAssignments(
            window=window + ledger_skew_margin(self.ledger),
            load=load,
            known=set() if lazy else None,
        )

    # -- the pass -------------------------------------------------------------------------

    def perform_bulk_assignment(
        self, inbox: InboxId, *, limit: int | None = None
    ) -> AssignmentResult:
        """Assign up to ``limit`` (default :attr:`bulk_limit`) of the inbox's open,
        unassigned conversations, one at a time in priority order."""
        if self.metrics is None and self.tracing is None:
            return self._perform(inbox, limit)
        return _observed_pass(self, inbox, limit)

    def _perform(self, inbox: InboxId, limit: int | None) -> AssignmentResult:
        batch = check_bulk_limit(self.bulk_limit if limit is None else limit)
        self._relay(inbox, batch)
        loaded = self.load_inbox(inbox)
        if isinstance(loaded, GateFailure):
            logger.debug(
                "inbox %s skipped: %s", inbox, loaded.value, extra=_log_extra(inbox)
            )
            return AssignmentResult(inbox=inbox, gate=loaded)

        now = self.clock.now()
        capacity_policies = self.directory.capacity_policies_for_inbox(inbox)
        _warn_unusable_rules(unusable_exclusion_rules(capacity_policies, inbox), inbox)
        exclusions = exclusions_for_inbox(capacity_policies, inbox)

        def fetch(
            after: Conversation | None, teams: Collection[TeamId]
        ) -> Sequence[Conversation]:
            return self.conversations.unassigned_open(
                inbox,
                limit=batch,
                priority=loaded.policy.conversation_priority,
                exclusions=exclusions,
                now=now,
                after=after,
                exclude_teams=teams,
            )

        page = fetch(None, ())
        if not page:
            return AssignmentResult(inbox=inbox, policy=loaded.policy.policy.id)

        routing = self.routing_for(loaded.policy.policy)
        if routing.ignored:
            _warn_ignored_routing(loaded.policy.policy, routing, inbox)
        run = _Pass(
            state=loaded,
            members=self.directory.inbox_members(inbox),
            limits=capacity_limits(capacity_policies, inbox),
            routing=routing,
            total_limits=total_limits(capacity_policies),
            checked_at=now,
        )
        selector = self.selector_for(loaded.policy.assignment_order)
        fetched = list(page)
        if not self._snapshot(run, page, selector, now):
            # Nobody online: nothing else is touched (no ledger, no rotation).
            return self._result(inbox, fetched, run)
        try:
            for pages in itertools.count(1):
                self._assign_page(run, page, selector, batch, first=pages == 1)
                if not self._another_page(run, page, batch, pages):
                    break
                page = fetch(page[-1], tuple(run.blocked_teams))
                fetched.extend(page)
                if not page:
                    break
        finally:
            self._finish_ranking(run)
        return self._result(inbox, fetched, run)

    def _assign_page(
        self,
        run: _Pass,
        page: Sequence[Conversation],
        selector: Selector,
        batch: int,
        *,
        first: bool,
    ) -> None:
        """Assign one page's conversations in order, up to ``batch`` assignments in
        the pass; the gates and the membership are re-checked before each conversation
        but the pass's first. Once nobody can take a conversation without a team, the
        rest of the page is skipped with that reason (``result.stopped`` says so)."""
        run.previous = self._previous_agents(run, page)
        for index, conversation in enumerate(page):
            if (index > 0 or not first) and not self._refresh(
                run, page[index:], selector
            ):
                run.halted = True
                return
            self._assign_one(run, conversation, selector)
            if len(run.assignments) >= batch:
                return
            if run.saturated_by is not None:
                # Nobody can take a conversation without a team, so nobody can take any
                # of the rest: one reason for them all, without walking each.
                run.stopped_early = run.saturated_by[0]
                for rest in page[index + 1 :]:
                    run.skip(rest, *run.saturated_by)
                return

    def _previous_agents(
        self, run: _Pass, page: Sequence[Conversation]
    ) -> Mapping[ConversationId, AgentId]:
        """Sticky agents: the page's previous agents, in one read; none when sticky
        routing is off (or off for the pass's policy), and none (the policy chooses, as
        without it) when the history fails."""
        sticky = run.routing.sticky
        if sticky is None or not page:
            return {}
        try:
            found = sticky.previous_agents(run.state.account.id, page, self.clock.now())
        except Exception:
            degradations.failed(
                logger,
                "contact history",
                "could not read the contacts' previous agents; the policy chooses",
                extra=_log_extra(run.state.inbox.id),
            )
            return {}
        degradations.recovered(logger, "contact history")
        return found

    def _another_page(
        self, run: _Pass, page: Sequence[Conversation], batch: int, pages: int
    ) -> bool:
        """Whether to read the page after ``page``: it was full, the pass assigned less
        than ``batch``, someone may still take a conversation, and the pass has read
        fewer than :attr:`max_pages` pages. Conversations nobody can take at the front
        of the queue then never starve those behind them (no head-of-line blocking)."""
        return (
            len(page) >= batch
            and len(run.assignments) < batch
            and pages < self.max_pages
            and run.saturated_by is None
            and not (run.halted or run.ranking is None)
        )

    def _relay(self, inbox: InboxId, limit: int) -> None:
        """Publish what earlier passes left in the outbox (:class:`OutboxRelay`)."""
        if self.outbox is not None:
            OutboxRelay(
                outbox=self.outbox,
                conversations=self.conversations,
                events=self.events,
                grace=self.outbox_grace,
            ).run(inbox, now=self.clock.now(), limit=limit)

    def _result(
        self, inbox: InboxId, conversations: Sequence[Conversation], run: _Pass
    ) -> AssignmentResult:
        if self.outbox is not None:
            confirm_quietly(self.outbox, inbox, run.published)
        stopped = next(
            (
                skip.reason
                for skip in run.skips
                if skip.reason is SkipReason.PASS_STOPPED
            ),
            run.stopped_early,
        )
        return AssignmentResult(
            inbox=inbox,
            fetched=len(conversations),
            assignments=tuple(run.assignments),
            skips=tuple(run.skips),
            degraded=frozenset(run.degraded),
            unpublished_events=tuple(run.unpublished),
            stopped=stopped,
            policy=run.state.policy.policy.id,
        )

    def _snapshot(
        self,
        run: _Pass,
        remaining: Sequence[Conversation],
        selector: Selector,
        now: datetime,
    ) -> bool:
        """Read presence, the ledger, the open counts and the ranking for the current
        members. ``False`` when nobody is online (every remaining conversation is
        skipped and nothing else is read)."""
        run.member_set = frozenset(run.members)
        run.blocked_teams.clear()
        run.saturated_by = None
        statuses = self.read_online(run.state.account, run.members)
        if statuses is None:
            run.degraded.add(Degradation.PRESENCE_UNAVAILABLE)
        run.statuses = statuses or {}
        if not any(run.statuses.get(agent) == ONLINE for agent in run.members):
            reason = self._nobody_online(run)
            for conversation in remaining:
                run.skip(conversation, reason)
            return False
        run.fresh = True
        run.agent_skills = None if run.routing.skills is None else {}
        run.skills_read = set()

        # Usage is read lazily, as the walk reaches agents (offline members too, should
        # they come online during the pass).
        run.rate_limiting = run.state.policy.rate_limited
        run.last_assigned = {}
        if Degradation.RATE_LIMIT_SKIPPED in run.degraded:
            run.recent = None  # the ledger failed earlier in this pass
        else:
            run.recent = self._recent(run.state, lazy=True)
            if getattr(selector, "needs_last_assigned", True):
                last = self.read_last_assigned(run.state, run.members, now)
                if last is None:
                    run.recent = None
                else:
                    run.last_assigned = dict(last)
        if run.recent is None:
            self._skip_rate_limiting(run)

        run.open_counts = None
        run.ranking = None
        try:
            wanted = (
                run.members
                if selector.needs_open_counts
                else [agent for agent in run.members if agent in run.limits]
            )
            if wanted:
                run.open_counts = dict(
                    self.conversations.open_counts(run.state.inbox.id, wanted)
                )
            if not self._read_totals(run):
                return True
        except Exception as exc:
            # Capacity cannot be judged: every conversation of the snapshot is skipped
            # with backend_error (the repository is down; a claim would fail too).
            degradations.failed(
                logger,
                "conversations",
                "could not rank the agents: the open counts could not be read",
                extra=_log_extra(run.state.inbox.id),
            )
            run.rank_error = type(exc).__name__
            return True
        source = RankingInput(
            inbox=run.state.inbox.id,
            members=run.members,
            open_counts=run.open_counts if run.open_counts is not None else {},
            last_assigned=run.last_assigned,
            limits=run.limits,
            account=run.state.account.id,
        )
        try:
            run.ranking = selector.rank(source)
        except Exception:
            # The rotation store (or a host selector) failed: rank in membership order
            # for this pass rather than leave the inbox unassigned.
            degradations.failed(
                logger,
                "rotation",
                "selector %s could not rank the agents; ranking them in "
                "membership order for this pass",
                selector.name,
                extra=_log_extra(run.state.inbox.id),
            )
            run.degraded.add(Degradation.ROTATION_UNAVAILABLE)
            run.ranking = fallback_ranking(
                source,
                balanced=selector.needs_open_counts,
                most_available=run.state.policy.assignment_order
                is AssignmentOrder.MOST_AVAILABLE,
            )
        else:
            degradations.recovered(logger, "rotation")
        return True

    def _read_totals(self, run: _Pass) -> bool:
        """Read the open totals of the members with a total limit (offline ones too,
        as for the open counts: one may come online mid-pass); ``False`` (every
        conversation of the snapshot skipped with ``backend_error``) when the
        repository cannot count across inboxes: a total limit is never ignored."""
        run.open_totals = None
        if not run.total_limits:
            return True  # the usual case: no walk of the members
        wanted = [agent for agent in run.members if agent in run.total_limits]
        if not wanted:
            return True
        if not self._supports(self.conversations, TotalCapacity):
            degradations.failed(
                logger,
                "conversations",
                "a capacity policy has a total_limit, but the conversation "
                "repository cannot count across inboxes (ports.TotalCapacity): "
                "conversations are skipped",
                extra=_log_extra(run.state.inbox.id),
            )
            run.rank_error = "total_limit"
            return False
        totals = cast("TotalCapacity", self.conversations)
        run.open_totals = dict(totals.open_totals(run.state.inbox.account, wanted))
        return True

    def _finish_ranking(self, run: _Pass) -> None:
        ranking, run.ranking = run.ranking, None
        if ranking is None:
            return
        try:
            ranking.finish()
        except Exception:
            # The assignments stand; only the rotation did not advance (fairness).
            degradations.failed(
                logger,
                "rotation",
                "could not persist the selector's state at the end of the pass",
                extra=_log_extra(run.state.inbox.id),
            )
        else:
            degradations.recovered(logger, "rotation")

    def _refresh(
        self, run: _Pass, remaining: Sequence[Conversation], selector: Selector
    ) -> bool:
        """Before each conversation after the first: re-check the gates and the
        membership, once :attr:`recheck_interval` has passed since they were last read
        (every conversation when it is zero). ``False`` stops the pass (every remaining
        conversation is skipped)."""
        inbox = run.state.inbox.id
        now = self.clock.now()
        if run.checked_at is not None and now - run.checked_at < self.recheck_interval:
            return True
        run.checked_at = now
        run.teams.clear()
        loaded = self.load_inbox(inbox)
        if isinstance(loaded, GateFailure):
            logger.info(
                "pass stopped mid-way: %s", loaded.value, extra=_log_extra(inbox)
            )
            for conversation in remaining:
                run.skip(conversation, SkipReason.PASS_STOPPED, loaded.value)
            return False
        run.state = loaded
        members = self.directory.inbox_members(inbox)
        if members is run.members or members == run.members:
            return True
        # Membership changed: persist the ranking and take a new snapshot.
        self._finish_ranking(run)
        run.members = members
        return self._snapshot(run, remaining, selector, self.clock.now())

    def _team_for(
        self, run: _Pass, conversation: Conversation
    ) -> Team | SkipReason | None:
        if conversation.team is None:
            return None
        # Read once per team until the next refresh (recheck_interval), like the gates.
        if conversation.team in run.teams:
            team = run.teams[conversation.team]
        else:
            team = run.teams[conversation.team] = self.directory.team(conversation.team)
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
            degradations.failed(
                logger,
                "conversations",
                "assignment of conversation %s failed",
                queued.id,
                error=exc,
                extra=_log_extra(inbox, conversation=queued.id),
            )
            run.skip(queued, SkipReason.BACKEND_ERROR, type(exc).__name__)

    def _walk(
        self,
        run: _Pass,
        team: Team | None,
        now: datetime,
        passed_over: set[AgentId],
        confirmed: set[AgentId] | None,
        *,
        judged: dict[AgentId, AgentVerdict],
        required: Mapping[str, int],
        prefer: AgentId | None = None,
        weight: Load = 1,
    ) -> tuple[AgentId | None, list[AgentId]]:
        """The first agent in ranking order that passes every filter (lazily: the walk
        stops there), and the agents before it that were offline and whose presence has
        not been read for this conversation (``confirmed``; ``None``: everyone's was).
        Every verdict reached is left in ``judged``. ``prefer`` (sticky agents) is
        judged before the ranking; capacity checks the conversation's ``weight``.

        Ledger usage is read as the walk goes: on reaching an online agent not read
        yet, one read covers it and the next unread online agents of the ranking, up
        to :attr:`usage_batch`."""
        offline: list[AgentId] = []
        judged.clear()
        if run.ranking is None:
            return None, offline
        policy = run.state.policy
        ahead = _Lookahead(_preferring(prefer, run.ranking.candidates()))

        def judgeable(agent: AgentId) -> bool:
            """An online member not passed over: one the walk may judge."""
            return (
                agent not in passed_over
                and agent in run.member_set
                and run.statuses.get(agent) == ONLINE
            )

        def unread(agent: AgentId) -> bool:  # usage not read yet
            recent = run.recent
            return recent is not None and recent.missing(agent) and judgeable(agent)

        def unskilled(agent: AgentId) -> bool:  # skills not read yet
            return agent not in run.skills_read and judgeable(agent)

        for agent in ahead:
            if agent in passed_over or agent not in run.member_set:
                continue  # a host's ranking may not name a non-member
            if required and unskilled(agent):
                batch = [agent, *ahead.peek(unskilled, self.usage_batch - 1)]
                if not self._ensure_skills(run, batch):
                    return None, offline  # the book failed: the caller skips
            recent = run.recent if run.rate_limiting else None
            if recent is not None and unread(agent):
                batch = [agent, *ahead.peek(unread, self.usage_batch - 1)]
                if not recent.ensure(batch, now):
                    self._skip_rate_limiting(run)
                    recent = None
            verdict = evaluate_agent(
                agent,
                statuses=run.statuses,
                team=team,
                recent=recent,
                rate_limit=policy.fair_distribution_limit,
                now=now,
                open_counts=run.open_counts,
                limits=run.limits,
                required=required,
                skills=run.agent_skills,
                totals=run.open_totals,
                total_limits=run.total_limits,
                weight=weight,
            )
            judged[agent] = verdict
            if verdict.eligible:
                return agent, offline
            if (
                confirmed is not None
                and verdict.removed_by is AgentFilter.NOT_ONLINE
                and agent not in confirmed
            ):
                offline.append(agent)
        return None, offline

    def _ensure_skills(self, run: _Pass, agents: Collection[AgentId]) -> bool:
        """Read the skills of those of ``agents`` not read yet in this snapshot (one
        read); ``False`` when the book failed (then :attr:`_Pass.agent_skills` is
        ``None`` for the rest of the snapshot)."""
        if run.agent_skills is None:
            return False
        unread = [agent for agent in agents if agent not in run.skills_read]
        if not unread:
            return True
        found = self.read_skills(run.state.account, unread)
        if found is None:
            run.agent_skills = None
            return False
        run.agent_skills.update(found)
        run.skills_read.update(unread)
        return True

    def _skip_rate_limiting(self, run: _Pass) -> None:
        """The ledger failed: rate limiting is skipped for the rest of the pass."""
        run.degraded.add(Degradation.RATE_LIMIT_SKIPPED)
        run.recent = None
        run.rate_limiting = False

    def _nobody_eligible(
        self,
        run: _Pass,
        team: Team | None,
        now: datetime,
        judged: Mapping[AgentId, AgentVerdict],
        required: Mapping[str, int],
        *,
        weight: Load,
    ) -> tuple[SkipReason, str, bool]:
        """Why nobody could take a conversation: every member's first failing filter,
        and whether an agent removed by capacity has room for a lighter one (weighted
        capacity: then the verdict holds for this conversation only). The walk's
        verdicts serve when it judged every member (the usual case); otherwise (agents
        passed over, a ranking that left members out) every member is judged here."""
        verdicts: Sequence[AgentVerdict]
        if len(judged) == len(run.member_set):
            verdicts = list(judged.values())
        else:
            if required and not self._ensure_skills(
                run, [a for a in run.members if run.statuses.get(a) == ONLINE]
            ):
                return SkipReason.BACKEND_ERROR, "skills", False
            if run.rate_limiting and run.recent is not None:
                online = [a for a in run.members if run.statuses.get(a) == ONLINE]
                if not run.recent.ensure(online, now):
                    self._skip_rate_limiting(run)
            verdicts = evaluate_agents(
                members=run.members,
                statuses=run.statuses,
                team=team,
                recent=run.recent if run.rate_limiting else None,
                rate_limit=run.state.policy.fair_distribution_limit,
                now=now,
                open_counts=run.open_counts,
                limits=run.limits,
                required=required,
                skills=run.agent_skills,
                totals=run.open_totals,
                total_limits=run.total_limits,
                weight=weight,
            )
        if any(v.eligible for v in verdicts):
            # Everyone left was passed over for this conversation (lost claims).
            return SkipReason.NO_AGENT_SELECTED, "", False
        removed = Counter(
            v.removed_by.value for v in verdicts if v.removed_by is not None
        )
        detail = ", ".join(f"{name}={n}" for name, n in sorted(removed.items()))
        return skip_reason_for(verdicts), detail, any(v.has_room for v in verdicts)

    def _presence_changed(
        self,
        run: _Pass,
        offline: Sequence[AgentId],
        confirmed: set[AgentId] | None,
    ) -> bool | None:
        """Nobody was eligible: read the offline agents the walk passed (they may have
        come online), only those. ``True``: someone changed, walk again; ``None``:
        presence failed (nobody counts as online)."""
        if confirmed is None or not offline:
            return False  # the snapshot was just read, or nobody to confirm
        statuses = self.read_statuses(run.state.account, offline)
        if statuses is None:
            self._presence_failed(run, None)
            return None
        return self._learn_presence(
            run, dict.fromkeys(offline, False), statuses, confirmed
        )

    def _try_assign(self, run: _Pass, queued: Conversation, selector: Selector) -> None:
        state = run.state
        inbox = state.inbox.id
        policy = state.policy
        now = self.clock.now()

        checked = self._checks_claims()
        if checked:
            # The claim re-checks in its own write what this read would (unassigned,
            # open, still in the inbox and of its team): the page's row serves.
            conversation: Conversation | None = queued
        else:
            conversation = self.conversations.get(queued.id)
        if (
            conversation is None
            or conversation.inbox != inbox
            or not conversation.is_assignable
        ):
            run.skip(queued, SkipReason.NOT_ASSIGNABLE)
            return
        if conversation.team in run.blocked_teams:
            run.skip(conversation, *run.blocked_teams[conversation.team])
            return
        team = self._team_for(run, conversation)
        if isinstance(team, SkipReason):
            run.skip(conversation, team)
            return
        if run.ranking is None:
            run.skip(conversation, SkipReason.BACKEND_ERROR, run.rank_error)
            return
        required, _relaxed = _requirements(run.routing.skills, conversation, now)
        if required and run.agent_skills is None:
            run.skip(conversation, SkipReason.BACKEND_ERROR, "skills")
            return

        limits = run.limits
        passed_over: set[AgentId] = set()
        confirmed: set[AgentId] | None = None if run.fresh else set()
        run.fresh = False
        judged: dict[AgentId, AgentVerdict] = {}
        for _attempt in range(3 * len(run.members) + 1):
            agent, offline = self._walk(
                run,
                team,
                now,
                passed_over,
                confirmed,
                judged=judged,
                required=required,
                prefer=run.previous.get(conversation.id),
                weight=conversation.weight,
            )
            if agent is None and required and run.agent_skills is None:
                # the skill book failed as the walk read it: nobody may be judged
                run.skip(conversation, SkipReason.BACKEND_ERROR, "skills")
                return
            if agent is None:
                changed = self._presence_changed(run, offline, confirmed)
                if changed is None:
                    run.skip(conversation, SkipReason.NO_AGENT_ONLINE, lasting=False)
                elif changed:
                    continue  # someone came online: walk again
                else:
                    # A verdict that depends on the conversation's own requirements
                    # (or on its weight, when a lighter one would fit) holds for it
                    # alone: it blocks neither its team nor the pass.
                    reason, detail, room = self._nobody_eligible(
                        run, team, now, judged, required, weight=conversation.weight
                    )
                    run.skip(
                        conversation, reason, detail, lasting=not (required or room)
                    )
                return

            outcome = self._reserve(
                run, agent, conversation, offline=offline, confirmed=confirmed, now=now
            )
            if outcome is _Reserved.PRESENCE_FAILED:
                run.skip(conversation, SkipReason.NO_AGENT_ONLINE, lasting=False)
                return
            if outcome is _Reserved.PRESENCE_CHANGED:
                continue  # someone came online or went offline: walk again
            if outcome is _Reserved.REFUSED:
                # Another worker took the agent's last slot: it is full now.
                assert run.recent is not None
                assert policy.fair_distribution_limit
                run.recent.fill(agent, now, policy.fair_distribution_limit)
                run.last_assigned[agent] = now
                self._rerank(run, agent, assigned=False)
                continue
            record = OutboxRecord(
                id=new_event_id(),
                inbox=inbox,
                conversation=conversation.id,
                agent=agent,
                policy=policy.policy.id,
                selector=selector.name,
                occurred_at=now,
            )
            if self._claim(
                record,
                limits.get(agent),
                expected=conversation if checked else None,
                total_limit=run.total_limits.get(agent),
            ):
                self._assigned(
                    run, record, _waiting_since(conversation), conversation.weight
                )
                return
            fresh = self.conversations.get(conversation.id)
            if fresh is None or fresh.assignee != agent:
                # Release only a reservation that is surely unused: if another worker
                # gave the conversation to this same agent, the entry is theirs now.
                self._release(run, agent, conversation)
            if checked and (
                fresh is None
                or not fresh.is_assignable
                or fresh.inbox != inbox
                or fresh.team != conversation.team
            ):
                # Changed since the page was read (the claim was its re-check).
                run.skip(conversation, SkipReason.NOT_ASSIGNABLE)
                return
            if fresh is None or not fresh.is_assignable:
                run.skip(conversation, SkipReason.CLAIM_LOST)
                return
            # Still assignable, so the repository refused the agent's capacity.
            passed_over.add(agent)
            # Which limit it was is unknown: both are taken as reached (this pass).
            if run.open_totals is not None and agent in run.total_limits:
                run.open_totals[agent] = max(
                    run.open_totals.get(agent, 0), run.total_limits[agent]
                )
            if run.open_counts is not None and agent in limits:
                run.open_counts[agent] = max(
                    run.open_counts.get(agent, 0), limits[agent]
                )
                self._rerank(run, agent, assigned=False)
        run.skip(conversation, SkipReason.NO_AGENT_SELECTED)

    def _checks_claims(self) -> bool:
        """Whether claims re-check the page's row themselves
        (:class:`~autoassign.ports.CheckedClaims`, and the outbox, if any, claims
        through it), so the pass need not read each conversation before claiming."""
        return self._supports(self.conversations, CheckedClaims) and (
            self.outbox is None or self._supports(self.outbox, CheckedOutboxClaims)
        )

    def _claim(
        self,
        record: OutboxRecord,
        capacity_limit: int | None,
        *,
        expected: Conversation | None = None,
        total_limit: int | None = None,
    ) -> bool:
        """Claim (through the outbox, if any). A claim that raises has an unknown
        outcome: the conversation is re-read, and assigned to the agent means it took
        effect (the pass counts and publishes it). Otherwise, or if the re-read fails
        too, the claim's error is raised: the conversation is skipped as a backend
        error, a staged record stays for the relay (which drops it unless the
        assignment stands) and so does the reservation (the agent only looks busier
        until the window ends, never an overshoot)."""
        extra = total_claim_options(total_limit)
        try:
            if expected is not None:
                checking = cast("CheckedClaims", self.conversations)
                if self.outbox is not None:
                    return cast("CheckedOutboxClaims", self.outbox).claim_checked(
                        checking,
                        record,
                        expected,
                        capacity_limit=capacity_limit,
                        **extra,
                    )
                return checking.claim_checked(
                    expected, record.agent, capacity_limit=capacity_limit, **extra
                )
            if self.outbox is not None:
                return self.outbox.claim(
                    self.conversations, record, capacity_limit=capacity_limit, **extra
                )
            return self.conversations.claim(
                record.conversation,
                record.agent,
                capacity_limit=capacity_limit,
                **extra,
            )
        except Exception as error:
            try:
                fresh = self.conversations.get(record.conversation)
            except Exception:
                raise error  # noqa: B904 - the claim's error, with its own cause
            if fresh is None or fresh.assignee != record.agent:
                raise
            degradations.failed(
                logger,
                "conversations",
                "a claim failed but the re-read shows it took effect; counted",
                extra=_log_extra(record.inbox, conversation=record.conversation),
            )
            return True

    def _reserve(
        self,
        run: _Pass,
        agent: AgentId,
        conversation: Conversation,
        *,
        offline: Sequence[AgentId],
        confirmed: set[AgentId] | None,
        now: datetime,
    ) -> _Reserved:
        """Confirm presence at the time of assignment (the chosen agent and the offline
        agents ahead of it, unless the snapshot was just read) and record the assignment
        in the ledger before claiming, in one :class:`Reservations` call."""
        expect: dict[AgentId, bool] = {}
        if confirmed is not None:
            expect = dict.fromkeys(offline, False)
            if agent not in confirmed:
                expect[agent] = True
        record = run.recent is not None
        if not expect and not record:
            return _Reserved.TAKEN  # the ledger is down: rate limiting skipped
        policy = run.state.policy
        assert self.reservations is not None  # set by __attrs_post_init__
        reserved = self.reservations.reserve(
            run.state.account.id,
            run.state.inbox.id,
            agent,
            conversation.id,
            expect_online=expect,
            now=now,
            window=policy.window,
            limit=policy.fair_distribution_limit if run.rate_limiting else None,
            record=record,
        )
        if reserved.presence_error is not None:
            self._presence_failed(run, reserved.presence_error)
            return _Reserved.PRESENCE_FAILED
        degradations.recovered(logger, "presence")
        self._learn_presence(run, expect, reserved.statuses, confirmed)
        if not reserved.confirmed:
            return _Reserved.PRESENCE_CHANGED
        if reserved.ledger_error is not None:
            degradations.failed(
                logger,
                "rate-limit ledger",
                "rate-limit ledger failed; rate limiting is skipped for the rest of "
                "the pass",
                error=reserved.ledger_error,
                extra=_log_extra(run.state.inbox.id),
            )
            self._skip_rate_limiting(run)
            return _Reserved.TAKEN
        if record:
            _ledger_ok()
        if record and reserved.refused:
            return _Reserved.REFUSED
        return _Reserved.TAKEN

    def _presence_failed(self, run: _Pass, error: BaseException | None) -> None:
        """Presence failed mid-pass (``error``, or the exception being handled)."""
        _presence_down(run.state.account.id, error)
        run.degraded.add(Degradation.PRESENCE_UNAVAILABLE)
        run.statuses.clear()

    @staticmethod
    def _learn_presence(
        run: _Pass,
        asked: Mapping[AgentId, bool],
        statuses: Mapping[AgentId, str],
        confirmed: set[AgentId] | None,
    ) -> bool:
        """Take the statuses read for ``asked`` into the pass; whether anyone's
        online-ness changed."""
        changed = False
        for each in asked:
            status = statuses.get(each, "offline")
            changed = changed or (status == ONLINE) != (
                run.statuses.get(each) == ONLINE
            )
            run.statuses[each] = status
            if confirmed is not None:
                confirmed.add(each)
        return changed

    def _rerank(self, run: _Pass, agent: AgentId, *, assigned: bool) -> None:
        if run.ranking is not None:
            run.ranking.update(agent, assigned=assigned)

    def _release(self, run: _Pass, agent: AgentId, conversation: Conversation) -> None:
        if run.recent is None:
            return
        try:
            self.ledger.discard(run.state.inbox.id, agent, conversation.id)
        except Exception:
            # A leftover entry only makes the agent look busier until the window ends.
            degradations.failed(
                logger,
                "rate-limit ledger",
                "could not discard a ledger reservation",
                extra=_log_extra(run.state.inbox.id, agent=agent),
            )

    def _assigned(
        self,
        run: _Pass,
        record: OutboxRecord,
        waiting_since: datetime | None = None,
        weight: Load = 1,
    ) -> None:
        degradations.recovered(logger, "conversations")
        inbox, agent, now = record.inbox, record.agent, record.occurred_at
        if run.recent is not None:
            run.recent.add(agent, now)
        run.last_assigned[agent] = now
        if run.open_counts is not None:
            run.open_counts[agent] = add_load(run.open_counts.get(agent, 0), weight)
        if run.open_totals is not None and (
            agent in run.open_totals or agent in run.total_limits
        ):
            run.open_totals[agent] = add_load(run.open_totals.get(agent, 0), weight)
        self._rerank(run, agent, assigned=True)
        conversation = record.conversation
        run.assignments.append(
            Assignment(
                conversation=conversation,
                agent=agent,
                occurred_at=now,
                waiting_since=waiting_since,
            )
        )
        logger.debug(
            "conversation %s assigned to %s",
            conversation,
            agent,
            extra=_log_extra(inbox, agent=agent, conversation=conversation),
        )
        published = True
        for event in record.events():
            try:
                self.events.publish(event)
            except Exception:
                degradations.failed(
                    logger,
                    "events",
                    "event bus failed; the assignment stands and the event is kept on "
                    "the result (and in the outbox, if there is one)",
                    extra=_log_extra(inbox, conversation=conversation),
                )
                run.degraded.add(Degradation.EVENTS_UNPUBLISHED)
                run.unpublished.append(event)
                published = False
        if published:
            degradations.recovered(logger, "events")
            run.published.append(record)


def _waiting_since(conversation: Conversation) -> datetime:
    return max(conversation.created_at, conversation.last_activity_at)


def _requirements(
    skills: SkillRouting | None, conversation: Conversation, now: datetime
) -> tuple[dict[str, int], bool]:
    """``skills``' requirements of ``conversation`` now (``({}, False)`` without)."""
    if skills is None:
        return {}, False
    return skills.requirements(
        conversation, waiting_since=_waiting_since(conversation), now=now
    )


def _observed_pass(
    service: AssignmentService, inbox: InboxId, limit: int | None
) -> AssignmentResult:
    """One pass with :attr:`AssignmentService.tracing`'s span around it and its
    result and wall time told to :attr:`AssignmentService.metrics` (an observer's
    failure is logged, never the pass's)."""
    tracing = service.tracing
    started = time.perf_counter()
    if tracing is None:
        result = service._perform(inbox, limit)
    else:
        with tracing.pass_span(inbox) as span:
            result = service._perform(inbox, limit)
            observe_quietly(span.finished, result)
    metrics = service.metrics
    if metrics is not None:
        seconds = time.perf_counter() - started
        observe_quietly(
            lambda done: metrics.pass_finished(done, seconds=seconds), result
        )
    return result
