"""RQ integration (extra ``autoassign[rq]``).

Enqueuing side (web processes, and the workers themselves)::

    from redis import Redis
    from rq import Queue
    from autoassign.integrations.rq import RQJobQueue

    jobs = RQJobQueue(Queue("default", connection=Redis.from_url(url)))
    app = autoassign.build_autoassign(..., jobs=jobs)

Worker side: RQ runs :func:`run_assignment_job` and :func:`run_periodic_cycle`, which
need the host's bundle. Tell them how to build it, either with :func:`configure` in a
module the worker imports, or with the environment variable ``AUTOASSIGN_RQ_FACTORY``
naming a callable (``"myapp.autoassign:build"``)::

    AUTOASSIGN_RQ_FACTORY=myapp.autoassign:build rq worker --with-scheduler \\
        default scheduled_jobs

The factory is called once per process and cached (RQ's default worker forks a child per
job, so prefer ``--worker-class rq.SimpleWorker`` or build cheap bundles).

**The periodic cycle** uses RQ's own scheduler (workers started with
``--with-scheduler``), no extra package: :func:`schedule_periodic` schedules the next
cycle with ``Queue.enqueue_at`` at the next multiple of ``every`` (UTC epoch slots), and
each cycle schedules the one after it before it runs. The job id names the slot
(``autoassign-periodic-<slot>``), so calling :func:`schedule_periodic` from every
process at start-up is idempotent and keeps a single chain; call it at every worker
start so a chain lost with its Redis data is restored.

Coalescing is the core's (:func:`autoassign.jobs.request_assignment` and the
:class:`~autoassign.ports.InboxLease`). Retries use RQ's ``Retry`` (3 tries, 5/30/120
seconds by default). The job raises for :class:`~autoassign.errors.BackendUnavailable`
(and for errors escaping before a pass); other errors inside a pass are logged by the
core and not raised. A retried pass cannot double-assign: every assignment is a
compare-and-set claim.
See ``docs/jobs.md``.
"""

from __future__ import annotations

try:
    import rq as _rq
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "autoassign.integrations.rq needs RQ: install autoassign[rq]"
    ) from exc

import importlib
import logging
import math
import os
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from redis import exceptions as rx

from autoassign._quietlog import degradations
from autoassign.errors import ConfigurationError
from autoassign.integrations._common import (
    AutoassignFactory,
    PerProcessFactory,
    enqueue_errors,
    run_assignment,
    run_periodic,
)
from autoassign.jobs import DEFAULT_LEASE_TTL
from autoassign.model import InboxId
from autoassign.wiring import Autoassign

__all__ = [
    "DEFAULT_PERIODIC_EVERY",
    "DEFAULT_RETRY_INTERVALS",
    "FACTORY_ENV",
    "PERIODIC_JOB_PREFIX",
    "RQJobQueue",
    "configure",
    "default_retry",
    "get_autoassign",
    "run_assignment_job",
    "run_periodic_cycle",
    "schedule_periodic",
]

logger = logging.getLogger(__name__)

FACTORY_ENV = "AUTOASSIGN_RQ_FACTORY"
"""Environment variable naming the host factory, ``"package.module:callable"``."""
PERIODIC_JOB_PREFIX = "autoassign-periodic"
DEFAULT_PERIODIC_EVERY = timedelta(minutes=30)
DEFAULT_RETRY_INTERVALS = (5, 30, 120)

_REDIS_UNAVAILABLE: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    rx.ConnectionError,
    rx.TimeoutError,
)

_lock = threading.Lock()
_factory: PerProcessFactory | None = None


def configure(factory: AutoassignFactory | None) -> None:
    """Register the host factory the worker-side functions use (``None`` forgets it).

    Call it in a module the worker imports (an ``rq worker -c settings`` module, or a
    custom worker script); or set ``AUTOASSIGN_RQ_FACTORY`` instead.
    """
    global _factory  # noqa: PLW0603 - the registry is module-level by design
    with _lock:
        _factory = None if factory is None else PerProcessFactory(factory)


