"""Celery integration (extra ``autoassign[celery]``).

Two pieces, both pointed at the host's own ``Celery`` app::

    from celery import Celery
    from autoassign.integrations.celery import CeleryJobQueue, register_tasks

    app = Celery("helpdesk", broker="redis://...")

    def build() -> autoassign.Autoassign:          # called once per worker process
        return autoassign.build_autoassign(..., jobs=CeleryJobQueue(app))

    tasks = register_tasks(app, build)             # the two tasks and a beat entry

* :class:`CeleryJobQueue` is the :class:`~autoassign.ports.JobQueue`: it sends the
  per-inbox task by name (``app.send_task``), so web processes need not import the task.
* :func:`register_tasks` registers ``autoassign.assignment_job`` (``factory().job.run``,
  queue ``default``) and ``autoassign.periodic_cycle`` (``factory().periodic.run``, queue
  ``scheduled_jobs``) and adds a beat entry running the cycle every 30 minutes.

Coalescing is the core's: triggers go through
:func:`autoassign.jobs.request_assignment` and the :class:`~autoassign.ports.InboxLease`,
so a burst of saves queues one task per inbox and no save is lost. Retries use Celery's
``autoretry_for`` with exponential backoff, only for
:class:`~autoassign.errors.BackendUnavailable`: running a pass again cannot
double-assign, because every assignment is a compare-and-set claim. See ``docs/jobs.md``.
"""

from __future__ import annotations

try:
    import celery as _celery  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "autoassign.integrations.celery needs Celery: install autoassign[celery]"
    ) from exc

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import attrs

from autoassign.errors import BackendUnavailable
from autoassign.integrations._common import (
    AutoassignFactory,
    PerProcessFactory,
    enqueue_errors,
    run_assignment,
    run_periodic,
)
from autoassign.jobs import DEFAULT_LEASE_TTL
from autoassign.model import InboxId

__all__ = [
    "ASSIGNMENT_TASK",
    "BEAT_ENTRY",
    "DEFAULT_ASSIGNMENT_QUEUE",
    "DEFAULT_PERIODIC_EVERY",
    "DEFAULT_PERIODIC_QUEUE",
    "PERIODIC_TASK",
    "CeleryJobQueue",
    "CeleryTasks",
    "register_tasks",
]

logger = logging.getLogger(__name__)

ASSIGNMENT_TASK = "autoassign.assignment_job"
"""The name of the per-inbox task (the spec's ``AutoAssignment::AssignmentJob``)."""
PERIODIC_TASK = "autoassign.periodic_cycle"
"""The name of the periodic task (the spec's ``AutoAssignment::PeriodicAssignmentJob``)."""
BEAT_ENTRY = "autoassign-periodic-cycle"
"""The key of the periodic cycle's entry in ``app.conf.beat_schedule``."""
DEFAULT_ASSIGNMENT_QUEUE = "default"
DEFAULT_PERIODIC_QUEUE = "scheduled_jobs"
DEFAULT_PERIODIC_EVERY = timedelta(minutes=30)

_BROKER_UNAVAILABLE: tuple[type[BaseException], ...]
try:
    from kombu.exceptions import OperationalError as _KombuOperationalError

    _BROKER_UNAVAILABLE = (_KombuOperationalError, ConnectionError, TimeoutError)
except ImportError:  # pragma: no cover - kombu ships with celery
    _BROKER_UNAVAILABLE = (ConnectionError, TimeoutError)


