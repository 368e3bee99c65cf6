"""``RedisReservations`` (presence and try-record in one round trip) and the ledger's
newest-entry index (``last_assigned``), beyond what the contract suites check: round
trips, NOSCRIPT recovery, taking back a speculative entry, error reporting, the index's
keys and TTL, and concurrency."""

from __future__ import annotations

import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import redis

from autoassign.adapters.redis import RedisBackend, RedisReservations
from autoassign.errors import BackendError, BackendUnavailable, ConfigurationError
from autoassign.model import Reservation
from autoassign.testing import EPOCH

from .conftest import Target
from .test_errors import dead_client

W = timedelta(hours=1)
EXACT = timedelta(0)
"""For the tests of exact window edges and TTLs (the default tolerates 1 s of skew)."""
ACCOUNT, INBOX = 1, 10
BOGUS_SHA = "0" * 40


def backend_with(target: Target, *online: str, busy: tuple[str, ...] = ()) -> Any:
    backend = RedisBackend(target.client, prefix=target.prefix)
    for agent in online:
        backend.presence.set_status(ACCOUNT, agent, "online")
        backend.presence.heartbeat(ACCOUNT, agent)
    for agent in busy:
        backend.presence.set_status(ACCOUNT, agent, "busy")
        backend.presence.heartbeat(ACCOUNT, agent)
    return backend


def reserve(
    backend: RedisBackend,
    conversation: int,
    expect: dict[Any, bool],
    *,
    agent: str = "ann",
    seconds: float = 0,
    limit: int | None = None,
    record: bool = True,
) -> Reservation:
    return backend.reservations.reserve(
        ACCOUNT,
        INBOX,
        agent,
        conversation,
        expect_online=expect,
        now=EPOCH + timedelta(seconds=seconds),
        window=W,
        limit=limit,
        record=record,
    )


def entries(target: Target, backend: RedisBackend, agent: str = "ann") -> list[Any]:
    """The agent's ledger as (conversation text, score) pairs, oldest first."""
    raw = target.client.zrange(backend.keys.fair(INBOX, agent), 0, -1, withscores=True)
    return [
        (member.decode() if isinstance(member, bytes) else member, int(score))
        for member, score in raw
    ]


def micros(seconds: float) -> int:
    return int((EPOCH + timedelta(seconds=seconds)).timestamp()) * 10**6


# -- round trips --------------------------------------------------------------------------


def test_reserve_is_one_round_trip(any_redis: Target) -> None:
    backend = backend_with(any_redis, "ann", busy=("bob",))
    expect = {"ann": True, "bob": False}
    assert reserve(backend, 100, expect).recorded  # warm-up: loads the scripts
    backend.ledger.discard(INBOX, "ann", "unknown")  # ... and the discard script
    any_redis.recorder.reset()
    done = reserve(backend, 101, expect, seconds=1)
    assert (done.confirmed, done.recorded) == (True, True)
    assert any_redis.recorder.commands == ["PIPELINE"]
    # refused at the limit: still one
    any_redis.recorder.reset()
    assert reserve(backend, 102, expect, seconds=2, limit=2).refused
    assert any_redis.recorder.commands == ["PIPELINE"]
    # a mismatch takes the speculative entry back: a second round trip, only then
    any_redis.recorder.reset()
    assert not reserve(backend, 103, {"ann": False}, seconds=3).confirmed
    assert any_redis.recorder.commands == ["PIPELINE", "EVALSHA"]
    # nothing to pipeline: one command, or none
    any_redis.recorder.reset()
    assert reserve(backend, 104, {}, seconds=4).recorded
    assert any_redis.recorder.commands == ["EVALSHA"]
    any_redis.recorder.reset()
    assert reserve(backend, 105, expect, record=False).confirmed
    assert any_redis.recorder.commands == ["EVALSHA"]
    any_redis.recorder.reset()
    assert reserve(backend, 105, {}, record=False).confirmed
    assert any_redis.recorder.commands == []
    assert [member for member, _ in entries(any_redis, backend)] == [
        "100",
        "101",
        "104",
    ]


