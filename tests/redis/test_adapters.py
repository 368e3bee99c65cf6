"""The Redis adapters behave exactly like the in-memory reference adapters, on fakeredis,
real Redis and a real cluster, with bytes or str replies."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from autoassign.adapters.memory import (
    InMemoryPresence,
    InMemoryRateLimitLedger,
    InMemoryRotationStore,
)
from autoassign.adapters.redis import (
    RedisBackend,
    RedisInboxLease,
    RedisPresence,
    RedisRateLimitLedger,
    RedisRotationStore,
)
from autoassign.errors import ConfigurationError
from autoassign.model import LedgerUsage
from autoassign.testing import EPOCH, FakeClock

from .conftest import Target

W = timedelta(seconds=60)
EXACT = timedelta(0)


def test_ledger_window_boundary_and_limit(any_redis: Target) -> None:
    ledger = RedisRateLimitLedger(
        any_redis.client, prefix=any_redis.prefix, max_clock_skew=EXACT
    )
    t0 = EPOCH + timedelta(microseconds=7)
    assert ledger.try_record(1, "ann", 10, now=t0, window=W, limit=2)
    assert ledger.try_record(1, "ann", 11, now=t0, window=W, limit=2)
    assert not ledger.try_record(1, "ann", 12, now=t0, window=W, limit=2)
    # Recording the same conversation again replaces it (never refused for itself).
    later = t0 + timedelta(seconds=1)
    assert ledger.try_record(1, "ann", 11, now=later, window=W, limit=2)
    both = LedgerUsage(count=2, oldest=t0, last=later)
    assert ledger.usage(1, ["ann"], now=later, window=W) == {"ann": both}
    # An entry at t counts while now - t < window, to the microsecond.
    edge = t0 + W - timedelta(microseconds=1)
    assert ledger.usage(1, ["ann"], now=edge, window=W) == {"ann": both}
    assert not ledger.try_record(1, "ann", 12, now=edge, window=W, limit=2)
    assert ledger.usage(1, ["ann"], now=t0 + W, window=W) == {
        "ann": LedgerUsage(count=1, oldest=later, last=later)
    }
    assert ledger.try_record(1, "ann", 12, now=t0 + W, window=W, limit=2)
    # No limit (None or 0) always records; discard removes; other inboxes are separate.
    for n in range(5):
        assert ledger.try_record(1, "bob", n, now=t0, window=W, limit=None)
        assert ledger.try_record(1, "bob", 100 + n, now=t0, window=W, limit=0)
    ledger.discard(1, "bob", 0)
    ledger.discard(1, "bob", 999)
    assert ledger.usage(1, ["bob"], now=t0, window=W)["bob"].count == 9
    assert ledger.usage(2, ["ann", "bob"], now=t0, window=W) == {}
    assert ledger.usage(1, [], now=t0, window=W) == {}


def test_ledger_returns_the_callers_id_objects(any_redis: Target) -> None:
    ledger = RedisRateLimitLedger(any_redis.client, prefix=any_redis.prefix)
    assert ledger.try_record("inbox", 42, "c-1", now=EPOCH, window=W, limit=3)
    assert ledger.try_record("inbox", "42x", 7, now=EPOCH, window=W, limit=3)
    found = ledger.usage("inbox", [42, "42x", "nobody"], now=EPOCH, window=W)
    assert set(found) == {42, "42x"}
    assert [type(agent) for agent in found] == [int, str]


@pytest.mark.parametrize("skew", [EXACT, timedelta(seconds=1.5)], ids=["exact", "skew"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ledger_matches_memory(any_redis: Target, seed: int, skew: timedelta) -> None:
    """Same calls, same answers, with exact windows and with a clock-skew margin."""
    rng = random.Random(seed)
    ours = RedisRateLimitLedger(
        any_redis.client, prefix=any_redis.prefix, max_clock_skew=skew
    )
    reference = InMemoryRateLimitLedger(max_clock_skew=skew)
    now = EPOCH
    agents = [1, 2, "ann"]
    for _ in range(150):
        now += timedelta(
            microseconds=rng.choice([0, 1, 999, 250_000, 10**6, 7 * 10**6])
        )
        window = timedelta(seconds=rng.choice([5, 10, 30]))
        inbox = rng.choice([1, "x"])
        op = rng.random()
        if op < 0.6:
            args = (inbox, rng.choice(agents), rng.randrange(12))
            limit = rng.choice([None, 0, 1, 2, 3])
            assert ours.try_record(
                *args, now=now, window=window, limit=limit
            ) == reference.try_record(*args, now=now, window=window, limit=limit)
        elif op < 0.75:
            args = (inbox, rng.choice(agents), rng.randrange(12))
            ours.discard(*args)
            reference.discard(*args)
        else:
            assert ours.usage(inbox, agents, now=now, window=window) == reference.usage(
                inbox, agents, now=now, window=window
            )
            assert ours.last_assigned(
                inbox, agents, now=now, window=window
            ) == reference.last_assigned(inbox, agents, now=now, window=window)


def test_rotation_select_and_order(any_redis: Target) -> None:
    rotation = RedisRotationStore(any_redis.client, prefix=any_redis.prefix)
    assert rotation.order(1, members=[1, 2, 3]) == (1, 2, 3)
    assert rotation.select(1, members=[1, 2, 3], eligible=[2, 3]) == 2
    assert rotation.order(1, members=[1, 2, 3]) == (1, 3, 2)
    # Reconcile: 2 leaves, 4 joins at the back; survivors keep their order.
    assert rotation.order(1, members=[3, 1, 4]) == (1, 3, 4)
    assert rotation.select(1, members=[3, 1, 4], eligible=[]) is None
    assert rotation.order(1, members=[3, 1, 4]) == (1, 3, 4)
    assert rotation.select(1, members=[3, 1, 4], eligible=[4, 99]) == 4
    assert rotation.select(1, members=[], eligible=[1]) is None
    assert rotation.order(1, members=[]) == ()
    # Ids come back as the caller's objects.
    assert rotation.select("i", members=["7", 7], eligible=[7]) == "7"


def test_rotation_order_writes_nothing(any_redis: Target) -> None:
    rotation = RedisRotationStore(any_redis.client, prefix=any_redis.prefix)
    rotation.select(1, members=[1, 2], eligible=[1])
    assert rotation.order(1, members=[1, 2]) == (2, 1)  # loads the script
    any_redis.recorder.reset()
    assert rotation.order(1, members=[2, 3]) == (2, 3)
    assert any_redis.recorder.commands == ["EVALSHA"]  # rotation_order.lua, read-only
    assert rotation.order(1, members=[1, 2]) == (2, 1)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rotation_matches_memory(any_redis: Target, seed: int) -> None:
    rng = random.Random(seed)
    ours = RedisRotationStore(any_redis.client, prefix=any_redis.prefix)
    reference = InMemoryRotationStore()
    pool: list[int | str] = [1, 2, 3, 4, 5, "a", "b"]
    for _ in range(120):
        inbox = rng.choice([1, 2])
        members = rng.sample(pool, rng.randrange(len(pool) + 1))
        if members and rng.random() < 0.2:
            members.append(rng.choice(members))  # a duplicate member
        eligible = rng.sample(pool, rng.randrange(len(pool) + 1))
        roll = rng.random()
        if roll < 0.5:
            assert ours.select(
                inbox, members=members, eligible=eligible
            ) == reference.select(inbox, members=members, eligible=eligible)
        elif roll < 0.7:
            moved = rng.choices(pool, k=rng.randrange(12))  # some twice, some strangers
            ours.advance(inbox, members=members, agents=moved)
            reference.advance(inbox, members=members, agents=moved)
        else:
            assert list(ours.order(inbox, members=members)) == list(
                reference.order(inbox, members=members)
            )


def test_rotation_many_members(any_redis: Target) -> None:
    rotation = RedisRotationStore(any_redis.client, prefix=any_redis.prefix)
    members = list(range(2500))  # more than one RPUSH chunk
    assert rotation.select(1, members=members, eligible=[5, 2400]) == 5
    order = rotation.order(1, members=members)
    assert len(order) == 2500
    assert order[-1] == 5
    rotation.advance(1, members=members, agents=list(range(100, 1300)))
    order = rotation.order(1, members=members)
    assert len(order) == 2500
    assert list(order[-1200:]) == list(range(100, 1300))
    assert order[:5] == (0, 1, 2, 3, 4)


def test_presence_heartbeat_window(any_redis: Target) -> None:
    clock = FakeClock()
    presence = RedisPresence(
        any_redis.client, prefix=any_redis.prefix, clock=clock, window=W / 3
    )
    assert presence.set_status(1, 10, "online") is None
    assert presence.set_status(1, 11, "busy") is None
    assert presence.set_status(1, 11, "online") == "busy"
    assert presence.statuses(1, [10, 11]) == {}  # no heartbeat yet: offline
    presence.heartbeat(1, 10)
    clock.advance(5)
    presence.heartbeat(1, 11)
    found = presence.statuses(1, [10, 11, 12])
    assert found == {10: "online", 11: "online"}
    assert [type(a) for a in found] == [int, int]
    clock.advance(15)  # 10's heartbeat is exactly 20 s old: still fresh (inclusive)
    assert presence.statuses(1, [10, 11]) == {10: "online", 11: "online"}
    clock.advance(timedelta(milliseconds=1))
    assert presence.statuses(1, [10, 11]) == {11: "online"}
    # The status hash alone, as with require_heartbeat=False.
    loose = RedisPresence(
        any_redis.client, prefix=any_redis.prefix, require_heartbeat=False
    )
    assert loose.statuses(1, [10, 11, 12]) == {10: "online", 11: "online"}
    presence.forget(1, 10)
    assert loose.statuses(1, [10]) == {}
    assert presence.statuses(2, [11]) == {}


def test_presence_matches_memory_without_heartbeats(any_redis: Target) -> None:
    rng = random.Random(5)
    ours = RedisPresence(
        any_redis.client, prefix=any_redis.prefix, require_heartbeat=False
    )
    reference = InMemoryPresence()
    agents: list[int | str] = [1, 2, 3, "1x", "é"]
    for _ in range(60):
        account = rng.choice([1, "acc"])
        if rng.random() < 0.5:
            agent = rng.choice(agents)
            status = rng.choice(["online", "busy", "offline", "Online"])
            assert ours.set_status(account, agent, status) == reference.set_status(
                account, agent, status
            )
        else:
            wanted = rng.sample(agents, rng.randrange(len(agents) + 1))
            assert ours.statuses(account, wanted) == reference.statuses(account, wanted)


def test_presence_reads_a_host_written_reference_layout(any_redis: Target) -> None:
    """A host's own tracker writes the same two keys with integer epoch seconds."""
    clock = FakeClock()
    backend = RedisBackend(any_redis.client, prefix=any_redis.prefix, clock=clock)
    keys = backend.keys
    now = int(clock.now().timestamp())
    any_redis.client.hset(keys.status(9), mapping={"1": "online", "2": "busy"})
    any_redis.client.zadd(keys.presence(9), {"1": now - 20, "2": now - 3, "3": now})
    assert backend.presence.statuses(9, [1, 2, 3]) == {1: "online", 2: "busy"}


