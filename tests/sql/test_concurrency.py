"""Concurrent claims on PostgreSQL (8 threads, 4 processes) and on an SQLite file.

What the conditional UPDATE guarantees on its own: a conversation is assigned exactly
once (the row lock makes a second UPDATE re-check ``assignee_id IS NULL`` and match
nothing), nothing is ever reassigned, and an agent claimed by one worker at a time never
goes over its capacity. Two workers claiming *for the same agent* at the same instant
can each miss the other's uncommitted claim, so the capacity count alone is not
serializable under READ COMMITTED: the inbox lease (one pass per inbox at a time)
prevents that, and on PostgreSQL the repository also takes a per-agent advisory lock
(``serialize_capacity``, on by default) which makes it exact; without the lock the
overshoot is only bounded.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from autoassign.adapters.sql import (
    SqlConversationRepository,
    SqlSchema,
    SqlWriter,
    create_sqlite_engine,
)
from autoassign.adapters.sql._db import advisory_lock_key
from autoassign.model import Conversation
from autoassign.testing import EPOCH

N = 60
INBOX = 10


def seed(engine: sa.Engine, schema: SqlSchema, n: int = N) -> None:
    SqlWriter(engine, schema).put_conversations(
        Conversation(
            id=i,
            inbox=INBOX,
            account=1,
            created_at=EPOCH + timedelta(seconds=i),
            last_activity_at=EPOCH + timedelta(seconds=i),
        )
        for i in range(1, n + 1)
    )


def run_threads(
    repo: SqlConversationRepository,
    plans: list[list[tuple[int, int]]],
    capacity: int | None,
) -> list[list[tuple[int, int]]]:
    barrier = threading.Barrier(len(plans))
    wins: list[list[tuple[int, int]]] = [[] for _ in plans]
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            barrier.wait()
            for conversation, agent in plans[index]:
                if repo.claim(conversation, agent, capacity_limit=capacity):
                    wins[index].append((conversation, agent))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(plans))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return wins


def assigned(repo: SqlConversationRepository) -> dict[int, Any]:
    out = {}
    for i in range(1, N + 1):
        got = repo.get(i)
        assert got is not None
        out[i] = got.assignee
    return out


def check_exactly_once(
    repo: SqlConversationRepository, wins: list[list[tuple[int, int]]]
) -> Counter[Any]:
    flat = [win for per_thread in wins for win in per_thread]
    claimed = Counter(conversation for conversation, _ in flat)
    assert set(claimed) == set(range(1, N + 1)), "every conversation assigned"
    assert max(claimed.values()) == 1, "and only once"
    state = assigned(repo)
    assert state == dict(flat), "the winner of each claim is the stored assignee"
    return Counter(state.values())


@pytest.mark.postgres
def test_eight_threads_one_agent_each(pg: Any) -> None:
    engine, schema = pg.make()
    engine.dispose()
    engine = pg.engine(pool_size=8, max_overflow=0)
    seed(engine, schema)
    repo = SqlConversationRepository(engine, schema)
    capacity = 8  # 8 agents x 8 >= 60: room for every conversation
    rng = random.Random(7)
    plans = []
    for agent in range(1, 9):
        order = list(range(1, N + 1))
        rng.shuffle(order)
        plans.append([(c, agent) for c in order])
    wins = run_threads(repo, plans, capacity)
    per_agent = check_exactly_once(repo, wins)
    assert max(per_agent.values()) <= capacity
    assert repo.open_counts(INBOX, range(1, 9)) == dict(per_agent)


@pytest.mark.postgres
@pytest.mark.parametrize("serialize", [True, False])
def test_eight_threads_sharing_agents(pg: Any, serialize: bool) -> None:
    engine, schema = pg.make()
    engine.dispose()
    engine = pg.engine(pool_size=8, max_overflow=0)
    seed(engine, schema)
    repo = SqlConversationRepository(engine, schema, serialize_capacity=serialize)
    capacity = 30  # 2 agents x 30 == 60
    rng = random.Random(11)
    plans = []
    for thread in range(8):
        order = list(range(1, N + 1))
        rng.shuffle(order)
        agents = [1, 2] if thread % 2 else [2, 1]
        plans.append([(c, agent) for c in order for agent in agents])
    wins = run_threads(repo, plans, capacity)
    per_agent = check_exactly_once(repo, wins)
    if serialize:
        # the per-agent advisory lock makes the capacity count exact
        assert per_agent == {1: capacity, 2: capacity}
    else:
        # each claim saw every claim committed before it started; at most the 7 other
        # threads' claims were in flight, so an agent ends at most 7 over
        assert all(count <= capacity + 7 for count in per_agent.values())


@pytest.mark.postgres
def test_sequential_claims_never_exceed_capacity(pg: Any) -> None:
    engine, schema = pg.make()
    seed(engine, schema)
    repo = SqlConversationRepository(engine, schema)
    results = [repo.claim(i, 1, capacity_limit=5) for i in range(1, N + 1)]
    assert results == [True] * 5 + [False] * (N - 5)


_WORKER = """
import json, sys
import sqlalchemy as sa
from autoassign.adapters.sql import SqlConversationRepository, SqlSchema
url, pg_schema, agent, capacity, order = sys.argv[1:6]
engine = sa.create_engine(url)
repo = SqlConversationRepository(engine, SqlSchema(schema=pg_schema))
won = [c for c in json.loads(order) if repo.claim(c, int(agent), capacity_limit=int(capacity))]
engine.dispose()
print(json.dumps(won))
"""


@pytest.mark.postgres
def test_four_processes(pg: Any) -> None:
    engine, schema = pg.make()
    seed(engine, schema)
    capacity = 16  # 4 agents x 16 >= 60
    rng = random.Random(3)
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    procs = []
    for agent in range(1, 5):
        order = list(range(1, N + 1))
        rng.shuffle(order)
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _WORKER,
                    pg.url,
                    str(schema.schema),
                    str(agent),
                    str(capacity),
                    json.dumps(order),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
        )
    wins: list[list[tuple[int, int]]] = []
    for agent, proc in enumerate(procs, start=1):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        wins.append([(c, agent) for c in json.loads(out)])
    repo = SqlConversationRepository(engine, schema)
    per_agent = check_exactly_once(repo, wins)
    assert max(per_agent.values()) <= capacity


def test_threads_on_an_sqlite_file(tmp_path: Any) -> None:
    engine = create_sqlite_engine(tmp_path / "claims.db", connect_args={"timeout": 30})
    schema = SqlSchema()
    schema.create_all(engine)
    seed(engine, schema)
    repo = SqlConversationRepository(engine, schema)
    rng = random.Random(5)
    plans = []
    for agent in range(1, 5):
        order = list(range(1, N + 1))
        rng.shuffle(order)
        plans.append([(c, agent) for c in order])
    wins = run_threads(repo, plans, 15)
    per_agent = check_exactly_once(repo, wins)
    assert max(per_agent.values()) <= 15
    engine.dispose()


def test_threads_on_sqlite_memory() -> None:
    engine = create_sqlite_engine()  # one shared connection: the adapter serialises
    schema = SqlSchema()
    schema.create_all(engine)
    seed(engine, schema)
    repo = SqlConversationRepository(engine, schema)
    plans = [[(c, agent) for c in range(1, N + 1)] for agent in range(1, 9)]
    wins = run_threads(repo, plans, 8)
    check_exactly_once(repo, wins)
    engine.dispose()


@pytest.mark.postgres
def test_a_claim_waiting_for_the_lock_counts_the_claim_it_waited_for(pg: Any) -> None:
    """The capacity count of a claim that waited for the agent's advisory lock sees the
    claim that held it: the lock and the UPDATE are separate statements (of one
    message), so the UPDATE's snapshot is taken after the wait. A lock taken inside the
    UPDATE's own statement would count from a snapshot older than the wait, and assign
    a second conversation to an agent with a limit of one."""
    engine, schema = pg.make()
    engine.dispose()
    engine = pg.engine(pool_size=3, max_overflow=0)
    seed(engine, schema)
    repo = SqlConversationRepository(engine, schema)
    outcome: list[bool] = []
    with engine.connect() as holder:
        holder.execute(
            sa.select(sa.func.pg_advisory_xact_lock(advisory_lock_key("claim", 1)))
        )
        assert (
            holder.execute(repo.claim_statement(1, 1, capacity_limit=1)).rowcount == 1
        )
        waiter = threading.Thread(
            target=lambda: outcome.append(repo.claim(2, 1, capacity_limit=1))
        )
        waiter.start()
        with engine.connect() as probe:
            waiting = sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND NOT granted"
            )
            for _ in range(100_000):  # until the waiter is blocked on the lock
                if probe.execute(waiting).scalar():
                    break
                probe.rollback()
            else:
                pytest.fail("the second claim never waited for the lock")
        holder.commit()
    waiter.join(timeout=30)
    assert outcome == [False]  # the agent is at its limit of one
    assert repo.open_counts(INBOX, [1]) == {1: 1}
