"""The Celery adapter without a worker: the queue adapter, task registration, routes,
the beat entry, retry settings, and the tasks' bodies run eagerly in-process."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from aa_jobs_support import failing_bundle, seeded_backend
from celery import Celery
from kombu.exceptions import OperationalError

from autoassign.adapters.memory import build_in_memory
from autoassign.errors import BackendError, BackendUnavailable, ContractViolation
from autoassign.integrations import RetryablePassError, raise_if_retryable
from autoassign.integrations.celery import (
    ASSIGNMENT_TASK,
    BEAT_ENTRY,
    PERIODIC_TASK,
    CeleryJobQueue,
    register_tasks,
)
from autoassign.jobs import JobOutcome
from autoassign.wiring import Autoassign


class RecordingApp:
    def __init__(self, error: Exception | None = None) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.error = error

    def send_task(self, name: str, **options: Any) -> None:
        if self.error is not None:
            raise self.error
        self.sent.append((name, options))


def make_app() -> Celery:
    app = Celery("aa-unit", broker="memory://", set_as_current=False)
    app.conf.task_always_eager = False
    return app


class TestCeleryJobQueue:
    def test_sends_the_task_by_name_to_the_queue(self) -> None:
        app = RecordingApp()
        CeleryJobQueue(app).enqueue_assignment(10)
        CeleryJobQueue(
            app, task_name="x.y", queue="fast", options={"priority": 3}
        ).enqueue_assignment("i-2")
        assert app.sent == [
            (ASSIGNMENT_TASK, {"args": (10,), "queue": "default"}),
            ("x.y", {"args": ("i-2",), "queue": "fast", "priority": 3}),
        ]

    def test_a_delayed_run_is_sent_with_a_countdown(self) -> None:
        app = RecordingApp()
        queue = CeleryJobQueue(app, options={"priority": 3})
        queue.enqueue_assignment_after(10, delay=timedelta(seconds=2, milliseconds=100))
        assert app.sent == [
            (
                ASSIGNMENT_TASK,
                {"args": (10,), "queue": "default", "priority": 3, "countdown": 2.1},
            )
        ]
        with pytest.raises(ValueError, match="negative"):
            queue.enqueue_assignment_after(10, delay=timedelta(seconds=-1))
        assert len(app.sent) == 1
        down = CeleryJobQueue(RecordingApp(OperationalError("refused")))
        with pytest.raises(BackendUnavailable):
            down.enqueue_assignment_after(10, delay=timedelta(seconds=1))

    def test_broker_down_is_backend_unavailable(self) -> None:
        queue = CeleryJobQueue(RecordingApp(OperationalError("refused")))
        with pytest.raises(BackendUnavailable) as info:
            queue.enqueue_assignment(10)
        assert isinstance(info.value.__cause__, OperationalError)

    def test_other_failures_are_backend_errors(self) -> None:
        queue = CeleryJobQueue(RecordingApp(TypeError("not serialisable")))
        with pytest.raises(BackendError) as info:
            queue.enqueue_assignment(10)
        assert not isinstance(info.value, BackendUnavailable)

    def test_rejects_empty_names(self) -> None:
        with pytest.raises(ValueError, match="queue"):
            CeleryJobQueue(RecordingApp(), queue="")
        with pytest.raises(ValueError, match="task_name"):
            CeleryJobQueue(RecordingApp(), task_name="")


class TestRegisterTasks:
    def test_names_routes_beat_and_retries(self) -> None:
        app = make_app()
        tasks = register_tasks(app, lambda: pytest.fail("not built at registration"))
        assert tasks.assignment.name == ASSIGNMENT_TASK
        assert tasks.periodic.name == PERIODIC_TASK
        assert ASSIGNMENT_TASK in app.tasks
        assert PERIODIC_TASK in app.tasks
        assert app.conf.task_routes == {
            ASSIGNMENT_TASK: {"queue": "default"},
            PERIODIC_TASK: {"queue": "scheduled_jobs"},
        }
        assert app.conf.beat_schedule[BEAT_ENTRY] == {
            "task": PERIODIC_TASK,
            "schedule": timedelta(minutes=30),
            "options": {"queue": "scheduled_jobs", "expires": 1800.0},
        }
        for task in (tasks.assignment, tasks.periodic):
            assert task.autoretry_for == (BackendUnavailable,)
            assert task.max_retries == 3
            assert task.retry_backoff == 2
            assert task.retry_backoff_max == 60
            assert task.retry_jitter is True
            assert task.ignore_result is True
        assert tasks.assignment.time_limit == 300.0
        queue = tasks.job_queue()
        assert (queue.task_name, queue.queue) == (ASSIGNMENT_TASK, "default")

    def test_custom_queues_schedule_and_existing_config(self) -> None:
        app = make_app()
        app.conf.task_routes = {"host.task": {"queue": "host"}}
        app.conf.beat_schedule = {"host-entry": {"task": "host.task", "schedule": 60}}
        register_tasks(
            app,
            lambda: pytest.fail("unused"),
            assignment_queue="assign",
            periodic_queue="cron",
            periodic_every=timedelta(minutes=5),
            max_retries=1,
        )
        assert app.conf.task_routes["host.task"] == {"queue": "host"}
        assert app.conf.task_routes[ASSIGNMENT_TASK] == {"queue": "assign"}
        assert set(app.conf.beat_schedule) == {"host-entry", BEAT_ENTRY}
        assert app.conf.beat_schedule[BEAT_ENTRY]["schedule"] == timedelta(minutes=5)
        assert app.conf.beat_schedule[BEAT_ENTRY]["options"]["queue"] == "cron"
        assert app.tasks[ASSIGNMENT_TASK].max_retries == 1

    def test_router_lists_are_kept(self) -> None:
        app = make_app()
        app.conf.task_routes = [{"host.task": {"queue": "host"}}]
        register_tasks(app, lambda: pytest.fail("unused"))
        routes = app.conf.task_routes
        assert routes[0][PERIODIC_TASK] == {"queue": "scheduled_jobs"}
        assert routes[1] == {"host.task": {"queue": "host"}}

    def test_no_beat_entry_when_periodic_every_is_none(self) -> None:
        app = make_app()
        register_tasks(app, lambda: pytest.fail("unused"), periodic_every=None)
        assert BEAT_ENTRY not in (app.conf.beat_schedule or {})

    def test_invalid_settings(self) -> None:
        with pytest.raises(ValueError, match="periodic_every"):
            register_tasks(make_app(), Autoassign, periodic_every=timedelta(0))  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="max_retries"):
            register_tasks(make_app(), Autoassign, max_retries=-1)  # type: ignore[arg-type]


class TestTaskBodies:
    def test_assignment_task_runs_the_job_and_builds_once(self) -> None:
        backend = seeded_backend()
        built: list[Autoassign] = []

        def factory() -> Autoassign:
            built.append(build_in_memory(backend))
            return built[-1]

        tasks = register_tasks(make_app(), factory)
        tasks.assignment.apply(args=(10,)).get()
        tasks.assignment.apply(args=(10,)).get()
        assert len(built) == 1
        conversation = backend.conversations.get("c1")
        assert conversation is not None
        assert conversation.assignee == "a1"

    def test_periodic_task_requests_every_eligible_inbox(self) -> None:
        backend = seeded_backend()
        tasks = register_tasks(make_app(), lambda: build_in_memory(backend))
        tasks.periodic.apply().get()
        assert backend.jobs.queued == (10,)

    def test_backend_unavailable_is_retried_with_a_bound(self) -> None:
        calls: list[object] = []
        bundle = failing_bundle(
            BackendUnavailable("lease store down"), calls, raises=True
        )
        tasks = register_tasks(make_app(), bundle, max_retries=2)  # type: ignore[arg-type]
        result = tasks.assignment.apply(args=(10,))
        assert isinstance(result.result, BackendUnavailable)
        assert calls == [10, 10, 10]  # the first run and two retries

    def test_a_pass_failing_on_an_unavailable_backend_is_retried(self) -> None:
        calls: list[object] = []
        bundle = failing_bundle(BackendUnavailable("redis down"), calls)
        tasks = register_tasks(make_app(), bundle, max_retries=1)  # type: ignore[arg-type]
        result = tasks.assignment.apply(args=(10,))
        assert isinstance(result.result, RetryablePassError)
        assert calls == [10, 10]

    def test_other_errors_are_not_retried(self) -> None:
        calls: list[object] = []
        bundle = failing_bundle(ContractViolation("nonsense"), calls)
        tasks = register_tasks(make_app(), bundle)  # type: ignore[arg-type]
        result = tasks.assignment.apply(args=(10,))
        result.get()
        assert result.successful()
        assert calls == [10]


def test_raise_if_retryable() -> None:
    raise_if_retryable(JobOutcome(inbox=1))
    raise_if_retryable(
        JobOutcome(
            inbox=1,
            error="BackendError: bad reply",
            exception=BackendError("bad reply"),
        )
    )
    with pytest.raises(RetryablePassError) as info:
        raise_if_retryable(
            JobOutcome(
                inbox=1,
                error="BackendUnavailable: down",
                exception=BackendUnavailable("down"),
            )
        )
    assert info.value.inbox == 1


@pytest.mark.parametrize(
    ("module", "extra"),
    [("celery", "autoassign[celery]"), ("rq", "autoassign[rq]")],
)
def test_missing_engine_names_the_extra(module: str, extra: str) -> None:
    code = (
        "import sys\n"
        f"sys.modules[{module!r}] = None\n"
        "try:\n"
        f"    import autoassign.integrations.{module}\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert extra in completed.stdout


def test_autoassign_does_not_import_the_engines() -> None:
    code = (
        "import sys, autoassign\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'celery', 'rq'}"
        " or m.startswith('autoassign.integrations')))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert completed.stdout.strip() == "[]"