def test_presence_window_must_be_positive(fake_redis: Target) -> None:
    with pytest.raises(ConfigurationError):
        RedisBackend(fake_redis.client, presence_window=timedelta(0))


def test_lease_is_exclusive_and_released_only_by_its_owner(any_redis: Target) -> None:
    leases = RedisInboxLease(any_redis.client, prefix=any_redis.prefix)
    ttl = timedelta(seconds=30)
    first = leases.acquire(1, ttl=ttl)
    assert first is not None
    assert leases.acquire(1, ttl=ttl) is None
    assert leases.is_held(1)
    # The lease expires (simulated by the server dropping the key) and is retaken.
    any_redis.client.delete(leases.keys.lease(1))
    second = leases.acquire(1, ttl=ttl)
    assert second is not None
    first.release()  # stale: a no-op that leaves the new owner's lease alone
    assert leases.acquire(1, ttl=ttl) is None
    second.release()
    second.release()
    assert not leases.is_held(1)
    third = leases.acquire(1, ttl=timedelta(microseconds=10))  # clamped to 1 ms
    assert third is not None
    third.release()


def test_lease_ttl_is_set_on_the_server(any_redis: Target) -> None:
    leases = RedisInboxLease(any_redis.client, prefix=any_redis.prefix)
    held = leases.acquire(1, ttl=timedelta(seconds=30))
    assert held is not None
    # Milliseconds on the server: a unit slip (seconds as ms, or the reverse) fails.
    assert 25_000 < any_redis.client.pttl(leases.keys.lease(1)) <= 30_000
    assert leases.mark_pending(1, ttl=timedelta(seconds=5))
    assert 0 < any_redis.client.pttl(leases.keys.pending(1)) <= 5_000
    assert any_redis.client.pttl(leases.keys.pending(1)) > 1_000
    held.release()


