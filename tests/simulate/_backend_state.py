"""What a dry run must leave untouched in an in-memory backend."""

from __future__ import annotations

import copy
from typing import Any

from autoassign.testing import InMemoryBackend


def backend_state(backend: InMemoryBackend) -> Any:
    """A deep copy of everything a pass or a trigger could write: conversations,
    ledger, rotation, events, the lease's pending marks and holds, and the job queue."""
    return copy.deepcopy(
        (
            backend.world.conversations,
            backend.ledger._entries,
            backend.rotation._queues,
            backend.events.events,
            backend.lease._pending,
            backend.lease._held,
            backend.jobs.queued,
        )
    )
