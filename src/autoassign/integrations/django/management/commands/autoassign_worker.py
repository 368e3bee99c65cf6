"""``manage.py autoassign_worker``: runs assignment jobs from the Redis job queue
(``AUTOASSIGN['JOBS'] = "redis"``) and the periodic cycle, for hosts with no Celery or
RQ. Run as many as you like: the inbox lease keeps one pass per inbox at a time."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from autoassign.errors import BackendUnavailable
from autoassign.integrations._common import run_assignment, run_periodic
from autoassign.integrations.django.conf import get_autoassign
from autoassign.integrations.django.jobs import RedisJobQueue


class Command(BaseCommand):
    help = "Run autoassign's assignment jobs (Redis job queue) and periodic cycle."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--burst",
            action="store_true",
            help="exit when the queue is empty instead of waiting for jobs",
        )
        parser.add_argument(
            "--cycle-every",
            type=float,
            default=1800.0,
            metavar="SECONDS",
            help="run the periodic cycle this often (default 1800; 0: never)",
        )
        parser.add_argument(
            "--max-jobs",
            type=int,
            default=0,
            help="exit after this many jobs (0: no limit)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        app = get_autoassign()
        queue = app.jobs
        if not isinstance(queue, RedisJobQueue):
            raise CommandError(
                "autoassign_worker needs AUTOASSIGN['JOBS'] = 'redis' (the inline queue "
                "runs jobs in the web process; Celery and RQ hosts run their own workers)"
            )
        cycle_every: float = options["cycle_every"]
        max_jobs: int = options["max_jobs"]
        ran = 0
        next_cycle = time.monotonic() + cycle_every if cycle_every > 0 else None
        while not (max_jobs and ran >= max_jobs):
            if next_cycle is not None and time.monotonic() >= next_cycle:
                run_periodic(lambda: app.bundle)
                next_cycle = time.monotonic() + cycle_every
            inbox = queue.pop(timeout=0.2 if options["burst"] else 1.0)
            if inbox is None:
                if options["burst"]:
                    break
                continue
            try:
                run_assignment(lambda: app.bundle, inbox)
            except BackendUnavailable as exc:  # logged; retried, as Celery or RQ would
                self.stderr.write(f"inbox {inbox!r}: {exc}; queued again")
                time.sleep(min(5.0, 0.2 * (1 + ran % 10)))
                queue.enqueue_assignment(inbox)
            ran += 1
        self.stdout.write(f"ran {ran} assignment jobs")