def test_script_flush_is_recovered(fake_redis: Target) -> None:
    """Only on fakeredis: SCRIPT FLUSH would disturb other users of a real server."""
    backend = backend_with(fake_redis, "ann")
    assert reserve(backend, 100, {"ann": True}).recorded
    fake_redis.client.script_flush()
    fake_redis.recorder.reset()
    done = reserve(backend, 101, {"ann": True}, seconds=1)
    assert (done.confirmed, done.recorded) == (True, True)
    assert fake_redis.recorder.commands == [
        "PIPELINE",
        "SCRIPT LOAD",
        "SCRIPT LOAD",
        "PIPELINE",
    ]
    fake_redis.recorder.reset()
    assert reserve(backend, 102, {"ann": True}, seconds=2).recorded
    assert fake_redis.recorder.commands == ["PIPELINE"]
    assert entries(fake_redis, backend) == [
        ("100", micros(0)),
        ("101", micros(1)),
        ("102", micros(2)),
    ]


def test_a_missing_script_runs_again_alone(any_redis: Target) -> None:
    """A cold presence script (simulated by an unknown sha, so no server is flushed)
    while the try-record script runs: only the presence script runs again, so the
    record is not repeated and a mismatch still puts the conversation's earlier entry
    back exactly."""
    backend = backend_with(any_redis, busy=("ann",))
    assert backend.ledger.try_record(INBOX, "ann", 100, now=EPOCH, window=W, limit=None)
    backend.ledger.discard(INBOX, "ann", "unknown")  # loads the discard script
    statuses_script = backend.presence._statuses
    real_sha = statuses_script.sha
    statuses_script.sha = BOGUS_SHA
    any_redis.recorder.reset()
    done = reserve(backend, 100, {"ann": True}, seconds=5)
    assert (done.confirmed, done.recorded) == (False, False)
    assert dict(done.statuses) == {"ann": "busy"}
    assert any_redis.recorder.commands == [
        "PIPELINE",
        "SCRIPT LOAD",
        "PIPELINE",
        "EVALSHA",  # the take-back
    ]
    assert statuses_script.sha == real_sha
    assert entries(any_redis, backend) == [("100", micros(0))]
    last = backend.ledger.last_assigned(INBOX, ["ann"], now=EPOCH, window=W)
    assert last == {"ann": EPOCH}


# -- taking back ----------------------------------------------------------------------------


def test_a_mismatch_leaves_no_key_behind(any_redis: Target) -> None:
    backend = backend_with(any_redis, "ann", "bob")
    done = reserve(backend, 100, {"ann": True, "bob": False})
    assert dict(done.statuses) == {"ann": "online", "bob": "online"}
    assert not done.recorded
    client = any_redis.client
    assert client.exists(backend.keys.fair(INBOX, "ann")) == 0
    assert client.exists(backend.keys.fair_last(INBOX)) == 0


def test_a_mismatch_removes_only_its_own_entry(any_redis: Target) -> None:
    backend = backend_with(any_redis, "ann")
    assert reserve(backend, 100, {"ann": True}, seconds=1).recorded
    assert reserve(backend, 101, {"ann": True}, seconds=2).recorded
    assert not reserve(backend, 102, {"ann": False}, seconds=3).recorded
    assert entries(any_redis, backend) == [("100", micros(1)), ("101", micros(2))]
    now = EPOCH + timedelta(seconds=4)
    assert backend.ledger.last_assigned(INBOX, ["ann"], now=now, window=W) == {
        "ann": now - timedelta(seconds=2)
    }


