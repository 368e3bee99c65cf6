"""One worker process of ``test_events_delivery.py``: run as a script with a JSON
config. It wires conversations and the directory on PostgreSQL, the outbox on
PostgreSQL (written in the claim's statement) or on Redis (staged before the claim),
every event appended (and fsynced) to a file shared by the workers, and a
:class:`FakeClock` at the config's time. It runs passes over the inbox until one
assigns nothing; the fault hook ``crash`` ends the process with ``os._exit(70)``
(no cleanup, no confirmation: as a SIGKILL would) at one step of the
``crash_on``-th assignment:

* ``staged``: the record is written, the claim not made (Redis: after the staging
  script; PostgreSQL: as the claim's one statement, which writes the record too, is
  sent: in autocommit it commits whole or not at all, so this is the one point before
  it takes effect);
* ``claimed``: the claim (and its record) committed, nothing published;
* ``published``: both events published, the record not confirmed.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from typing import Any

import redis
import sqlalchemy as sa
from sqlalchemy import event

from autoassign import build_autoassign
from autoassign.adapters.memory import (
    InMemoryInboxLease,
    InMemoryJobQueue,
    InMemoryPresence,
    InMemoryRateLimitLedger,
    InMemoryRotationStore,
)
from autoassign.adapters.redis import RedisEventOutbox
from autoassign.adapters.sql import (
    SqlConversationRepository,
    SqlDirectory,
    SqlEventOutbox,
    SqlSchema,
)
from autoassign.events import AssigneeChanged, ConversationUpdated
from autoassign.outbox import OutboxRecord
from autoassign.ports import ConversationRepository, EventOutbox
from autoassign.testing import FakeClock

CRASHED = 70


def _die() -> None:
    sys.stdout.flush()
    os._exit(CRASHED)


class FileEvents:
    """An event bus appending one JSON line per event, fsynced before it returns."""

    def __init__(self, path: str, worker: str) -> None:
        self.path = path
        self.worker = worker

    def publish(self, event: object) -> None:
        assert isinstance(event, AssigneeChanged | ConversationUpdated)
        line = json.dumps(
            {
                "kind": event.name,
                "event_id": event.event_id,
                "conversation": event.conversation,
                "agent": getattr(event, "agent", None),
                "worker": self.worker,
            }
        )
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(line + "\n")
            out.flush()
            os.fsync(out.fileno())


class FaultyOutbox:
    """The real outbox, with the fault hook around ``stage``, ``claim`` and
    ``confirm``."""

    def __init__(self, inner: Any, crash: str | None, crash_on: int) -> None:
        self.inner = inner
        self.crash = crash
        self.crash_on = crash_on
        self.claims = 0

    def _due(self, step: str) -> bool:
        return self.crash == step and self.claims == self.crash_on

    def stage(self, record: OutboxRecord) -> None:
        self.inner.stage(record)

    def claim(
        self,
        conversations: ConversationRepository,
        record: OutboxRecord,
        *,
        capacity_limit: int | None,
    ) -> bool:
        self.claims += 1
        if self._due("staged") and isinstance(self.inner, RedisEventOutbox):
            self.inner.stage(record)
            _die()
        claimed: bool = self.inner.claim(
            conversations, record, capacity_limit=capacity_limit
        )
        if claimed and self._due("claimed"):
            _die()
        return claimed

    def due(self, inbox: Any, *, staged_before: datetime, limit: int) -> Any:
        return self.inner.due(inbox, staged_before=staged_before, limit=limit)

    def confirm(self, inbox: Any, records: Any) -> None:
        if self.crash == "published" and self.claims >= self.crash_on:
            _die()  # every event of the pass is published; none is confirmed
        self.inner.confirm(inbox, records)

    def discard(self, inbox: Any, records: Any) -> None:
        self.inner.discard(inbox, records)


def main(config: dict[str, Any]) -> None:
    engine = sa.create_engine(config["pg_url"], pool_size=2, max_overflow=0)
    schema = SqlSchema(ids="mixed", schema=config["pg_schema"])
    conversations = SqlConversationRepository(engine, schema)
    outbox: EventOutbox
    client: Any = None
    if config["outbox"] == "redis":
        client = redis.Redis.from_url(config["redis_url"], socket_timeout=10)
        outbox = RedisEventOutbox(client, prefix=config["prefix"])
    else:
        outbox = SqlEventOutbox(conversations)
    faulty = FaultyOutbox(outbox, config["crash"], config["crash_on"])
    if config["crash"] == "staged" and config["outbox"] == "sql":
        claims = {"n": 0}

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if "INSERT INTO" in statement and "event_outbox" in statement:
                claims["n"] += 1
                if claims["n"] == config["crash_on"]:
                    _die()  # the claim and its record: neither is written

    clock = FakeClock(datetime.fromisoformat(config["now"]))
    presence = InMemoryPresence()
    for agent in config["agents"]:
        presence.set_status(1, agent, "online")
    app = build_autoassign(
        directory=SqlDirectory(engine, schema),
        conversations=conversations,
        presence=presence,
        ledger=InMemoryRateLimitLedger(),
        rotation=InMemoryRotationStore(),
        lease=InMemoryInboxLease(clock),
        events=FileEvents(config["events_path"], config["worker"]),
        jobs=InMemoryJobQueue(),
        clock=clock,
        outbox=faulty,
        bulk_limit=config["bulk_limit"],
        strict=True,
        environ={},
    )
    try:
        while app.service.perform_bulk_assignment(10).assigned_count:
            pass
    finally:
        if client is not None:
            client.close()
        engine.dispose()


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
