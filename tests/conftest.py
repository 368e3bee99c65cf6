"""Shared fixtures: a FakeClock, an in-memory backend, hypothesis profiles, and the
policy for tests that need real services (skip locally, required in CI)."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, settings

from autoassign._quietlog import degradations
from autoassign.testing import FakeClock, InMemoryBackend

settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _require_service(name: str, reachable: bool, detail: str) -> None:
    if reachable:
        return
    if IN_CI:
        pytest.fail(f"{name} is required in CI but is not reachable: {detail}")
    pytest.skip(f"{name} not reachable ({detail}); set CI=true to require it")


@pytest.fixture(scope="session")
def require_service() -> Callable[[str, bool, str], None]:
    """``require_service(name, reachable, detail)``: skip a test whose real service is
    missing; with ``CI=true`` a missing service fails the test instead."""
    return _require_service


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backend(clock: FakeClock) -> InMemoryBackend:
    return InMemoryBackend(clock=clock)


@pytest.fixture(autouse=True)
def _fresh_degradation_log() -> None:
    """Each test starts with no open degradation episode, so the first failure of a kind
    logs its one line again (the log is per process, see autoassign._quietlog)."""
    degradations.reset()
