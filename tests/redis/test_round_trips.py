"""Redis round trips per assigned conversation, counted by a recording client.

What is measured: every Redis command the client sends (a pipeline's ``execute`` counts
once) while ``service.perform_bulk_assignment`` runs, after the scripts are loaded (a
warm-up pass; a cold server adds one ``SCRIPT LOAD`` per script, once).

A pass starts with presence of every member (one script) and the rotation queue (one
script, ``rotation_order.lua``; both selectors rank by it). The ledger's usage is read
lazily, for the online agents the walk reaches, 128 at a time: one script here. Per conversation it
then sends exactly one round trip (``RedisBackend.reservations``): a pipeline of the
chosen agent's presence and ``try_record``, or for the first conversation
``try_record`` alone (the snapshot is that fresh). The queue's moves are written once,
at the end (``rotation.advance``: only the moves while the membership is unchanged).
So a pass over n conversations takes ``n + 4`` round trips, whatever the selector, the
number of agents or the size of the ledger.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from autoassign import AssignmentOrder
from autoassign.adapters.redis import RedisBackend
from autoassign.model import MAX_FAIR_DISTRIBUTION_LIMIT
from autoassign.testing import FakeClock, InMemoryBackend

from ._world import go_online, seed, wire
from .conftest import Target

CONVERSATIONS = 20
WINDOW = 3600


LEDGER_SIZES = {"100k": 100_000, "1m": 1_000_000}


def fill_ledger(
    target: Target,
    backend: RedisBackend,
    agents: list[int],
    now_us: int,
    total: int = 100_000,
) -> int:
    """``total`` entries over the inbox's agents: half inside the window, half older;
    and the ledger's index of each agent's newest entry, as ``try_record`` keeps it."""
    pipe = target.client.pipeline(transaction=False)
    window_us = WINDOW * 10**6
    newest: dict[str, int] = {}
    for n in range(total):
        agent = agents[n % len(agents)]
        age = (n % 1000) * 1000 + (0 if n % 2 else window_us + 1)
        pipe.zadd(backend.keys.fair(10, agent), {f"old-{n}": now_us - age})
        newest[str(agent)] = max(now_us - age, newest.get(str(agent), 0))
        if len(pipe) >= 10_000:
            pipe.execute()
    pipe.zadd(backend.keys.fair_last(10), newest)
    pipe.execute()
    return total


RR = AssignmentOrder.ROUND_ROBIN


@pytest.mark.parametrize(
    ("order", "agent_count", "ledger_size"),
    [
        pytest.param(RR, 10, "empty", id="rr-10-empty"),
        pytest.param(RR, 2000, "empty", id="rr-2000-empty"),
        pytest.param(RR, 10, "100k", id="rr-10-100k"),
        pytest.param(RR, 2000, "100k", id="rr-2000-100k"),
        pytest.param(AssignmentOrder.BALANCED, 2000, "100k", id="balanced-2000-100k"),
    ],
)
def test_round_trips_per_assignment(
    fake_or_real: Target, agent_count: int, ledger_size: str, order: AssignmentOrder
) -> None:
    _check_round_trips(fake_or_real, agent_count, ledger_size, order)


@pytest.mark.slow
# One client encoding: the counts do not depend on it (the cases above run both).
@pytest.mark.parametrize("real_redis", [True], ids=["str"], indirect=True)
def test_round_trips_at_ten_thousand_agents_and_a_million_entries(
    real_redis: Target,
) -> None:
    """The issue's sizes, on the real server only (fakeredis is too slow to fill it)."""
    _check_round_trips(real_redis, 10_000, "1m", RR)


