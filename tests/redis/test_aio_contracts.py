"""The shipped contract suites on the ``redis.asyncio`` adapters of
:mod:`autoassign.aio.redis` (through :class:`autoassign.testing.aio.EventLoopThread`),
on fakeredis and real Redis, with bytes and str replies; and the async and sync
adapters sharing one state."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import attrs
import fakeredis
import pytest
import redis
import redis.asyncio
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from autoassign.adapters.redis import RedisInboxLease, RedisPresence
from autoassign.aio.redis import AsyncRedisInboxLease, AsyncRedisPresence
from autoassign.model import AccountId, AgentId
from autoassign.ports import InboxLease, Presence
from autoassign.testing import FakeClock
from autoassign.testing.aio import EventLoopThread
from autoassign.testing.contracts import InboxLeaseContract, PresenceContract

from .conftest import CLUSTER_NODES_ENV, REDIS_URL, cluster_nodes


@attrs.define
class AsyncTarget:
    loop: EventLoopThread
    client: Any
    sync_client: Any
    prefix: str
    counter: Any = attrs.field(factory=itertools.count)

    def fresh_prefix(self) -> str:
        return f"{self.prefix}:{next(self.counter)}"


@pytest.fixture(
    params=[
        pytest.param(("fake", False), id="fake-bytes"),
        pytest.param(("fake", True), id="fake-str"),
        pytest.param(("real", False), id="real-bytes", marks=pytest.mark.redis),
        pytest.param(("real", True), id="real-str", marks=pytest.mark.redis),
        pytest.param(
            ("cluster", False), id="cluster-bytes", marks=pytest.mark.redis_cluster
        ),
        pytest.param(
            ("cluster", True), id="cluster-str", marks=pytest.mark.redis_cluster
        ),
    ]
)
def async_redis(
    request: pytest.FixtureRequest, require_service: Any
) -> Iterator[AsyncTarget]:
    kind, decode = request.param
    prefix = f"aa-test-{uuid.uuid4().hex[:12]}"
    if kind == "fake":
        server = fakeredis.FakeServer()
        client: Any = fakeredis.FakeAsyncRedis(server=server, decode_responses=decode)
        sync_client: Any = fakeredis.FakeRedis(server=server, decode_responses=decode)
    elif kind == "real":
        sync_client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        require_service("Redis", *_reachable(sync_client, REDIS_URL))
        client = redis.asyncio.Redis.from_url(REDIS_URL, decode_responses=decode)
    else:
        nodes = cluster_nodes()
        if not nodes:
            require_service("Redis Cluster", False, f"{CLUSTER_NODES_ENV} is not set")
        try:
            sync_client = RedisCluster(startup_nodes=nodes, socket_connect_timeout=2)
        except redis.RedisError as exc:
            require_service("Redis Cluster", False, f"{nodes}: {exc}")
        require_service("Redis Cluster", *_reachable(sync_client, str(nodes)))
        client = AsyncRedisCluster(
            startup_nodes=[AsyncClusterNode(node.host, node.port) for node in nodes],
            decode_responses=decode,
        )
    loop = EventLoopThread()
    try:
        yield AsyncTarget(loop, client, sync_client, prefix)
    finally:
        if kind != "fake":  # only this test's keys (test cleanup, not library code)
            for key in list(sync_client.scan_iter(match=f"{prefix}:*", count=1000)):
                sync_client.delete(key)
        sync_client.close()
        loop.run(client.aclose())
        loop.close()


def _reachable(client: Any, where: str) -> tuple[bool, str]:
    try:
        client.ping()
    except redis.RedisError as exc:
        return False, f"{where}: {type(exc).__name__}: {exc}"
    return True, where


class _OnAsyncRedis:
    target: AsyncTarget

    @pytest.fixture(autouse=True)
    def _on(self, async_redis: AsyncTarget) -> None:
        self.target = async_redis


class TestAsyncRedisInboxLease(_OnAsyncRedis, InboxLeaseContract):
    expiry_follows_clock = False  # the Lock's TTL runs on the server's clock

    def make_lease(self, clock: FakeClock) -> InboxLease:
        lease = AsyncRedisInboxLease(
            self.target.client, prefix=self.target.fresh_prefix()
        )
        blocking: InboxLease = self.target.loop.blocking(lease)
        return blocking


class TestAsyncRedisPresence(_OnAsyncRedis, PresenceContract):
    def make_presence(self) -> Presence:
        presence = AsyncRedisPresence(
            self.target.client, prefix=self.target.fresh_prefix()
        )
        blocking: Presence = self.target.loop.blocking(presence)
        return blocking

    def set_status(
        self, presence: Presence, account: AccountId, agent: AgentId, status: str
    ) -> None:
        writer: Any = presence
        writer.set_status(account, agent, status)
        writer.heartbeat(account, agent)


def test_async_and_sync_adapters_share_one_state(async_redis: AsyncTarget) -> None:
    """A web process on the async adapters and a worker on the sync ones coalesce
    and see presence together (same keys, same scripts)."""
    prefix = async_redis.fresh_prefix()
    run = async_redis.loop.run
    aio_lease = AsyncRedisInboxLease(async_redis.client, prefix=prefix)
    sync_lease = RedisInboxLease(async_redis.sync_client, prefix=prefix)
    ttl = timedelta(seconds=30)
    assert run(aio_lease.mark_pending(7, ttl=ttl)) is True
    assert sync_lease.mark_pending(7, ttl=ttl) is False  # coalesced with the async mark
    assert sync_lease.take_pending(7) is True
    assert run(aio_lease.is_pending(7)) is False
    held = sync_lease.acquire(7, ttl=ttl)
    assert held is not None
    assert run(aio_lease.is_held(7)) is True
    assert run(aio_lease.acquire(7, ttl=ttl)) is None
    handed = run(aio_lease.hand_off(7, ttl=ttl))
    assert handed is not None
    assert handed.first
    assert sync_lease.is_pending(7) is True
    held.release()

    aio_presence = AsyncRedisPresence(async_redis.client, prefix=prefix)
    sync_presence = RedisPresence(async_redis.sync_client, prefix=prefix)
    assert run(aio_presence.set_status(1, "ann", "online")) is None
    run(aio_presence.heartbeat(1, "ann"))
    assert sync_presence.statuses(1, ["ann"]) == {"ann": "online"}
    assert list(sync_presence.online(1, ["ann", "bob"])) == ["ann"]
    sync_presence.set_status(1, "ann", "busy")
    assert run(aio_presence.statuses(1, ["ann"])) == {"ann": "busy"}
    assert run(aio_presence.set_status(1, "ann", "offline")) == "busy"
