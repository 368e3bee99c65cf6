"""OpenTelemetry metrics and traces (extra ``autoassign[otel]``: opentelemetry-api).

Wired with one argument each::

    from autoassign.integrations.otel import OtelMetrics, OtelTracing

    app = autoassign.build_autoassign(
        ..., metrics=OtelMetrics(), tracing=OtelTracing()
    )

Both use the global providers the host configured with the OpenTelemetry SDK (or the
``meter_provider`` / ``tracer_provider`` given); without an SDK the API's no-op
providers record nothing.

* :class:`OtelMetrics`: the series of the Prometheus observer as OpenTelemetry
  instruments (``autoassign.passes``, ``autoassign.pass.duration``,
  ``autoassign.assignments``, ``autoassign.skipped_conversations``,
  ``autoassign.degradations``, ``autoassign.wait``, ``autoassign.jobs``,
  ``autoassign.periodic.cycles``, ``autoassign.periodic.duration``,
  ``autoassign.periodic.inboxes``), with ``autoassign.inbox`` (and policy, reason, ...)
  attributes.
* :class:`OtelTracing`: a span ``autoassign.pass`` around every pass (attributes: the
  inbox, the policy, fetched, assigned and skipped counts, the failed gate) and a child
  span ``autoassign.<port>.<method>`` around every call of every port given to
  ``build_autoassign`` (with the pass's inbox as an attribute). A call that raises
  records the exception on its span. A method that returns an iterator is traced for
  its creation only. ``docs/operations.md`` lists the names.
"""

from __future__ import annotations

try:
    from opentelemetry import metrics as _otel_metrics
    from opentelemetry import trace as _otel_trace
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "autoassign.integrations.otel needs opentelemetry-api: install autoassign[otel]"
    ) from exc

import contextlib
import contextvars
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from autoassign.jobs import JobOutcome, PeriodicOutcome
from autoassign.metrics import NullMetrics
from autoassign.model import InboxId
from autoassign.results import AssignmentResult

__all__ = ["INSTRUMENTATION_NAME", "OtelMetrics", "OtelPassSpan", "OtelTracing"]

INSTRUMENTATION_NAME = "autoassign"
"""The meter's and the tracer's instrumentation scope name."""

_T = TypeVar("_T")
_INBOX: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "autoassign_otel_inbox", default=None
)


def _job_outcome(outcome: JobOutcome) -> str:
    if outcome.error is not None:
        return "failed"
    if outcome.handed_off:
        return "handed_off"
    if outcome.requeued:
        return "requeued"
    return "completed"


class OtelMetrics(NullMetrics):
    """The :class:`~autoassign.metrics.Metrics` observer over the OpenTelemetry metrics
    API (``meter_provider``: default the global one)."""

    def __init__(self, meter_provider: Any = None) -> None:
        meter = _otel_metrics.get_meter(
            INSTRUMENTATION_NAME, meter_provider=meter_provider
        )
        self.passes = meter.create_counter(
            "autoassign.passes", unit="{pass}", description="Assignment passes."
        )
        self.pass_duration = meter.create_histogram(
            "autoassign.pass.duration", unit="s", description="Wall time of a pass."
        )
        self.assignments = meter.create_counter(
            "autoassign.assignments",
            unit="{conversation}",
            description="Conversations assigned by the passes.",
        )
        self.skipped = meter.create_counter(
            "autoassign.skipped_conversations",
            unit="{conversation}",
            description="Fetched conversations a pass left unassigned, by reason.",
        )
        self.degradations = meter.create_counter(
            "autoassign.degradations",
            description="Passes or runs that went on without a failed dependency.",
        )
        self.wait = meter.create_histogram(
            "autoassign.wait",
            unit="s",
            description="Time from a conversation waiting to its auto-assignment.",
        )
        self.jobs = meter.create_counter(
            "autoassign.jobs", unit="{run}", description="Job runs, by outcome."
        )
        self.cycles = meter.create_counter(
            "autoassign.periodic.cycles", unit="{cycle}", description="Periodic cycles."
        )
        self.cycle_duration = meter.create_histogram(
            "autoassign.periodic.duration",
            unit="s",
            description="Wall time of a periodic cycle.",
        )
        self.cycle_inboxes = meter.create_counter(
            "autoassign.periodic.inboxes",
            unit="{inbox}",
            description="Inboxes the cycles enqueued or found already due.",
        )

    def pass_finished(self, result: AssignmentResult, *, seconds: float) -> None:
        """Count the pass, its assignments and skips, record its duration and each
        assignment's wait."""
        base = {
            "autoassign.inbox": str(result.inbox),
            "autoassign.policy": "" if result.policy is None else str(result.policy),
        }
        gate = "" if result.gate is None else result.gate.value
        self.passes.add(1, {**base, "autoassign.gate": gate})
        self.pass_duration.record(seconds, base)
        if result.assignments:
            self.assignments.add(len(result.assignments), base)
            for assignment in result.assignments:
                if assignment.waiting_since is not None:
                    waited = assignment.occurred_at - assignment.waiting_since
                    self.wait.record(max(waited.total_seconds(), 0.0), base)
        for reason, count in Counter(skip.reason for skip in result.skips).items():
            self.skipped.add(count, {**base, "autoassign.reason": reason.value})
        for kind in result.degraded:
            self.degradations.add(
                1,
                {
                    "autoassign.inbox": base["autoassign.inbox"],
                    "autoassign.kind": kind.value,
                },
            )

    def job_finished(self, outcome: JobOutcome) -> None:
        """Count the run by outcome."""
        self.jobs.add(
            1,
            {
                "autoassign.inbox": str(outcome.inbox),
                "autoassign.outcome": _job_outcome(outcome),
            },
        )

    def cycle_finished(self, outcome: PeriodicOutcome, *, seconds: float) -> None:
        """Count the cycle and its inboxes, record its duration."""
        self.cycles.add(1)
        self.cycle_duration.record(seconds)
        if outcome.enqueued:
            self.cycle_inboxes.add(
                len(outcome.enqueued), {"autoassign.result": "enqueued"}
            )
        if outcome.already_due:
            self.cycle_inboxes.add(
                len(outcome.already_due), {"autoassign.result": "already_due"}
            )