def test_pending_mark(any_redis: Target) -> None:
    leases = RedisInboxLease(any_redis.client, prefix=any_redis.prefix)
    ttl = timedelta(seconds=30)
    assert not leases.take_pending(1)
    assert not leases.is_pending(1)
    assert leases.mark_pending(1, ttl=ttl)
    assert leases.is_pending(1)
    assert not leases.is_pending(2)  # marks are per inbox
    assert not leases.mark_pending(1, ttl=ttl)
    assert leases.take_pending(1)
    assert not leases.is_pending(1)
    assert not leases.take_pending(1)
    assert leases.mark_pending(1, ttl=ttl)


@pytest.mark.parametrize("skew", [EXACT, timedelta(seconds=1), timedelta(minutes=5)])
def test_ledger_keys_expire_only_as_garbage(any_redis: Target, skew: timedelta) -> None:
    """A key outlives the last moment any worker counts its newest entry (window + 4
    x the skew in true time: stamped by a clock ahead, read by one behind) by the
    garbage-collection margin."""
    ledger = RedisRateLimitLedger(
        any_redis.client, prefix=any_redis.prefix, max_clock_skew=skew
    )
    assert ledger.try_record(1, 2, 3, now=EPOCH, window=W, limit=1)
    for key in (ledger.keys.fair(1, 2), ledger.keys.fair_last(1)):
        ttl = timedelta(milliseconds=any_redis.client.pttl(key))
        counted = W + 4 * skew
        assert counted < ttl <= counted + timedelta(minutes=1)
        # The whole garbage-collection margin is there.
        assert ttl > counted + timedelta(seconds=55)


def test_backend_bundle(fake_redis: Target) -> None:
    backend = RedisBackend(fake_redis.client, prefix="p")
    assert backend.presence.keys is backend.keys
    assert backend.ledger.keys.prefix == "p"
    assert backend.rotation.keys is backend.keys
    assert backend.lease.keys is backend.keys
    assert backend.reservations.presence is backend.presence
    assert backend.reservations.ledger is backend.ledger
    assert repr(backend) == "RedisBackend(prefix='p')"
    with pytest.raises(ConfigurationError):
        RedisBackend(fake_redis.client, prefix="p{x}")
