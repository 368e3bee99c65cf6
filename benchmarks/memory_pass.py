"""Measurement 1: the in-memory pass (all filters on)."""

from __future__ import annotations

from typing import Any

from autoassign import AssignmentOrder
from autoassign.adapters.memory import build_in_memory
from autoassign.testing import FakeClock, InMemoryBackend

from ._common import ACCOUNT, median_time
from ._world import CONVERSATIONS, Feeder, seed

INBOX = 10


def measure(agent_count: int, order: AssignmentOrder, *, repeat: int) -> dict[str, Any]:
    clock = FakeClock()
    memory = InMemoryBackend(clock=clock)
    agents = list(range(1, agent_count + 1))
    seed(memory, inboxes=[INBOX], agents=agents, order=order)
    for agent in agents:
        memory.set_status(ACCOUNT, agent, "online")
    app = build_in_memory(memory, bulk_limit=CONVERSATIONS)
    feed = Feeder(memory, INBOX, CONVERSATIONS)
    assigned: list[int] = []

    def run() -> None:
        assigned.append(app.service.perform_bulk_assignment(INBOX).assigned_count)
        clock.advance(1)

    seconds, times = median_time(run, repeat=repeat, setup=feed)
    count = assigned[-1]
    if count != CONVERSATIONS:
        raise RuntimeError(f"expected {CONVERSATIONS} assignments, got {count}")
    return {
        "agents": agent_count,
        "order": order.value,
        "conversations": CONVERSATIONS,
        "assigned": count,
        "pass_seconds": seconds,
        "per_assignment_us": seconds / count * 1e6,
        "assignments_per_second": count / seconds,
        "runs_seconds": times,
    }
