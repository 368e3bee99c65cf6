"""The presence index (``<prefix>:{a:<account>}:online``) and the rotation's members
digest (``<prefix>:{i:<inbox>}:rrmembers``): kept by every write, read in one round
trip, the presence window's staleness rule unchanged, and the fallbacks (writes the
index did not see, a queue written without the digest, a membership change)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from autoassign.adapters.redis import RedisPresence, RedisRotationStore
from autoassign.adapters.redis._presence import ONLINE_READ_AGENTS
from autoassign.errors import BackendError
from autoassign.testing import FakeClock

from .conftest import Target

ACCOUNT = 1
WINDOW = timedelta(seconds=20)
MANY = ONLINE_READ_AGENTS + 50


class _Spy:
    """Records the ``args`` of every call of a registered script."""

    def __init__(self, script: Any) -> None:
        self.script = script
        self.args: list[list[str]] = []

    def __call__(self, *, keys: Any, args: Any) -> Any:
        self.args.append([str(arg) for arg in args])
        return self.script(keys=keys, args=args)


def _presence(target: Target, clock: FakeClock, **options: Any) -> RedisPresence:
    return RedisPresence(
        target.client,
        prefix=target.prefix,
        clock=clock,
        window=WINDOW,
        online_index=True,
        **options,
    )


def _online(presence: RedisPresence, agents: list[Any]) -> set[Any]:
    return set(presence.online(ACCOUNT, agents))


@pytest.mark.parametrize("count", [3, MANY])
def test_online_follows_the_heartbeat_window(any_redis: Target, count: int) -> None:
    clock = FakeClock()
    presence = _presence(any_redis, clock)
    agents = list(range(count))
    for agent in agents:
        presence.set_status(ACCOUNT, agent, "online")
    assert _online(presence, agents) == set()  # no heartbeat yet
    presence.heartbeat(ACCOUNT, 0)
    clock.advance(5)
    presence.heartbeat(ACCOUNT, 1)
    assert _online(presence, agents) == {0, 1}
    clock.advance(15)  # exactly the window since 0's heartbeat: still fresh
    assert _online(presence, agents) == {0, 1}
    clock.advance(0.001)
    assert _online(presence, agents) == {1}
    assert presence.statuses(ACCOUNT, agents).keys() == {1}
    presence.heartbeat(ACCOUNT, 0)
    assert _online(presence, agents) == {0, 1}
    presence.set_status(ACCOUNT, 1, "busy")
    assert _online(presence, agents) == {0}
    presence.forget(ACCOUNT, 0)
    assert _online(presence, agents) == set()
    presence.set_status(ACCOUNT, 0, "online")  # no heartbeat since it was forgotten
    assert _online(presence, agents) == set()


def test_without_heartbeats_the_status_alone_decides(any_redis: Target) -> None:
    presence = _presence(any_redis, FakeClock(), require_heartbeat=False)
    agents = list(range(MANY))
    for agent in agents[::3]:
        presence.set_status(ACCOUNT, agent, "online")
    presence.set_status(ACCOUNT, 1, "busy")
    assert _online(presence, agents) == set(agents[::3])
    assert _online(presence, [0, 1, 2]) == {0}


def test_online_is_one_script_and_many_agents_are_not_sent(any_redis: Target) -> None:
    clock = FakeClock()
    presence = _presence(any_redis, clock)
    agents = list(range(MANY))
    for agent in agents[:10]:
        presence.set_status(ACCOUNT, agent, "online")
        presence.heartbeat(ACCOUNT, agent)
    spy = _Spy(presence._online)
    presence._online = spy
    presence.online(ACCOUNT, agents)  # loads the script
    any_redis.recorder.reset()
    assert _online(presence, agents) == set(agents[:10])
    assert any_redis.recorder.commands == ["EVALSHA"]
    assert spy.args[-1][2:] == ["all"]  # no agent ids: the index is read whole
    assert _online(presence, agents[:5]) == set(agents[:5])
    assert spy.args[-1][2:] == ["some", "0", "1", "2", "3", "4"]


def test_the_index_misses_writes_it_did_not_see_until_rebuilt(
    any_redis: Target,
) -> None:
    clock = FakeClock()
    presence = _presence(any_redis, clock)
    keys = presence.keys
    now = clock.now().timestamp()
    # The host writes the reference's layout itself.
    any_redis.client.hset(keys.status(ACCOUNT), mapping={"1": "online", "2": "busy"})
    any_redis.client.hset(keys.status(ACCOUNT), "3", "online")
    any_redis.client.zadd(keys.presence(ACCOUNT), {"1": now, "2": now})
    agents = [1, 2, 3]
    assert _online(presence, agents) == set()
    assert presence.statuses(ACCOUNT, agents) == {1: "online", 2: "busy"}
    assert presence.rebuild_online_index(ACCOUNT) == 2
    assert _online(presence, agents) == {1}  # 3 has no heartbeat
    presence.heartbeat(ACCOUNT, 3)
    assert _online(presence, agents) == {1, 3}
    # Without the index, online() reads the statuses.
    plain = RedisPresence(any_redis.client, prefix=any_redis.prefix, clock=clock)
    any_redis.client.hset(keys.status(ACCOUNT), "2", "online")
    assert set(plain.online(ACCOUNT, agents)) == {1, 2, 3}


def _rotation(target: Target) -> tuple[RedisRotationStore, _Spy]:
    rotation = RedisRotationStore(target.client, prefix=target.prefix)
    spy = _Spy(rotation._script)
    rotation._script = spy
    return rotation, spy


def test_advance_sends_only_the_moves_while_the_members_are_unchanged(
    any_redis: Target,
) -> None:
    rotation, spy = _rotation(any_redis)
    members = list(range(1, 501))
    # A fresh queue: order finds no digest, so the advance sends the members at once.
    assert list(rotation.order(7, members=members)) == members
    rotation.advance(7, members=members, agents=[1, 2])
    assert [args[0] for args in spy.args] == ["advance"]
    any_redis.recorder.reset()
    assert list(rotation.order(7, members=members))[-2:] == [1, 2]
    rotation.advance(7, members=members, agents=[3, 999, 4, 3])
    assert spy.args[-1][0] == "moves"
    assert spy.args[-1][2:] == ["3", "4", "3"]  # the non-member 999 is left out
    assert any_redis.recorder.commands == ["EVALSHA", "EVALSHA"]
    expected = [*range(5, 501), 1, 2, 4, 3]
    assert list(rotation.order(7, members=members)) == expected


def test_order_transfers_the_queue_only_when_another_writer_changed_it(
    any_redis: Target,
) -> None:
    rotation, _ = _rotation(any_redis)
    order_spy = _Spy(rotation._order)
    rotation._order = order_spy
    members = list(range(1, 301))
    assert list(rotation.order(7, members=members)) == members
    rotation.advance(7, members=members, agents=[1])  # the members, once
    assert list(rotation.order(7, members=members))[-1] == 1  # read whole
    rotation.advance(7, members=members, agents=[2, 5])  # moves, copy kept
    expected = [3, 4, *range(6, 301), 1, 2, 5]
    assert list(rotation.order(7, members=members)) == expected
    assert len(order_spy.args) == 3
    # Its copy was current: the script confirmed it and sent no agents.
    copy_args = order_spy.args[-1]
    assert copy_args[2:] == ["300", "3", "5"]
    assert len(order_spy.script(keys=rotation._keys(7), args=copy_args)) == 1
    assert len(order_spy.script(keys=rotation._keys(7), args=order_spy.args[1])) == 302
    # Another worker's write: the next order reads the queue again.
    other = RedisRotationStore(any_redis.client, prefix=any_redis.prefix)
    other.advance(7, members=members, agents=[3])
    assert list(rotation.order(7, members=members)) == [*expected[1:], 3]
    # An older worker that moves agents without counting versions is seen by the ends.
    rotation.order(7, members=members)
    key = rotation.keys.rotation(7)
    any_redis.client.lrem(key, 1, "4")
    any_redis.client.rpush(key, "4")
    assert list(rotation.order(7, members=members)) == [*expected[2:], 3, 4]


def test_a_membership_change_sends_the_members_once(any_redis: Target) -> None:
    rotation, spy = _rotation(any_redis)
    members = ["a", "b", "c"]
    rotation.order(7, members=members)
    rotation.advance(7, members=members, agents=["a"])  # b, c, a
    changed = ["c", "a", "d"]
    # Seen by order first: one advance call with the members.
    assert list(rotation.order(7, members=changed)) == ["c", "a", "d"]
    spy.args.clear()
    rotation.advance(7, members=changed, agents=["c"])
    assert [args[0] for args in spy.args] == ["advance"]
    assert list(rotation.order(7, members=changed)) == ["a", "d", "c"]
    # Not seen by order (another worker's read): the moves are refused, then the
    # members are sent.
    other, other_spy = _rotation(any_redis)
    other.advance(7, members=members, agents=["b"])
    assert [args[0] for args in other_spy.args] == ["moves", "advance"]
    assert list(other.order(7, members=members)) == ["a", "c", "b"]


def test_a_queue_without_the_digest_is_reconciled(any_redis: Target) -> None:
    """A queue an older version wrote (no digest, duplicates, a non-member)."""
    rotation, spy = _rotation(any_redis)
    key = rotation.keys.rotation(7)
    any_redis.client.rpush(key, "b", "x", "a", "b")
    assert list(rotation.order(7, members=["a", "b", "c"])) == ["b", "a", "c"]
    rotation.advance(7, members=["a", "b", "c"], agents=["b"])
    assert [args[0] for args in spy.args] == ["advance"]
    stored = [
        item.decode() if isinstance(item, bytes) else item
        for item in any_redis.client.lrange(key, 0, -1)
    ]
    assert stored == ["a", "c", "b"]
    # A digest that matches but a list changed behind it (an older writer): order
    # still reconciles, and the next advance sends the members.
    any_redis.client.rpush(key, "x")
    spy.args.clear()
    assert list(rotation.order(7, members=["a", "b", "c"])) == ["a", "c", "b"]
    rotation.advance(7, members=["a", "b", "c"], agents=["a"])
    assert [args[0] for args in spy.args] == ["advance"]
    assert list(rotation.order(7, members=["a", "b", "c"])) == ["c", "b", "a"]


def test_a_wrong_typed_index_or_digest_fails_before_any_write(
    any_redis: Target,
) -> None:
    clock = FakeClock()
    presence = _presence(any_redis, clock)
    rotation = RedisRotationStore(any_redis.client, prefix=any_redis.prefix)
    keys, client = presence.keys, any_redis.client
    presence.set_status(ACCOUNT, 1, "online")
    presence.heartbeat(ACCOUNT, 1)
    rotation.advance(7, members=[1, 2], agents=[1])  # 2, 1
    client.delete(keys.online(ACCOUNT), keys.rotation_members(7))
    client.set(keys.online(ACCOUNT), "not a zset")
    client.rpush(keys.rotation_members(7), "not a string")
    failing: list[Any] = [
        lambda: presence.online(ACCOUNT, [1]),
        lambda: presence.online(ACCOUNT, list(range(MANY))),
        lambda: presence.set_status(ACCOUNT, 1, "busy"),
        lambda: presence.heartbeat(ACCOUNT, 1),
        lambda: presence.rebuild_online_index(ACCOUNT),
        lambda: rotation.advance(7, members=[1, 2], agents=[2]),
        lambda: rotation.select(7, members=[1, 2], eligible=[2]),
    ]
    before_heartbeat = client.zscore(keys.presence(ACCOUNT), "1")
    for operation in failing:
        with pytest.raises(BackendError):
            operation()
    assert presence.statuses(ACCOUNT, [1]) == {1: "online"}
    assert client.zscore(keys.presence(ACCOUNT), "1") == before_heartbeat
    stored = [
        item.decode() if isinstance(item, bytes) else item
        for item in client.lrange(keys.rotation(7), 0, -1)
    ]
    assert stored == ["2", "1"]
