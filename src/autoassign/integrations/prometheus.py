"""Prometheus metrics (extra ``autoassign[prometheus]``).

Wired with one argument::

    from autoassign.integrations.prometheus import PrometheusMetrics

    app = autoassign.build_autoassign(..., metrics=PrometheusMetrics())

and exposed the way the host already exposes ``prometheus_client`` metrics
(``prometheus_client.start_http_server``, or the host framework's exporter). Every
metric carries the ``inbox`` label; the names, labels and example alert rules are in
``docs/operations.md`` ("Metrics").
"""

from __future__ import annotations

import functools

try:
    import prometheus_client as _prom
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "autoassign.integrations.prometheus needs prometheus-client: "
        "install autoassign[prometheus]"
    ) from exc

from collections import Counter
from collections.abc import Sequence

from autoassign.jobs import JobOutcome, PeriodicOutcome
from autoassign.metrics import NullMetrics
from autoassign.results import AssignmentResult

__all__ = [
    "DEFAULT_PASS_BUCKETS",
    "DEFAULT_WAIT_BUCKETS",
    "JOB_LEASE_UNAVAILABLE",
    "PrometheusMetrics",
]

DEFAULT_PASS_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
"""The pass duration histogram's buckets, in seconds."""

DEFAULT_WAIT_BUCKETS: tuple[float, ...] = (
    1.0,
    5.0,
    15.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
    4 * 3600.0,
    24 * 3600.0,
)
"""The wait histogram's buckets, in seconds (from waiting to assigned)."""

JOB_LEASE_UNAVAILABLE = "lease_unavailable"
"""The ``kind`` of a degradation counted for a job run whose lease store failed (a
pass ran without the lease); the other kinds are
:class:`~autoassign.results.Degradation` values."""


def _outcome(outcome: JobOutcome) -> str:
    if outcome.error is not None:
        return "failed"
    if outcome.handed_off:
        return "handed_off"
    if outcome.requeued:
        return "requeued"
    return "completed"


class PrometheusMetrics(NullMetrics):
    """The :class:`~autoassign.metrics.Metrics` observer over ``prometheus_client``.

    Registers its metrics in ``registry`` (default: ``prometheus_client.REGISTRY``, so
    build one per process; pass a fresh ``CollectorRegistry`` in tests). ``namespace``
    prefixes every name (``autoassign_passes_total``, ...), ``buckets`` are those of
    the pass duration histogram (and of the periodic cycle's), ``wait_buckets`` those
    of the wait histogram (from a conversation waiting to its assignment).
    """

    def __init__(
        self,
        registry: _prom.CollectorRegistry | None = None,
        *,
        namespace: str = "autoassign",
        buckets: Sequence[float] = DEFAULT_PASS_BUCKETS,
        wait_buckets: Sequence[float] = DEFAULT_WAIT_BUCKETS,
    ) -> None:
        target = _prom.REGISTRY if registry is None else registry
        counter = functools.partial(_prom.Counter, namespace=namespace, registry=target)
        self.passes = counter(
            "passes",
            "Assignment passes, by inbox, policy and failed gate ('' if none).",
            ["inbox", "policy", "gate"],
        )
        self.pass_duration = _prom.Histogram(
            "pass_duration_seconds",
            "Wall time of one assignment pass.",
            ["inbox", "policy"],
            buckets=tuple(buckets),
            namespace=namespace,
            registry=target,
        )
        self.assignments = counter(
            "assignments",
            "Conversations assigned by the passes.",
            ["inbox", "policy"],
        )
        self.skipped = counter(
            "skipped_conversations",
            "Fetched conversations a pass left unassigned, by reason.",
            ["inbox", "policy", "reason"],
        )
        self.degradations = counter(
            "degradations",
            "Passes (or job runs) that went on without a failed dependency, by kind.",
            ["inbox", "kind"],
        )
        self.wait = _prom.Histogram(
            "wait_seconds",
            "Time from a conversation waiting (its last activity, or creation if "
            "later) to its auto-assignment.",
            ["inbox", "policy"],
            buckets=tuple(wait_buckets),
            namespace=namespace,
            registry=target,
        )
        self.cycles = counter("periodic_cycles", "Periodic cycles run.", [])
        self.cycle_duration = _prom.Histogram(
            "periodic_cycle_duration_seconds",
            "Wall time of one periodic cycle.",
            buckets=tuple(buckets),
            namespace=namespace,
            registry=target,
        )
        self.cycle_inboxes = counter(
            "periodic_inboxes",
            "Inboxes the periodic cycles handled, by result (enqueued, already_due).",
            ["result"],
        )
        self.cycle_failures = counter(
            "periodic_failed_accounts",
            "Accounts a periodic cycle failed to read (logged; the cycle went on).",
            [],
        )
        self.jobs = counter(
            "jobs",
            "Runs of the assignment job, by outcome "
            "(completed, handed_off, requeued, failed).",
            ["inbox", "outcome"],
        )

    def pass_finished(self, result: AssignmentResult, *, seconds: float) -> None:
        """Count the pass, its assignments, skips by reason and degradations, and
        observe its duration."""
        inbox = str(result.inbox)
        policy = "" if result.policy is None else str(result.policy)
        gate = "" if result.gate is None else result.gate.value
        self.passes.labels(inbox, policy, gate).inc()
        self.pass_duration.labels(inbox, policy).observe(seconds)
        if result.assignments:
            self.assignments.labels(inbox, policy).inc(len(result.assignments))
            wait = self.wait.labels(inbox, policy)
            for assignment in result.assignments:
                if assignment.waiting_since is not None:
                    waited = assignment.occurred_at - assignment.waiting_since
                    wait.observe(max(waited.total_seconds(), 0.0))
        for reason, count in Counter(skip.reason for skip in result.skips).items():
            self.skipped.labels(inbox, policy, reason.value).inc(count)
        for kind in result.degraded:
            self.degradations.labels(inbox, kind.value).inc()

    def cycle_finished(self, outcome: PeriodicOutcome, *, seconds: float) -> None:
        """Count the cycle, the inboxes it enqueued or found due, and its failed
        accounts, and observe its duration."""
        self.cycles.inc()
        self.cycle_duration.observe(seconds)
        if outcome.enqueued:
            self.cycle_inboxes.labels("enqueued").inc(len(outcome.enqueued))
        if outcome.already_due:
            self.cycle_inboxes.labels("already_due").inc(len(outcome.already_due))
        if outcome.failed_accounts:
            self.cycle_failures.inc(len(outcome.failed_accounts))

    def job_finished(self, outcome: JobOutcome) -> None:
        """Count the run by outcome (and a ``lease_unavailable`` degradation)."""
        inbox = str(outcome.inbox)
        self.jobs.labels(inbox, _outcome(outcome)).inc()
        if outcome.unleased:
            self.degradations.labels(inbox, JOB_LEASE_UNAVAILABLE).inc()
