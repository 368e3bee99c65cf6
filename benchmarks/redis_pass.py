"""Measurements 2-4 on a real Redis: our pass (speed and round trips), the reference's
SCAN-counted rate limiting, and scaling with worker processes.

Every key written lives under one unique prefix and is deleted at the end
(:func:`cleanup`); nothing else on the server is touched.
"""

from __future__ import annotations

import multiprocessing
import random
import statistics
import time
from datetime import timedelta
from typing import Any

from autoassign import AssignmentOrder, build_autoassign
from autoassign.adapters.memory import InMemoryEventBus, InMemoryJobQueue
from autoassign.adapters.redis import RedisBackend
from autoassign.adapters.redis._codec import score_from_datetime
from autoassign.testing import FakeClock, InMemoryBackend

from ._common import (
    ACCOUNT,
    make_counting_client,
    measure_interleaved,
    median_time,
)
from ._world import CONVERSATIONS, WINDOW, Feeder, seed

CHUNK = 10_000
PRESENCE_WINDOW = timedelta(days=1)  # the fake clock moves 1 s a pass; never stale


class RedisBench:
    """One server, one prefix, one fake clock for the whole Redis section."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.prefix = prefix
        self.client = make_counting_client(url)
        self.clock = FakeClock()
        self.backend = RedisBackend(
            self.client,
            prefix=prefix,
            clock=self.clock,
            presence_window=PRESENCE_WINDOW,
            online_index=True,  # every status and heartbeat goes through the adapter
        )
        self.online = 0
        self.unrelated = 0
        self.next_inbox = 1000

    def server_version(self) -> str:
        return str(self.client.info("server").get("redis_version"))

    def go_online(self, count: int) -> None:
        """Agents 1..count online with a heartbeat (the adapter's own API)."""
        for agent in range(self.online + 1, count + 1):
            self.backend.presence.set_status(ACCOUNT, agent, "online")
            self.backend.presence.heartbeat(ACCOUNT, agent)
        self.online = max(self.online, count)

    def fill_unrelated(self, count: int) -> None:
        """``count`` unrelated string keys (under our prefix, so we can delete them)."""
        pipe = self.client.pipeline(transaction=False)
        for n in range(self.unrelated, count):
            pipe.set(f"{self.prefix}:unrelated:{n}", "x")
            if len(pipe) >= CHUNK:
                pipe.execute()
        pipe.execute()
        self.unrelated = max(self.unrelated, count)

    def fill_ledger(self, inbox: int, agents: list[int], entries: int) -> None:
        """``entries`` ledger entries spread evenly over ``agents``, all inside the
        window (the worst case: every entry counts), pipelined ZADD; then the ledger's
        index of each agent's newest entry, as ``try_record`` would have left it."""
        now_us = score_from_datetime(self.clock.now())
        half_window_us = WINDOW * 10**6 // 2
        rng = random.Random(entries)
        newest: dict[str, int] = {}
        pipe = self.client.pipeline(transaction=False)
        for n in range(entries):
            agent = agents[n % len(agents)]
            score = now_us - rng.randrange(1, half_window_us)
            pipe.zadd(self.backend.keys.fair(inbox, agent), {f"old-{n}": score})
            newest[str(agent)] = max(score, newest.get(str(agent), score))
            if len(pipe) >= CHUNK:
                pipe.execute()
        index = self.backend.keys.fair_last(inbox)
        items = list(newest.items())
        for at in range(0, len(items), CHUNK):
            pipe.zadd(index, dict(items[at : at + CHUNK]))
        pipe.execute()

    def wire(self, memory: InMemoryBackend) -> Any:
        return build_autoassign(
            directory=memory.world,
            conversations=memory.world,
            presence=self.backend.presence,
            ledger=self.backend.ledger,
            reservations=self.backend.reservations,
            rotation=self.backend.rotation,
            lease=self.backend.lease,
            events=InMemoryEventBus(),
            jobs=InMemoryJobQueue(),
            clock=self.clock,
            bulk_limit=CONVERSATIONS,
        )

    def new_inbox(self) -> int:
        self.next_inbox += 1
        return self.next_inbox

    # -- measurement 2 ----------------------------------------------------------------

    def measure_pass(
        self,
        agent_count: int,
        ledger_entries: int,
        order: AssignmentOrder,
        *,
        repeat: int,
    ) -> dict[str, Any]:
        """One configuration on its own: a warm-up run, then ``repeat`` timed runs."""
        return measure_interleaved(
            [self.prepare_pass(agent_count, ledger_entries, order)], repeat=repeat
        )[0]

    def prepare_pass(
        self, agent_count: int, ledger_entries: int, order: AssignmentOrder
    ) -> PassRuns:
        """A fresh inbox with ``agent_count`` online agents and ``ledger_entries``
        ledger entries, ready to be timed (:func:`measure_interleaved`)."""
        inbox = self.new_inbox()
        agents = list(range(1, agent_count + 1))
        self.go_online(agent_count)
        memory = InMemoryBackend(clock=self.clock)
        seed(memory, inboxes=[inbox], agents=agents, order=order)
        if ledger_entries:
            self.fill_ledger(inbox, agents, ledger_entries)
        return PassRuns(self, inbox, agent_count, ledger_entries, order, memory)

    # -- measurement 3 ----------------------------------------------------------------

    def measure_reference(
        self, agent_count: int, conversations: int, *, repeat: int
    ) -> dict[str, Any]:
        """The reference's fair distribution (reference-behaviour.md 2.6): for every
        conversation, for every agent, count ``ASSIGNMENT::{inbox}::AGENT::{agent}::*``
        with ``SCAN MATCH .. COUNT 100`` over the whole keyspace; the first agent in
        rotation order under the limit gets it; then ``SET key id EX window``. Only the
        rate-limit part is modelled (no DB queries): a lower bound on its cost."""
        inbox = self.new_inbox()
        agents = list(range(1, agent_count + 1))
        limit = 100_000
        client = self.client
        serial = [0]
        # the reference's key names, under our prefix so cleanup can find them
        base = f"{self.prefix}:ASSIGNMENT::{inbox}::AGENT::"

        def one_pass() -> int:
            assigned = 0
            rotation = list(agents)
            for _ in range(conversations):
                serial[0] += 1
                chosen = None
                counts = {}
                for agent in agents:
                    pattern = f"{base}{agent}::*"
                    counts[agent] = sum(
                        1 for _ in client.scan_iter(match=pattern, count=100)
                    )
                for agent in rotation:
                    if counts[agent] < limit:
                        chosen = agent
                        break
                if chosen is None:
                    continue
                rotation.remove(chosen)
                rotation.append(chosen)
                client.set(
                    f"{base}{chosen}::CONVERSATION::{serial[0]}",
                    str(serial[0]),
                    ex=WINDOW,
                )
                assigned += 1
            return assigned

        trips: list[int] = []

        def run() -> None:
            client.reset_count()
            done = one_pass()
            if done != conversations:
                raise RuntimeError("reference pass did not assign everything")
            trips.append(client.round_trips)

        seconds, times = median_time(run, repeat=repeat, warmup=0)
        return {
            "agents": agent_count,
            "conversations": conversations,
            "unrelated_keys": self.unrelated,
            "pass_seconds": seconds,
            "per_assignment_us": seconds / conversations * 1e6,
            "assignments_per_second": conversations / seconds,
            "round_trips_per_assignment": trips[-1] / conversations,
            "runs_seconds": times,
        }

    def cleanup(self) -> int:
        """Delete every key under our prefix (and only those)."""
        deleted = 0
        batch: list[Any] = []
        for key in self.client.scan_iter(match=f"{self.prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += self.client.unlink(*batch)
                batch.clear()
        if batch:
            deleted += self.client.unlink(*batch)
        return deleted


# -- measurement 4: worker processes ----------------------------------------------------


class PassRuns:
    """Timed passes of one configuration (agents, ledger, order) on one inbox."""

    def __init__(  # noqa: PLR0917 - one configuration's fields
        self,
        bench: RedisBench,
        inbox: int,
        agent_count: int,
        ledger_entries: int,
        order: AssignmentOrder,
        memory: InMemoryBackend,
    ) -> None:
        self.bench = bench
        self.inbox = inbox
        self.agent_count = agent_count
        self.ledger_entries = ledger_entries
        self.order = order
        self.app = bench.wire(memory)
        self.feed = Feeder(memory, inbox, CONVERSATIONS)
        self.times: list[float] = []
        self.passes: list[tuple[int, int, list[str]]] = []

    def _pass(self) -> None:
        client = self.bench.client
        client.reset_count()
        result = self.app.service.perform_bulk_assignment(self.inbox)
        self.passes.append(
            (result.assigned_count, client.round_trips, list(client.commands))
        )
        self.bench.clock.advance(1)

    def once(self, *, timed: bool = True) -> None:
        """Feed a fresh batch (untimed), then one pass (timed unless warming up)."""
        self.feed()
        start = time.perf_counter()
        self._pass()
        if timed:
            self.times.append(time.perf_counter() - start)

    def result(self) -> dict[str, Any]:
        seconds = statistics.median(self.times)
        assigned, trips, commands = self.passes[-1]
        if assigned != CONVERSATIONS:
            raise RuntimeError(f"expected {CONVERSATIONS} assignments, got {assigned}")
        # One more pass of half the size splits the count into a per-conversation part
        # (the slope) and a per-pass part (the intercept).
        self.feed.size = CONVERSATIONS // 2
        self.feed()
        self._pass()
        half_assigned, half_trips, _ = self.passes[-1]
        self.feed.size = CONVERSATIONS
        per_conversation = (trips - half_trips) / (assigned - half_assigned)
        per_pass = trips - per_conversation * assigned
        kinds: dict[str, int] = {}
        for name in commands:
            kinds[name] = kinds.get(name, 0) + 1
        return {
            "agents": self.agent_count,
            "ledger_entries": self.ledger_entries,
            "unrelated_keys": self.bench.unrelated,
            "order": self.order.value,
            "assigned": assigned,
            "pass_seconds": seconds,
            "per_assignment_us": seconds / assigned * 1e6,
            "assignments_per_second": assigned / seconds,
            "round_trips": trips,
            "round_trips_per_assignment": trips / assigned,
            "round_trips_per_conversation": per_conversation,
            "round_trips_per_pass": per_pass,
            "commands": kinds,
            "runs_seconds": list(self.times),
        }


class ReservationFloor:
    """The floor of a Redis pass: what each assignment cannot avoid, one reservation
    pipeline (the chosen agent's presence and ``try_record``) per conversation, timed
    in batches of :data:`CONVERSATIONS` and nothing else."""

    def __init__(self, bench: RedisBench) -> None:
        self.bench = bench
        self.inbox = bench.new_inbox()
        bench.go_online(1)
        self.serial = 0
        self.times: list[float] = []

    def once(self, *, timed: bool = True) -> None:
        reservations = self.bench.backend.reservations
        now = self.bench.clock.now()
        window = timedelta(seconds=WINDOW)
        start = time.perf_counter()
        for _ in range(CONVERSATIONS):
            self.serial += 1
            done = reservations.reserve(
                ACCOUNT,
                self.inbox,
                1,
                f"floor-{self.serial}",
                expect_online={1: True},
                now=now,
                window=window,
                limit=None,
            )
            if not done.recorded:
                raise RuntimeError(f"the floor's reservation failed: {done}")
        if timed:
            self.times.append(time.perf_counter() - start)

    def result(self) -> dict[str, Any]:
        seconds = statistics.median(self.times)
        return {
            "reservations": CONVERSATIONS,
            "per_assignment_us": seconds / CONVERSATIONS * 1e6,
            "runs_seconds": list(self.times),
        }


def _worker(  # noqa: PLR0917 - a multiprocessing target takes positional args
    url: str,
    prefix: str,
    inbox: int,
    agent_count: int,
    passes: int,
    ready: Any,
    go: Any,
    out: Any,
) -> None:
    bench = RedisBench(url, prefix)
    agents = list(range(1, agent_count + 1))
    memory = InMemoryBackend(clock=bench.clock)
    seed(memory, inboxes=[inbox], agents=agents, order=AssignmentOrder.ROUND_ROBIN)
    app = bench.wire(memory)
    feed = Feeder(memory, inbox, CONVERSATIONS)
    feed()
    app.service.perform_bulk_assignment(inbox)  # warm-up: scripts loaded
    for _ in range(passes):
        feed()
    ready.put(inbox)
    go.wait()
    start = time.perf_counter()
    assigned = 0
    for _ in range(passes):
        assigned += app.service.perform_bulk_assignment(inbox).assigned_count
        bench.clock.advance(1)
    out.put((assigned, start, time.perf_counter()))


def measure_workers(
    bench: RedisBench, workers: int, *, agent_count: int, passes: int
) -> dict[str, Any]:
    """``workers`` spawned processes, each passing over its own inbox against the
    shared Redis; throughput is all assignments over the wall time from the first
    start to the last end (monotonic clock, system-wide on Linux)."""
    bench.go_online(agent_count)
    ctx = multiprocessing.get_context("spawn")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(
            target=_worker,
            args=(
                bench.url,
                bench.prefix,
                bench.new_inbox(),
                agent_count,
                passes,
                ready,
                go,
                out,
            ),
        )
        for _ in range(workers)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=120)
    go.set()
    results = [out.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    assigned = sum(r[0] for r in results)
    wall = max(r[2] for r in results) - min(r[1] for r in results)
    return {
        "workers": workers,
        "agents": agent_count,
        "passes_per_worker": passes,
        "assigned": assigned,
        "wall_seconds": wall,
        "assignments_per_second": assigned / wall,
    }
