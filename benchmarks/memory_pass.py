"""Measurement 1: the in-memory pass (all filters on)."""

from __future__ import annotations

import statistics
import time
from typing import Any

from autoassign import AssignmentOrder
from autoassign.adapters.memory import build_in_memory
from autoassign.testing import FakeClock, InMemoryBackend

from ._common import ACCOUNT, measure_interleaved
from ._world import CONVERSATIONS, Feeder, seed

INBOX = 10


def measure(agent_count: int, order: AssignmentOrder, *, repeat: int) -> dict[str, Any]:
    """One configuration on its own: a warm-up pass, then ``repeat`` timed passes."""
    return measure_interleaved([MemoryRuns(agent_count, order)], repeat=repeat)[0]


class MemoryRuns:
    """Timed passes of one configuration (agents, order) on its own in-memory world."""

    def __init__(self, agent_count: int, order: AssignmentOrder) -> None:
        self.agent_count = agent_count
        self.order = order
        self.clock = FakeClock()
        memory = InMemoryBackend(clock=self.clock)
        agents = list(range(1, agent_count + 1))
        seed(memory, inboxes=[INBOX], agents=agents, order=order)
        for agent in agents:
            memory.set_status(ACCOUNT, agent, "online")
        self.app = build_in_memory(memory, bulk_limit=CONVERSATIONS)
        self.feed = Feeder(memory, INBOX, CONVERSATIONS)
        self.assigned: list[int] = []
        self.times: list[float] = []

    def once(self, *, timed: bool = True) -> None:
        """Feed a fresh batch (untimed), then one pass (timed unless warming up)."""
        self.feed()
        start = time.perf_counter()
        self.assigned.append(
            self.app.service.perform_bulk_assignment(INBOX).assigned_count
        )
        if timed:
            self.times.append(time.perf_counter() - start)
        self.clock.advance(1)

    def result(self) -> dict[str, Any]:
        seconds = statistics.median(self.times)
        count = self.assigned[-1]
        if count != CONVERSATIONS:
            raise RuntimeError(f"expected {CONVERSATIONS} assignments, got {count}")
        return {
            "agents": self.agent_count,
            "order": self.order.value,
            "conversations": CONVERSATIONS,
            "assigned": count,
            "pass_seconds": seconds,
            "per_assignment_us": seconds / count * 1e6,
            "assignments_per_second": count / seconds,
            "runs_seconds": list(self.times),
        }
