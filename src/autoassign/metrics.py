"""The metrics observer: what the jobs report after each pass and each run.

Off by default: :func:`~autoassign.wiring.build_autoassign` takes ``metrics=`` (e.g.
:class:`autoassign.integrations.prometheus.PrometheusMetrics`), and without it the job
makes no call and reads no timer. The core never imports a metrics library; an observer
is any object with the two methods of :class:`Metrics`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from autoassign.errors import ConfigurationError

if TYPE_CHECKING:
    from autoassign.jobs import JobOutcome
    from autoassign.results import AssignmentResult

__all__ = ["Metrics", "NullMetrics", "check_metrics"]


@runtime_checkable
class Metrics(Protocol):
    """Observes the passes and the job runs (a port-like observer).

    Called by :class:`~autoassign.jobs.AssignmentJob` in the worker, after the fact: an
    observer measures, it never decides, and it must not raise (an exception it raises
    is logged and dropped).
    """

    def pass_finished(self, result: AssignmentResult, *, seconds: float) -> None:
        """One pass ended with ``result`` (its assignments, skips, gate and
        degradations) after ``seconds`` of wall time (``time.perf_counter``; the
        :class:`~autoassign.ports.Clock` stays the only source of decision time).
        A pass that raised is not reported here but in :meth:`job_finished`."""

    def job_finished(self, outcome: JobOutcome) -> None:
        """One run of the job ended with ``outcome`` (completed, handed off,
        requeued or failed; ``outcome.results`` were each reported already)."""


class NullMetrics:
    """An observer that records nothing: subclass it to implement only one method."""

    def pass_finished(self, result: AssignmentResult, *, seconds: float) -> None:
        return None

    def job_finished(self, outcome: JobOutcome) -> None:
        return None


def check_metrics(metrics: object) -> Metrics | None:
    """``metrics`` if it is ``None`` or a :class:`Metrics`, else a
    :class:`~autoassign.errors.ConfigurationError` naming the field."""
    if metrics is None or isinstance(metrics, Metrics):
        return metrics
    raise ConfigurationError(
        "metrics must have pass_finished(result, *, seconds) and job_finished(outcome), "
        f"got {type(metrics).__name__}",
        field="metrics",
    )