def _check_round_trips(
    fake_or_real: Target, agent_count: int, ledger_size: str, order: AssignmentOrder
) -> None:
    clock = FakeClock()
    memory = InMemoryBackend(clock=clock)
    agents = list(range(1, agent_count + 1))
    seed(
        memory,
        inboxes=[10, 99],
        agents=agents,
        conversations=0,
        limit=MAX_FAIR_DISTRIBUTION_LIMIT,
        window=WINDOW,
        order=order,
        add_conversations=False,
    )
    for n in range(CONVERSATIONS):
        memory.add_conversation(n, inbox=10)
    memory.add_conversation("warm-up", inbox=99)
    backend = RedisBackend(fake_or_real.client, prefix=fake_or_real.prefix, clock=clock)
    go_online(backend, agents)
    app = wire(backend, memory, clock)
    if ledger_size != "empty":
        now_us = int(clock.now().timestamp() * 10**6)
        fill_ledger(fake_or_real, backend, agents, now_us, LEDGER_SIZES[ledger_size])
    assert app.service.perform_bulk_assignment(99).assigned_count == 1  # loads scripts

    clock.advance(timedelta(seconds=1))
    fake_or_real.recorder.reset()
    result = app.service.perform_bulk_assignment(10)
    commands = list(fake_or_real.recorder.commands)

    n = result.assigned_count
    assert n == CONVERSATIONS
    assert len(commands) == n + 4
    assert commands.count("PIPELINE") == n - 1  # presence + try_record
    # presence, the queue (rotation.order), usage, the first try_record, the queue's
    # advance (no last_assigned: neither selector needs it)
    assert commands.count("EVALSHA") == 5
    assert not {"KEYS", "SCAN"} & set(commands)


def test_job_run_adds_a_constant_per_pass(fake_or_real: Target) -> None:
    """``job.run`` adds lease SET NX, two pending DELs and the release script: 4 per pass."""
    clock = FakeClock()
    memory = InMemoryBackend(clock=clock)
    seed(memory, inboxes=[10, 99], agents=[1, 2, 3], conversations=5)
    backend = RedisBackend(fake_or_real.client, prefix=fake_or_real.prefix, clock=clock)
    go_online(backend, [1, 2, 3])
    app = wire(backend, memory, clock, strict=True)
    app.job.run(99)
    fake_or_real.recorder.reset()
    outcome = app.job.run(10)
    assert outcome.assigned_count == 5
    # No rate limit: no usage read. Presence, LRANGE and advance per pass, one round
    # trip per conversation, plus the job's four.
    assert fake_or_real.recorder.count == 5 + 3 + 4
    commands = fake_or_real.recorder.commands
    assert commands[:2] == ["SET", "DEL"]  # the lease, then the pending mark taken
    assert commands[-2:] == ["EVALSHA", "DEL"]  # released, then the mark checked again
    assert commands.count("SET") == 1
    assert commands.count("DEL") == 2


def test_the_outbox_adds_one_round_trip_per_assignment_and_two_per_pass(
    fake_or_real: Target,
) -> None:
    """With ``outbox=backend.outbox`` each claim first stages its record (one script),
    and the pass reads what is due (one script, at its start) and confirms what it
    published (one script, at its end): ``n + 2`` more than the same pass without."""
    clock = FakeClock()
    memory = InMemoryBackend(clock=clock)
    agents = list(range(1, 11))
    seed(
        memory,
        inboxes=[10, 11, 99],
        agents=agents,
        conversations=0,
        add_conversations=False,
    )
    for n in range(CONVERSATIONS):
        memory.add_conversation(n, inbox=10)
        memory.add_conversation(f"b{n}", inbox=11)
    memory.add_conversation("warm-up", inbox=99)
    backend = RedisBackend(fake_or_real.client, prefix=fake_or_real.prefix, clock=clock)
    go_online(backend, agents)
    plain = wire(backend, memory, clock)
    app = wire(backend, memory, clock, outbox=backend.outbox)
    assert app.service.perform_bulk_assignment(99).assigned_count == 1  # loads scripts

    clock.advance(timedelta(seconds=1))
    fake_or_real.recorder.reset()
    assert plain.service.perform_bulk_assignment(11).assigned_count == CONVERSATIONS
    without = list(fake_or_real.recorder.commands)
    fake_or_real.recorder.reset()
    result = app.service.perform_bulk_assignment(10)
    commands = list(fake_or_real.recorder.commands)
    n = result.assigned_count
    assert n == CONVERSATIONS
    assert len(commands) == len(without) + n + 2
    assert commands.count("EVALSHA") == without.count("EVALSHA") + n + 2
    assert backend.outbox.due(10, staged_before=clock.now(), limit=100) == ()
