"""The assignment state machine on the in-memory backend."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from autoassign import AssignmentOrder
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


# Weighted round robin alone, agents' weights drawn (2 to 4): the model's stride tags
# must predict every choice. The general machine draws this order a fifth of the time
# and rate limits often leave no choice; 500 examples here find a model that ignores
# the weights (200 do not).
WeightedMachine = assignment_machine(
    _memory_backend, orders=[AssignmentOrder.WEIGHTED_ROUND_ROBIN]
)
WeightedMachine.TestCase.settings = settings(
    max_examples=500 if CI else 50,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestWeightedRoundRobinMachine = WeightedMachine.TestCase
