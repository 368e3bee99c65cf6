"""Shared helpers: timing, the machine description, a round-trip counting client."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import redis

ACCOUNT = 1


def median_time(
    run: Callable[[], object],
    *,
    repeat: int,
    setup: Callable[[], object] | None = None,
    warmup: int = 1,
) -> tuple[float, list[float]]:
    """The median wall time of ``run`` over ``repeat`` runs (``setup`` untimed before
    each), after ``warmup`` untimed runs."""
    for _ in range(warmup):
        if setup is not None:
            setup()
        run()
    times: list[float] = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_total() -> str:
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    kib = int(line.split()[1])
                    return f"{kib / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def machine_info() -> dict[str, Any]:
    redis_py = redis.__version__
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory": _memory_total(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "redis_py": redis_py,
        "redis_server": None,
        "git_commit": commit or None,
    }


def make_counting_client(url: str) -> Any:
    """A redis-py client counting round trips: one per command, one per pipeline
    ``execute`` (queued commands are not round trips). ``client.round_trips`` is the
    count; ``client.commands`` the command names in order."""

    class CountingRedis(redis.Redis):
        round_trips = 0
        commands: list[str]

        def execute_command(self, *args: Any, **options: Any) -> Any:
            self.round_trips += 1
            self.commands.append(str(args[0]).upper())
            return super().execute_command(*args, **options)

        def pipeline(self, *args: Any, **kwargs: Any) -> Any:
            pipe = super().pipeline(*args, **kwargs)
            run = pipe.execute
            owner = self

            def execute(*eargs: Any, **ekwargs: Any) -> Any:
                owner.round_trips += 1
                owner.commands.append("PIPELINE")
                return run(*eargs, **ekwargs)

            pipe.execute = execute
            return pipe

        def reset_count(self) -> None:
            self.round_trips = 0
            self.commands.clear()

    pool = redis.ConnectionPool.from_url(url)
    client = CountingRedis(connection_pool=pool)
    client.commands = []
    return client


class TimedRuns(Protocol):
    """One configuration's passes: ``once`` runs one (timed unless warming up),
    ``result`` summarises them."""

    def once(self, *, timed: bool = True) -> None: ...

    def result(self) -> dict[str, Any]: ...


def measure_interleaved(
    runs: Sequence[TimedRuns], *, repeat: int
) -> list[dict[str, Any]]:
    """Time several configurations in turns (one warm-up pass each, then ``repeat``
    rounds of one pass each), so a slow spell of the machine hits all of them alike
    and the ratios between them compare runs taken side by side."""
    for run in runs:
        run.once(timed=False)
    for _ in range(repeat):
        for run in runs:
            run.once()
    return [run.result() for run in runs]
