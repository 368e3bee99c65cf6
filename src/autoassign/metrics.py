"""The metrics observer and the tracing hook.

Off by default: :func:`~autoassign.wiring.build_autoassign` takes ``metrics=`` (e.g.
:class:`autoassign.integrations.prometheus.PrometheusMetrics`) and ``tracing=`` (e.g.
:class:`autoassign.integrations.otel.OtelTracing`); without them no call is made and no
timer is read. The core never imports a metrics or tracing library: an observer is any
object with the two methods of :class:`Metrics` (and optionally
:meth:`~NullMetrics.cycle_finished`), a tracer any :class:`Tracing`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from autoassign.errors import ConfigurationError

if TYPE_CHECKING:
    from autoassign.jobs import JobOutcome, PeriodicOutcome
    from autoassign.model import InboxId
    from autoassign.results import AssignmentResult

__all__ = [
    "Metrics",
    "NullMetrics",
    "PassSpan",
    "Tracing",
    "check_metrics",
    "check_tracing",
    "observe_quietly",
]

logger = logging.getLogger(__name__)
_T = TypeVar("_T")


@runtime_checkable
class Metrics(Protocol):
    """Observes the passes and the job runs (a port-like observer).

    Called after the fact: :meth:`pass_finished` by the
    :class:`~autoassign.service.AssignmentService` for every pass (run by the job or
    called by the host), :meth:`job_finished` by :class:`~autoassign.jobs.AssignmentJob`,
    and ``cycle_finished(outcome, *, seconds)``, if the observer has it, by the
    periodic cycle. An observer measures, it never decides, and it must not raise (an
    exception it raises is logged and dropped).
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

    def cycle_finished(self, outcome: PeriodicOutcome, *, seconds: float) -> None:
        """One periodic cycle ended with ``outcome`` after ``seconds`` (optional in
        an observer: called only if it has this method)."""
        return


class PassSpan(Protocol):
    """What :meth:`Tracing.pass_span` yields: told of the pass's result before the
    span ends (to set attributes such as the number assigned)."""

    def finished(self, result: AssignmentResult) -> None: ...


@runtime_checkable
class Tracing(Protocol):
    """The tracing hook: a span around each pass, and each port wrapped at
    composition time so its calls are spans inside it."""

    def pass_span(self, inbox: InboxId) -> AbstractContextManager[PassSpan]:
        """A context manager around one pass over ``inbox``."""
        ...

    def wrap_port(self, name: str, port: _T) -> _T:
        """``port`` (named ``name``: ``"directory"``, ``"conversations"``, ...) with
        each call traced; called once per port by ``build_autoassign``."""
        ...


def check_tracing(tracing: object) -> Tracing | None:
    """``tracing`` if it is ``None`` or a :class:`Tracing`, else a
    :class:`~autoassign.errors.ConfigurationError` naming the field."""
    if tracing is None or isinstance(tracing, Tracing):
        return tracing
    raise ConfigurationError(
        "tracing must have pass_span(inbox) and wrap_port(name, port), got "
        f"{type(tracing).__name__}",
        field="tracing",
    )


def observe_quietly(report: Callable[[_T], Any], value: _T) -> None:
    """Call an observer; its failure is logged, never raised."""
    try:
        report(value)
    except Exception:
        logger.warning("the metrics or tracing observer failed", exc_info=True)


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
