"""Fixtures for tests/jobs: a real Redis (db 14) with a unique key prefix per test, and
worker subprocesses that are always stopped."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import redis  # noqa: E402
from aa_jobs_support import Worker, connect_or_require, forget_prefix  # noqa: E402

BIN = Path(sys.executable).parent


@pytest.fixture
def jobs_redis(
    require_service: Callable[[str, bool, str], None],
) -> Iterator[redis.Redis]:
    connection = connect_or_require(require_service)
    yield connection
    connection.close()


@pytest.fixture
def prefix(jobs_redis: redis.Redis) -> Iterator[str]:
    """A unique key prefix (also used in queue names); its keys are deleted after."""
    value = f"aa-jobs-{uuid.uuid4().hex[:10]}"
    yield value
    forget_prefix(jobs_redis, value)


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(argv: Sequence[str], extra_env: Mapping[str, str]) -> Worker:
        env = dict(os.environ)
        # tests/django sets it for its own process; a Celery worker would then load
        # Celery's Django fixup and look for that settings module
        env.pop("DJANGO_SETTINGS_MODULE", None)
        env.update(extra_env)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        worker = Worker(argv, env, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