class OtelPassSpan:
    """The pass's span, told of the result before it ends."""

    def __init__(self, span: Any) -> None:
        self.span = span

    def finished(self, result: AssignmentResult) -> None:
        self.span.set_attributes(
            {
                "autoassign.policy": ""
                if result.policy is None
                else str(result.policy),
                "autoassign.gate": "" if result.gate is None else result.gate.value,
                "autoassign.fetched": result.fetched,
                "autoassign.assigned": result.assigned_count,
                "autoassign.skipped": len(result.skips),
            }
        )


class OtelTracing:
    """The :class:`~autoassign.metrics.Tracing` hook over the OpenTelemetry tracing API
    (``tracer_provider``: default the global one)."""

    def __init__(self, tracer_provider: Any = None) -> None:
        self.tracer = _otel_trace.get_tracer(
            INSTRUMENTATION_NAME, tracer_provider=tracer_provider
        )

    @contextlib.contextmanager
    def pass_span(self, inbox: InboxId) -> Iterator[OtelPassSpan]:
        """The ``autoassign.pass`` span, current while the pass runs."""
        token = _INBOX.set(str(inbox))
        try:
            with self.tracer.start_as_current_span(
                "autoassign.pass", attributes={"autoassign.inbox": str(inbox)}
            ) as span:
                yield OtelPassSpan(span)
        finally:
            _INBOX.reset(token)

    def wrap_port(self, name: str, port: _T) -> _T:
        """``port`` behind a proxy that traces each method call. The proxy's class
        has the port's public methods, so optional capabilities (checked with
        ``isinstance``/``issubclass``) are kept."""
        return _traced_class(type(port))(self.tracer, name, port)  # type: ignore[return-value]


class _TracedPort:
    """Forwards every attribute to the port (its public methods are defined on the
    subclass :func:`_traced_class` builds, each call in a span
    ``autoassign.<name>.<method>``)."""

    def __init__(self, tracer: Any, name: str, port: object) -> None:
        self._tracer = tracer
        self._name = name
        self._port = port

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        value = getattr(self._port, attribute)
        if not callable(value) or isinstance(value, type):
            return value
        traced = _traced_method(attribute)
        return lambda *args, **kwargs: traced(self, *args, **kwargs)

    def __repr__(self) -> str:
        return f"Traced({self._name}, {self._port!r})"


def _traced_method(attribute: str) -> Callable[..., Any]:
    def call(self: _TracedPort, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self._port, attribute)
        attributes = {"autoassign.port": self._name}
        inbox = _INBOX.get()
        if inbox is not None:
            attributes["autoassign.inbox"] = inbox
        with self._tracer.start_as_current_span(
            f"autoassign.{self._name}.{attribute}", attributes=attributes
        ):
            return method(*args, **kwargs)

    call.__name__ = attribute
    return call


_CLASSES: dict[type, type[_TracedPort]] = {}


def _traced_class(cls: type) -> type[_TracedPort]:
    found = _CLASSES.get(cls)
    if found is None:
        methods = {
            name: _traced_method(name)
            for name in dir(cls)
            if not name.startswith("_")
            and callable(getattr(cls, name, None))
            and not isinstance(getattr(cls, name, None), type)
        }
        found = _CLASSES[cls] = type(f"Traced{cls.__name__}", (_TracedPort,), methods)
    return found
