"""Driver errors become autoassign errors; failing scripts leave nothing half-written."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from autoassign.adapters.redis import RedisBackend
from autoassign.errors import BackendError, BackendUnavailable
from autoassign.testing import EPOCH

from .conftest import Target

W = timedelta(seconds=60)


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dead_client(decode: bool = False) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1",
        port=dead_port(),
        socket_connect_timeout=0.5,
        socket_timeout=0.5,
        retry=Retry(NoBackoff(), 0),
        decode_responses=decode,
    )


def every_operation(backend: RedisBackend) -> list[Callable[[], Any]]:
    return [
        lambda: backend.presence.statuses(1, [1, 2]),
        lambda: backend.presence.heartbeat(1, 1),
        lambda: backend.presence.set_status(1, 1, "online"),
        lambda: backend.presence.forget(1, 1),
        lambda: backend.ledger.usage(1, [1, 2], now=EPOCH, window=W),
        lambda: backend.ledger.last_assigned(1, [1, 2], now=EPOCH, window=W),
        lambda: backend.ledger.try_record(1, 1, 5, now=EPOCH, window=W, limit=3),
        lambda: backend.ledger.discard(1, 1, 5),
        lambda: backend.rotation.select(1, members=[1, 2], eligible=[1]),
        lambda: backend.rotation.order(1, members=[1, 2]),
        lambda: backend.rotation.advance(1, members=[1, 2], agents=[2]),
        lambda: backend.lease.acquire(1, ttl=W),
        lambda: backend.lease.mark_pending(1, ttl=W),
        lambda: backend.lease.take_pending(1),
        lambda: backend.lease.is_pending(1),
        lambda: backend.lease.is_held(1),
    ]


@pytest.mark.parametrize("decode", [False, True])
def test_dead_port_is_backend_unavailable(decode: bool) -> None:
    backend = RedisBackend(dead_client(decode))
    for operation in every_operation(backend):
        with pytest.raises(BackendUnavailable) as info:
            operation()
        assert isinstance(info.value.__cause__, redis.ConnectionError)


def test_a_lost_connection_on_release_is_backend_unavailable(
    fake_redis: Target,
) -> None:
    backend = RedisBackend(fake_redis.client, prefix=fake_redis.prefix)
    held = backend.lease.acquire(1, ttl=W)
    assert held is not None
    fake_redis.client.connection_pool.connection_kwargs["server"].connected = False
    with pytest.raises(BackendUnavailable):
        held.release()
    held.release()  # a second release is a no-op


def test_server_errors_are_backend_errors(any_redis: Target) -> None:
    """Wrong-typed keys make every script fail on its first command, before any write."""
    backend = RedisBackend(any_redis.client, prefix=any_redis.prefix)
    keys = backend.keys
    client = any_redis.client
    client.set(keys.fair(1, 1), "not a zset")
    client.set(keys.fair_last(2), "not a zset")
    client.set(keys.rotation(1), "not a list")
    client.set(keys.status(1), "not a hash")
    client.set(keys.presence(1), "not a zset")
    failing: list[Callable[[], Any]] = [
        lambda: backend.ledger.try_record(1, 1, 5, now=EPOCH, window=W, limit=3),
        lambda: backend.ledger.usage(1, [1], now=EPOCH, window=W),
        lambda: backend.ledger.discard(1, 1, 5),
        lambda: backend.ledger.last_assigned(2, [1], now=EPOCH, window=W),
        lambda: backend.rotation.select(1, members=[1, 2], eligible=[1]),
        lambda: backend.rotation.advance(1, members=[1, 2], agents=[1]),
        lambda: backend.rotation.order(1, members=[1]),
        lambda: backend.presence.statuses(1, [1]),
        lambda: backend.presence.set_status(1, 1, "online"),
        lambda: backend.presence.heartbeat(1, 1),
    ]
    for operation in failing:
        with pytest.raises(BackendError) as info:
            operation()
        assert not isinstance(info.value, BackendUnavailable)
        assert isinstance(info.value.__cause__, redis.RedisError)
    for key in (
        keys.fair(1, 1),
        keys.fair_last(2),
        keys.rotation(1),
        keys.status(1),
        keys.presence(1),
    ):
        value = client.get(key)
        text = value.decode() if isinstance(value, bytes) else value
        assert text.startswith("not a ")


def test_a_wrong_typed_index_fails_the_ledger_scripts_before_any_write(
    any_redis: Target,
) -> None:
    backend = RedisBackend(any_redis.client, prefix=any_redis.prefix)
    assert backend.ledger.try_record(3, 1, 5, now=EPOCH, window=W, limit=None)
    any_redis.client.set(backend.keys.fair_last(3), "not a zset")
    failing: list[Callable[[], Any]] = [
        lambda: backend.ledger.try_record(3, 1, 6, now=EPOCH, window=W, limit=None),
        lambda: backend.ledger.discard(3, 1, 5),
    ]
    for operation in failing:
        with pytest.raises(BackendError) as info:
            operation()
        assert isinstance(info.value.__cause__, redis.ResponseError)
    later = EPOCH + timedelta(seconds=1)
    assert backend.ledger.usage(3, [1], now=later, window=W)[1].count == 1


def test_script_cache_flush_is_recovered(fake_redis: Target) -> None:
    """NOSCRIPT (fresh or failed-over primary) is handled by redis-py's Script. Only on
    fakeredis: SCRIPT FLUSH would disturb other users of a shared real server."""
    backend = RedisBackend(fake_redis.client, prefix=fake_redis.prefix)
    assert backend.rotation.select(1, members=[1, 2], eligible=[2]) == 2
    fake_redis.client.script_flush()
    assert backend.rotation.select(1, members=[1, 2], eligible=[1]) == 1