class CeleryJobQueue:
    """:class:`~autoassign.ports.JobQueue` over a Celery app.

    Args:
        app: the host's ``Celery`` app (only its broker connection is used).
        task_name: the per-inbox task's name, as given to :func:`register_tasks`.
        queue: the queue the task is sent to (the spec's ``default``).
        options: extra ``send_task`` options (``priority``, ``expires``, ...).

    Broker failures are raised as :class:`~autoassign.errors.BackendUnavailable`, other
    failures as :class:`~autoassign.errors.BackendError` (the trigger logs them and
    clears the inbox's pending mark, so the next save tries again).

    It is a :class:`~autoassign.ports.DelayedJobQueue` too (Celery's ``countdown``):
    a job that hands off to a pass holding the lease asks for a re-run at that
    lease's expiry, so a worker that died mid-pass is replaced within about one lease
    TTL. Keep ``options`` free of ``expires`` shorter than ``lease_ttl`` (a delayed
    re-run would expire before it is due).
    """

    def __init__(
        self,
        app: Any,
        *,
        task_name: str = ASSIGNMENT_TASK,
        queue: str = DEFAULT_ASSIGNMENT_QUEUE,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        if not task_name:
            raise ValueError("task_name must not be empty")
        if not queue:
            raise ValueError("queue must not be empty")
        self.app = app
        self.task_name = task_name
        self.queue = queue
        self.options: dict[str, Any] = dict(options or {})

    def enqueue_assignment(self, inbox: InboxId) -> None:
        self._send(inbox, {})

    def enqueue_assignment_after(self, inbox: InboxId, *, delay: timedelta) -> None:
        """The :class:`~autoassign.ports.DelayedJobQueue` capability: send the task
        with ``countdown`` = ``delay`` (seconds, a float), so a worker runs it no
        earlier than that."""
        if delay < timedelta(0):
            raise ValueError(f"delay must not be negative, got {delay}")
        self._send(inbox, {"countdown": delay.total_seconds()})

    def _send(self, inbox: InboxId, extra: dict[str, Any]) -> None:
        with enqueue_errors(
            f"could not send {self.task_name} for inbox {inbox}", _BROKER_UNAVAILABLE
        ):
            self.app.send_task(
                self.task_name,
                args=(inbox,),
                queue=self.queue,
                **{**self.options, **extra},
            )

    def __repr__(self) -> str:
        return f"CeleryJobQueue(task_name={self.task_name!r}, queue={self.queue!r})"


@attrs.frozen(kw_only=True)
class CeleryTasks:
    """What :func:`register_tasks` registered."""

    app: Any
    assignment: Any
    """The per-inbox task: ``assignment.delay(inbox)`` runs one job."""
    periodic: Any
    """The periodic task: ``periodic.delay()`` runs one cycle now."""
    assignment_queue: str
    periodic_queue: str
    periodic_every: timedelta | None
    factory: PerProcessFactory

    def job_queue(self, **options: Any) -> CeleryJobQueue:
        """A :class:`CeleryJobQueue` sending this registration's per-inbox task."""
        return CeleryJobQueue(
            self.app,
            task_name=self.assignment.name,
            queue=self.assignment_queue,
            options=options,
        )


def _add_routes(app: Any, routes: dict[str, dict[str, str]]) -> None:
    current = app.conf.task_routes
    if current is None:
        app.conf.task_routes = routes
    elif isinstance(current, Mapping):
        app.conf.task_routes = {**current, **routes}
    else:  # a list/tuple of routers: ours first
        app.conf.task_routes = (routes, *current)


def register_tasks(
    app: Any,
    factory: AutoassignFactory,
    *,
    assignment_queue: str = DEFAULT_ASSIGNMENT_QUEUE,
    periodic_queue: str = DEFAULT_PERIODIC_QUEUE,
    periodic_every: timedelta | None = DEFAULT_PERIODIC_EVERY,
    assignment_task_name: str = ASSIGNMENT_TASK,
    periodic_task_name: str = PERIODIC_TASK,
    beat_entry: str = BEAT_ENTRY,
    max_retries: int = 3,
    retry_backoff: int = 2,
    retry_backoff_max: int = 60,
    time_limit: timedelta | None = DEFAULT_LEASE_TTL,
) -> CeleryTasks:
    """Register autoassign's two tasks on ``app`` and schedule the periodic cycle.

    Args:
        app: the host's ``Celery`` app.
        factory: builds the :class:`~autoassign.wiring.Autoassign` bundle; called once
            per worker process, on the first task, and cached (again after a fork).
        assignment_queue: the per-inbox task's queue (spec: ``default``).
        periodic_queue: the periodic task's queue (spec: ``scheduled_jobs``).
        periodic_every: how often beat runs the cycle (spec: 30 minutes); ``None``
            adds no beat entry (the host schedules ``periodic_task_name`` itself).
        max_retries, retry_backoff, retry_backoff_max: Celery's ``autoretry_for``
            settings, applied only to
            :class:`~autoassign.errors.BackendUnavailable` (a retry cannot
            double-assign: claims are compare-and-set).
        time_limit: the per-inbox task's hard time limit; keep it at most the core's
            ``lease_ttl`` (default 5 minutes) so two passes over one inbox never overlap.

    Both tasks route to their queues (``app.conf.task_routes``), so ``.delay()`` goes
    to the right queue too; workers must consume both (``-Q default,scheduled_jobs``).
    Results are not stored (``ignore_result``).
    """
    if max_retries < 0:
        raise ValueError("max_retries must be >= 0")
    if periodic_every is not None and periodic_every <= timedelta(0):
        raise ValueError("periodic_every must be positive")
    cached = (
        factory
        if isinstance(factory, PerProcessFactory)
        else PerProcessFactory(factory)
    )
    retry_options: dict[str, Any] = {
        "autoretry_for": (BackendUnavailable,),
        "max_retries": max_retries,
        "retry_backoff": retry_backoff,
        "retry_backoff_max": retry_backoff_max,
        "retry_jitter": True,
    }
    limit = None if time_limit is None else time_limit.total_seconds()

    @app.task(  # type: ignore[untyped-decorator,unused-ignore]
        name=assignment_task_name,
        ignore_result=True,
        shared=False,
        time_limit=limit,
        **retry_options,
    )
    def assignment_job(inbox: InboxId) -> None:
        run_assignment(cached, inbox)

    @app.task(  # type: ignore[untyped-decorator,unused-ignore]
        name=periodic_task_name,
        ignore_result=True,
        shared=False,
        **retry_options,
    )
    def periodic_cycle() -> None:
        run_periodic(cached)

    _add_routes(
        app,
        {
            assignment_task_name: {"queue": assignment_queue},
            periodic_task_name: {"queue": periodic_queue},
        },
    )
    if periodic_every is not None:
        schedule = dict(app.conf.beat_schedule or {})
        schedule[beat_entry] = {
            "task": periodic_task_name,
            "schedule": periodic_every,
            # A cycle that waited a whole period is superseded by the next one.
            "options": {
                "queue": periodic_queue,
                "expires": periodic_every.total_seconds(),
            },
        }
        app.conf.beat_schedule = schedule
    return CeleryTasks(
        app=app,
        assignment=assignment_job,
        periodic=periodic_cycle,
        assignment_queue=assignment_queue,
        periodic_queue=periodic_queue,
        periodic_every=periodic_every,
        factory=cached,
    )
