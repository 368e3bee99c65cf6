"""The assignment state machine on the in-memory backend."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from autoassign.adapters.memory import InMemoryBackend
from autoassign.testing import FakeClock
from autoassign.testing.stateful import assignment_machine

CI = bool(os.environ.get("CI"))


def _memory_backend(clock: FakeClock) -> InMemoryBackend:
    return InMemoryBackend(clock=clock)


MemoryAssignmentMachine = assignment_machine(_memory_backend)
MemoryAssignmentMachine.TestCase.settings = settings(
    max_examples=200 if CI else 50,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestMemoryAssignmentMachine = MemoryAssignmentMachine.TestCase
