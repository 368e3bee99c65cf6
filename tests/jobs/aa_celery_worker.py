"""The Celery app the end-to-end test's worker runs (``celery -A aa_celery_worker``).

Everything comes from the environment the test sets: ``AA_JOBS_PREFIX`` (queue names and
Redis keys), ``AA_JOBS_REDIS_URL`` (broker and shared state), ``AA_JOBS_PERIODIC_SECONDS``.
"""

from __future__ import annotations

import os
from datetime import timedelta

import aa_jobs_world as world
from celery import Celery

from autoassign.integrations.celery import CeleryJobQueue, register_tasks

PREFIX = world.prefix()
ASSIGNMENT_QUEUE = f"{PREFIX}-default"
PERIODIC_QUEUE = f"{PREFIX}-scheduled_jobs"


def make_app(name: str) -> Celery:
    app = Celery(name, broker=world.redis_url())
    app.conf.update(
        broker_connection_retry_on_startup=True,
        task_default_queue=f"{PREFIX}-celery",
        worker_enable_remote_control=False,
        worker_hijack_root_logger=False,
        worker_prefetch_multiplier=1,
    )
    return app


app = make_app("aa_jobs")
tasks = register_tasks(
    app,
    lambda: world.build(CeleryJobQueue(app, queue=ASSIGNMENT_QUEUE)),
    assignment_queue=ASSIGNMENT_QUEUE,
    periodic_queue=PERIODIC_QUEUE,
    periodic_every=timedelta(
        seconds=float(os.environ.get("AA_JOBS_PERIODIC_SECONDS", "2"))
    ),
    retry_backoff=1,
)
