"""The factory the end-to-end test's RQ worker uses
(``AUTOASSIGN_RQ_FACTORY=aa_rq_worker:build``)."""

from __future__ import annotations

import aa_jobs_world as world
from rq import Queue

from autoassign.integrations.rq import RQJobQueue
from autoassign.wiring import Autoassign


def assignment_queue_name() -> str:
    return f"{world.prefix()}-default"


def periodic_queue_name() -> str:
    return f"{world.prefix()}-scheduled_jobs"


def build() -> Autoassign:
    queue = Queue(assignment_queue_name(), connection=world.client())
    return world.build(RQJobQueue(queue))
