"""The RQ adapter without a worker process (fakeredis): the queue adapter's job options,
the factory registry, the periodic chain's slots, and the functions run by an
in-process burst worker."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import fakeredis
import pytest
import rq
from aa_jobs_support import failing_bundle, seeded_backend
from redis import exceptions as rx

from autoassign.adapters.memory import InMemoryBackend, build_in_memory
from autoassign.errors import BackendError, BackendUnavailable, ConfigurationError
from autoassign.integrations import RetryablePassError
from autoassign.integrations import rq as aa_rq
from autoassign.integrations.rq import (
    FACTORY_ENV,
    RQJobQueue,
    configure,
    get_autoassign,
    run_assignment_job,
    run_periodic_cycle,
    schedule_periodic,
)
from autoassign.wiring import Autoassign

EVERY = timedelta(minutes=30)


@pytest.fixture
def connection() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


@pytest.fixture
def backend() -> InMemoryBackend:
    return seeded_backend()


@pytest.fixture(autouse=True)
def no_factory(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(FACTORY_ENV, raising=False)
    configure(None)
    yield
    configure(None)


_BUILT: list[Autoassign] = []
_BACKEND: list[InMemoryBackend] = []


def env_factory() -> Autoassign:
    """Named by ``AUTOASSIGN_RQ_FACTORY`` in a test below."""
    _BUILT.append(build_in_memory(_BACKEND[-1]))
    return _BUILT[-1]


class TestRQJobQueue:
    def test_job_options(self, connection: fakeredis.FakeRedis) -> None:
        queue = rq.Queue("default", connection=connection)
        RQJobQueue(queue).enqueue_assignment(10)
        (job,) = queue.get_jobs()
        assert job.func_name == "autoassign.integrations.rq.run_assignment_job"
        assert job.args == (10,)
        assert job.origin == "default"
        assert job.retries_left == 3
        assert job.retry_intervals == [5, 30, 120]
        assert job.timeout == 300
        assert job.result_ttl == 0

    def test_a_delayed_run_goes_to_the_scheduled_registry(
        self, connection: fakeredis.FakeRedis
    ) -> None:
        queue = rq.Queue("default", connection=connection)
        before = datetime.now(timezone.utc)
        RQJobQueue(queue).enqueue_assignment_after(
            10, delay=timedelta(seconds=29, milliseconds=1)
        )
        assert queue.get_jobs() == []
        registry = queue.scheduled_job_registry
        (job_id,) = registry.get_job_ids()
        job = queue.fetch_job(job_id)
        assert job is not None
        assert job.args == (10,)
        assert job.result_ttl == 0
        assert job.timeout == 300
        due = registry.get_scheduled_time(job_id)
        # Never early: RQ keeps whole seconds, so the time is rounded up, not down.
        assert before + timedelta(seconds=29, milliseconds=1) <= due
        assert due <= before + timedelta(seconds=31)
        with pytest.raises(ValueError, match="negative"):
            RQJobQueue(queue).enqueue_assignment_after(10, delay=timedelta(seconds=-1))

    def test_custom_options(self, connection: fakeredis.FakeRedis) -> None:
        queue = rq.Queue("fast", connection=connection)
        RQJobQueue(
            queue,
            retry=None,
            job_timeout=timedelta(seconds=90),
            func="host.jobs.assign",
        ).enqueue_assignment("inbox-7")
        (job,) = queue.get_jobs()
        assert job.func_name == "host.jobs.assign"
        assert job.args == ("inbox-7",)
        assert job.retries_left is None
        assert job.timeout == 90

    def test_redis_down_is_backend_unavailable(self) -> None:
        class DownQueue:
            name = "default"

            def enqueue(self, *args: object, **kwargs: object) -> None:
                raise rx.ConnectionError("refused")

        with pytest.raises(BackendUnavailable):
            RQJobQueue(DownQueue()).enqueue_assignment(10)

    def test_other_failures_are_backend_errors(self) -> None:
        class BrokenQueue:
            def enqueue(self, *args: object, **kwargs: object) -> None:
                raise rx.ResponseError("WRONGTYPE")

        with pytest.raises(BackendError) as info:
            RQJobQueue(BrokenQueue()).enqueue_assignment(10)
        assert not isinstance(info.value, BackendUnavailable)


class TestFactory:
    def test_missing_factory_is_a_configuration_error(self) -> None:
        with pytest.raises(ConfigurationError, match=FACTORY_ENV):
            get_autoassign()

    def test_configure_builds_once(self, backend: InMemoryBackend) -> None:
        built: list[Autoassign] = []

        def factory() -> Autoassign:
            built.append(build_in_memory(backend))
            return built[-1]

        configure(factory)
        run_assignment_job(10)
        run_assignment_job(10)
        assert len(built) == 1
        stored = backend.conversations.get("c1")
        assert stored is not None
        assert stored.assignee == "a1"

    def test_factory_from_the_environment(
        self, backend: InMemoryBackend, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        _BACKEND.append(backend)
        monkeypatch.setenv(FACTORY_ENV, f"{__name__}:env_factory")
        assert get_autoassign() is get_autoassign() is _BUILT[-1]

    @pytest.mark.parametrize("value", ["no-colon", "json:dumps.nope", "json:__name__"])
    def test_bad_factory_paths(
        self, value: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(FACTORY_ENV, value)
        with pytest.raises((ConfigurationError, AttributeError)):
            get_autoassign()

    def test_unavailable_pass_raises_for_rq_retry(self) -> None:
        calls: list[object] = []
        configure(failing_bundle(BackendUnavailable("down"), calls))  # type: ignore[arg-type]
        with pytest.raises(RetryablePassError) as info:
            run_assignment_job(10)
        assert isinstance(info.value, BackendUnavailable)
        assert info.value.inbox == 10
        assert calls == [10]

    def test_other_pass_errors_are_not_raised(self) -> None:
        calls: list[object] = []
        configure(failing_bundle(BackendError("bad reply"), calls))  # type: ignore[arg-type]
        run_assignment_job(10)
        assert calls == [10]


class TestPeriodicSchedule:
    def test_slots_and_idempotence(self, connection: fakeredis.FakeRedis) -> None:
        queue = rq.Queue("scheduled_jobs", connection=connection)
        now = datetime(2026, 1, 1, 12, 10, tzinfo=timezone.utc)
        first = schedule_periodic(queue, every=EVERY, now=now)
        again = schedule_periodic(queue, every=EVERY, now=now + timedelta(minutes=5))
        assert first.id == again.id
        registry = queue.scheduled_job_registry
        assert registry.get_job_ids() == [first.id]
        due = registry.get_scheduled_time(first)
        assert due == datetime(2026, 1, 1, 12, 30, tzinfo=timezone.utc)
        slot = first.kwargs["slot"]
        assert first.id == f"autoassign-periodic-{slot}"
        assert first.kwargs == {
            "every_seconds": 1800.0,
            "slot": slot,
            "name": "autoassign-periodic",
        }
        assert first.func_name == "autoassign.integrations.rq.run_periodic_cycle"
        assert first.ttl is None  # a TTL would start counting before the job is due

    def test_never_reschedules_its_own_slot(
        self, connection: fakeredis.FakeRedis
    ) -> None:
        queue = rq.Queue("scheduled_jobs", connection=connection)
        now = datetime(2026, 1, 1, 12, 10, tzinfo=timezone.utc)
        current = schedule_periodic(queue, every=EVERY, now=now).kwargs["slot"]
        # The job of slot S running (early) before S's time: the next is S + 1.
        job = schedule_periodic(queue, every=EVERY, now=now, after_slot=current)
        assert job.kwargs["slot"] == current + 1

    def test_rejects_non_positive_periods(
        self, connection: fakeredis.FakeRedis
    ) -> None:
        with pytest.raises(ValueError, match="every"):
            schedule_periodic(rq.Queue("q", connection=connection), every=timedelta(0))


def test_burst_worker_runs_jobs_and_chains_the_cycle(
    connection: fakeredis.FakeRedis, backend: InMemoryBackend
) -> None:
    assignment = rq.Queue("default", connection=connection)
    periodic = rq.Queue("scheduled_jobs", connection=connection)
    configure(lambda: build_in_memory(backend))
    periodic.enqueue(
        run_periodic_cycle,
        kwargs={"every_seconds": 1800.0, "slot": 5, "name": "aa-unit"},
        job_id="aa-unit-5",
    )
    RQJobQueue(assignment).enqueue_assignment(10)
    worker = rq.SimpleWorker([assignment, periodic], connection=connection)
    worker.work(burst=True)
    stored = backend.conversations.get("c1")
    assert stored is not None
    assert stored.assignee == "a1"
    assert backend.jobs.queued == (10,)  # the cycle requested the inbox
    (next_id,) = periodic.scheduled_job_registry.get_job_ids()
    assert next_id.startswith("aa-unit-")
    assert int(next_id.rsplit("-", 1)[1]) > 5
    assert aa_rq.DEFAULT_RETRY_INTERVALS == (5, 30, 120)
