"""Redis goes down while presence lives elsewhere: rate limiting is skipped, the
rotation degrades to membership order, and the job still assigns everything (the spec:
"If Redis is unavailable, rate limiting is skipped (all assignments proceed)").

The outage is real: the test starts its own ``redis-server`` on a free loopback port and
kills it with SIGKILL."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from autoassign import AssignmentPolicy, Degradation, build_autoassign
from autoassign.adapters.redis import RedisBackend
from autoassign.testing import FakeClock, InMemoryBackend

AGENTS = ["ann", "bob", "cy"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def own_redis(require_service: object) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    binary = shutil.which("redis-server")
    check = require_service  # (name, reachable, detail)
    assert callable(check)
    check("redis-server", binary is not None, "redis-server is not on PATH")
    assert binary is not None
    port = _free_port()
    server = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_timeout=1)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.02)
    try:
        yield server, port
    finally:
        server.kill()
        server.wait(timeout=10)


@pytest.mark.parametrize("order", ["round_robin", "balanced"])
def test_redis_killed_presence_elsewhere_everything_is_assigned(
    own_redis: tuple[subprocess.Popen[bytes], int], order: str
) -> None:
    server, port = own_redis
    clock = FakeClock()
    memory = InMemoryBackend(clock=clock)
    memory.add_account(1)
    memory.add_inbox(10, account=1, members=AGENTS)
    memory.add_policy(
        AssignmentPolicy(
            id=1, account=1, fair_distribution_limit=1, assignment_order=order
        ),
        inboxes=[10],
    )
    for agent in AGENTS:
        memory.set_status(1, agent, "online")
    for number in range(1, 10):
        memory.add_conversation(number, inbox=10)
    client = redis.Redis(  # no client-side retries: each call fails at once
        port=port,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
        retry=Retry(NoBackoff(), 0),
    )
    shared = RedisBackend(client, prefix="outage", clock=clock)
    app = build_autoassign(
        directory=memory.world,
        conversations=memory.world,
        presence=memory.presence,  # presence lives elsewhere (not in Redis)
        ledger=shared.ledger,
        rotation=shared.rotation,
        lease=shared.lease,
        events=memory.events,
        jobs=memory.jobs,
        clock=clock,
    )
    shared.rotation.order(10, members=AGENTS)  # the connection works before the kill

    server.kill()  # Redis dies
    server.wait(timeout=10)

    outcome = app.job.run(10)

    assert outcome.error is None
    assert outcome.unleased  # the lease store was down: the pass ran without it
    assert outcome.assigned_count == 9  # the limit of 1 per agent is not enforced
    result = outcome.results[0]
    assert {Degradation.RATE_LIMIT_SKIPPED, Degradation.ROTATION_UNAVAILABLE} <= set(
        result.degraded
    )
    # a deterministic order: membership order, turns taken within the pass
    assert [a.agent for a in result.assignments] == AGENTS * 3
    assert all(c.assignee is not None for c in memory.world.conversations.values())
