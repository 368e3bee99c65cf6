""":class:`RedisInboxLease`: the per-inbox pass lease (redis-py ``Lock``) and the
pending mark that coalesces triggers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

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
    one hash tag, one slot; ``DEL`` to take it).

    TTLs run on the Redis server's clock, not on the core's :class:`Clock`.
    """

    def __init__(
        self, client: RedisClient, *, prefix: str | KeySchema = "autoassign"
    ) -> None:
        self._client: Any = client
        self.keys = prefix if isinstance(prefix, KeySchema) else KeySchema(prefix)
        self._mark = register(client, "lease_mark_pending")
        self._hand_off = register(client, "lease_hand_off")

    def acquire(self, inbox: InboxId, *, ttl: timedelta) -> RedisLease | None:
        lock = self._client.lock(
            self.keys.lease(inbox),
            timeout=ttl_millis(ttl) / 1000,
            blocking=False,
            thread_local=False,
        )
        with translate_errors("lease.acquire"):
            acquired = bool(lock.acquire(blocking=False))
        return RedisLease(lock, inbox) if acquired else None

    def mark_pending(self, inbox: InboxId, *, ttl: timedelta) -> bool:
        with translate_errors("lease.mark_pending"):
            reply = self._mark(
                keys=[self.keys.pending(inbox), self.keys.lease(inbox)],
                args=[str(ttl_millis(ttl))],
            )
        return int(reply) == 1

    def mark_pending_many(
        self, inboxes: Sequence[InboxId], *, ttl: timedelta
    ) -> Sequence[bool]:
        """:class:`~autoassign.ports.BatchPendingLease`: ``lease_mark_pending`` for
        each of ``inboxes`` in one pipeline (one round trip; each script atomic on its
        own inbox's slot)."""
        if not inboxes:
            return []
        millis = str(ttl_millis(ttl))
        calls = [
            ScriptCall(
                self._mark, [self.keys.pending(inbox), self.keys.lease(inbox)], [millis]
            )
            for inbox in inboxes
        ]
        with translate_errors("lease.mark_pending_many"):
            replies = run_together(self._client, calls)
        for reply in replies:
            if isinstance(reply, Exception):
                raise backend_error("lease.mark_pending_many", reply)
        return [int(reply) == 1 for reply in replies]

    def hand_off(self, inbox: InboxId, *, ttl: timedelta) -> HandOff | None:
        with translate_errors("lease.hand_off"):
            reply = self._hand_off(
                keys=[self.keys.pending(inbox), self.keys.lease(inbox)],
                args=[str(ttl_millis(ttl))],
            )
        held, left, first = (int(part) for part in reply)
        if not held:
            return None
        return HandOff(
            holder_expires_in=timedelta(milliseconds=max(0, left)), first=first == 1
        )

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
        if mark is None:
            return False
        text = as_text(mark)
        return text in _QUEUED or (holder is not None and text == as_text(holder))

    def is_held(self, inbox: InboxId) -> bool:
        """Whether someone holds the inbox's lease now (for tests and diagnostics)."""
        with translate_errors("lease.is_held"):
            return int(self._client.exists(self.keys.lease(inbox))) > 0
