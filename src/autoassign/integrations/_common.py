"""What the Celery and RQ integrations share: the per-process factory cache and the
retry rule."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from autoassign.errors import BackendUnavailable
from autoassign.jobs import JobOutcome
from autoassign.wiring import Autoassign

__all__ = [
    "AutoassignFactory",
    "PerProcessFactory",
    "RetryablePassError",
    "raise_if_retryable",
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
