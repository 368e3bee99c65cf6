"""The body of one worker process in the multi-process test (imported by name in a
spawned child, so it uses absolute imports of its sibling modules)."""

from __future__ import annotations

import random
from typing import Any

import redis

from autoassign.adapters.redis import RedisBackend
from autoassign.testing import FakeClock, InMemoryBackend
from autoassign.weights import InMemoryAgentWeights


def run_worker(
    url: str,
    prefix: str,
    decode: bool,
    config: dict[str, Any],
    seed_value: int,
    *,
    start: Any = None,
) -> list[tuple[str, str, Any]]:
    """Run passes over every inbox until two rounds in a row assign nothing; returns
    ``(conversation, agent, inbox)`` for each assignment this process made. ``start``
    (a barrier shared by the workers) lines their first passes up, so that they really
    overlap however long each process took to spawn."""
    # Siblings by top-level name: the child has this directory on sys.path.
    from _redis_repo import RedisRepository  # type: ignore[import-not-found]  # noqa: PLC0415
    from _world import (  # type: ignore[import-not-found]  # noqa: PLC0415
        ACCOUNT,
        passes_until_idle,
        seed,
        wire,
    )

    config = dict(config)
    weights = config.pop("weights", None)  # weighted round robin: agent -> weight
    options: dict[str, Any] = {}
    if weights is not None:
        book = InMemoryAgentWeights()
        for agent, weight in weights.items():
            book.set_weight(ACCOUNT, agent, weight)
        options["agent_weights"] = book
    client = redis.Redis.from_url(url, decode_responses=decode, socket_timeout=10)
    try:
        clock = FakeClock()
        memory = InMemoryBackend(clock=clock)
        seed(memory, add_conversations=False, conversations=0, **config)
        backend = RedisBackend(client, prefix=prefix, clock=clock)
        repo = RedisRepository(client, prefix)
        app = wire(backend, memory, clock, conversations=repo, **options)
        if start is not None:
            start.wait(timeout=120)
        return passes_until_idle(app, config["inboxes"], random.Random(seed_value))
    finally:
        client.close()
