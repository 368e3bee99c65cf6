"""OpenTelemetry (issue 20): spans around each pass and each port call with the inbox
as an attribute, the instruments of the metrics observer, the wait histogram, and
passes outside the job and periodic cycles observed too."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from autoassign import AssignmentResult, ConfigurationError, NullMetrics
from autoassign.adapters.memory import (
    InMemoryOnlinePresence,
    InMemoryPresence,
    InMemoryWorld,
)
from autoassign.integrations.otel import OtelMetrics, OtelTracing
from autoassign.integrations.prometheus import PrometheusMetrics
from autoassign.jobs import PeriodicOutcome
from autoassign.ports import OnlinePresence, PagedPolicyDirectory
from autoassign.testing import FakeClock

from .conftest import INBOX


@pytest.fixture
def spans() -> tuple[InMemorySpanExporter, OtelTracing]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter, OtelTracing(provider)


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


def _points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    found: dict[str, list[Any]] = {}
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found[metric.name] = list(metric.data.data_points)
    return found


def test_a_pass_is_a_span_with_its_port_calls_inside(scenario: Any, spans: Any) -> None:
    exporter, tracing = spans
    scenario.setup(members=["ann", "bob"])
    scenario.convs([1, 2])
    app = scenario.build(tracing=tracing)
    assert app.service.perform_bulk_assignment(INBOX).assigned_count == 2
    finished = exporter.get_finished_spans()
    (root,) = [span for span in finished if span.name == "autoassign.pass"]
    assert root.attributes["autoassign.inbox"] == str(INBOX)
    assert root.attributes["autoassign.assigned"] == 2
    assert root.attributes["autoassign.policy"] == "1"
    children = [span for span in finished if span.name != "autoassign.pass"]
    names = {span.name for span in children}
    assert "autoassign.conversations.unassigned_open" in names
    assert "autoassign.directory.inbox" in names
    assert any(name.startswith("autoassign.presence.") for name in names)
    for span in children:
        assert span.parent is not None
        assert span.parent.span_id == root.context.span_id
        assert span.attributes["autoassign.inbox"] == str(INBOX)


def test_a_failing_port_call_records_its_exception(
    scenario: Any, spans: Any, wrap: Any, boom: Any
) -> None:
    exporter, tracing = spans
    scenario.setup(members=["ann"])
    scenario.convs([1])

    def down(original: Any, *args: Any, **kwargs: Any) -> Any:
        raise boom("rotation down")

    rotation = wrap(scenario.backend.rotation, order=down, select=down, advance=down)
    app = scenario.build(tracing=tracing, rotation=rotation, strict=False)
    app.service.perform_bulk_assignment(INBOX)
    failed = [
        span
        for span in exporter.get_finished_spans()
        if span.name.startswith("autoassign.rotation.") and span.events
    ]
    assert failed
    assert failed[0].events[0].name == "exception"


def test_wrapped_ports_keep_their_capabilities(spans: Any) -> None:
    _, tracing = spans
    for presence in (InMemoryPresence(), InMemoryOnlinePresence()):
        wrapped = tracing.wrap_port("presence", presence)
        assert isinstance(wrapped, OnlinePresence) == isinstance(
            presence, OnlinePresence
        )
    world = InMemoryWorld(FakeClock())
    wrapped_world = tracing.wrap_port("directory", world)
    assert isinstance(wrapped_world, PagedPolicyDirectory)
    assert issubclass(type(wrapped_world), PagedPolicyDirectory)


def test_tracing_that_is_not_a_tracer_is_refused(scenario: Any) -> None:
    with pytest.raises(ConfigurationError, match="tracing must have") as caught:
        scenario.build(tracing=object())
    assert caught.value.field == "tracing"


def test_otel_instruments_count_passes_waits_jobs_and_cycles(
    scenario: Any, reader: InMemoryMetricReader
) -> None:
    scenario.setup(members=["ann"])
    scenario.conv(1, ago=90)
    scenario.conv(2, ago=30, activity_ago=10)
    app = scenario.build(metrics=OtelMetrics(MeterProvider(metric_readers=[reader])))
    app.job.run(INBOX)
    app.periodic.run()
    points = _points(reader)
    assert sum(p.value for p in points["autoassign.assignments"]) == 2
    assert points["autoassign.assignments"][0].attributes["autoassign.inbox"] == str(
        INBOX
    )
    (wait,) = points["autoassign.wait"]
    assert wait.count == 2
    assert wait.sum == pytest.approx(90 + 10)  # since creation, and since activity
    assert sum(p.value for p in points["autoassign.passes"]) == 1
    assert [p.attributes["autoassign.outcome"] for p in points["autoassign.jobs"]] == [
        "completed"
    ]
    assert sum(p.value for p in points["autoassign.periodic.cycles"]) == 1
    (inboxes,) = points["autoassign.periodic.inboxes"]
    assert inboxes.attributes == {"autoassign.result": "enqueued"}
    assert inboxes.value == 1


class Recorder(NullMetrics):
    def __init__(self) -> None:
        self.passes: list[AssignmentResult] = []
        self.cycles: list[tuple[PeriodicOutcome, float]] = []

    def pass_finished(self, result: AssignmentResult, *, seconds: float) -> None:
        self.passes.append(result)

    def cycle_finished(self, outcome: PeriodicOutcome, *, seconds: float) -> None:
        self.cycles.append((outcome, seconds))


def test_passes_the_host_runs_and_cycles_are_observed_too(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.convs([1])
    recorder = Recorder()
    app = scenario.build(metrics=recorder)
    result = app.service.perform_bulk_assignment(INBOX)  # not through the job
    assert recorder.passes == [result]
    outcome = app.periodic.run()
    assert recorder.cycles[0][0] == outcome
    assert recorder.cycles[0][1] >= 0
    assert result.assignments[0].waiting_since is not None


def test_an_observer_without_cycle_finished_is_fine(scenario: Any) -> None:
    class PassesOnly:
        def pass_finished(self, result: AssignmentResult, *, seconds: float) -> None:
            return

        def job_finished(self, outcome: Any) -> None:
            return

    scenario.setup(members=["ann"])
    app = scenario.build(metrics=PassesOnly())
    assert app.periodic.run().enqueued == (INBOX,)


def test_off_no_timer_is_read_anywhere(
    scenario: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_timer() -> float:
        raise AssertionError("perf_counter read with metrics off")

    for module in ("autoassign.jobs", "autoassign.service"):
        monkeypatch.setattr(f"{module}.time.perf_counter", no_timer)
    scenario.setup(members=["ann"])
    scenario.convs([1])
    app = scenario.build()
    assert app.service.metrics is None
    assert app.service.tracing is None
    assert app.job.run(INBOX).assigned_count == 1
    app.periodic.run()


def test_prometheus_observes_waits_and_cycles(scenario: Any) -> None:
    registry = CollectorRegistry()
    scenario.setup(members=["ann"])
    scenario.conv(1, ago=120)
    app = scenario.build(metrics=PrometheusMetrics(registry=registry))
    app.service.perform_bulk_assignment(INBOX)
    labels = {"inbox": str(INBOX), "policy": "1"}
    assert registry.get_sample_value("autoassign_wait_seconds_count", labels) == 1
    assert registry.get_sample_value("autoassign_wait_seconds_sum", labels) == 120
    assert (
        registry.get_sample_value("autoassign_passes_total", {**labels, "gate": ""})
        == 1
    )
    scenario.clock.advance(timedelta(seconds=1))
    app.periodic.run()
    assert registry.get_sample_value("autoassign_periodic_cycles_total") == 1
    assert (
        registry.get_sample_value(
            "autoassign_periodic_inboxes_total", {"result": "enqueued"}
        )
        == 1
    )