def _load_factory(path: str) -> AutoassignFactory:
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(
            f"{FACTORY_ENV} must look like 'package.module:callable', got {path!r}",
            field=FACTORY_ENV,
        )
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise ConfigurationError(f"{path!r} is not callable", field=FACTORY_ENV)
    factory: AutoassignFactory = target
    return factory


def get_autoassign() -> Autoassign:
    """The bundle built by the configured factory (once per process)."""
    global _factory  # noqa: PLW0603
    factory = _factory
    if factory is None:
        path = os.environ.get(FACTORY_ENV, "").strip()
        if not path:
            raise ConfigurationError(
                "no autoassign factory: call "
                "autoassign.integrations.rq.configure(factory) in the worker, or set "
                f"{FACTORY_ENV}='package.module:callable'",
                field=FACTORY_ENV,
            )
        loaded = _load_factory(path)
        with _lock:
            # Importing the module may have called configure(): keep that one.
            if _factory is None:
                _factory = PerProcessFactory(loaded)
            factory = _factory
    return factory()


def default_retry() -> Any:
    """``rq.Retry(max=3, interval=[5, 30, 120])``."""
    return _rq.Retry(
        max=len(DEFAULT_RETRY_INTERVALS), interval=list(DEFAULT_RETRY_INTERVALS)
    )


def run_assignment_job(inbox: InboxId) -> None:
    """The per-inbox job: ``get_autoassign().job.run(inbox)``.

    Errors inside a pass are logged by the core with the inbox id; a pass that failed
    because a backend was unavailable raises
    :class:`~autoassign.integrations.RetryablePassError` so RQ's ``Retry`` runs it again.
    """
    run_assignment(get_autoassign, inbox)


class RQJobQueue:
    """:class:`~autoassign.ports.JobQueue` over an ``rq.Queue`` (the spec's ``default``).

    Args:
        queue: the ``rq.Queue`` the per-inbox job goes to.
        retry: an ``rq.Retry`` (default :func:`default_retry`); ``None`` for none.
        job_timeout: RQ's hard limit for one job; keep it at most the core's
            ``lease_ttl`` (default 5 minutes) so passes over one inbox never overlap.
        func: the job function (default :func:`run_assignment_job`); a host may point
            it at its own wrapper (a callable or a dotted path).

    Results are not kept (``result_ttl=0``); failed jobs stay in RQ's failed registry.
    Redis failures are raised as :class:`~autoassign.errors.BackendUnavailable`.

    It is a :class:`~autoassign.ports.DelayedJobQueue` too (``Queue.enqueue_in``): a job
    that hands off to a pass holding the lease asks for a re-run at that lease's
    expiry, so a worker that died mid-pass is replaced within about one lease TTL.
    """

    _DEFAULT: Any = object()

    def __init__(
        self,
        queue: Any,
        *,
        retry: Any = _DEFAULT,
        job_timeout: timedelta | None = DEFAULT_LEASE_TTL,
        func: Callable[[InboxId], object] | str = run_assignment_job,
    ) -> None:
        self.queue = queue
        self.retry = default_retry() if retry is RQJobQueue._DEFAULT else retry
        self.job_timeout = job_timeout
        self.func = func

    def enqueue_assignment(self, inbox: InboxId) -> None:
        with enqueue_errors(f"could not enqueue inbox {inbox}", _REDIS_UNAVAILABLE):
            self.queue.enqueue(self.func, **self._options(inbox))

    def enqueue_assignment_after(self, inbox: InboxId, *, delay: timedelta) -> None:
        """The :class:`~autoassign.ports.DelayedJobQueue` capability:
        ``Queue.enqueue_at`` now + ``delay`` **rounded up to a whole second** (RQ keeps
        scheduled times in whole seconds, truncating, so ``enqueue_in`` could run the
        job up to a second early), run by RQ's scheduler (workers started
        ``--with-scheduler``; it moves due jobs to the queue about once a second)."""
        if delay < timedelta(0):
            raise ValueError(f"delay must not be negative, got {delay}")
        due = (datetime.now(timezone.utc) + delay).timestamp()
        at = datetime.fromtimestamp(math.ceil(due), tz=timezone.utc)
        with enqueue_errors(
            f"could not schedule inbox {inbox} in {delay}", _REDIS_UNAVAILABLE
        ):
            self.queue.enqueue_at(at, self.func, **self._options(inbox))

    def _options(self, inbox: InboxId) -> dict[str, Any]:
        options: dict[str, Any] = {
            "args": (inbox,),
            "description": f"autoassign assignment job for inbox {inbox!r}",
            "result_ttl": 0,
            "retry": self.retry,
        }
        if self.job_timeout is not None:
            options["job_timeout"] = max(1, math.ceil(self.job_timeout.total_seconds()))
        return options

    def __repr__(self) -> str:
        return f"RQJobQueue(queue={getattr(self.queue, 'name', self.queue)!r})"


