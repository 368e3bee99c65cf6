"""Shared fixtures: a FakeClock, an in-memory backend, hypothesis profiles, and the
policy for tests that need real services (skip locally, required in CI)."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

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


def require_service(name: str, reachable: bool, detail: str) -> None:
    """Skip a test whose real service is missing; in CI a missing service is a failure."""
    if reachable:
        return
    if IN_CI:
        pytest.fail(f"{name} is required in CI but is not reachable: {detail}")
    pytest.skip(f"{name} not reachable ({detail}); set CI=true to require it")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backend(clock: FakeClock) -> InMemoryBackend:
    return InMemoryBackend(clock=clock)
