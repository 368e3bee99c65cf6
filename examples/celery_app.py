"""Autoassign on Celery, with the Redis adapters for shared state (issue 8).

Every process builds the same wiring: conversations and configuration from the host's
database (here the shipped SQL adapters; SQLite by default, ``AUTOASSIGN_DATABASE_URL``
for PostgreSQL), presence, fair-distribution ledger, round-robin queues and the inbox
lease in Redis (``AUTOASSIGN_REDIS_URL``), which is also Celery's broker.

* ``CeleryJobQueue(app)`` is the job queue: the save hook
  (``build().triggers.on_conversation_saved``) sends ``autoassign.assignment_job`` to
  the ``default`` queue, one per inbox per burst.
* ``register_tasks(app, build)`` registers that task and ``autoassign.periodic_cycle``
  (queue ``scheduled_jobs``) and adds a beat entry every 30 minutes.

Run (from this directory)::

    celery -A celery_app worker -Q default,scheduled_jobs --concurrency=4   # any number,
                                                                           # any machine
    celery -A celery_app beat                                              # exactly one

Running this file only builds the wiring (no connection is opened) and prints those
commands; it enqueues nothing.
"""

from __future__ import annotations

import logging
import os

import redis
import sqlalchemy as sa
from celery import Celery

from autoassign import Autoassign, build_autoassign
from autoassign.adapters.redis import RedisBackend
from autoassign.adapters.sql import (
    SqlConversationRepository,
    SqlDirectory,
    SqlSchema,
    create_sqlite_engine,
)
from autoassign.integrations.celery import CeleryJobQueue, register_tasks

REDIS_URL = os.environ.get("AUTOASSIGN_REDIS_URL", "redis://127.0.0.1:6379/0")
DATABASE_URL = os.environ.get("AUTOASSIGN_DATABASE_URL")  # None: ./autoassign.db

logger = logging.getLogger("helpdesk.autoassign")

app = Celery("helpdesk", broker=REDIS_URL)
app.conf.update(
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=1,  # passes are short; do not hoard them in one process
)


class LoggingEvents:
    """The host's event bus (webhooks, notifications): here, a log line per event."""

    def publish(self, event: object) -> None:
        logger.info("autoassign event: %r", event)


def build() -> Autoassign:
    """The bundle every process uses; register_tasks calls it once per worker process.

    The tables are the host's (``SqlSchema().create_all(engine)`` or its migrations)."""
    engine = (
        sa.create_engine(DATABASE_URL)
        if DATABASE_URL
        else create_sqlite_engine("autoassign.db")
    )
    schema = SqlSchema()
    shared = RedisBackend(redis.Redis.from_url(REDIS_URL), prefix="helpdesk:autoassign")
    return build_autoassign(
        directory=SqlDirectory(engine, schema),
        conversations=SqlConversationRepository(engine, schema),
        presence=shared.presence,
        ledger=shared.ledger,
        reservations=shared.reservations,
        rotation=shared.rotation,
        lease=shared.lease,
        events=LoggingEvents(),
        jobs=CeleryJobQueue(app),  # queue "default", task "autoassign.assignment_job"
    )


tasks = register_tasks(app, build)  # default / scheduled_jobs, every 30 minutes


def main() -> int:
    bundle = build()  # checks the wiring; opens no connection
    print(
        f"wired: lease {type(bundle.job.lease).__name__}, jobs {bundle.triggers.jobs!r}"
    )
    print(
        f"tasks: {tasks.assignment.name} -> {tasks.assignment_queue}, "
        f"{tasks.periodic.name} -> {tasks.periodic_queue} every {tasks.periodic_every}"
    )
    print("start workers (any number, any machine), from examples/:")
    print("    celery -A celery_app worker -Q default,scheduled_jobs --concurrency=4")
    print("and exactly one scheduler:")
    print("    celery -A celery_app beat")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
