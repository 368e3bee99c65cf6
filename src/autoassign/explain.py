"""Dry runs: why an inbox or a conversation is (not) being assigned, without writing.

:func:`explain_inbox` walks the spec's troubleshooting checklist ("Conversations aren't
being assigned") for one inbox and reports each gate with pass/fail and its numbers;
:func:`explain_conversation` shows, for one conversation, every member agent with the
first filter that removed it and who a pass would choose now.

Both only *read* through the ports (directory, repository, presence, ledger, rotation
order, the lease's pending mark) and decide with the very functions a real pass uses
(:func:`~autoassign.decisions.check_gates`,
:func:`~autoassign.decisions.evaluate_agents`,
:func:`~autoassign.decisions.capacity_limits`,
:func:`~autoassign.decisions.exclusions_for_inbox` and the selector's ``preview``), so a
dry run cannot disagree with the pass that would run at the same instant. They work on
any wiring, simulated or live (``autoassign explain --wiring`` / ``--redis-url``). Nothing
here needs ``rich``.
"""

from __future__ import annotations

import enum
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from autoassign._quietlog import degradations
from autoassign.decisions import (
    AgentFilter,
    AgentVerdict,
    GateFailure,
    RecentAssignments,
    SkipReason,
    capacity_limits,
    check_gates,
    evaluate_agents,
    exclusions_for_inbox,
    skip_reason_for,
    total_limits,
    unlimited_agents,
)
from autoassign.model import (
    ASSIGNMENT_V2_FEATURE,
    ONLINE,
    Account,
    AccountId,
    AgentId,
    AssignmentPolicy,
    Conversation,
    ConversationId,
    ConversationPriority,
    EffectivePolicy,
    ExclusionRules,
    Inbox,
    InboxId,
    Load,
    Team,
)
from autoassign.ports import InboxLease, TotalCapacity
from autoassign.routing import PolicyRouting
from autoassign.selection import SelectionContext, WeightedRoundRobinSelector
from autoassign.service import AssignmentService, InboxState
from autoassign.sticky import StickyRouting
from autoassign.wiring import Autoassign

__all__ = [
    "GATE_ORDER",
    "AgentExplanation",
    "ConversationExplanation",
    "Gate",
    "InboxExplanation",
    "explain_conversation",
    "explain_inbox",
    "inbox_verdicts",
]

GATE_ORDER = (
    "feature_flag",
    "policy_linked",
    "policy_enabled",
    "inbox_auto_assignment",
    "agents_online",
    "rate_limits",
    "capacity",
    "exclusions",
    "job_scheduled",
)
"""The gates of :func:`explain_inbox`, in the order of the spec's checklist."""

DEFAULT_SCAN_LIMIT = 100_000
"""At most this many open, unassigned conversations are read to count exclusions."""

Number = int | float | str | bool | None

logger = logging.getLogger(__name__)


def _log_extra(inbox: InboxId) -> dict[str, object]:
    return {"autoassign_inbox": inbox}


