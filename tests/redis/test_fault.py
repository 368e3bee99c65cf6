"""Redis fails in the middle of a pass: no crash, assignments made stay, the pass degrades
as specified, and the next pass recovers once Redis is back."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from autoassign import SkipReason
from autoassign.adapters.redis import RedisBackend
from autoassign.reservations import SequentialReservations
from autoassign.results import Degradation
from autoassign.testing import FakeClock, InMemoryBackend

from ._world import go_online, seed, wire
from .conftest import Target
from .test_errors import dead_client

AGENTS = ["ann", "bob", "cy"]
CONVERSATIONS = 6


class Outage:
    """Makes a recording client fail with ``ConnectionError`` after ``budget`` more
    commands, until ``restore()``."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.budget: int | None = None
        self.failed = 0
        original = client.execute_command
        original_pipeline = client.pipeline

        def execute_command(*args: Any, **options: Any) -> Any:
            self._spend()
            return original(*args, **options)

        def pipeline(*args: Any, **kwargs: Any) -> Any:
            pipe = original_pipeline(*args, **kwargs)
            run = pipe.execute

            def execute(*eargs: Any, **ekwargs: Any) -> Any:
                self._spend()
                return run(*eargs, **ekwargs)

            pipe.execute = execute
            return pipe

        client.execute_command = execute_command
        client.pipeline = pipeline

    def _spend(self) -> None:
        if self.budget is None:
            return
        if self.budget <= 0:
            self.failed += 1
            raise redis.ConnectionError("Error 111 connecting: Connection refused.")
        self.budget -= 1

    def after(self, commands: int) -> None:
        self.budget = commands

    def restore(self) -> None:
        self.budget = None


@pytest.mark.parametrize("fail_after", range(9))
def test_redis_stops_mid_pass(fake_or_real: Target, fail_after: int) -> None:
    clock = FakeClock()
    memory = InMemoryBackend(clock=clock)
    seed(memory, inboxes=[10], agents=AGENTS, conversations=CONVERSATIONS, limit=10)
    backend = RedisBackend(fake_or_real.client, prefix=fake_or_real.prefix, clock=clock)
    go_online(backend, AGENTS)
    app = wire(backend, memory, clock)
    outage = Outage(fake_or_real.client)
    backend.rotation.order(10, members=AGENTS)  # warm up nothing but the connection

    outage.after(fail_after)
    result = app.service.perform_bulk_assignment(10)  # never raises
    # The outage really hits this pass before its last command: presence, the queue,
    # the ledger's usage, one round trip per conversation (n = 6), then the queue's
    # advance (whose failure is only logged) = 10 commands.
    assert outage.failed > 0
    stored = {c.id: c.assignee for c in memory.world.conversations.values()}
    # Assignments made stay, and the result reports exactly them.
    assert {a.conversation: a.agent for a in result.assignments} == {
        cid: agent for cid, agent in stored.items() if agent is not None
    }
    assert result.assigned_count + len(result.skips) == CONVERSATIONS
    # presence, the ledger and/or the rotation were reported down (a rotation that
    # cannot be read no longer skips the pass: it ranks in membership order)
    assert result.degraded
    assert result.degraded <= {
        Degradation.PRESENCE_UNAVAILABLE,
        Degradation.RATE_LIMIT_SKIPPED,
        Degradation.ROTATION_UNAVAILABLE,
    }
    assert {s.reason for s in result.skips} <= {
        SkipReason.NO_AGENT_ONLINE,
        SkipReason.BACKEND_ERROR,
    }

    outage.restore()  # Redis is back
    clock.advance(1)
    again = app.service.perform_bulk_assignment(10)
    assert not again.degraded
    assert all(c.assignee is not None for c in memory.world.conversations.values())
    assert result.assigned_count + again.assigned_count == CONVERSATIONS


def test_ledger_down_skips_rate_limiting_but_assigns(fake_redis: Target) -> None:
    """Presence answers, the ledger never does: rate limiting is skipped for the pass."""
    clock = FakeClock()
    memory = InMemoryBackend(clock=clock)
    seed(memory, inboxes=[10], agents=AGENTS, conversations=CONVERSATIONS, limit=1)
    good = RedisBackend(fake_redis.client, prefix=fake_redis.prefix, clock=clock)
    go_online(good, AGENTS)
    broken = RedisBackend(dead_client(), prefix=fake_redis.prefix, clock=clock)
    app = wire(good, memory, clock)
    app.service.ledger = broken.ledger
    app.service.reservations = SequentialReservations(good.presence, broken.ledger)
    result = app.service.perform_bulk_assignment(10)
    assert result.degraded == {Degradation.RATE_LIMIT_SKIPPED}
    assert result.assigned_count == CONVERSATIONS  # limit 1 per agent not enforced


def test_dead_port_means_nobody_online(fake_redis: Target) -> None:
    clock = FakeClock()
    memory = InMemoryBackend(clock=clock)
    seed(memory, inboxes=[10], agents=AGENTS, conversations=3)
    backend = RedisBackend(dead_client(), prefix=fake_redis.prefix, clock=clock)
    app = wire(backend, memory, clock)
    result = app.service.perform_bulk_assignment(10)
    assert result.assigned_count == 0
    assert result.degraded == {Degradation.PRESENCE_UNAVAILABLE}
    assert {s.reason for s in result.skips} == {SkipReason.NO_AGENT_ONLINE}
