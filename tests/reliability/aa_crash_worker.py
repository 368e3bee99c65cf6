"""The RQ worker factory of the crashed-worker test
(``AUTOASSIGN_RQ_FACTORY=aa_crash_worker:build``), configured by the environment:

* ``AA_CRASH_ROLE``: ``victim`` stalls mid-pass (after its first claim it records the
  time in ``<prefix>:stalled`` and sleeps, holding the lease, until it is killed);
  ``healthy`` works normally.
* ``AA_CRASH_DELAYED``: ``1`` uses :class:`~autoassign.integrations.rq.RQJobQueue` as
  is (a delay-capable queue); ``0`` hides its ``enqueue_assignment_after`` (a host
  queue without the capability).
* ``AA_CRASH_LEASE_SECONDS``: the lease TTL.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

import aa_jobs_world as world
from rq import Queue

from autoassign.integrations.rq import RQJobQueue
from autoassign.model import AgentId, ConversationId, InboxId
from autoassign.ports import ConversationRepository, JobQueue
from autoassign.wiring import Autoassign

ROLE_ENV = "AA_CRASH_ROLE"
DELAYED_ENV = "AA_CRASH_DELAYED"
LEASE_ENV = "AA_CRASH_LEASE_SECONDS"


def queue_name(prefix: str) -> str:
    return f"{prefix}-default"


def stalled_key(prefix: str) -> str:
    return f"{prefix}:stalled"


class PlainQueue:
    """A JobQueue without the delayed-run capability."""

    def __init__(self, inner: JobQueue) -> None:
        self.inner = inner

    def enqueue_assignment(self, inbox: InboxId) -> None:
        self.inner.enqueue_assignment(inbox)


class StallingConversations:
    """Claims once, then stalls the pass forever (the process is killed meanwhile)."""

    def __init__(self, inner: Any, prefix: str) -> None:
        self.inner = inner
        self.prefix = prefix
        self.claims = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def claim(
        self,
        conversation: ConversationId,
        agent: AgentId,
        *,
        capacity_limit: int | None = None,
    ) -> bool:
        if self.claims >= 1:
            self.inner.client.set(stalled_key(self.prefix), repr(time.time()))
            time.sleep(3600)
        self.claims += 1
        return bool(
            self.inner.claim(conversation, agent, capacity_limit=capacity_limit)
        )


def jobs_for(prefix: str, *, delayed: bool) -> JobQueue:
    queue = RQJobQueue(Queue(queue_name(prefix), connection=world.client()))
    return queue if delayed else PlainQueue(queue)


def build() -> Autoassign:
    prefix = world.prefix()
    victim = os.environ.get(ROLE_ENV) == "victim"

    def conversations(inner: Any) -> ConversationRepository:
        return StallingConversations(inner, prefix) if victim else inner  # type: ignore[no-any-return]

    return world.build(
        jobs_for(prefix, delayed=os.environ.get(DELAYED_ENV) == "1"),
        conversations=conversations,
        lease_ttl=timedelta(seconds=float(os.environ[LEASE_ENV])),
    )
