""":class:`RedisInboxLease`: the per-inbox pass lease (redis-py ``Lock``) and the
pending mark that coalesces triggers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from redis.cluster import RedisCluster
from redis.exceptions import LockError

from autoassign.model import InboxId
from autoassign.ports import HandOff

from ._codec import as_text, ttl_millis
from ._errors import backend_error, translate_errors
from ._keys import KeySchema
from ._scripts import ScriptCall, register, run_together

if TYPE_CHECKING:
    from ._types import RedisClient

__all__ = ["RedisInboxLease", "RedisLease"]

logger = logging.getLogger(__name__)

_MARK_CHUNK = 1000
"""Inboxes per ``lease_mark_pending_many`` call (a bigger batch is several calls in one
pipeline), so that one script never blocks the server for long."""

_QUEUED = frozenset({"q", "1"})
"""Values of a queued pending mark (``"1"`` was written by earlier versions)."""


class RedisLease:
    """A held inbox lease: a redis-py ``Lock`` with its own token."""

    __slots__ = ("_inbox", "_lock")

    def __init__(self, lock: Any, inbox: InboxId) -> None:
        self._lock = lock
        self._inbox = inbox

    def release(self) -> None:
        """Release it if this holder still owns it; a lease that expired (and may have
        been taken by another worker) is left alone."""
        try:
            with translate_errors("lease.release"):
                try:
                    self._lock.release()
                except LockError:
                    logger.debug(
                        "inbox lease had expired before release",
                        extra={"autoassign_inbox": self._inbox},
                    )
        finally:
            self._lock = _Released()


class _Released:
    def release(self) -> None:
        """Releasing twice is a no-op."""


class RedisInboxLease:
    """:class:`~autoassign.ports.InboxLease`: the lease is a redis-py ``Lock`` on
    ``<prefix>:{i:<inbox>}:lease`` (``SET NX PX`` with a random token; released by a
    compare-and-delete script, so only the owner releases it); the pending mark is
    ``<prefix>:{i:<inbox>}:pending``: ``q`` when queued, or the holder's lock token when
    handed off (scripts ``lease_mark_pending`` and ``lease_hand_off``, which read both keys:
    one hash tag, one slot; ``DEL`` to take it). ``mark_pending_many`` marks a page of
    inboxes in one round trip (script ``lease_mark_pending_many`` on a standalone server).

    TTLs run on the Redis server's clock, not on the core's :class:`Clock`.
    """

    def __init__(
        self, client: RedisClient, *, prefix: str | KeySchema = "autoassign"
    ) -> None:
        self._client: Any = client
        self.keys = prefix if isinstance(prefix, KeySchema) else KeySchema(prefix)
        self._mark = register(client, "lease_mark_pending")
        self._mark_many = register(client, "lease_mark_pending_many")
        self._one_script = not isinstance(client, RedisCluster)
        """Whether one script may touch many inboxes' keys (not on a cluster)."""
        self._hand_off = register(client, "lease_hand_off")

    def acquire(self, inbox: InboxId, *, ttl: timedelta) -> RedisLease | None:
        lock = self._lock(inbox, ttl)
        with translate_errors("lease.acquire"):
            acquired = bool(lock.acquire(blocking=False))
        return RedisLease(lock, inbox) if acquired else None

    def mark_pending(self, inbox: InboxId, *, ttl: timedelta) -> bool:
        with translate_errors("lease.mark_pending"):
            reply = self._mark_call(inbox, ttl).run()
        return int(reply) == 1

    # -- the calls and replies, shared with autoassign.aio's AsyncRedisInboxLease ------

    def _lock(self, inbox: InboxId, ttl: timedelta) -> Any:
        return self._client.lock(
            self.keys.lease(inbox),
            timeout=ttl_millis(ttl) / 1000,
            blocking=False,
            thread_local=False,
        )

    def _mark_call(self, inbox: InboxId, ttl: timedelta) -> ScriptCall:
        keys = [self.keys.pending(inbox), self.keys.lease(inbox)]
        return ScriptCall(self._mark, keys, [str(ttl_millis(ttl))])

    def _hand_off_call(self, inbox: InboxId, ttl: timedelta) -> ScriptCall:
        keys = [self.keys.pending(inbox), self.keys.lease(inbox)]
        return ScriptCall(self._hand_off, keys, [str(ttl_millis(ttl))])

    @staticmethod
    def _hand_off_result(reply: Any) -> HandOff | None:
        held, left, first = (int(part) for part in reply)
        if not held:
            return None
        return HandOff(
            holder_expires_in=timedelta(milliseconds=max(0, left)), first=first == 1
        )

    @staticmethod
    def _pending_result(mark: Any, holder: Any) -> bool:
        """``is_pending`` from the ``MGET`` of the mark and the lease."""
        if mark is None:
            return False
        text = as_text(mark)
        return text in _QUEUED or (holder is not None and text == as_text(holder))

    def mark_pending_many(
        self, inboxes: Sequence[InboxId], *, ttl: timedelta
    ) -> Sequence[bool]:
        """:class:`~autoassign.ports.BatchPendingLease`: one round trip. On a
        standalone server, script ``lease_mark_pending_many`` (``lease_mark_pending``'s
        rule for up to ``_MARK_CHUNK`` inboxes per call, the calls pipelined); on a
        ``RedisCluster`` client, whose inboxes live in different slots, one
        ``lease_mark_pending`` per inbox in one cluster pipeline."""
        if not inboxes:
            return []
        millis = str(ttl_millis(ttl))
        calls = self._mark_calls(inboxes, millis)
        with translate_errors("lease.mark_pending_many"):
            replies = run_together(self._client, calls)
        fresh: list[bool] = []
        for reply in replies:
            if isinstance(reply, Exception):
                raise backend_error("lease.mark_pending_many", reply)
            # lease_mark_pending_many answers a list, lease_mark_pending one integer
            answers = reply if isinstance(reply, list) else [reply]
            fresh.extend(int(answer) == 1 for answer in answers)
        return fresh

    def _mark_calls(self, inboxes: Sequence[InboxId], millis: str) -> list[ScriptCall]:
        keys = self.keys
        if not self._one_script:
            return [
                ScriptCall(self._mark, [keys.pending(i), keys.lease(i)], [millis])
                for i in inboxes
            ]
        return [
            ScriptCall(
                self._mark_many,
                [
                    key
                    for i in inboxes[start : start + _MARK_CHUNK]
                    for key in (keys.pending(i), keys.lease(i))
                ],
                [millis],
            )
            for start in range(0, len(inboxes), _MARK_CHUNK)
        ]

    def hand_off(self, inbox: InboxId, *, ttl: timedelta) -> HandOff | None:
        with translate_errors("lease.hand_off"):
            reply = self._hand_off_call(inbox, ttl).run()
        return self._hand_off_result(reply)

    def take_pending(self, inbox: InboxId) -> bool:
        with translate_errors("lease.take_pending"):
            reply = self._client.delete(self.keys.pending(inbox))
        return int(reply) > 0

    def is_pending(self, inbox: InboxId) -> bool:
        """Whether the inbox is marked now: one ``MGET`` of the mark and the lease (one
        slot, atomic, read-only), with ``lease_mark_pending``'s rule: a lapsed mark has
        already expired on the server; a handed-off mark counts only while its holder
        holds the lease."""
        with translate_errors("lease.is_pending"):
            mark, holder = self._client.mget(
                [self.keys.pending(inbox), self.keys.lease(inbox)]
            )
        return self._pending_result(mark, holder)

    def is_held(self, inbox: InboxId) -> bool:
        """Whether someone holds the inbox's lease now (for tests and diagnostics)."""
        with translate_errors("lease.is_held"):
            return int(self._client.exists(self.keys.lease(inbox))) > 0
