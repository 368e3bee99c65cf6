"""Measurement 1: the in-memory pass (all filters on)."""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Iterator
from typing import Any, TypeVar

from autoassign import AssignmentOrder, NullMetrics
from autoassign.adapters.memory import build_in_memory
from autoassign.skills import InMemorySkillBook, SkillRouting
from autoassign.testing import FakeClock, InMemoryBackend

from ._common import ACCOUNT, measure_interleaved
from ._world import CONVERSATIONS, Feeder, seed

INBOX = 10
T = TypeVar("T")


def measure(agent_count: int, order: AssignmentOrder, *, repeat: int) -> dict[str, Any]:
    """One configuration on its own: a warm-up pass, then ``repeat`` timed passes."""
    return measure_interleaved([MemoryRuns(agent_count, order)], repeat=repeat)[0]


OBSERVERS = ("null", "prometheus", "otel")
"""What :class:`MemoryRuns` may wire (``observed=``): a do-nothing metrics observer and
tracer (the cost of the hooks themselves), Prometheus, or OpenTelemetry's metrics and
tracing over the API's default (no-op) providers."""


def _observability(kind: str) -> dict[str, Any]:
    """The ``build_autoassign`` arguments of one observer kind."""
    if kind == "null":
        return {"metrics": NullMetrics(), "tracing": _NullTracing()}
    if kind == "prometheus":
        from prometheus_client import CollectorRegistry  # noqa: PLC0415

        from autoassign.integrations.prometheus import PrometheusMetrics  # noqa: PLC0415

        return {"metrics": PrometheusMetrics(registry=CollectorRegistry())}
    from autoassign.integrations.otel import OtelMetrics, OtelTracing  # noqa: PLC0415

    return {"metrics": OtelMetrics(), "tracing": OtelTracing()}


class _NullSpan:
    def finished(self, result: object) -> None:
        return


class _NullTracing:
    """A tracer that records nothing and wraps nothing."""

    @contextlib.contextmanager
    def pass_span(self, inbox: object) -> Iterator[_NullSpan]:
        yield _NullSpan()

    def wrap_port(self, name: str, port: T) -> T:
        return port


ROUTED_SKILL = "billing"


class MemoryRuns:
    """Timed passes of one configuration (agents, order) on its own in-memory world;
    ``observed`` wires one of :data:`OBSERVERS`. ``routed`` (issue 18) turns on skills
    routing (every conversation requires :data:`ROUTED_SKILL`, which every agent
    holds, beside another skill half of them hold, so the filter runs for every
    agent it reaches and removes nobody) and weighted capacity (weights 0.5 and 1 in
    turns), so the same assignments are made as without."""

    def __init__(
        self,
        agent_count: int,
        order: AssignmentOrder,
        *,
        observed: str | None = None,
        routed: bool = False,
    ) -> None:
        self.agent_count = agent_count
        self.order = order
        self.observed = observed
        self.routed = routed
        self.clock = FakeClock()
        memory = InMemoryBackend(clock=self.clock)
        agents = list(range(1, agent_count + 1))
        seed(memory, inboxes=[INBOX], agents=agents, order=order)
        for agent in agents:
            memory.set_status(ACCOUNT, agent, "online")
        options: dict[str, Any] = {} if observed is None else _observability(observed)
        if routed:
            book = InMemorySkillBook()
            book.set_many(
                ACCOUNT,
                {
                    agent: {ROUTED_SKILL: 1, **({"de": 2} if agent % 2 else {})}
                    for agent in agents
                },
            )
            options["skills"] = SkillRouting(book=book)
        self.app = build_in_memory(memory, bulk_limit=CONVERSATIONS, **options)
        self.feed = Feeder(
            memory,
            INBOX,
            CONVERSATIONS,
            labels=(f"skill:{ROUTED_SKILL}",) if routed else (),
            weights=(0.5, 1) if routed else (1,),
        )
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
            "observed": self.observed,
            "routed": self.routed,
            "conversations": CONVERSATIONS,
            "assigned": count,
            "pass_seconds": seconds,
            "per_assignment_us": seconds / count * 1e6,
            "assignments_per_second": count / seconds,
            "runs_seconds": list(self.times),
        }


class TightLoop:
    """The floor of measurement 1: the same rules as the pass, in a plain Python loop
    over dicts and lists (issue 17: the in-memory pass at most 10x this).

    Per pass: a batch of the same shape (``CONVERSATIONS`` assignable and a tenth carrying
    the excluded label), walked in created order; each assignable one goes to the next
    online member in the round-robin queue who is under capacity and under the fair
    distribution limit within the window, then that member moves to the back of the
    queue and their open count, ledger entry and the conversation's assignee are
    recorded. No ports, no events, no validation: what the rules cost on their own."""

    def __init__(self, agent_count: int, order: AssignmentOrder) -> None:
        self.agent_count = agent_count
        self.order = order
        self.members = list(range(1, agent_count + 1))
        self.online = set(self.members)
        self.queue = list(self.members)
        self.open_counts = dict.fromkeys(self.members, 0)
        self.ledger: dict[int, list[float]] = {agent: [] for agent in self.members}
        self.limit = 1_000_000
        self.capacity = 1_000_000
        self.now = 0.0
        self.serial = 0
        self.batch: list[tuple[str, frozenset[str], float]] = []
        self.assignee: dict[str, int] = {}
        self.assigned: list[int] = []
        self.times: list[float] = []

    def _feed(self) -> None:
        labels = frozenset({"vip"})
        batch = []
        for n in range(CONVERSATIONS + max(1, CONVERSATIONS // 10)):
            self.serial += 1
            tags = labels if n >= CONVERSATIONS else frozenset()
            batch.append((f"{INBOX}-{self.serial}", tags, self.now))
        self.batch = batch

    def once(self, *, timed: bool = True) -> None:
        self._feed()
        start = time.perf_counter()
        assigned = 0
        window_start = self.now - 3600
        for conversation, labels, _created in sorted(self.batch, key=lambda c: c[2]):
            if "vip" in labels:
                continue
            for index, agent in enumerate(self.queue):
                if agent not in self.online or self.open_counts[agent] >= self.capacity:
                    continue
                entries = self.ledger[agent]
                recent = sum(1 for at in entries[-self.limit :] if at > window_start)
                if recent >= self.limit:
                    continue
                self.queue.append(self.queue.pop(index))
                self.open_counts[agent] += 1
                entries.append(self.now)
                self.assignee[conversation] = agent
                assigned += 1
                break
        if timed:
            self.times.append(time.perf_counter() - start)
        self.assigned.append(assigned)
        self.now += 1

    def result(self) -> dict[str, Any]:
        seconds = statistics.median(self.times)
        count = self.assigned[-1]
        return {
            "agents": self.agent_count,
            "order": self.order.value,
            "floor": "tight_loop",
            "assigned": count,
            "per_assignment_us": seconds / count * 1e6,
        }
