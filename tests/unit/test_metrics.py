"""Metrics (issue 20): the job reports each pass and each run to the ``metrics``
observer given to ``build_autoassign``; off by default, with no call at all; the
Prometheus observer counts assignments, skips by reason, degradations by kind and job
outcomes, and observes the pass duration."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from autoassign import (
    AssignmentResult,
    ConfigurationError,
    JobOutcome,
    Metrics,
    NullMetrics,
)
from autoassign.integrations.prometheus import PrometheusMetrics
from autoassign.testing import FakeClock, InMemoryBackend, build_in_memory

INBOX, POLICY = "10", "1"


class Recorder(NullMetrics):
    def __init__(self) -> None:
        self.passes: list[tuple[AssignmentResult, float]] = []
        self.jobs: list[JobOutcome] = []

    def pass_finished(self, result: AssignmentResult, *, seconds: float) -> None:
        self.passes.append((result, seconds))

    def job_finished(self, outcome: JobOutcome) -> None:
        self.jobs.append(outcome)


def _raise(boom: type[Exception]) -> Any:
    def hook(original: Any, *args: Any, **kwargs: Any) -> Any:
        raise boom("down")

    return hook


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def prom(registry: CollectorRegistry) -> PrometheusMetrics:
    return PrometheusMetrics(registry=registry)


def test_off_by_default_the_job_reads_no_timer(
    scenario: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario.setup(members=["ann"])
    scenario.convs([1])

    def no_timer() -> float:
        raise AssertionError("perf_counter read with metrics off")

    monkeypatch.setattr("autoassign.jobs.time.perf_counter", no_timer)
    assert scenario.app.job.metrics is None
    assert scenario.app.job.run(10).assigned_count == 1


def test_the_observer_sees_every_pass_and_the_run(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.convs([1, 2, 3])
    recorder = Recorder()
    outcome = scenario.build(metrics=recorder).job.run(10, limit=2)
    assert [result for result, _ in recorder.passes] == list(outcome.results)
    assert len(recorder.passes) == 2
    assert all(seconds >= 0 for _, seconds in recorder.passes)
    assert recorder.jobs == [outcome]
    assert {result.policy for result in outcome.results} == {1}


def test_a_failing_observer_never_fails_the_job(scenario: Any) -> None:
    class Broken(NullMetrics):
        def pass_finished(self, result: AssignmentResult, *, seconds: float) -> None:
            raise RuntimeError("observer down")

        def job_finished(self, outcome: JobOutcome) -> None:
            raise RuntimeError("observer down")

    scenario.setup(members=["ann"])
    scenario.convs([1])
    outcome = scenario.build(metrics=Broken()).job.run(10)
    assert outcome.error is None
    assert outcome.assigned_count == 1


def test_metrics_that_are_not_an_observer_are_refused(scenario: Any) -> None:
    with pytest.raises(ConfigurationError, match="metrics must have") as caught:
        scenario.build(metrics=object())
    assert caught.value.field == "metrics"


def test_protocol_is_runtime_checkable(prom: PrometheusMetrics) -> None:
    assert isinstance(prom, Metrics)
    assert isinstance(NullMetrics(), Metrics)


def test_prometheus_counts_assignments_skips_passes_and_duration(
    scenario: Any, prom: PrometheusMetrics, registry: CollectorRegistry
) -> None:
    # ann online and bob away: two conversations for ann, one team nobody online in.
    scenario.setup(members=["ann", "bob"], online=["ann"])
    scenario.backend.add_team(7, account=1, members=["bob"])
    scenario.convs([1, 2])
    scenario.conv(3, ago=5, team=7)
    app = scenario.build(metrics=prom)
    outcome = app.job.run(10)
    assert outcome.assigned_count == 2
    labels = {"inbox": INBOX, "policy": POLICY}
    assert _sample(registry, "autoassign_assignments_total", **labels) == 2
    assert (
        _sample(
            registry,
            "autoassign_skipped_conversations_total",
            reason="no_team_member_online",
            **labels,
        )
        == 1
    )
    assert _sample(registry, "autoassign_passes_total", gate="", **labels) == 1
    assert _sample(registry, "autoassign_pass_duration_seconds_count", **labels) == 1
    assert _sample(registry, "autoassign_pass_duration_seconds_sum", **labels) >= 0
    assert (
        _sample(registry, "autoassign_jobs_total", inbox=INBOX, outcome="completed")
        == 1
    )


def test_prometheus_counts_a_gated_pass_without_a_policy(
    scenario: Any, prom: PrometheusMetrics, registry: CollectorRegistry
) -> None:
    scenario.setup(members=["ann"], link_policy=False)
    scenario.build(metrics=prom).job.run(10)
    assert (
        _sample(
            registry,
            "autoassign_passes_total",
            inbox=INBOX,
            policy="",
            gate="no_policy",
        )
        == 1
    )


def test_prometheus_counts_degradations_by_kind(
    scenario: Any,
    prom: PrometheusMetrics,
    registry: CollectorRegistry,
    wrap: Any,
    boom: Any,
) -> None:
    down = _raise(boom)
    scenario.setup(members=["ann"])
    scenario.convs([1, 2])
    presence = wrap(scenario.backend.presence, statuses=down)
    app = scenario.build(metrics=prom, presence=presence)
    app.job.run(10)
    app.job.run(10)
    assert (
        _sample(
            registry,
            "autoassign_degradations_total",
            inbox=INBOX,
            kind="presence_unavailable",
        )
        == 2
    )
    assert (
        _sample(
            registry,
            "autoassign_skipped_conversations_total",
            inbox=INBOX,
            policy=POLICY,
            reason="no_agent_online",
        )
        == 4
    )


def test_prometheus_counts_job_outcomes(
    scenario: Any,
    prom: PrometheusMetrics,
    registry: CollectorRegistry,
    wrap: Any,
    boom: Any,
) -> None:
    down = _raise(boom)
    scenario.setup(members=["ann"])
    scenario.convs([1])
    # Handed off: another pass holds the lease.
    holder = scenario.backend.lease.acquire(10, ttl=timedelta(minutes=5))
    assert holder is not None
    assert scenario.build(metrics=prom).job.run(10).handed_off
    holder.release()
    # Failed: the repository raises (not strict, so the job reports it).
    conversations = wrap(scenario.backend.conversations, unassigned_open=down)
    failing = scenario.build(metrics=prom, conversations=conversations, strict=False)
    assert failing.job.run(10).error is not None

    def count(outcome: str) -> float:
        return _sample(registry, "autoassign_jobs_total", inbox=INBOX, outcome=outcome)

    assert count("handed_off") == 1
    assert count("failed") == 1
    assert count("completed") == 0


def test_prometheus_counts_a_requeued_job(
    scenario: Any, prom: PrometheusMetrics, registry: CollectorRegistry
) -> None:
    scenario.setup(members=["ann"])
    scenario.convs(range(1, 7))
    # Six conversations, pages of one: five rounds, then the job re-enqueues itself.
    outcome = scenario.build(metrics=prom).job.run(10, limit=1)
    assert outcome.requeued
    assert (
        _sample(registry, "autoassign_jobs_total", inbox=INBOX, outcome="requeued") == 1
    )
    labels = {"inbox": INBOX, "policy": POLICY}
    assert _sample(registry, "autoassign_pass_duration_seconds_count", **labels) == 5
    assert _sample(registry, "autoassign_assignments_total", **labels) == 5


def test_prometheus_counts_a_pass_run_without_the_lease(
    scenario: Any,
    prom: PrometheusMetrics,
    registry: CollectorRegistry,
    wrap: Any,
    boom: Any,
) -> None:
    down = _raise(boom)
    scenario.setup(members=["ann"])
    scenario.convs([1])
    lease = wrap(scenario.backend.lease, acquire=down)
    outcome = scenario.build(metrics=prom, lease=lease, strict=False).job.run(10)
    assert outcome.unleased
    assert (
        _sample(
            registry,
            "autoassign_degradations_total",
            inbox=INBOX,
            kind="lease_unavailable",
        )
        == 1
    )


def test_build_in_memory_takes_metrics(registry: CollectorRegistry) -> None:
    prom = PrometheusMetrics(registry=registry, namespace="helpdesk")
    app = build_in_memory(InMemoryBackend(clock=FakeClock()), metrics=prom)
    assert app.job.metrics is prom
    app.job.run(99)
    assert (
        _sample(
            registry,
            "helpdesk_passes_total",
            inbox="99",
            policy="",
            gate="inbox_not_found",
        )
        == 1
    )
