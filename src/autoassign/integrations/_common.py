"""What the Celery and RQ integrations share: the per-process factory cache, the task
bodies, the retry rule and the enqueue error mapping."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from autoassign._quietlog import degradations
from autoassign.errors import BackendError, BackendUnavailable
from autoassign.jobs import JobOutcome
from autoassign.model import InboxId
from autoassign.wiring import Autoassign

__all__ = [
    "AutoassignFactory",
    "PerProcessFactory",
    "RetryablePassError",
    "enqueue_errors",
    "raise_if_retryable",
    "report_unpublished",
    "run_assignment",
    "run_periodic",
]

logger = logging.getLogger("autoassign.integrations")

AutoassignFactory = Callable[[], Autoassign]
"""A host callable that builds the :class:`~autoassign.wiring.Autoassign` bundle."""


class RetryablePassError(BackendUnavailable):
    """A pass failed because a backend was unavailable; running the job again is safe.

    Raised by the job-engine tasks (not by the core) so the engine's retry-with-backoff
    takes over. A retry cannot double-assign: every assignment is the repository's
    compare-and-set ``claim`` (an already assigned conversation is never claimed again)
    and the inbox lease keeps passes over one inbox one at a time.
    """

    def __init__(self, inbox: object, error: str) -> None:
        super().__init__(f"assignment pass over inbox {inbox} failed: {error}")
        self.inbox = inbox
        self.error = error

    def __reduce__(self) -> tuple[type[RetryablePassError], tuple[object, str]]:
        # Picklable, so engines that serialise exceptions (Celery) keep the type.
        return (type(self), (self.inbox, self.error))


def raise_if_retryable(outcome: JobOutcome) -> None:
    """Raise :class:`RetryablePassError` if ``outcome`` failed because a backend was
    unavailable (:class:`~autoassign.errors.BackendUnavailable` or a subclass); other
    errors were already logged by the job and are left to the next trigger or cycle."""
    if outcome.error is not None and isinstance(outcome.exception, BackendUnavailable):
        raise RetryablePassError(outcome.inbox, outcome.error)


def run_assignment(bundle: Callable[[], Autoassign], inbox: InboxId) -> None:
    """The per-inbox task body: ``bundle().job.run(inbox)``. Raises
    :class:`~autoassign.errors.BackendUnavailable` (logged) when the job could not run
    and :class:`RetryablePassError` when its pass failed on an unavailable backend, so
    the engine's retry takes over.

    Events the bus failed to publish are not dropped: with an outbox
    (``build_autoassign(outbox=...)``) they stay in it and a later pass publishes them
    again; without one each is logged at WARNING with its ``event_id`` (the only trace
    left: see "Delivery guarantee" in ``docs/concepts.md``)."""
    try:
        app = bundle()
        outcome = app.job.run(inbox)
    except BackendUnavailable:
        degradations.failed(
            logger,
            "backend",
            "assignment job for inbox %s could not run (backend unavailable); "
            "the job engine retries it while retries remain",
            inbox,
            extra={"autoassign_inbox": inbox},
        )
        raise
    degradations.recovered(logger, "backend")
    report_unpublished(app, outcome)
    raise_if_retryable(outcome)


def report_unpublished(app: Autoassign, outcome: JobOutcome) -> None:
    """Log the events ``outcome``'s passes could not publish: at DEBUG when the outbox
    keeps them for a later pass, else at WARNING, one line per event."""
    unpublished = [e for r in outcome.results for e in r.unpublished_events]
    if not unpublished:
        return
    kept = app.service.outbox is not None
    for event in unpublished:
        logger.log(
            logging.DEBUG if kept else logging.WARNING,
            "event %s %s of inbox %s was not published%s: %r",
            getattr(event, "name", type(event).__name__),
            getattr(event, "event_id", "?"),
            outcome.inbox,
            "; the outbox keeps it for a later pass"
            if kept
            else " and is lost (no outbox)",
            event,
            extra={"autoassign_inbox": outcome.inbox},
        )


def run_periodic(bundle: Callable[[], Autoassign]) -> None:
    """The periodic task body: ``bundle().periodic.run()``, logging what it requested."""
    outcome = bundle().periodic.run()
    logger.info(
        "periodic assignment cycle: %d enqueued, %d already due, %d failed accounts",
        len(outcome.enqueued),
        len(outcome.already_due),
        len(outcome.failed_accounts),
    )


@contextmanager
def enqueue_errors(
    what: str, unavailable: tuple[type[BaseException], ...]
) -> Iterator[None]:
    """Run an engine's enqueue call: ``unavailable`` errors become
    :class:`~autoassign.errors.BackendUnavailable`, any other error
    :class:`~autoassign.errors.BackendError` (the engine's error as ``__cause__``)."""
    try:
        yield
    except unavailable as exc:
        raise BackendUnavailable(f"{what}: {exc}") from exc
    except Exception as exc:
        raise BackendError(f"{what}: {exc}") from exc


class PerProcessFactory:
    """Wrap ``factory`` so it is called once per process (and again after a fork).

    Celery's prefork pool and RQ's forking worker fork after import; a bundle built
    before the fork (with its sockets) is never reused in a child.
    """

    def __init__(self, factory: AutoassignFactory) -> None:
        self.factory = factory
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._value: Autoassign | None = None

    def __call__(self) -> Autoassign:
        pid = os.getpid()
        value = self._value
        if value is not None and self._pid == pid:
            return value
        with self._lock:
            if self._value is None or self._pid != pid:
                self._value = self.factory()
                self._pid = pid
                logger.info("built the autoassign bundle in process %d", pid)
            return self._value

    def reset(self) -> None:
        """Forget the cached bundle (tests, or after reconfiguring)."""
        with self._lock:
            self._value = None
            self._pid = None