def _plain(value: object) -> Any:
    """A JSON-ready copy of ``value`` (enums by value, datetimes as ISO text)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        items = [_plain(item) for item in value]
        if isinstance(value, frozenset | set):
            items.sort(key=str)
        return items
    fields = getattr(type(value), "__attrs_attrs__", None)
    if fields is not None:
        return {field.name: _plain(getattr(value, field.name)) for field in fields}
    return value


@attrs.frozen(kw_only=True)
class Gate:
    """One item of the checklist. ``passed`` is ``None`` when it could not be judged
    (an earlier gate left nothing to check, or the information is not available)."""

    name: str
    passed: bool | None
    detail: str
    numbers: Mapping[str, Number] = attrs.field(factory=dict, hash=False)

    @property
    def status(self) -> str:
        return {True: "pass", False: "FAIL", None: "n/a"}[self.passed]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _plain(self)
        out["status"] = self.status
        return out


@attrs.frozen(kw_only=True)
class InboxExplanation:
    """The checklist for one inbox at ``at``.

    ``blocking`` names the first gate that failed (``None``: nothing blocks);
    ``would_assign`` is true when a pass now would assign at least one conversation.
    """

    inbox: InboxId
    at: datetime
    found: bool
    gates: tuple[Gate, ...]
    blocking: str | None
    would_assign: bool

    def gate(self, name: str) -> Gate:
        for gate in self.gates:
            if gate.name == name:
                return gate
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "inbox": _plain(self.inbox),
            "at": self.at.isoformat(),
            "found": self.found,
            "blocking": self.blocking,
            "would_assign": self.would_assign,
            "gates": [gate.to_dict() for gate in self.gates],
        }


@attrs.frozen(kw_only=True)
class AgentExplanation:
    """One member agent for one conversation: ``removed_by`` is the first filter that
    removed it (``None``: eligible), with the numbers that filter looked at."""

    agent: AgentId
    status: str
    removed_by: str | None
    recent_assignments: int | None
    rate_limit: int | None
    open_conversations: Load | None
    """Its open conversations in the inbox (the sum of their weights, with weighted
    capacity)."""
    capacity_limit: int | None
    missing_skills: tuple[str, ...] = ()
    """The required skills it lacks (skills routing, :mod:`autoassign.skills`)."""
    total_open_conversations: Load | None = None
    """Its open conversations across the account's inboxes (with a total limit), or
    the sum of their weights."""
    total_limit: int | None = None
    """Its capacity policy's ``total_limit`` (``None``: none; then both keys are left
    out of :meth:`to_dict`)."""
    rotation_weight: int | None = None
    """Its weight in weighted round robin (:mod:`autoassign.weights`); ``None`` with
    another order (then both rotation keys are left out of :meth:`to_dict`)."""
    rotation_place: int | None = None
    """Its place in the order weighted round robin walks now (1: first in line: the
    earliest next turn, ties to the round-robin queue)."""

    @property
    def eligible(self) -> bool:
        return self.removed_by is None

    @classmethod
    def from_verdict(cls, verdict: AgentVerdict) -> AgentExplanation:
        return cls(
            agent=verdict.agent,
            status=verdict.status,
            removed_by=None if verdict.removed_by is None else verdict.removed_by.value,
            recent_assignments=verdict.recent_assignments,
            rate_limit=verdict.rate_limit,
            open_conversations=verdict.open_conversations,
            capacity_limit=verdict.capacity_limit,
            missing_skills=verdict.missing_skills,
            total_open_conversations=verdict.total_open_conversations,
            total_limit=verdict.total_limit,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _plain(self)
        out["eligible"] = self.eligible
        if self.total_limit is None:
            del out["total_open_conversations"], out["total_limit"]
        if self.rotation_weight is None:
            del out["rotation_weight"], out["rotation_place"]
        return out


@attrs.frozen(kw_only=True)
class ConversationExplanation:
    """Why one conversation is (not) assigned, and who a pass would choose now.

    ``outcome`` is ``"would_assign"``, ``"not_found"``, ``"not_assignable"``,
    ``"inbox_gate"`` (see ``gate``), ``"excluded"`` (see ``exclusion_reasons``) or
    ``"no_eligible_agent"`` / a team problem (see ``skip_reason``).
    """

    conversation: ConversationId
    at: datetime
    found: bool
    inbox: InboxId | None = None
    status: str | None = None
    assignee: AgentId | None = None
    assignable: bool = False
    gate: str | None = None
    excluded: bool = False
    exclusion_reasons: tuple[str, ...] = ()
    team: str | None = None
    selector: str | None = None
    agents: tuple[AgentExplanation, ...] = ()
    chosen: AgentId | None = None
    skip_reason: str | None = None
    outcome: str = "not_found"
    required_skills: Mapping[str, int] | None = None
    """The skills required now (``{}``: none, or relaxed); ``None``: skills routing
    is off (and the skill keys are left out of :meth:`to_dict`)."""
    skills_relaxed: bool = False
    """The conversation has waited past ``relax_after``: its requirements are off."""
    urgency: int | None = None
    """Its :attr:`~autoassign.model.Conversation.urgency` (the ``highest_urgency`` and
    ``earliest_due`` priorities take it first); left out of :meth:`to_dict` when
    ``None``."""
    due_at: datetime | None = None
    """Its :attr:`~autoassign.model.Conversation.due_at`; left out of :meth:`to_dict`
    when ``None``."""
    sticky_agent: AgentId | None = None
    """Sticky agents (:mod:`autoassign.sticky`): the agent of the contact's previous
    conversation within the window, judged first; left out of :meth:`to_dict` when
    ``None``."""
    weight: Load = 1
    """Its :attr:`~autoassign.model.Conversation.weight` (weighted capacity: capacity
    checks that it fits beside each agent's open weights); left out of
    :meth:`to_dict` when 1."""
    routing: Mapping[str, str] | None = None
    """Which setting decided skills routing and sticky agents (``{"skills": ...,
    "sticky": ...}``, :meth:`PolicyRouting.notes
    <autoassign.routing.PolicyRouting.notes>`) when the inbox's policy sets any of
    its routing settings; ``None`` (left out of :meth:`to_dict`): routed as wired."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _plain(self)
        for key in ("urgency", "due_at", "sticky_agent", "routing"):
            if out[key] is None:
                del out[key]
        if self.weight == 1:
            del out["weight"]
        out["agents"] = [agent.to_dict() for agent in self.agents]
        if self.required_skills is None:
            del out["required_skills"], out["skills_relaxed"]
            for agent in out["agents"]:
                del agent["missing_skills"]
        else:
            out["required_skills"] = dict(self.required_skills)
        return out


# -- shared reads ------------------------------------------------------------------------


def _service_of(app_or_service: Autoassign | AssignmentService) -> AssignmentService:
    if isinstance(app_or_service, Autoassign):
        return app_or_service.service
    return app_or_service


@attrs.frozen(kw_only=True)
class _Standing:
    """The member agents as a pass starting now would read them, and their verdicts."""

    members: Sequence[AgentId]
    statuses: Mapping[AgentId, str] | None
    """``None``: presence could not be read (a pass treats everyone as offline)."""
    online: list[AgentId]
    open_counts: dict[AgentId, Load]
    recent: RecentAssignments | None
    """The ledger snapshot; ``None`` without a policy or when the ledger failed."""
    verdicts: list[AgentVerdict]


def _standing(
    service: AssignmentService,
    account: Account,
    record: Inbox,
    policy: EffectivePolicy | None,
    limits: Mapping[AgentId, int],
    *,
    team: Team | None,
    now: datetime,
    members: Sequence[AgentId] | None = None,
    required: Mapping[str, int] | None = None,
    skills: Mapping[AgentId, Mapping[str, int]] | None = None,
    total: Mapping[AgentId, int] | None = None,
    weight: Load = 1,
) -> _Standing:
    """Presence, ledger and open counts read once, each through the service's own
    reader, and every member's verdict on them (no policy: no rate limit); only
    ``members``' when given. ``required`` skills are judged against ``skills`` (the
    caller read them). ``total``: the members' total limits (capacity policies'
    ``total_limit``), judged on open totals read here when the repository has
    :class:`~autoassign.ports.TotalCapacity` (without it a pass skips the inbox's
    conversations; here the limits are left out). Capacity is judged for a
    conversation of ``weight``."""
    inbox = record.id
    if members is None:
        members = service.directory.inbox_members(inbox)
    read = service.read_statuses(account, members)
    statuses = read or {}
    online = [agent for agent in members if statuses.get(agent) == ONLINE]
    recent = (
        None
        if policy is None
        else service.read_recent(
            InboxState(account=account, inbox=record, policy=policy), members, now
        )
    )
    open_counts = (
        dict(service.conversations.open_counts(inbox, online)) if online else {}
    )
    totals: dict[AgentId, Load] | None = None
    limited = [agent for agent in online if total and agent in total]
    if limited and isinstance(service.conversations, TotalCapacity):
        totals = dict(service.conversations.open_totals(account.id, limited))
    else:
        total = None
    verdicts = evaluate_agents(
        members=members,
        statuses=statuses,
        team=team,
        recent=recent if policy is not None and policy.rate_limited else None,
        rate_limit=None if policy is None else policy.fair_distribution_limit,
        now=now,
        open_counts=open_counts,
        limits=limits,
        required=required,
        skills=skills,
        totals=totals,
        total_limits=total,
        weight=weight,
    )
    return _Standing(
        members=members,
        statuses=read,
        online=online,
        open_counts=open_counts,
        recent=recent,
        verdicts=verdicts,
    )


def inbox_verdicts(
    service: AssignmentService,
    state: InboxState,
    *,
    team: Team | None = None,
    now: datetime | None = None,
    members: Sequence[AgentId] | None = None,
    weight: Load = 1,
) -> tuple[list[AgentVerdict], RecentAssignments | None, dict[AgentId, Load]]:
    """Every member's verdict for a conversation of ``state``'s inbox (with ``team``) as
    a pass starting now would see it, plus the ledger snapshot and open counts it used.
    Reads only.

    ``members``: judge only these agents (in this order; a verdict depends on its own
    agent alone, so each is the one a whole-inbox call gives), reading presence, the
    ledger and open counts for them only. ``weight``: capacity is judged for a
    conversation of that :attr:`~autoassign.model.Conversation.weight`.
    """
    inbox = state.inbox.id
    capacity = service.directory.capacity_policies_for_inbox(inbox)
    standing = _standing(
        service,
        state.account,
        state.inbox,
        state.policy,
        capacity_limits(capacity, inbox),
        team=team,
        now=service.clock.now() if now is None else now,
        members=members,
        total=total_limits(capacity),
        weight=weight,
    )
    return standing.verdicts, standing.recent, standing.open_counts


# -- explain_inbox -----------------------------------------------------------------------


def _config_gates(
    record: Inbox, account: Account | None, policy: AssignmentPolicy | None
) -> list[Gate]:
    features = sorted(account.features) if account is not None else []
    return [
        Gate(
            name="feature_flag",
            passed=account is not None and account.has_feature(ASSIGNMENT_V2_FEATURE),
            detail=(
                f"account {record.account!r} not found"
                if account is None
                else f"account {record.account!r} has {ASSIGNMENT_V2_FEATURE!r}"
                if account.has_feature(ASSIGNMENT_V2_FEATURE)
                else f"account {record.account!r} lacks {ASSIGNMENT_V2_FEATURE!r}"
            ),
            numbers={"account": str(record.account), "features": ", ".join(features)},
        ),
        Gate(
            name="policy_linked",
            passed=policy is not None,
            detail=(
                f"policy {policy.name!r} (id {policy.id!r}) is linked"
                if policy is not None
                else "no assignment policy is linked to the inbox"
            ),
            numbers={"policy": None if policy is None else str(policy.id)},
        ),
        Gate(
            name="policy_enabled",
            passed=None if policy is None else policy.enabled,
            detail=(
                "no policy"
                if policy is None
                else "the policy is enabled"
                if policy.enabled
                else "the policy is disabled (enabled = false)"
            ),
        ),
        Gate(
            name="inbox_auto_assignment",
            passed=record.enable_auto_assignment,
            detail=f"enable_auto_assignment = {str(record.enable_auto_assignment).lower()}",
        ),
    ]


def _routing_gate(routing: PolicyRouting) -> Gate:
    """Which setting decided skills routing and sticky agents (shown when the policy
    sets any of its routing settings). Never blocks: a setting whose port is not
    wired is ignored by a pass (``ignored`` names it)."""
    return Gate(
        name="routing",
        passed=True,
        detail=f"skills: {routing.skills_note}; sticky agents: {routing.sticky_note}",
        numbers={
            "skills": routing.skills is not None,
            "skill_relax_after": routing.skill_relax_after,
            "sticky_window": routing.sticky_window,
            "ignored": ", ".join(routing.ignored),
        },
    )


def _rate_gate(policy: EffectivePolicy | None, standing: _Standing) -> Gate:
    if policy is None:
        return Gate(name="rate_limits", passed=None, detail="no policy: no rate limit")
    online = standing.online
    limit = policy.fair_distribution_limit
    window = policy.fair_distribution_window
    if not policy.rate_limited:
        return Gate(
            name="rate_limits",
            passed=True if online else None,
            detail="fair distribution is off (no limit)",
            numbers={"at_limit": 0, "limit": None, "window_seconds": window},
        )
    if standing.recent is None:
        return Gate(
            name="rate_limits",
            passed=True if online else None,
            detail="the ledger is unavailable: a pass would skip rate limiting",
            numbers={"at_limit": None, "limit": limit, "window_seconds": window},
        )
    at_limit = sum(
        1 for v in standing.verdicts if v.removed_by is AgentFilter.RATE_LIMITED
    )
    return Gate(
        name="rate_limits",
        passed=(at_limit < len(online)) if online else None,
        detail=(
            f"{at_limit} of {len(online)} online agents at their limit of "
            f"{limit} per {window} s"
        ),
        numbers={
            "at_limit": at_limit,
            "online": len(online),
            "limit": limit,
            "window_seconds": window,
        },
    )


def _agent_gates(
    service: AssignmentService,
    record: Inbox,
    account: Account | None,
    policy: EffectivePolicy | None,
    *,
    limits: Mapping[AgentId, int],
    unlimited: frozenset[AgentId] = frozenset(),
    total: Mapping[AgentId, int] | None = None,
    now: datetime,
) -> tuple[list[Gate], int]:
    """The online, rate-limit and capacity gates; returns them and the eligible count.
    ``unlimited``: the agents on an unlimited capacity link for the inbox; ``total``:
    the agents' limits across inboxes."""
    if account is None:
        unknown = "the account is missing"
        return [
            Gate(name="agents_online", passed=None, detail=unknown),
            Gate(name="rate_limits", passed=None, detail=unknown),
            Gate(name="capacity", passed=None, detail=unknown),
        ], 0
    standing = _standing(
        service, account, record, policy, limits, team=None, now=now, total=total
    )
    members, online, verdicts = standing.members, standing.online, standing.verdicts
    if standing.statuses is None:
        detail = (
            "presence could not be read (see the log): a pass would treat all "
            f"{len(members)} member agents as offline"
        )
    else:
        others = Counter(
            status
            for status in (standing.statuses.get(a, "offline") for a in members)
            if status != ONLINE
        )
        detail = f"{len(online)} of {len(members)} member agents online" + (
            " (" + ", ".join(f"{n} {s}" for s, n in sorted(others.items())) + ")"
            if others
            else ""
        )
    open_counts = standing.open_counts
    at_capacity_any = sum(
        1
        for agent in online
        if agent in limits and open_counts.get(agent, 0) >= limits[agent]
    )
    eligible = sum(1 for v in verdicts if v.eligible)
    past_rate = [v for v in verdicts if v.removed_by in (None, AgentFilter.AT_CAPACITY)]
    at_capacity = sum(1 for v in verdicts if v.removed_by is AgentFilter.AT_CAPACITY)
    limited = sum(1 for agent in online if agent in limits)
    on_unlimited = sum(1 for agent in online if agent in unlimited)
    gates = [
        Gate(
            name="agents_online",
            passed=bool(online),
            detail=detail,
            numbers={"online": len(online), "members": len(members)},
        ),
        _rate_gate(policy, standing),
        Gate(
            name="capacity",
            passed=(eligible > 0) if past_rate else None,
            detail=(
                f"{at_capacity} of the {len(past_rate)} agents past the rate limit at "
                f"capacity ({at_capacity_any} of {len(online)} online at capacity, "
                f"{limited} with a limit in this inbox"
                + (f", {on_unlimited} on an unlimited link" if on_unlimited else "")
                + ")"
            ),
            numbers={
                "at_capacity": at_capacity,
                "checked": len(past_rate),
                "at_capacity_online": at_capacity_any,
                "online_with_limit": limited,
                "online_unlimited_link": on_unlimited,
                "eligible": eligible,
            },
        ),
    ]
    return gates, eligible


def _exclusion_gate(
    service: AssignmentService,
    inbox: InboxId,
    rules: ExclusionRules,
    policy: EffectivePolicy | None,
    *,
    now: datetime,
    scan_limit: int,
) -> tuple[Gate, int]:
    waiting = service.conversations.unassigned_open(
        inbox,
        limit=scan_limit,
        priority=(
            policy.conversation_priority
            if policy is not None
            else ConversationPriority.EARLIEST_CREATED
        ),
        exclusions=ExclusionRules(),
        now=now,
    )
    cutoff = rules.cutoff(now)
    by_label = sum(1 for c in waiting if rules.excluded_labels & c.labels)
    by_age = sum(1 for c in waiting if cutoff is not None and c.created_at < cutoff)
    excluded = sum(1 for c in waiting if rules.excludes(c, now))
    assignable = len(waiting) - excluded
    truncated = len(waiting) >= scan_limit
    rule_text = []
    if rules.excluded_labels:
        rule_text.append("labels " + ", ".join(sorted(rules.excluded_labels)))
    if rules.exclude_older_than_hours is not None:
        rule_text.append(f"older than {rules.exclude_older_than_hours} h")
    detail = (
        f"{excluded} of {'at least ' if truncated else ''}{len(waiting)} open unassigned "
        f"conversations excluded ({by_label} by label, {by_age} by age; rules: "
        f"{'; '.join(rule_text) or 'none'})"
    )
    if not waiting:
        detail = "no open, unassigned conversations in the inbox"
    gate = Gate(
        name="exclusions",
        passed=None if not waiting else assignable > 0,
        detail=detail,
        numbers={
            "open_unassigned": len(waiting),
            "excluded": excluded,
            "excluded_by_label": by_label,
            "excluded_by_age": by_age,
            "assignable": assignable,
        },
    )
    return gate, assignable


def _probe(
    check: Callable[[InboxId], object], inbox: InboxId, what: str
) -> bool | None:
    """``check(inbox)`` as a bool, or ``None`` (logged) if the store failed."""
    try:
        return bool(check(inbox))
    except Exception:
        degradations.failed(
            logger,
            "explain",
            "explain: could not read %s",
            what,
            extra=_log_extra(inbox),
        )
        return None


def _job_gate(
    app_or_service: Autoassign | AssignmentService,
    inbox: InboxId,
    lease: InboxLease | None,
    jobs_scheduled: bool | None,
) -> Gate:
    if lease is None and isinstance(app_or_service, Autoassign):
        lease = app_or_service.job.lease
    queue = app_or_service.job.jobs if isinstance(app_or_service, Autoassign) else None
    listed = getattr(queue, "queued", None)  # only a queue that can list its jobs
    queued = (inbox in listed) if isinstance(listed, tuple) else None
    pending = held = None
    if lease is not None:
        pending = _probe(lease.is_pending, inbox, "the pending mark")
        is_held = getattr(lease, "is_held", None)  # optional: not part of the port
        if callable(is_held):
            held = _probe(is_held, inbox, "the inbox lease")
    facts = [
        text
        for fact, text in (
            (queued, "an AssignmentJob for the inbox is queued"),
            (pending, "the inbox is marked pending: an AssignmentJob is due"),
            (held, "a pass over the inbox is running now (its lease is held)"),
        )
        if fact
    ]
    numbers: dict[str, Number] = {
        "queued": queued,
        "pending": pending,
        "lease_held": held,
    }
    if jobs_scheduled is not None:
        said = "is" if jobs_scheduled else "is not"
        return Gate(
            name="job_scheduled",
            passed=jobs_scheduled,
            detail="; ".join(
                [f"PeriodicAssignmentJob {said} scheduled (as the caller says)", *facts]
            ),
            numbers=numbers,
        )
    if facts:
        return Gate(
            name="job_scheduled", passed=True, detail="; ".join(facts), numbers=numbers
        )
    if lease is None and queued is None:
        detail = "no lease or job queue to read whether a job is due (pass lease=...)"
    elif lease is not None and pending is None:
        detail = "the lease store could not be read (see the log)"
    else:
        detail = "no AssignmentJob is due or running for the inbox"
    return Gate(
        name="job_scheduled",
        passed=None,
        detail=(
            f"{detail}; whether PeriodicAssignmentJob is scheduled is up to the host's "
            "scheduler (pass jobs_scheduled=...)"
        ),
        numbers=numbers,
    )


def explain_inbox(
    app_or_service: Autoassign | AssignmentService,
    inbox: InboxId,
    *,
    lease: InboxLease | None = None,
    jobs_scheduled: bool | None = None,
    scan_limit: int = DEFAULT_SCAN_LIMIT,
) -> InboxExplanation:
    """The spec's troubleshooting checklist for ``inbox``, now, in order: feature flag,
    policy linked, policy enabled, inbox auto-assignment, agents online, rate limits,
    capacity, exclusions, job scheduled. Writes nothing.

    ``jobs_scheduled`` is the caller's word on whether the periodic job runs; without it
    the job gate passes if a job for the inbox is due: it is queued (a queue that lists
    its jobs, like the in-memory one), the inbox is marked pending
    (:meth:`InboxLease.is_pending <autoassign.ports.InboxLease.is_pending>`) or a pass
    holds the inbox lease (an ``is_held(inbox)`` method, which the shipped leases
    have), and is ``n/a`` otherwise. Its numbers say which (``None``: unknown).
    ``lease`` defaults to the app's lease when given an :class:`~autoassign.Autoassign`.
    With working hours wired a ``business_hours`` gate follows the configuration
    gates, and when the inbox's policy sets any of its routing settings a ``routing``
    gate (never blocking) says which setting decided skills routing and sticky agents
    (:mod:`autoassign.routing`).
    """
    service = _service_of(app_or_service)
    now = service.clock.now()
    directory = service.directory
    record = directory.inbox(inbox)
    if record is None:
        gate = Gate(name="inbox", passed=False, detail=f"inbox {inbox!r} not found")
        return InboxExplanation(
            inbox=inbox,
            at=now,
            found=False,
            gates=(gate,),
            blocking="inbox",
            would_assign=False,
        )
    # The configuration is read once; unlike load_inbox, every gate is shown even
    # when an earlier one fails (so the effective policy is resolved regardless).
    account = directory.account(record.account)
    linked = directory.policy_for_inbox(inbox)
    policy = (
        None
        if linked is None
        else EffectivePolicy.resolve(
            linked, record.overrides, service.override_precedence
        )
    )
    capacity = directory.capacity_policies_for_inbox(inbox)
    failure = check_gates(account, record, linked)
    gates = _config_gates(record, account, linked)
    if service.schedules is not None:
        hours = service.schedules.inbox_hours(inbox)
        open_now = hours is None or hours.is_open(now)
        if failure is None and not open_now:
            failure = GateFailure.OUTSIDE_BUSINESS_HOURS
        gates.append(
            Gate(
                name="business_hours",
                passed=open_now,
                detail=(
                    "the inbox has no business hours (always open)"
                    if hours is None
                    else f"within the business hours ({hours.timezone})"
                    if open_now
                    else f"outside the business hours ({hours.timezone}): nothing "
                    "is assigned until they start"
                ),
            )
        )
    if linked is not None and linked.routing_set:
        gates.append(_routing_gate(service.routing_for(linked)))
    agent_gates, eligible = _agent_gates(
        service,
        record,
        account,
        policy,
        limits=capacity_limits(capacity, inbox),
        unlimited=unlimited_agents(capacity, inbox),
        total=total_limits(capacity),
        now=now,
    )
    exclusion_gate, assignable = _exclusion_gate(
        service,
        inbox,
        exclusions_for_inbox(capacity, inbox),
        policy,
        now=now,
        scan_limit=scan_limit,
    )
    gates.extend(agent_gates)
    gates.append(exclusion_gate)
    gates.append(_job_gate(app_or_service, inbox, lease, jobs_scheduled))
    blocking = next((gate.name for gate in gates if gate.passed is False), None)
    return InboxExplanation(
        inbox=inbox,
        at=now,
        found=True,
        gates=tuple(gates),
        blocking=blocking,
        would_assign=failure is None and eligible > 0 and assignable > 0,
    )


# -- explain_conversation ----------------------------------------------------------------


def _sticky_agent(
    sticky: StickyRouting | None,
    account: AccountId,
    record: Conversation,
    now: datetime,
) -> AgentId | None:
    """The contact's previous agent as a pass would read it (``None``: off, none, or
    the history failed, when a pass lets the policy choose)."""
    if sticky is None:
        return None
    try:
        found = sticky.previous_agents(account, [record], now)
    except Exception:
        return None
    return found.get(record.id)


def _team_for(
    service: AssignmentService, state: InboxState, team_id: object
) -> Team | SkipReason | None:
    """The same rule as the pass: a missing or foreign team, or one that does not allow
    auto-assignment, stops the conversation."""
    if team_id is None:
        return None
    assert isinstance(team_id, int | str)
    team = service.directory.team(team_id)
    if team is None or team.account != state.account.id:
        return SkipReason.TEAM_NOT_FOUND
    if not team.allow_auto_assign:
        return SkipReason.TEAM_NOT_AUTO_ASSIGNABLE
    return team


def _exclusion_reasons(
    rules: ExclusionRules, labels: frozenset[str], created_at: datetime, now: datetime
) -> tuple[str, ...]:
    reasons: list[str] = []
    hit = sorted(rules.excluded_labels & labels)
    if hit:
        reasons.append("label " + ", ".join(hit))
    cutoff = rules.cutoff(now)
    if cutoff is not None and created_at < cutoff:
        age = (now - created_at) / timedelta(hours=1)
        reasons.append(
            f"older than {rules.exclude_older_than_hours} h (created {age:.1f} h ago)"
        )
    return tuple(reasons)


def _with_rotation(
    selector: object,
    account: AccountId,
    inbox: InboxId,
    members: Sequence[AgentId],
    agents: tuple[AgentExplanation, ...],
) -> tuple[AgentExplanation, ...]:
    """``agents`` with their weight and place in weighted round robin's order, when
    that is the selector (one more read of the rotation and the weights)."""
    if not isinstance(selector, WeightedRoundRobinSelector):
        return agents
    standings = {
        s.agent: s for s in selector.standings(account, inbox, members=members)
    }
    return tuple(
        attrs.evolve(
            agent,
            rotation_weight=standings[agent.agent].weight,
            rotation_place=standings[agent.agent].place,
        )
        if agent.agent in standings
        else agent
        for agent in agents
    )


def explain_conversation(
    app_or_service: Autoassign | AssignmentService, conversation: ConversationId
) -> ConversationExplanation:
    """Whether ``conversation`` is assignable, whether it is excluded and why, every
    member agent with the first filter that removed it, and who a pass would choose now
    (the selector's ``preview``). Writes nothing."""
    service = _service_of(app_or_service)
    now = service.clock.now()
    record = service.conversations.get(conversation)
    if record is None:
        return ConversationExplanation(conversation=conversation, at=now, found=False)
    base: dict[str, Any] = {
        "conversation": conversation,
        "at": now,
        "found": True,
        "inbox": record.inbox,
        "status": record.status.value,
        "assignee": record.assignee,
        "assignable": record.is_assignable,
        "team": None if record.team is None else str(record.team),
        "urgency": record.urgency,
        "due_at": record.due_at,
        "weight": record.weight,
    }
    loaded = service.load_inbox(record.inbox)
    if isinstance(loaded, GateFailure):
        return ConversationExplanation(**base, gate=loaded.value, outcome="inbox_gate")
    capacity = service.directory.capacity_policies_for_inbox(record.inbox)
    rules = exclusions_for_inbox(capacity, record.inbox)
    reasons = _exclusion_reasons(rules, record.labels, record.created_at, now)
    base["excluded"] = bool(reasons)
    base["exclusion_reasons"] = reasons
    selector = service.selector_for(loaded.policy.assignment_order)
    base["selector"] = selector.name
    routing = service.routing_for(loaded.policy.policy)
    if loaded.policy.policy.routing_set:
        base["routing"] = routing.notes()
    if not record.is_assignable:
        return ConversationExplanation(**base, outcome="not_assignable")
    team = _team_for(service, loaded, record.team)
    if isinstance(team, SkipReason):
        return ConversationExplanation(
            **base, skip_reason=team.value, outcome=team.value
        )
    skills: Mapping[AgentId, Mapping[str, int]] | None = None
    required: Mapping[str, int] = {}
    if routing.skills is not None:
        required, base["skills_relaxed"] = service.requirements(
            record, now, policy=loaded.policy.policy
        )
        base["required_skills"] = required
        if required:
            skills = service.read_skills(
                loaded.account, service.directory.inbox_members(record.inbox)
            )
            if skills is None:
                return ConversationExplanation(
                    **base,
                    skip_reason=SkipReason.BACKEND_ERROR.value,
                    outcome="no_eligible_agent",
                )
    standing = _standing(
        service,
        loaded.account,
        loaded.inbox,
        loaded.policy,
        capacity_limits(capacity, record.inbox),
        team=team,
        now=now,
        required=required,
        skills=skills,
        total=total_limits(capacity),
        weight=record.weight,
    )
    verdicts, recent = standing.verdicts, standing.recent
    base["agents"] = _with_rotation(
        selector,
        loaded.account.id,
        record.inbox,
        standing.members,
        tuple(AgentExplanation.from_verdict(v) for v in verdicts),
    )
    base["sticky_agent"] = _sticky_agent(routing.sticky, loaded.account.id, record, now)
    if reasons:
        return ConversationExplanation(**base, outcome="excluded")
    eligible = [v.agent for v in verdicts if v.eligible]
    if not eligible:
        return ConversationExplanation(
            **base,
            skip_reason=skip_reason_for(verdicts).value,
            outcome="no_eligible_agent",
        )
    last_assigned: dict[AgentId, datetime] = {}
    if recent is not None:
        for agent in eligible:
            last = recent.last(agent)
            if last is not None:
                last_assigned[agent] = last
    context = SelectionContext(
        inbox=record.inbox,
        conversation=record,
        members=standing.members,
        eligible=eligible,
        open_counts=standing.open_counts,
        last_assigned=last_assigned,
        limits=capacity_limits(capacity, record.inbox),
        account=loaded.account.id,
    )
    chosen = (
        base["sticky_agent"]
        if base["sticky_agent"] in eligible
        else selector.preview(context)
    )
    if chosen is None or chosen not in eligible:
        return ConversationExplanation(
            **base,
            skip_reason=SkipReason.NO_AGENT_SELECTED.value,
            outcome="no_eligible_agent",
        )
    return ConversationExplanation(**base, chosen=chosen, outcome="would_assign")
