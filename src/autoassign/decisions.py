"""Pure decision logic: gates, the agent filter chain, capacity and exclusions.

Nothing here does I/O. :class:`~autoassign.service.AssignmentService` gathers the inputs
through the ports and asks these functions; ``explain`` asks the same functions without
writing, so a dry run can never disagree with a real pass.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

import attrs

from autoassign.model import (
    ASSIGNMENT_V2_FEATURE,
    OFF_SCHEDULE,
    ONLINE,
    WEIGHT_SCALE,
    Account,
    AgentId,
    AssignmentPolicy,
    CapacityPolicy,
    ExclusionRules,
    Inbox,
    InboxId,
    LedgerUsage,
    Load,
    PolicyId,
    Team,
    fits,
    weight_units,
)
from autoassign.skills import missing_skills

__all__ = [
    "AgentFilter",
    "AgentVerdict",
    "GateFailure",
    "RecentAssignments",
    "SkipReason",
    "capacity_limits",
    "check_gates",
    "evaluate_agent",
    "evaluate_agents",
    "exclusions_for_inbox",
    "skip_reason_for",
    "total_limits",
    "unlimited_agents",
    "unusable_exclusion_rules",
]


class GateFailure(str, enum.Enum):
    """Why an inbox is not assigned at all (the spec's prerequisites, in check order)."""

    INBOX_NOT_FOUND = "inbox_not_found"
    ACCOUNT_NOT_FOUND = "account_not_found"
    FEATURE_DISABLED = "feature_disabled"
    NO_POLICY = "no_policy"
    POLICY_DISABLED = "policy_disabled"
    AUTO_ASSIGNMENT_DISABLED = "auto_assignment_disabled"
    OUTSIDE_BUSINESS_HOURS = "outside_business_hours"
    """The inbox has business hours (:mod:`autoassign.schedules`) and it is outside
    them (checked after the others)."""


def check_gates(
    account: Account | None, inbox: Inbox | None, policy: AssignmentPolicy | None
) -> GateFailure | None:
    """The first prerequisite that fails, or ``None`` when the inbox may be assigned:
    the account has ``assignment_v2``, a policy is linked and enabled, and the inbox has
    ``enable_auto_assignment``."""
    if inbox is None:
        return GateFailure.INBOX_NOT_FOUND
    if account is None:
        return GateFailure.ACCOUNT_NOT_FOUND
    if not account.has_feature(ASSIGNMENT_V2_FEATURE):
        return GateFailure.FEATURE_DISABLED
    if policy is None:
        return GateFailure.NO_POLICY
    if not policy.enabled:
        return GateFailure.POLICY_DISABLED
    if not inbox.enable_auto_assignment:
        return GateFailure.AUTO_ASSIGNMENT_DISABLED
    return None


class AgentFilter(str, enum.Enum):
    """The agent filters, in the order they run."""

    NOT_ONLINE = "not_online"
    NOT_IN_TEAM = "not_in_team"
    MISSING_SKILL = "missing_skill"
    """Lacks a skill the conversation requires (:mod:`autoassign.skills`)."""
    RATE_LIMITED = "rate_limited"
    AT_CAPACITY = "at_capacity"


_FILTER_ORDER = tuple(AgentFilter)


class SkipReason(str, enum.Enum):
    """Why one conversation was not assigned in a pass."""

    NOT_ASSIGNABLE = "not_assignable"
    """Resolved, assigned or deleted since the pass fetched it."""
    TEAM_NOT_FOUND = "team_not_found"
    TEAM_NOT_AUTO_ASSIGNABLE = "team_not_auto_assignable"
    NO_AGENT_ONLINE = "no_agent_online"
    NO_AGENT_ON_SCHEDULE = "no_agent_on_schedule"
    """Members are online but outside their working hours (:mod:`autoassign.schedules`),
    and nobody else got further."""
    NO_TEAM_MEMBER_ONLINE = "no_team_member_online"
    NO_AGENT_WITH_SKILLS = "no_agent_with_skills"
    """Nobody online holds every skill the conversation requires
    (:mod:`autoassign.skills`); holds for this conversation only."""
    ALL_RATE_LIMITED = "all_rate_limited"
    ALL_AT_CAPACITY = "all_at_capacity"
    NO_AGENT_SELECTED = "no_agent_selected"
    CLAIM_LOST = "claim_lost"
    """Someone else assigned or closed it between selection and claim."""
    BACKEND_ERROR = "backend_error"
    """A repository, rotation or selector failure; logged, the pass went on."""
    PASS_STOPPED = "pass_stopped"
    """The inbox was deleted or its policy turned off mid-pass."""


_EMPTY_REASON = {
    AgentFilter.NOT_ONLINE: SkipReason.NO_AGENT_ONLINE,
    AgentFilter.NOT_IN_TEAM: SkipReason.NO_TEAM_MEMBER_ONLINE,
    AgentFilter.MISSING_SKILL: SkipReason.NO_AGENT_WITH_SKILLS,
    AgentFilter.RATE_LIMITED: SkipReason.ALL_RATE_LIMITED,
    AgentFilter.AT_CAPACITY: SkipReason.ALL_AT_CAPACITY,
}


@attrs.frozen(kw_only=True)
class AgentVerdict:
    """One member agent's standing for one conversation."""

    agent: AgentId
    status: str
    removed_by: AgentFilter | None
    recent_assignments: int | None = None
    rate_limit: int | None = None
    open_conversations: Load | None = None
    """Its open conversations in the inbox: their number, or the sum of their weights
    (weighted capacity)."""
    capacity_limit: int | None = None
    missing_skills: tuple[str, ...] = ()
    """The required skills it lacks (set when :attr:`removed_by` is
    :attr:`AgentFilter.MISSING_SKILL`)."""
    total_open_conversations: Load | None = None
    """Its open conversations across the account's inboxes (read when it has a
    :attr:`total_limit`), or the sum of their weights."""
    total_limit: int | None = None
    """Its capacity policy's :attr:`~autoassign.model.CapacityPolicy.total_limit`;
    :attr:`AgentFilter.AT_CAPACITY` removes it at this many, whatever the inbox's
    own limit."""

    @property
    def eligible(self) -> bool:
        return self.removed_by is None

    @property
    def has_room(self) -> bool:
        """Removed by capacity with room left under the limits (weighted capacity:
        this conversation's weight did not fit, a lighter one may)."""
        if self.removed_by is not AgentFilter.AT_CAPACITY:
            return False
        return all(
            limit is None or held is None or weight_units(held) < limit * WEIGHT_SCALE
            for held, limit in (
                (self.open_conversations, self.capacity_limit),
                (self.total_open_conversations, self.total_limit),
            )
        )


@attrs.define
class RecentAssignments:
    """A pass's view of the fair-distribution ledger for one inbox.

    Built from :meth:`~autoassign.ports.RateLimitLedger.usage` (each agent's count in
    the window, oldest and newest entry) and kept current with every assignment the pass
    makes. Two modes:

    * **eager** (``known`` is ``None``): ``usage`` holds everyone read up front; an
      agent absent from it has no entry.
    * **lazy** (``known`` is a set): only the agents in ``known`` have been read; the
      pass reads the others in batches as its walk reaches them (:meth:`ensure`), so a
      pass costs the same whatever the number of agents with entries.

    A count is exact until the agent's oldest entry leaves the window; after that
    ``load`` (given by the service) reads the agent's usage again, or, without it, the
    count stays as it was (conservative: a freed slot is used from the next pass, never
    an overshoot). The inbox lease keeps other passes of the inbox out meanwhile, and
    the ledger's atomic ``try_record`` guards the rest.
    """

    window: timedelta
    """How long an entry counts: the policy's window plus the ledger's clock-skew
    margin (:func:`autoassign.clock.ledger_skew_margin`)."""
    usage: dict[AgentId, LedgerUsage] = attrs.field(factory=dict)
    load: (
        Callable[[Sequence[AgentId], datetime], Mapping[AgentId, LedgerUsage] | None]
        | None
    ) = None
    """Reads the usage of some agents at ``now`` (one call; agents without entries may
    be absent); ``None`` when it could not."""
    known: set[AgentId] | None = None
    """Lazy mode: the agents whose usage has been read. ``None``: eager."""

    def missing(self, agent: AgentId) -> bool:
        """Whether ``agent``'s usage has not been read yet (lazy mode only)."""
        return self.known is not None and agent not in self.known

    def ensure(self, agents: Sequence[AgentId], now: datetime) -> bool:
        """Read, in one call, the usage of those of ``agents`` not read yet. ``False``
        when that read failed (nothing changes)."""
        wanted = [agent for agent in dict.fromkeys(agents) if self.missing(agent)]
        if not wanted:
            return True
        found = None if self.load is None else self.load(wanted, now)
        if found is None:
            return False
        self._learn(wanted, found)
        return True

    def _learn(
        self, agents: Sequence[AgentId], found: Mapping[AgentId, LedgerUsage]
    ) -> None:
        for agent in agents:
            usage = found.get(agent)
            if usage is not None and usage.count:
                self.usage[agent] = usage
            else:
                self.usage.pop(agent, None)
        if self.known is not None:
            self.known.update(agents)

    def _current(self, agent: AgentId, now: datetime) -> LedgerUsage | None:
        if self.missing(agent) and not self.ensure([agent], now):
            # Unreadable: counted as empty; the ledger's atomic try_record still
            # refuses a full agent.
            return None
        found = self.usage.get(agent)
        if (
            found is not None
            and found.count
            and found.oldest is not None
            and now - found.oldest >= self.window
            and self.load is not None
        ):
            fresh = self.load([agent], now)
            if fresh is not None:
                self._learn([agent], fresh)
                found = self.usage.get(agent)
        return found

    def count(self, agent: AgentId, now: datetime) -> int:
        """The agent's entries in the window ending ``now``."""
        found = self._current(agent, now)
        return 0 if found is None else found.count

    def add(self, agent: AgentId, at: datetime) -> None:
        """The pass recorded an entry for ``agent`` at ``at``. An agent not read yet is
        left unread: its read will include the entry."""
        if self.missing(agent):
            return
        found = self._current(agent, at)
        if found is None or not found.count:
            self.usage[agent] = LedgerUsage(count=1, oldest=at, last=at)
            return
        self.usage[agent] = LedgerUsage(
            count=found.count + 1,
            oldest=found.oldest if found.oldest is not None else at,
            last=at if found.last is None or at > found.last else found.last,
        )

    def fill(self, agent: AgentId, now: datetime, limit: int) -> None:
        """Mark ``agent`` full (another worker took its last slot): full until a
        reload says otherwise (when its oldest known entry leaves the window)."""
        found = self.usage.get(agent)
        count = 0 if found is None else found.count
        oldest = now if found is None or found.oldest is None else found.oldest
        last = now if found is None or found.last is None else max(found.last, now)
        self.usage[agent] = LedgerUsage(
            count=max(count, limit), oldest=oldest, last=last
        )
        if self.known is not None:
            self.known.add(agent)

    def last(self, agent: AgentId) -> datetime | None:
        found = self.usage.get(agent)
        return None if found is None else found.last


def exclusions_for_inbox(
    policies: Iterable[CapacityPolicy], inbox: InboxId
) -> ExclusionRules:
    """The exclusion rules for ``inbox``: those of every capacity policy linked to it
    (with a limit or an unlimited link), labels united and the smallest age threshold.
    None: no exclusions. Stored parts that cannot be applied
    (:attr:`~autoassign.model.ExclusionRules.unusable`) are left out: see
    :func:`unusable_exclusion_rules`."""
    return ExclusionRules.combine(
        policy.exclusion_rules for policy in policies if policy.links(inbox)
    )


def unusable_exclusion_rules(
    policies: Iterable[CapacityPolicy], inbox: InboxId
) -> list[tuple[PolicyId, str]]:
    """The stored rules :func:`exclusions_for_inbox` leaves out for ``inbox``, as
    ``(capacity policy id, description)``: what
    :meth:`~autoassign.model.ExclusionRules.from_stored` could not use (a label with
    NUL, a lone surrogate, over-long; an invalid hour threshold). The pass logs each
    once and assigns with the rest."""
    return [
        (policy.id, problem)
        for policy in policies
        if policy.links(inbox)
        for problem in policy.exclusion_rules.unusable
    ]


def capacity_limits(
    policies: Iterable[CapacityPolicy], inbox: InboxId
) -> dict[AgentId, int]:
    """Each agent's open-conversation limit in ``inbox``. Agents absent are unlimited
    (no capacity policy, no link for this inbox, or an unlimited link)."""
    limits: dict[AgentId, int] = {}
    for policy in policies:
        limit = policy.limit_for(inbox)
        if limit is None:
            continue
        if not limits:
            limits = dict.fromkeys(policy.agents, limit)
            continue
        for agent in policy.agents:
            # An agent has one capacity policy per account; should a host's data hold
            # two, the stricter limit wins.
            limits[agent] = min(limit, limits.get(agent, limit))
    return limits


def total_limits(policies: Iterable[CapacityPolicy]) -> dict[AgentId, int]:
    """Each agent's :attr:`~autoassign.model.CapacityPolicy.total_limit` (open
    conversations across the account's inboxes) among ``policies`` (those linked to
    the inbox of the pass); the stricter wins. Agents absent have none."""
    limits: dict[AgentId, int] = {}
    for policy in policies:
        if policy.total_limit is None:
            continue
        for agent in policy.agents:
            limits[agent] = min(
                policy.total_limit, limits.get(agent, policy.total_limit)
            )
    return limits


def unlimited_agents(
    policies: Iterable[CapacityPolicy], inbox: InboxId
) -> frozenset[AgentId]:
    """The agents of the capacity policies with an unlimited link for ``inbox`` that no
    other linked policy limits there: capacity never removes them in ``inbox`` (the
    policies' exclusion rules still apply). For explanations."""
    policies = list(policies)
    limited = capacity_limits(policies, inbox)
    return frozenset(
        agent
        for policy in policies
        if policy.links(inbox) and policy.limit_for(inbox) is None
        for agent in policy.agents
        if agent not in limited
    )


def evaluate_agent(
    agent: AgentId,
    *,
    statuses: Mapping[AgentId, str],
    team: Team | None,
    recent: RecentAssignments | None,
    rate_limit: int | None,
    now: datetime,
    open_counts: Mapping[AgentId, Load] | None,
    limits: Mapping[AgentId, int],
    required: Mapping[str, int] | None = None,
    skills: Mapping[AgentId, Mapping[str, int]] | None = None,
    totals: Mapping[AgentId, Load] | None = None,
    total_limits: Mapping[AgentId, int] | None = None,
    weight: Load = 1,
) -> AgentVerdict:
    """Run the filter chain, in the spec's order (online, team, rate limit, capacity),
    for one member agent and stop at the first filter that removes it. With
    ``required`` skills (:mod:`autoassign.skills`), the skills filter runs after the
    team filter: ``skills`` holds the agents' skills (an agent absent has none).
    Capacity also removes an agent with a total limit (``total_limits``) who holds
    that many open conversations across the account's inboxes (``totals``). With
    weighted capacity, ``open_counts`` and ``totals`` are sums of weights and an agent
    stays only if the conversation's ``weight`` fits beside them
    (:func:`~autoassign.model.fits`); with weights of 1 that is "fewer than the limit".

    ``recent`` is ``None`` when rate limiting is off or skipped; ``open_counts`` may be
    ``None`` only if the agent has no capacity limit, ``totals`` only if it has no
    total limit.
    """
    status = statuses.get(agent, "offline")
    removed: AgentFilter | None = None
    count: int | None = None
    open_count: Load | None = None
    lacking: tuple[str, ...] = ()
    limit = limits.get(agent)
    total_limit = total_limits.get(agent) if total_limits else None
    total: Load | None = None
    if status != ONLINE:
        removed = AgentFilter.NOT_ONLINE
    elif team is not None and agent not in team.members:
        removed = AgentFilter.NOT_IN_TEAM
    elif required and (
        lacking := tuple(missing_skills(required, (skills or {}).get(agent) or {}))
    ):
        removed = AgentFilter.MISSING_SKILL
    else:
        if recent is not None and rate_limit:
            count = recent.count(agent, now)
            if count >= rate_limit:
                removed = AgentFilter.RATE_LIMITED
        if removed is None and limit is not None:
            if open_counts is None:
                raise ValueError("open_counts are needed to check capacity")
            open_count = open_counts.get(agent, 0)
            if not fits(open_count, weight, limit):
                removed = AgentFilter.AT_CAPACITY
        elif open_counts is not None:
            open_count = open_counts.get(agent, 0)
        if total_limit is not None and removed in (None, AgentFilter.AT_CAPACITY):
            if totals is None:
                raise ValueError("totals are needed to check a total limit")
            # read when the inbox's limit removed the agent too: whether a lighter
            # conversation may fit (has_room) depends on both limits
            total = totals.get(agent, 0)
            if removed is None and not fits(total, weight, total_limit):
                removed = AgentFilter.AT_CAPACITY
    return AgentVerdict(
        agent=agent,
        status=status,
        removed_by=removed,
        recent_assignments=count,
        rate_limit=rate_limit or None,
        open_conversations=open_count,
        capacity_limit=limit,
        missing_skills=lacking,
        total_open_conversations=total,
        total_limit=total_limit,
    )


def evaluate_agents(
    *,
    members: Sequence[AgentId],
    statuses: Mapping[AgentId, str],
    team: Team | None,
    recent: RecentAssignments | None,
    rate_limit: int | None,
    now: datetime,
    open_counts: Mapping[AgentId, Load] | None,
    limits: Mapping[AgentId, int],
    required: Mapping[str, int] | None = None,
    skills: Mapping[AgentId, Mapping[str, int]] | None = None,
    totals: Mapping[AgentId, Load] | None = None,
    total_limits: Mapping[AgentId, int] | None = None,
    weight: Load = 1,
) -> list[AgentVerdict]:
    """:func:`evaluate_agent` for every one of ``members``, in member order."""
    return [
        evaluate_agent(
            agent,
            statuses=statuses,
            team=team,
            recent=recent,
            rate_limit=rate_limit,
            now=now,
            open_counts=open_counts,
            limits=limits,
            required=required,
            skills=skills,
            totals=totals,
            total_limits=total_limits,
            weight=weight,
        )
        for agent in members
    ]


def skip_reason_for(verdicts: Sequence[AgentVerdict]) -> SkipReason:
    """Why nobody is eligible: the filter that removed the agents who got furthest."""
    if not verdicts:
        return SkipReason.NO_AGENT_ONLINE
    furthest = max(
        _FILTER_ORDER.index(v.removed_by) for v in verdicts if v.removed_by is not None
    )
    if _FILTER_ORDER[furthest] is AgentFilter.NOT_ONLINE and any(
        v.status == OFF_SCHEDULE for v in verdicts
    ):
        return SkipReason.NO_AGENT_ON_SCHEDULE
    return _EMPTY_REASON[_FILTER_ORDER[furthest]]
