"""Weighted round robin with many workers on real Redis: 6 threads, and separately 3
processes, run passes of 5 over the same two inboxes with no lease (so passes of one
inbox really overlap and rank from the same tags), with a repository whose claim is
atomic. Nobody is assigned twice; every turn given is charged to the stored tags (each
agent's tag is exactly its starting tag plus one stride per assignment: no turn is
lost to a race); and each agent's share stays within the sequential bound
(``2 * w + 1``, autoassign.weights) plus what the overlapping passes can have taken
from one stale read (5 picks for each other worker)."""

from __future__ import annotations

import multiprocessing
import random
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from autoassign import AssignmentOrder
from autoassign.adapters.redis import RedisBackend
from autoassign.testing import FakeClock, InMemoryBackend
from autoassign.weights import ROTATION_ROUND, InMemoryAgentWeights, turn_stride

from ._redis_repo import RedisRepository
from ._world import ACCOUNT, go_online, passes_until_idle, seed, wire
from .conftest import REDIS_URL, Target
from .test_concurrency import _in_threads

pytestmark = pytest.mark.redis

INBOXES = [20, 21]
WEIGHTS = {"a1": 3, "a2": 2, "a3": 1, "a4": 1}
AGENTS = list(WEIGHTS)
CONVERSATIONS = 350  # per inbox: 50 rounds of the total weight 7


def _config() -> dict[str, Any]:
    return {
        "inboxes": INBOXES,
        "agents": AGENTS,
        "order": AssignmentOrder.WEIGHTED_ROUND_ROBIN,
    }


def _prepare(target: Target) -> tuple[RedisBackend, RedisRepository]:
    backend = RedisBackend(target.client, prefix=target.prefix, clock=FakeClock())
    go_online(backend, AGENTS)
    repo = RedisRepository(target.client, target.prefix)
    for inbox in INBOXES:
        repo.add(inbox, CONVERSATIONS)
    return backend, repo


def _check(
    backend: RedisBackend,
    repo: RedisRepository,
    made: list[tuple[str, str, Any]],
    workers: int,
) -> dict[Any, dict[str, float]]:
    """Every check of the module docstring; returns each agent's distance from its
    ideal count, per inbox (for the report)."""
    states = {i: backend.rotation.weighted_order(i, members=AGENTS) for i in INBOXES}
    assignees = {i: repo.assignees(i, CONVERSATIONS) for i in INBOXES}
    counts = Counter(conversation for conversation, _, _ in made)
    assert counts
    assert max(counts.values()) == 1  # nobody assigned twice, no claim twice
    total = sum(WEIGHTS.values())
    slack = 5 * (workers - 1)
    distances: dict[Any, dict[str, float]] = {}
    for inbox in INBOXES:
        ours = {c: a for c, a, i in made if i == inbox}
        stored = {c: a for c, a in assignees[inbox].items() if a is not None}
        assert stored == ours
        assert len(ours) == CONVERSATIONS  # all assigned
        per_agent = Counter(ours.values())
        state = states[inbox]
        distances[inbox] = {}
        for at, agent in enumerate(AGENTS):
            weight = WEIGHTS[agent]
            start = at * ROTATION_ROUND // len(AGENTS)  # spread in member order
            assert state.tags[agent] == start + per_agent[agent] * turn_stride(
                weight
            ), (inbox, agent, per_agent)
            distance = per_agent[agent] - CONVERSATIONS * weight / total
            distances[inbox][agent] = distance
            assert abs(distance) < 2 * weight + 1 + slack, (inbox, agent, per_agent)
    return distances


def test_six_threads_share_in_proportion(real_redis: Target) -> None:
    backend, repo = _prepare(real_redis)
    made: list[tuple[str, str, Any]] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def worker(n: int) -> None:
        clock = FakeClock()
        memory = InMemoryBackend(clock=clock)
        seed(memory, add_conversations=False, conversations=0, **_config())
        book = InMemoryAgentWeights()
        for agent, weight in WEIGHTS.items():
            book.set_weight(ACCOUNT, agent, weight)
        client = real_redis.new_client()
        mine = RedisBackend(client, prefix=real_redis.prefix, clock=clock)
        app = wire(
            mine,
            memory,
            clock,
            conversations=RedisRepository(client, real_redis.prefix),
            agent_weights=book,
        )
        start.wait(timeout=30)
        mine_made = passes_until_idle(app, INBOXES, random.Random(n))
        with lock:
            made.extend(mine_made)

    _in_threads(worker, count=6)
    distances = _check(backend, repo, made, workers=6)
    print("six threads, distance from the ideal count:", distances)


def test_three_processes_share_in_proportion(real_redis: Target) -> None:
    backend, repo = _prepare(real_redis)
    here = str(Path(__file__).parent)
    if here not in sys.path:
        sys.path.insert(0, here)  # the spawned children import _mp_worker by name
    import _mp_worker  # type: ignore[import-not-found]  # noqa: PLC0415

    config = {**_config(), "weights": WEIGHTS}
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(3) as pool:
        start = manager.Barrier(3)
        jobs = [
            pool.apply_async(
                _mp_worker.run_worker,
                (REDIS_URL, real_redis.prefix, real_redis.decode, config, n),
                {"start": start},
            )
            for n in range(3)
        ]
        results = [job.get(timeout=180) for job in jobs]
    made = [entry for result in results for entry in result]
    assert sum(1 for result in results if result) >= 2  # the work really was shared
    distances = _check(backend, repo, made, workers=3)
    print("three processes, distance from the ideal count:", distances)
