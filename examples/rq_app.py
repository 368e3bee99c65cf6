"""Autoassign on RQ, with the Redis adapters for shared state (issue 8).

Every process builds the same wiring: conversations and configuration from the host's
database (the shipped SQL adapters; SQLite by default, ``AUTOASSIGN_DATABASE_URL`` for
PostgreSQL), presence, ledger, round-robin queues and the inbox lease in Redis
(``AUTOASSIGN_REDIS_URL``), which RQ also uses.

* ``RQJobQueue(Queue("default"))`` is the job queue: the save hook enqueues
  ``autoassign.integrations.rq.run_assignment_job(inbox)``, one per inbox per burst, with
  ``Retry(max=3, interval=[5, 30, 120])`` for unavailable backends.
* The periodic cycle runs on the ``scheduled_jobs`` queue every 30 minutes through RQ's own
  scheduler: ``schedule_periodic`` schedules the next slot and each cycle schedules the
  one after it (idempotent, so every worker calls it at start-up).

Run a worker (any number, any machine)::

    python examples/rq_app.py --worker

or with the stock CLI, naming the factory (the worker must have the scheduler on)::

    cd examples && AUTOASSIGN_RQ_FACTORY=rq_app:build \\
        rq worker --with-scheduler --worker-class rq.SimpleWorker default scheduled_jobs
    python examples/rq_app.py --schedule      # once: start the periodic chain

Running this file with no argument only builds the wiring (no connection is opened) and
prints those commands; it enqueues nothing.
"""

from __future__ import annotations

import logging
import os
import sys

import redis
import sqlalchemy as sa
from rq import Queue, SimpleWorker

from autoassign import Autoassign, build_autoassign
from autoassign.adapters.redis import RedisBackend
from autoassign.adapters.sql import (
    SqlConversationRepository,
    SqlDirectory,
    SqlSchema,
    create_sqlite_engine,
)
from autoassign.integrations.rq import RQJobQueue, configure, schedule_periodic

REDIS_URL = os.environ.get("AUTOASSIGN_REDIS_URL", "redis://127.0.0.1:6379/0")
DATABASE_URL = os.environ.get("AUTOASSIGN_DATABASE_URL")  # None: ./autoassign.db

logger = logging.getLogger("helpdesk.autoassign")


class LoggingEvents:
    """The host's event bus (webhooks, notifications): here, a log line per event."""

    def publish(self, event: object) -> None:
        logger.info("autoassign event: %r", event)


def connection() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


def build() -> Autoassign:
    """The bundle every process uses (called once per process by the worker side)."""
    engine = (
        sa.create_engine(DATABASE_URL)
        if DATABASE_URL
        else create_sqlite_engine("autoassign.db")
    )
    schema = SqlSchema()
    client = connection()
    shared = RedisBackend(client, prefix="helpdesk:autoassign")
    return build_autoassign(
        directory=SqlDirectory(engine, schema),
        conversations=SqlConversationRepository(engine, schema),
        presence=shared.presence,
        ledger=shared.ledger,
        reservations=shared.reservations,
        rotation=shared.rotation,
        lease=shared.lease,
        events=LoggingEvents(),
        jobs=RQJobQueue(Queue("default", connection=client)),
    )


configure(build)  # for workers that import this module


def run_worker() -> None:
    client = connection()
    queues = [
        Queue("default", connection=client),
        Queue("scheduled_jobs", connection=client),
    ]
    schedule_periodic(queues[1])  # idempotent: one chain however many workers start
    # SimpleWorker runs jobs in this process, so the bundle is built once and reused.
    SimpleWorker(queues, connection=client).work(with_scheduler=True)


def main(argv: list[str]) -> int:
    if argv == ["--worker"]:
        logging.basicConfig(level=logging.INFO)
        run_worker()
        return 0
    if argv == ["--schedule"]:
        job = schedule_periodic(Queue("scheduled_jobs", connection=connection()))
        print(f"next periodic cycle: {job.id}")
        return 0
    bundle = build()  # checks the wiring; opens no connection
    print(
        f"wired: lease {type(bundle.job.lease).__name__}, jobs {bundle.triggers.jobs!r}"
    )
    print("start workers (any number, any machine):")
    print("    python examples/rq_app.py --worker")
    print(
        "or: cd examples && AUTOASSIGN_RQ_FACTORY=rq_app:build rq worker "
        "--with-scheduler --worker-class rq.SimpleWorker default scheduled_jobs"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
