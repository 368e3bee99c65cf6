"""Helpers for tests/jobs: worker subprocesses, bounded polling, and stand-ins for the
bundle the task bodies build."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from autoassign.adapters.memory import InMemoryBackend
from autoassign.jobs import JobOutcome
from autoassign.model import AssignmentPolicy
from autoassign.testing import FakeClock

HERE = Path(__file__).resolve().parent


class Worker:
    """A worker subprocess whose output goes to a log file."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], log: Path) -> None:
        self.log_path = log
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            list(argv),
            cwd=HERE,
            env=dict(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def check_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            pytest.fail(f"worker exited with {code}:\n{self.output()[-4000:]}")

    def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        self._log.close()


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    workers: Sequence[Worker] = (),
    what: str = "condition",
    interval: float = 0.05,
) -> None:
    """Poll ``condition`` until it holds, failing after ``timeout`` seconds (or as soon
    as one of ``workers`` dies)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        for worker in workers:
            worker.check_alive()
        if time.monotonic() >= deadline:
            log = "\n".join(worker.output()[-3000:] for worker in workers)
            pytest.fail(f"timed out after {timeout}s waiting for {what}\n{log}")
        time.sleep(interval)


def seeded_backend() -> InMemoryBackend:
    """Account 1 with inbox 10 (one online agent ``a1``, a policy) and conversation
    ``c1`` waiting in it."""
    backend = InMemoryBackend(clock=FakeClock())
    backend.add_account(1)
    backend.add_inbox(10, account=1, members=["a1"])
    backend.add_policy(AssignmentPolicy(id=1, account=1), inboxes=[10])
    backend.set_status(1, "a1", "online")
    backend.add_conversation("c1", inbox=10)
    return backend


def failing_bundle(
    exception: Exception, calls: list[object], *, raises: bool = False
) -> Callable[[], object]:
    """A factory of a stand-in bundle whose ``job.run(inbox)`` appends ``inbox`` to
    ``calls`` and then raises ``exception`` (``raises``) or reports a pass that failed
    with it."""

    class Job:
        def run(self, inbox: object) -> JobOutcome:
            calls.append(inbox)
            if raises:
                raise exception
            return JobOutcome(
                inbox=inbox,  # type: ignore[arg-type]
                error=f"{type(exception).__name__}: {exception}",
                exception=exception,
            )

    class Bundle:
        job = Job()

    return Bundle


def connect_or_require(require_service: Callable[[str, bool, str], None]) -> Any:
    """A client on the jobs tests' Redis; ``require_service`` skips (or fails in CI)
    when it does not answer."""
    import aa_jobs_world as world  # noqa: PLC0415 - sibling module, on sys.path here
    import redis  # noqa: PLC0415

    connection = world.client(world.redis_url())
    try:
        reachable, detail = bool(connection.ping()), world.redis_url()
    except redis.RedisError as exc:
        reachable, detail = False, f"{world.redis_url()}: {exc}"
    require_service("Redis", reachable, detail)
    return connection


def forget_prefix(connection: Any, value: str) -> None:
    """Delete every key naming ``value`` and drop its members of RQ's shared sets."""
    import aa_jobs_world as world  # noqa: PLC0415

    world.delete_keys(connection, f"*{value}*")
    for shared in ("rq:queues", "rq:workers"):
        stale = [m for m in connection.smembers(shared) if value.encode() in m]
        if stale:
            connection.srem(shared, *stale)