def test_a_failed_take_back_is_logged(
    fake_redis: Target,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = backend_with(fake_redis, busy=("ann",))

    def broken_undo(*args: Any, **kwargs: Any) -> None:
        raise BackendUnavailable("gone")

    monkeypatch.setattr(backend.ledger, "_undo", broken_undo)
    with caplog.at_level(logging.WARNING, logger="autoassign.adapters.redis"):
        done = reserve(backend, 100, {"ann": True})
    assert (done.confirmed, done.recorded, done.presence_error) == (False, False, None)
    assert dict(done.statuses) == {"ann": "busy"}
    assert "could not take back a speculative ledger entry" in caplog.text
    # the leftover entry only makes ann look busier
    assert [member for member, _ in entries(fake_redis, backend)] == ["100"]


# -- errors -----------------------------------------------------------------------------------


def test_a_failing_ledger_is_a_ledger_error(any_redis: Target) -> None:
    backend = backend_with(any_redis, "ann")
    any_redis.client.set(backend.keys.fair(INBOX, "ann"), "not a zset")
    done = reserve(backend, 100, {"ann": True})
    assert (done.confirmed, done.recorded, done.refused) == (True, False, False)
    assert dict(done.statuses) == {"ann": "online"}
    assert done.presence_error is None
    assert isinstance(done.ledger_error, BackendError)
    assert not isinstance(done.ledger_error, BackendUnavailable)
    assert isinstance(done.ledger_error.__cause__, redis.ResponseError)
    # presence not as expected: the ledger's failure does not matter
    done = reserve(backend, 101, {"ann": False})
    assert (done.confirmed, done.ledger_error) == (False, None)


def test_a_failing_presence_is_a_presence_error(any_redis: Target) -> None:
    backend = backend_with(any_redis)
    any_redis.client.set(backend.keys.presence(ACCOUNT), "not a zset")
    done = reserve(backend, 100, {"ann": True})
    assert isinstance(done.presence_error, BackendError)
    assert not isinstance(done.presence_error, BackendUnavailable)
    assert isinstance(done.presence_error.__cause__, redis.ResponseError)
    assert (done.confirmed, done.recorded, done.ledger_error) == (False, False, None)
    assert entries(any_redis, backend) == []


@pytest.mark.parametrize("decode", [False, True])
def test_a_dead_server_is_reported_not_raised(
    decode: bool, caplog: pytest.LogCaptureFixture
) -> None:
    backend = RedisBackend(dead_client(decode))
    with caplog.at_level(logging.WARNING, logger="autoassign.adapters.redis"):
        done = backend.reservations.reserve(
            1, 2, 3, 4, expect_online={3: True}, now=EPOCH, window=W, limit=1
        )
    assert isinstance(done.presence_error, BackendUnavailable)
    assert isinstance(done.presence_error.__cause__, redis.ConnectionError)
    assert (done.confirmed, done.recorded) == (False, False)
    assert "could not take back" in caplog.text  # it tried, to be sure
    done = backend.reservations.reserve(
        1, 2, 3, 4, expect_online={}, now=EPOCH, window=W, limit=1
    )
    assert isinstance(done.ledger_error, BackendUnavailable)
    assert (done.confirmed, done.recorded) == (True, False)


def test_presence_and_ledger_must_share_a_client(fake_redis: Target) -> None:
    ours = RedisBackend(fake_redis.client, prefix="p")
    theirs = RedisBackend(fake_redis.new_client(), prefix="p")
    with pytest.raises(ConfigurationError):
        RedisReservations(ours.presence, theirs.ledger)
    assert repr(ours.reservations) == "RedisReservations(prefix='p')"


# -- the newest-entry index ------------------------------------------------------------------


def test_last_assigned_is_one_read_whatever_the_ledger_holds(any_redis: Target) -> None:
    backend = RedisBackend(
        any_redis.client, prefix=any_redis.prefix, max_clock_skew=EXACT
    )
    agents = list(range(200))
    for agent in agents[:50]:
        for n in range(3):
            backend.ledger.try_record(
                INBOX,
                agent,
                f"{agent}-{n}",
                now=EPOCH + timedelta(seconds=agent + n),
                window=W,
                limit=None,
            )
    now = EPOCH + timedelta(seconds=100)
    backend.ledger.last_assigned(INBOX, agents, now=now, window=W)  # script loaded
    any_redis.recorder.reset()
    found = backend.ledger.last_assigned(INBOX, agents, now=now, window=W)
    assert any_redis.recorder.commands == ["EVALSHA"]
    assert found == {
        agent: EPOCH + timedelta(seconds=agent + 2) for agent in agents[:50]
    }
    usage = backend.ledger.usage(INBOX, agents, now=now, window=W)
    assert found == {agent: value.last for agent, value in usage.items()}
    # only the window counts: the cutoff is exclusive, to the microsecond
    cutoff_now = EPOCH + timedelta(seconds=10 + 2) + W
    found = backend.ledger.last_assigned(INBOX, agents, now=cutoff_now, window=W)
    assert set(found) == set(range(11, 50))


def test_index_keys_and_ttl(any_redis: Target) -> None:
    backend = RedisBackend(
        any_redis.client, prefix=any_redis.prefix, max_clock_skew=EXACT
    )
    client, keys = any_redis.client, backend.keys
    assert backend.ledger.try_record(INBOX, "ann", 1, now=EPOCH, window=W, limit=None)
    assert client.zscore(keys.fair_last(INBOX), "ann") == micros(0)
    long_ttl = client.pttl(keys.fair_last(INBOX))
    assert W.total_seconds() * 1000 < long_ttl
    # a record with a shorter window never shortens the index's TTL
    short = timedelta(seconds=30)
    later = EPOCH + timedelta(seconds=5)
    assert backend.ledger.try_record(INBOX, "bob", 2, now=later, window=short, limit=1)
    assert client.pttl(keys.fair_last(INBOX)) > W.total_seconds() * 1000
    bob_ttl = client.pttl(keys.fair(INBOX, "bob"))
    assert bob_ttl <= (short + timedelta(minutes=1)).total_seconds() * 1000
    # discard keeps it exact, and removes the agent with its last entry
    assert backend.ledger.try_record(INBOX, "ann", 3, now=later, window=W, limit=None)
    assert client.zscore(keys.fair_last(INBOX), "ann") == micros(5)
    backend.ledger.discard(INBOX, "ann", 3)
    assert client.zscore(keys.fair_last(INBOX), "ann") == micros(0)
    backend.ledger.discard(INBOX, "ann", 1)
    assert client.zscore(keys.fair_last(INBOX), "ann") is None
    backend.ledger.discard(INBOX, "bob", 2)
    assert client.exists(keys.fair_last(INBOX)) == 0


def test_entries_from_before_the_index_are_not_reported(any_redis: Target) -> None:
    """Older data (written without the index) is absent from ``last_assigned`` until
    the agent's next record; discarding it never creates an index key (which would have
    no TTL)."""
    backend = RedisBackend(any_redis.client, prefix=any_redis.prefix)
    client, keys = any_redis.client, backend.keys
    client.zadd(keys.fair(INBOX, "ann"), {"old-1": micros(0), "old-2": micros(1)})
    now = EPOCH + timedelta(seconds=2)
    assert backend.ledger.usage(INBOX, ["ann"], now=now, window=W)["ann"].count == 2
    assert backend.ledger.last_assigned(INBOX, ["ann"], now=now, window=W) == {}
    backend.ledger.discard(INBOX, "ann", "old-2")
    assert client.exists(keys.fair_last(INBOX)) == 0
    assert backend.ledger.try_record(INBOX, "ann", 7, now=now, window=W, limit=None)
    assert backend.ledger.last_assigned(INBOX, ["ann"], now=now, window=W) == {
        "ann": now
    }


def test_index_stays_exact_under_concurrency(any_redis: Target) -> None:
    """Threads record and discard for the same agents at once (each with its own
    client); afterwards every agent's index entry is exactly its newest entry."""
    agents = ["ann", "bob", 7]
    workers, steps = 6, 60
    barrier = threading.Barrier(workers, timeout=10)

    def work(seed: int) -> None:
        rng = random.Random(seed)
        backend = RedisBackend(any_redis.new_client(), prefix=any_redis.prefix)
        barrier.wait()
        for _ in range(steps):
            agent = rng.choice(agents)
            conversation = rng.randrange(10)
            if rng.random() < 0.6:
                at = EPOCH + timedelta(seconds=rng.randrange(100))
                backend.ledger.try_record(
                    INBOX, agent, conversation, now=at, window=W, limit=None
                )
            else:
                backend.ledger.discard(INBOX, agent, conversation)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, range(workers)))  # re-raises a worker's error
    backend = RedisBackend(any_redis.client, prefix=any_redis.prefix)
    now = EPOCH + timedelta(seconds=100)
    usage = backend.ledger.usage(INBOX, agents, now=now, window=W)
    expected = {agent: value.last for agent, value in usage.items()}
    assert backend.ledger.last_assigned(INBOX, agents, now=now, window=W) == expected
    index = any_redis.client.zrange(backend.keys.fair_last(INBOX), 0, -1)
    assert len(index) == len(expected)
