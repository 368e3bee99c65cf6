"""The Redis adapters a request handler calls, over ``redis.asyncio`` (extra
``[redis]``): :class:`AsyncRedisPresence` (presence updates and reads) and
:class:`AsyncRedisInboxLease` (the inbox lease and the pending mark the triggers set).

Each one is its sync twin's keys, scripts and reply rules (it builds the same
:class:`~autoassign.adapters.redis.RedisPresence` / ``RedisInboxLease`` over the async
client and awaits their script calls), so a worker on the sync adapters and a web
process on these share one state: ``prefix`` and the other settings must match.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

try:
    import redis.asyncio as _redis_asyncio  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "autoassign.aio.redis needs redis-py: install autoassign[redis]"
    ) from exc

from redis.exceptions import LockError

from autoassign.adapters.redis import KeySchema, RedisInboxLease, RedisPresence
from autoassign.adapters.redis._codec import as_int
from autoassign.adapters.redis._errors import translate_errors
from autoassign.adapters.redis._presence import DEFAULT_PRESENCE_WINDOW
from autoassign.model import AccountId, AgentId, InboxId
from autoassign.ports import Clock, HandOff

if TYPE_CHECKING:
    from redis.asyncio import Redis as AsyncRedis
    from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

__all__ = ["AsyncRedisInboxLease", "AsyncRedisLease", "AsyncRedisPresence"]


class AsyncRedisPresence:
    """:class:`~autoassign.adapters.redis.RedisPresence` over a ``redis.asyncio``
    client: :meth:`statuses`, :meth:`heartbeat` and :meth:`set_status` as coroutines,
    one script call each (the same scripts and keys)."""

    def __init__(
        self,
        client: AsyncRedis | AsyncRedisCluster,
        *,
        prefix: str | KeySchema = "autoassign",
        window: timedelta = DEFAULT_PRESENCE_WINDOW,
        clock: Clock | None = None,
        require_heartbeat: bool = True,
        online_index: bool = False,
    ) -> None:
        self._sync = RedisPresence(
            client,  # type: ignore[arg-type]  # its scripts are async: awaited here
            prefix=prefix,
            window=window,
            clock=clock,
            require_heartbeat=require_heartbeat,
            online_index=online_index,
        )
        self.keys = self._sync.keys

    async def statuses(
        self, account: AccountId, agents: Collection[AgentId]
    ) -> Mapping[AgentId, str]:
        """:meth:`RedisPresence.statuses
        <autoassign.adapters.redis.RedisPresence.statuses>`."""
        wanted = list(agents)
        if not wanted:
            return {}
        with translate_errors("presence.statuses"):
            reply = await self._sync._statuses_call(account, wanted).run()
        return RedisPresence._read_statuses(wanted, reply)

    async def heartbeat(self, account: AccountId, agent: AgentId) -> None:
        """:meth:`RedisPresence.heartbeat
        <autoassign.adapters.redis.RedisPresence.heartbeat>`."""
        with translate_errors("presence.heartbeat"):
            await self._sync._heartbeat_call(account, agent).run()

    async def set_status(
        self, account: AccountId, agent: AgentId, status: str
    ) -> str | None:
        """:meth:`RedisPresence.set_status
        <autoassign.adapters.redis.RedisPresence.set_status>`: returns the previous
        status."""
        with translate_errors("presence.set_status"):
            reply = await self._sync._set_status_call(account, agent, status).run()
        return RedisPresence._previous_status(reply)


class AsyncRedisLease:
    """A held lease of :class:`AsyncRedisInboxLease` (a ``redis.asyncio`` ``Lock``)."""

    __slots__ = ("_lock",)

    def __init__(self, lock: Any) -> None:
        self._lock: Any = lock

    async def release(self) -> None:
        """Release it if this holder still owns it (a lease that expired is left
        alone); releasing twice is a no-op."""
        lock, self._lock = self._lock, None
        if lock is None:
            return
        # an expired lease (LockError) is left alone
        with translate_errors("lease.release"), contextlib.suppress(LockError):
            await lock.release()


class AsyncRedisInboxLease:
    """:class:`~autoassign.adapters.redis.RedisInboxLease` over a ``redis.asyncio``
    client, its methods as coroutines (the same lock, mark scripts and keys, so a sync
    worker and an async web process coalesce together)."""

    def __init__(
        self,
        client: AsyncRedis | AsyncRedisCluster,
        *,
        prefix: str | KeySchema = "autoassign",
    ) -> None:
        self._client: Any = client
        self._sync = RedisInboxLease(client, prefix=prefix)  # type: ignore[arg-type]
        self.keys = self._sync.keys

    async def acquire(
        self, inbox: InboxId, *, ttl: timedelta
    ) -> AsyncRedisLease | None:
        """:meth:`RedisInboxLease.acquire
        <autoassign.adapters.redis.RedisInboxLease.acquire>`."""
        lock = self._sync._lock(inbox, ttl)
        with translate_errors("lease.acquire"):
            acquired = bool(await lock.acquire(blocking=False))
        return AsyncRedisLease(lock) if acquired else None

    async def mark_pending(self, inbox: InboxId, *, ttl: timedelta) -> bool:
        """:meth:`RedisInboxLease.mark_pending
        <autoassign.adapters.redis.RedisInboxLease.mark_pending>`."""
        with translate_errors("lease.mark_pending"):
            reply = await self._sync._mark_call(inbox, ttl).run()
        return int(reply) == 1

    async def hand_off(self, inbox: InboxId, *, ttl: timedelta) -> HandOff | None:
        """:meth:`RedisInboxLease.hand_off
        <autoassign.adapters.redis.RedisInboxLease.hand_off>`."""
        with translate_errors("lease.hand_off"):
            reply = await self._sync._hand_off_call(inbox, ttl).run()
        return RedisInboxLease._hand_off_result(reply)

    async def take_pending(self, inbox: InboxId) -> bool:
        """:meth:`RedisInboxLease.take_pending
        <autoassign.adapters.redis.RedisInboxLease.take_pending>`."""
        with translate_errors("lease.take_pending"):
            reply = await self._client.delete(self.keys.pending(inbox))
        return as_int(reply) > 0

    async def is_pending(self, inbox: InboxId) -> bool:
        """:meth:`RedisInboxLease.is_pending
        <autoassign.adapters.redis.RedisInboxLease.is_pending>`."""
        with translate_errors("lease.is_pending"):
            mark, holder = await self._client.mget(
                [self.keys.pending(inbox), self.keys.lease(inbox)]
            )
        return RedisInboxLease._pending_result(mark, holder)

    async def is_held(self, inbox: InboxId) -> bool:
        """Whether someone holds the inbox's lease now."""
        with translate_errors("lease.is_held"):
            return as_int(await self._client.exists(self.keys.lease(inbox))) > 0
