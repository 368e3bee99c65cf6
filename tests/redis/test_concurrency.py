"""Many workers on real Redis: 8 threads, and separately 4 processes, run passes over the
same inboxes and agents (no lease, so passes of one inbox really race), with a repository
whose claim is atomic. Every conversation is assigned at most once, exactly as many are
assigned as the agents have room for, and no agent goes over its rate limit or
capacity. The lease keeps passes of one inbox from overlapping."""

from __future__ import annotations

import multiprocessing
import random
import sys
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from autoassign.adapters.redis import RedisBackend
from autoassign.testing import FakeClock, InMemoryBackend

from ._redis_repo import RedisRepository
from ._world import go_online, passes_until_idle, seed, wire
from .conftest import REDIS_URL, Target

pytestmark = pytest.mark.redis

INBOXES = [10, 11, 12]
AGENTS = ["a1", "a2", "a3", "a4", "a5", "a6"]

SCENARIOS = {
    # name: (conversations per inbox, rate limit, capacity) -> room = 6 * min(limit, cap)
    "rate-limit-binds": (40, 5, 6),
    "capacity-binds": (40, 10, 4),
    "room-for-all": (25, 10, 10),
}


def _config(limit: int, capacity: int) -> dict[str, Any]:
    return {"inboxes": INBOXES, "agents": AGENTS, "limit": limit, "capacity": capacity}


def _check(
    target: Target,
    backend: RedisBackend,
    repo: RedisRepository,
    made: list[tuple[str, str, int]],
    scenario: str,
) -> None:
    conversations, limit, capacity = SCENARIOS[scenario]
    room = len(AGENTS) * min(limit, capacity)
    # Read every key the workers wrote first, so the fixture cleans them up even when an
    # assertion below fails (other processes' commands are not recorded).
    open_counts = {inbox: dict(repo.open_counts(inbox, AGENTS)) for inbox in INBOXES}
    for inbox in INBOXES:
        backend.rotation.order(inbox, members=AGENTS)
        repo.assignees(inbox, conversations)
        for agent in AGENTS:
            target.client.zcard(backend.keys.fair(inbox, agent))
    # Every conversation assigned at most once, by exactly one worker.
    counts = Counter(conversation for conversation, _, _ in made)
    assert counts
    assert max(counts.values()) == 1
    for inbox in INBOXES:
        stored = repo.assignees(inbox, conversations)
        ours = {c: a for c, a, i in made if i == inbox}
        assert {c: a for c, a in stored.items() if a is not None} == ours
        # As many as the agents have room for, and nobody over a limit.
        assert len(ours) == min(conversations, room)
        per_agent = Counter(ours.values())
        assert open_counts[inbox] == dict(per_agent)
        assert max(per_agent.values()) <= min(limit, capacity)
        # The ledger holds exactly the assignments: no lost or leftover reservations.
        for agent in AGENTS:
            assert target.client.zcard(
                backend.keys.fair(inbox, agent)
            ) == per_agent.get(agent, 0)


def _prepare(target: Target, scenario: str) -> tuple[RedisBackend, RedisRepository]:
    conversations, _limit, _capacity = SCENARIOS[scenario]
    clock = FakeClock()
    backend = RedisBackend(target.client, prefix=target.prefix, clock=clock)
    go_online(backend, AGENTS)
    repo = RedisRepository(target.client, target.prefix)
    for inbox in INBOXES:
        repo.add(inbox, conversations)
    return backend, repo


def _in_threads(worker: Callable[[int], None], count: int = 8) -> None:
    """Run ``worker(0) ... worker(count - 1)`` in threads; every one must finish (within
    120 s each) without raising."""
    errors: list[BaseException] = []

    def guarded(n: int) -> None:
        try:
            worker(n)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_eight_threads(real_redis: Target, scenario: str) -> None:
    _conversations, limit, capacity = SCENARIOS[scenario]
    backend, repo = _prepare(real_redis, scenario)
    made: list[tuple[str, str, int]] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(n: int) -> None:
        clock = FakeClock()
        memory = InMemoryBackend(clock=clock)
        seed(
            memory, add_conversations=False, conversations=0, **_config(limit, capacity)
        )
        client = real_redis.new_client()
        mine = RedisBackend(client, prefix=real_redis.prefix, clock=clock)
        app = wire(
            mine,
            memory,
            clock,
            conversations=RedisRepository(client, real_redis.prefix),
        )
        start.wait(timeout=30)
        mine_made = passes_until_idle(app, INBOXES, random.Random(n))
        with lock:
            made.extend(mine_made)

    _in_threads(worker)
    _check(real_redis, backend, repo, made, scenario)


def test_four_processes(real_redis: Target) -> None:
    scenario = "rate-limit-binds"
    _conversations, limit, capacity = SCENARIOS[scenario]
    backend, repo = _prepare(real_redis, scenario)
    here = str(Path(__file__).parent)
    if here not in sys.path:
        sys.path.insert(0, here)  # the spawned children import _mp_worker by name
    import _mp_worker  # type: ignore[import-not-found]  # noqa: PLC0415

    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(4) as pool:
        start = manager.Barrier(4)
        jobs = [
            pool.apply_async(
                _mp_worker.run_worker,
                (
                    REDIS_URL,
                    real_redis.prefix,
                    real_redis.decode,
                    _config(limit, capacity),
                    n,
                ),
                {"start": start},
            )
            for n in range(4)
        ]
        results = [job.get(timeout=180) for job in jobs]
    made = [entry for result in results for entry in result]
    assert sum(1 for result in results if result) >= 2  # the work really was shared
    _check(real_redis, backend, repo, made, scenario)


def test_lease_one_pass_per_inbox_at_a_time(real_redis: Target) -> None:
    clock = FakeClock()
    memory = InMemoryBackend(clock=clock)
    seed(memory, inboxes=[10], agents=AGENTS, conversations=30)
    backend = RedisBackend(real_redis.client, prefix=real_redis.prefix, clock=clock)
    go_online(backend, AGENTS)
    running = 0
    most = 0
    state = threading.Lock()
    contended = threading.Event()
    start = threading.Barrier(8)

    def worker(n: int) -> None:
        mine = RedisBackend(
            real_redis.new_client(), prefix=real_redis.prefix, clock=clock
        )
        app = wire(mine, memory, clock, strict=True)
        acquire = mine.lease.acquire
        service = app.service

        def watched_acquire(*args: Any, **kwargs: Any) -> Any:
            held = acquire(*args, **kwargs)
            if held is None:
                contended.set()
            return held

        class WatchedService:
            bulk_limit = service.bulk_limit  # the job's page size

            def perform_bulk_assignment(self, inbox: Any, **kwargs: Any) -> Any:
                nonlocal running, most
                with state:
                    running += 1
                    most = max(most, running)
                try:
                    # Hold the lease until another worker was turned away (bounded).
                    contended.wait(timeout=5)
                    return service.perform_bulk_assignment(inbox)
                finally:
                    with state:
                        running -= 1

        mine.lease.acquire = watched_acquire  # type: ignore[method-assign]
        app.job.service = WatchedService()  # type: ignore[assignment]
        start.wait(timeout=30)
        for _ in range(3):
            mine.lease.mark_pending(10, ttl=timedelta(seconds=30))
            app.job.run(10)

    _in_threads(worker)
    assert contended.is_set()
    assert most == 1
    assigned = [
        c for c in memory.world.conversations.values() if c.assignee is not None
    ]
    assert len(assigned) == 30
