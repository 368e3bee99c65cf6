"""The assignment state machine with Redis presence, ledger, rotation and lease.

The host's data (directory and conversations) stays in an ``InMemoryWorld``, as in the
shipped machine; every piece of shared state the engine keeps goes through the Redis
adapters, on fakeredis (a fresh ``FakeServer`` per example) and on a real server.
"""

from __future__ import annotations

import itertools
import os
from datetime import timedelta
from typing import Any

import fakeredis
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from autoassign.adapters.memory import InMemoryBackend
from autoassign.adapters.redis import RedisBackend
from autoassign.model import AccountId, AgentId
from autoassign.testing import FakeClock
from autoassign.testing.stateful import assignment_machine

CI = bool(os.environ.get("CI"))
SETTINGS = settings(
    max_examples=60 if CI else 15,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class RedisStateBackend:
    """An ``InMemoryBackend``'s world, events and job queue, with Redis for presence,
    the fair-distribution ledger (and the reservations over both), round-robin rotation
    and the inbox lease."""

    def __init__(self, clock: FakeClock, client: Any, prefix: str) -> None:
        memory = InMemoryBackend(clock=clock)
        # Exact windows: the machine's reference model predicts expiry exactly (the
        # clock-skew margin has its own machine, tests/redis/test_clock_skew.py).
        shared = RedisBackend(
            client,
            prefix=prefix,
            clock=clock,
            require_heartbeat=False,
            max_clock_skew=timedelta(0),
        )
        self.world = memory.world
        self.directory = memory.world
        self.conversations = memory.world
        self.events = memory.events
        self.jobs = memory.jobs
        self.presence = shared.presence
        self.ledger = shared.ledger
        self.reservations = shared.reservations
        self.rotation = shared.rotation
        self.lease = shared.lease

    def set_status(self, account: AccountId, agent: AgentId, status: str) -> object:
        return self.presence.set_status(account, agent, status)


def test_machine_on_fakeredis() -> None:
    def make(clock: FakeClock) -> RedisStateBackend:
        client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
        return RedisStateBackend(clock, client, "aa-machine")

    run_state_machine_as_test(assignment_machine(make), settings=SETTINGS)


def test_machine_on_real_redis(real_redis: Any) -> None:
    numbers = itertools.count()

    def make(clock: FakeClock) -> RedisStateBackend:
        prefix = f"{real_redis.prefix}:{next(numbers)}"
        return RedisStateBackend(clock, real_redis.client, prefix)

    run_state_machine_as_test(assignment_machine(make), settings=SETTINGS)
