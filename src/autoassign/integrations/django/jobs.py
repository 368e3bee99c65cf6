"""Job queues for hosts with no Celery or RQ: :class:`InlineJobQueue` (runs the job
in the caller, after commit) and :class:`RedisJobQueue` (a Redis list under the
library's key prefix, drained by ``manage.py autoassign_worker``)."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis

from autoassign.errors import BackendError, BackendUnavailable
from autoassign.model import InboxId

__all__ = ["InlineJobQueue", "RedisJobQueue"]


class InlineJobQueue:
    """:class:`~autoassign.ports.JobQueue` that runs the job at once, in this thread.
    A job enqueued while one runs (the job re-enqueues itself after ``max_rounds``)
    waits until it ends, so jobs never nest."""

    def __init__(self) -> None:
        self._run: Callable[[InboxId], object] | None = None
        self._local = threading.local()

    def bind(self, run: Callable[[InboxId], object]) -> None:
        """Set what a job does (the bundle's ``job.run``)."""
        self._run = run

    def enqueue_assignment(self, inbox: InboxId) -> None:
        if self._run is None:
            raise BackendError("InlineJobQueue has no job bound")
        queue: deque[InboxId] | None = getattr(self._local, "queue", None)
        if queue is not None:
            queue.append(inbox)
            return
        queue = self._local.queue = deque([inbox])
        try:
            while queue:
                self._run(queue.popleft())
        finally:
            self._local.queue = None


class RedisJobQueue:
    """:class:`~autoassign.ports.JobQueue` on a Redis list ``<prefix>:django:jobs``
    (JSON inbox ids). :meth:`pop` blocks up to ``timeout`` seconds."""

    def __init__(self, client: Any, *, prefix: str) -> None:
        self.client = client
        self.key = f"{prefix}:django:jobs"

    def enqueue_assignment(self, inbox: InboxId) -> None:
        with _redis_errors("enqueue assignment job"):
            self.client.rpush(self.key, json.dumps(inbox))

    def pop(self, *, timeout: float = 1.0) -> InboxId | None:
        """The next queued inbox, or ``None`` after ``timeout`` seconds."""
        with _redis_errors("pop assignment job"):
            reply = self.client.blpop([self.key], timeout=timeout)
        if reply is None:
            return None
        raw = reply[1]
        value = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise BackendError(f"{self.key} held {value!r}, not an inbox id")
        return value


@contextmanager
def _redis_errors(what: str) -> Iterator[None]:
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise BackendUnavailable(f"{what}: {exc}") from exc
    except redis.RedisError as exc:
        raise BackendError(f"{what}: {exc}") from exc
