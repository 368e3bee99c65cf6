"""The one composition function: :func:`build_autoassign`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta

import attrs

from autoassign.clock import SystemClock
from autoassign.errors import ConfigurationError
from autoassign.jobs import (
    DEFAULT_LEASE_TTL,
    DEFAULT_PENDING_TTL,
    AssignmentJob,
    PeriodicAssignmentJob,
)
from autoassign.metrics import Metrics, Tracing, check_metrics, check_tracing
from autoassign.model import AssignmentOrder, OverridePrecedence
from autoassign.outbox import DEFAULT_OUTBOX_GRACE
from autoassign.ports import (
    AgentWeights,
    Clock,
    ConversationRepository,
    Directory,
    EventBus,
    EventOutbox,
    InboxLease,
    JobQueue,
    Presence,
    RateLimitLedger,
    Reservations,
    RotationStore,
    ScheduleBook,
)
from autoassign.schedules import ScheduledPresence
from autoassign.selection import Selector
from autoassign.service import (
    DEFAULT_BULK_LIMIT,
    DEFAULT_MAX_PAGES,
    DEFAULT_RECHECK_INTERVAL,
    AssignmentService,
    check_bulk_limit,
)
from autoassign.skills import SkillRouting
from autoassign.sticky import StickyRouting
from autoassign.triggers import (
    AssignmentTriggers,
    LegacyAssigner,
    Reassigner,
    RoundRobinLegacyAssigner,
)

__all__ = ["BULK_LIMIT_ENV", "Autoassign", "build_autoassign", "bulk_limit_from_env"]

BULK_LIMIT_ENV = "AUTO_ASSIGNMENT_BULK_LIMIT"


def bulk_limit_from_env(environ: Mapping[str, str] | None = None) -> int:
    """``AUTO_ASSIGNMENT_BULK_LIMIT`` as a positive integer (default 100).

    Raises :class:`~autoassign.errors.ConfigurationError` naming the variable if it is
    set to anything but a positive integer.
    """
    env = os.environ if environ is None else environ
    raw = env.get(BULK_LIMIT_ENV)
    if raw is None or raw.strip() == "":
        return DEFAULT_BULK_LIMIT
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or int(text) <= 0:
        raise ConfigurationError(
            f"{BULK_LIMIT_ENV} must be a positive integer, got {raw!r}",
            field=BULK_LIMIT_ENV,
        )
    return int(text)


@attrs.frozen(kw_only=True)
class Autoassign:
    """Everything a host calls, wired together.

    * ``service.perform_bulk_assignment(inbox)``: one pass, now, in this process.
    * ``job.run(inbox)``: the body of the per-inbox job (lease, coalescing, errors).
    * ``periodic.run()``: the body of the periodic cycle.
    * ``triggers.on_conversation_saved(before, after)`` and
      ``triggers.on_agent_status_changed(...)``: the real-time hooks.
    """

    service: AssignmentService
    job: AssignmentJob
    periodic: PeriodicAssignmentJob
    triggers: AssignmentTriggers


def build_autoassign(
    *,
    directory: Directory,
    conversations: ConversationRepository,
    presence: Presence,
    ledger: RateLimitLedger,
    rotation: RotationStore,
    lease: InboxLease,
    events: EventBus,
    jobs: JobQueue,
    clock: Clock | None = None,
    bulk_limit: int | None = None,
    max_pages: int = DEFAULT_MAX_PAGES,
    recheck_interval: timedelta = DEFAULT_RECHECK_INTERVAL,
    environ: Mapping[str, str] | None = None,
    selectors: Mapping[AssignmentOrder, Selector] | None = None,
    override_precedence: OverridePrecedence | str = OverridePrecedence.INBOX,
    legacy: LegacyAssigner | None = None,
    legacy_fallback: bool = True,
    strict: bool = False,
    lease_ttl: timedelta = DEFAULT_LEASE_TTL,
    pending_ttl: timedelta = DEFAULT_PENDING_TTL,
    periodic_batch_size: int = 1000,
    reservations: Reservations | None = None,
    reassigner: Reassigner | None = None,
    outbox: EventOutbox | None = None,
    outbox_grace: timedelta = DEFAULT_OUTBOX_GRACE,
    metrics: Metrics | None = None,
    schedules: ScheduleBook | None = None,
    tracing: Tracing | None = None,
    skills: SkillRouting | None = None,
    sticky: StickyRouting | None = None,
    agent_weights: AgentWeights | None = None,
) -> Autoassign:
    """Wire the core to its ports. Every port is required: nothing real is built by
    accident. ``bulk_limit`` defaults to ``AUTO_ASSIGNMENT_BULK_LIMIT`` from ``environ``
    (``os.environ``), else 100; a pass reads at most ``max_pages`` pages of that size to
    reach conversations it can assign past those nobody can take, and re-reads the
    gates and the membership at most every ``recheck_interval`` (by the clock). ``legacy``
    replaces the legacy v1 assigner used for accounts without ``assignment_v2``
    (``legacy_fallback=False`` turns it off).
    ``strict`` re-raises errors that jobs and triggers would otherwise log (tests).
    ``reservations`` confirms presence and reserves the ledger slot before each claim:
    pass ``RedisBackend.reservations`` with the Redis adapters (one round trip instead
    of two); the default is :class:`~autoassign.reservations.SequentialReservations`
    over ``presence`` and ``ledger``. ``reassigner`` lets the legacy path (accounts
    without ``assignment_v2``) reassign a conversation whose assignee left its inbox, as
    the reference's v1 does (pass the repository when it implements
    :class:`~autoassign.triggers.Reassigner`); without it that conversation is left.
    ``outbox`` keeps each assignment's record until its events are published, so none
    is lost (at-least-once, with stable event ids; pass
    ``backend.outbox`` of the memory or Redis backend, or a ``SqlEventOutbox``); each
    pass first publishes the records older than ``outbox_grace`` whose assignment
    stands. Without it, events a failing bus or a dead worker did not publish are
    lost (they are only on the result's ``unpublished_events``).
    ``metrics`` observes every pass (whoever runs it), every job run's outcome and
    every periodic cycle (e.g.
    :class:`~autoassign.integrations.prometheus.PrometheusMetrics`; see
    :class:`~autoassign.metrics.Metrics`); off by default, at no cost.
    ``schedules`` applies working hours (:mod:`autoassign.schedules`): agents outside
    theirs count as not online (``presence`` is wrapped in a
    :class:`~autoassign.schedules.ScheduledPresence`), inboxes outside their business
    hours are not assigned; off by default.
    ``skills`` routes by skills (:class:`~autoassign.skills.SkillRouting`): a
    conversation's required skills remove the agents who lack them; off by default.
    ``sticky`` (:class:`~autoassign.sticky.StickyRouting`): a returning contact's
    conversation goes first to their previous agent when that agent is eligible; off
    by default.
    ``agent_weights`` (an :class:`~autoassign.ports.AgentWeights`) gives agents their
    weights for the ``weighted_round_robin`` order (:mod:`autoassign.weights`);
    without it every agent has weight 1 there.
    ``tracing`` (e.g. :class:`~autoassign.integrations.otel.OtelTracing`) opens a span
    around every pass and wraps every port given here so that each of its calls is a
    span inside it (:class:`~autoassign.metrics.Tracing`); off by default, at no
    cost."""
    try:
        precedence = OverridePrecedence(override_precedence)
    except ValueError:
        raise ConfigurationError(
            f"override_precedence must be 'inbox' or 'policy', got {override_precedence!r}",
            field="override_precedence",
        ) from None
    if lease_ttl <= timedelta(0):
        raise ConfigurationError("lease_ttl must be positive", field="lease_ttl")
    if pending_ttl <= lease_ttl:
        raise ConfigurationError(
            "pending_ttl must be longer than lease_ttl, or a request made during a long "
            "pass could lapse before the pass ends",
            field="pending_ttl",
        )
    check_bulk_limit(periodic_batch_size, field="periodic_batch_size")
    metrics = check_metrics(metrics)
    tracing = check_tracing(tracing)
    if tracing is not None:
        wrap = tracing.wrap_port
        directory = wrap("directory", directory)
        conversations = wrap("conversations", conversations)
        presence = wrap("presence", presence)
        ledger = wrap("ledger", ledger)
        rotation = wrap("rotation", rotation)
        lease = wrap("lease", lease)
        events = wrap("events", events)
        jobs = wrap("jobs", jobs)
        if reservations is not None:
            reservations = wrap("reservations", reservations)
        if outbox is not None:
            outbox = wrap("outbox", outbox)
        if agent_weights is not None:
            agent_weights = wrap("agent_weights", agent_weights)
    if outbox_grace <= timedelta(0):
        raise ConfigurationError(
            f"outbox_grace must be a positive timedelta, got {outbox_grace!r}",
            field="outbox_grace",
        )
    if sticky is not None and not isinstance(sticky, StickyRouting):
        raise ConfigurationError(
            f"sticky must be a StickyRouting or None, got {type(sticky).__name__}",
            field="sticky",
        )
    if agent_weights is not None and not isinstance(agent_weights, AgentWeights):
        raise ConfigurationError(
            "agent_weights must be an AgentWeights (an object with "
            f"agent_weights(account, agents, *, inbox)) or None, got "
            f"{type(agent_weights).__name__}",
            field="agent_weights",
        )
    if skills is not None and not isinstance(skills, SkillRouting):
        raise ConfigurationError(
            f"skills must be a SkillRouting or None, got {type(skills).__name__}",
            field="skills",
        )
    clock = clock or SystemClock()
    if schedules is not None:
        presence = ScheduledPresence(presence, schedules, clock)
    service = AssignmentService(
        directory=directory,
        conversations=conversations,
        presence=presence,
        ledger=ledger,
        rotation=rotation,
        events=events,
        clock=clock,
        bulk_limit=bulk_limit
        if bulk_limit is not None
        else bulk_limit_from_env(environ),
        max_pages=max_pages,
        recheck_interval=recheck_interval,
        override_precedence=precedence,
        selectors=dict(selectors or {}),
        reservations=reservations,
        outbox=outbox,
        outbox_grace=outbox_grace,
        schedules=schedules,
        skills=skills,
        sticky=sticky,
        agent_weights=agent_weights,
        metrics=metrics,
        tracing=tracing,
    )
    if legacy is None and legacy_fallback:
        legacy = RoundRobinLegacyAssigner(
            directory=directory,
            presence=presence,
            rotation=rotation,
            conversations=conversations,
            reassigner=reassigner,
        )
    return Autoassign(
        service=service,
        job=AssignmentJob(
            service=service,
            lease=lease,
            jobs=jobs,
            lease_ttl=lease_ttl,
            pending_ttl=pending_ttl,
            strict=strict,
            metrics=metrics,
        ),
        periodic=PeriodicAssignmentJob(
            directory=directory,
            lease=lease,
            jobs=jobs,
            batch_size=periodic_batch_size,
            pending_ttl=pending_ttl,
            strict=strict,
            metrics=metrics,
        ),
        triggers=AssignmentTriggers(
            directory=directory,
            lease=lease,
            jobs=jobs,
            legacy=legacy if legacy_fallback else None,
            pending_ttl=pending_ttl,
            strict=strict,
        ),
    )