def _slot_of(moment: datetime, every: timedelta) -> int:
    return math.floor(moment.timestamp() / every.total_seconds())


def _periodic_job_id(name: str, slot: int) -> str:
    return f"{name}-{slot}"


def schedule_periodic(
    queue: Any,
    *,
    every: timedelta = DEFAULT_PERIODIC_EVERY,
    name: str = PERIODIC_JOB_PREFIX,
    after_slot: int | None = None,
    now: datetime | None = None,
    retry: Any = None,
) -> Any:
    """Schedule the next periodic cycle on ``queue`` (the spec's ``scheduled_jobs``)
    at the next multiple of ``every`` since the epoch, and return the ``rq.Job``.

    Idempotent: the job id is ``f"{name}-{slot}"``, so every process may call it at
    start-up and one cycle runs per slot. The job re-schedules the following slot when
    it runs. ``name`` must be unique per application sharing the Redis (letters,
    digits, ``-`` and ``_``). Needs a worker started with ``--with-scheduler``.
    """
    if every <= timedelta(0):
        raise ValueError("every must be positive")
    moment = now or datetime.now(timezone.utc)
    slot = _slot_of(moment, every) + 1
    if after_slot is not None:
        slot = max(slot, after_slot + 1)
    at = datetime.fromtimestamp(slot * every.total_seconds(), tz=timezone.utc)
    return queue.enqueue_at(
        at,
        run_periodic_cycle,
        job_id=_periodic_job_id(name, slot),
        kwargs={"every_seconds": every.total_seconds(), "slot": slot, "name": name},
        result_ttl=0,
        # No ``ttl``: RQ would start it when scheduling, and the job could expire
        # the moment it becomes due.
        retry=retry,
        description=f"autoassign periodic assignment cycle (slot {slot})",
    )


def run_periodic_cycle(
    *,
    every_seconds: float | None = None,
    slot: int | None = None,
    name: str = PERIODIC_JOB_PREFIX,
) -> None:
    """The periodic cycle: ``get_autoassign().periodic.run()``.

    Run as a job scheduled by :func:`schedule_periodic` (``every_seconds`` set), it
    first schedules the next slot on its own queue, so a failing cycle does not break
    the chain. Called with no arguments (e.g. from ``rq-scheduler`` or a cron), it only
    runs the cycle.
    """
    if every_seconds is not None:
        job = _rq.get_current_job()
        if job is not None:
            try:
                schedule_periodic(
                    _rq.Queue(job.origin, connection=job.connection),
                    every=timedelta(seconds=every_seconds),
                    name=name,
                    after_slot=slot,
                )
            except Exception:
                degradations.failed(
                    logger,
                    "job queue",
                    "could not schedule the next periodic cycle",
                    level=logging.ERROR,
                )
            else:
                degradations.recovered(logger, "job queue")
    run_periodic(get_autoassign)
