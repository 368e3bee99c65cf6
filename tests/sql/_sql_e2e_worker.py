"""The body of one worker process of ``test_end_to_end.py`` (imported by name in a
spawned child, so it must not import anything relative).

A worker wires the real engine the way a host would: conversations and the directory
on PostgreSQL, presence, rate-limit ledger, round-robin rotation and the inbox lease on
real Redis, events appended to a Redis list, and a fixed :class:`FakeClock` (every
process of a phase reads the same instant, so the test decides which window each
assignment falls in). It then runs ``AssignmentJob``\\ s over every inbox until two rounds in
a row assigned nothing.
"""

from __future__ import annotations

import json
import random
from datetime import datetime
from typing import Any

import redis
import sqlalchemy as sa

from autoassign import build_autoassign
from autoassign.adapters.memory import InMemoryJobQueue
from autoassign.adapters.redis import RedisBackend
from autoassign.adapters.sql import SqlConversationRepository, SqlDirectory, SqlSchema
from autoassign.events import AssigneeChanged, ConversationUpdated
from autoassign.testing import FakeClock

MAX_ROUNDS = 2_000
"""A guard against a livelock bug (a healthy run needs far fewer)."""


class RedisListEvents:
    """An :class:`~autoassign.ports.EventBus` that appends every event to one Redis list,
    shared by all the workers: ``[kind, conversation, agent, inbox, occurred_at, pid]``."""

    def __init__(self, client: redis.Redis, key: str, worker: int) -> None:
        self.client = client
        self.key = key
        self.worker = worker

    def publish(self, event: object) -> None:
        entry: list[object]
        if isinstance(event, AssigneeChanged):
            entry = ["assigned", event.conversation, event.agent, event.inbox]
        elif isinstance(event, ConversationUpdated):
            entry = ["updated", event.conversation, None, event.inbox]
        else:
            return
        entry += [event.occurred_at.isoformat(), self.worker]
        self.client.rpush(self.key, json.dumps(entry))


def run_worker(
    config: dict[str, Any], worker: int, *, start: Any = None
) -> dict[str, Any]:
    """Run jobs until quiet; returns this worker's assignments ``[conversation, agent,
    inbox]``, how many job runs it made and how many found the lease taken."""
    engine = sa.create_engine(config["pg_url"], pool_size=2, max_overflow=0)
    client = redis.Redis.from_url(config["redis_url"], socket_timeout=10)
    try:
        clock = FakeClock(datetime.fromisoformat(config["now"]))
        schema = SqlSchema(schema=config["pg_schema"])
        backend = RedisBackend(client, prefix=config["prefix"], clock=clock)
        app = build_autoassign(
            directory=SqlDirectory(engine, schema),
            conversations=SqlConversationRepository(engine, schema),
            presence=backend.presence,
            ledger=backend.ledger,
            reservations=backend.reservations,
            rotation=backend.rotation,
            lease=backend.lease,
            events=RedisListEvents(client, config["events_key"], worker),
            jobs=InMemoryJobQueue(),  # re-enqueued jobs: this loop runs them anyway
            clock=clock,
            bulk_limit=config["bulk_limit"],
            strict=True,
        )
        rng = random.Random(worker)
        made: list[list[Any]] = []
        runs = coalesced = 0
        if start is not None:
            start.wait(timeout=120)
        idle = 0
        for _round in range(MAX_ROUNDS):
            inboxes = list(config["inboxes"])
            rng.shuffle(inboxes)
            progress = False
            for inbox in inboxes:
                outcome = app.job.run(inbox)
                runs += 1
                coalesced += outcome.handed_off
                for result in outcome.results:
                    for assignment in result.assignments:
                        made.append([assignment.conversation, assignment.agent, inbox])
                        progress = True
            # An inbox found leased is being served by a live worker, which keeps
            # going while its passes assign anything: quitting after two rounds that
            # assigned nothing never leaves work behind.
            idle = 0 if progress else idle + 1
            if idle == 2:
                break
        else:  # pragma: no cover - a livelock
            raise RuntimeError(f"worker {worker} did not settle")
        return {"made": made, "runs": runs, "coalesced": coalesced}
    finally:
        client.close()
        engine.dispose()
