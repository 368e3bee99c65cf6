""":class:`RedisRateLimitLedger`: the fair-distribution ledger in sorted sets."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from autoassign.model import AgentId, ConversationId, InboxId, LedgerUsage

from . import _scripts
from ._codec import (
    as_int,
    as_list,
    datetime_from_score,
    score_from_datetime,
    ttl_millis,
    window_micros,
)
from ._errors import translate_errors
from ._keys import KeySchema, id_text

if TYPE_CHECKING:
    from ._types import RedisClient

__all__ = ["GC_MARGIN", "RedisRateLimitLedger"]

GC_MARGIN = timedelta(minutes=1)
"""Added to the window for a ledger key's TTL, so clock skew between workers never lets
Redis collect entries that still count. The TTL only collects garbage."""


class RedisRateLimitLedger:
    """:class:`~autoassign.ports.RateLimitLedger` over one sorted set per (inbox, agent):
    member = conversation id text, score = assignment time in epoch microseconds taken
    from the caller's ``now``.

    ``usage`` is one read-only Lua script for all agents (``ZCOUNT``, the oldest entry
    in the window and the newest per agent: logarithmic in the set size, never a
    listing; only agents with entries come back); ``try_record`` is
    one Lua script (trim, count, refuse or record); ``discard`` is one ``ZREM``.
    Nothing scans the keyspace.
    """

    def __init__(
        self, client: RedisClient, *, prefix: str | KeySchema = "autoassign"
    ) -> None:
        self._client: Any = client
        self.keys = prefix if isinstance(prefix, KeySchema) else KeySchema(prefix)
        self._try_record = _scripts.register(self._client, "ledger_try_record")
        self._usage = _scripts.register(self._client, "ledger_usage")

    def usage(
        self,
        inbox: InboxId,
        agents: Collection[AgentId],
        *,
        now: datetime,
        window: timedelta,
    ) -> Mapping[AgentId, LedgerUsage]:
        wanted = list(dict.fromkeys(agents))
        if not wanted:
            return {}
        start = f"({score_from_datetime(now) - window_micros(window)}"
        keys = [self.keys.fair(inbox, agent) for agent in wanted]
        with translate_errors("ledger.usage"):
            reply = as_list(self._usage(keys=keys, args=[start]))
        out: dict[AgentId, LedgerUsage] = {}
        for at in range(0, len(reply), 4):
            position, count, oldest, newest = reply[at : at + 4]
            out[wanted[as_int(position) - 1]] = LedgerUsage(
                count=as_int(count),
                oldest=datetime_from_score(oldest),
                last=datetime_from_score(newest),
            )
        return out

    def try_record(
        self,
        inbox: InboxId,
        agent: AgentId,
        conversation: ConversationId,
        *,
        now: datetime,
        window: timedelta,
        limit: int | None,
    ) -> bool:
        now_score = score_from_datetime(now)
        args = [
            id_text(conversation),
            str(now_score),
            str(now_score - window_micros(window)),
            str(limit or 0),
            str(ttl_millis(window + GC_MARGIN)),
        ]
        key = self.keys.fair(inbox, agent)
        with translate_errors("ledger.try_record"):
            reply = self._try_record(keys=[key], args=args)
        return as_int(reply) == 1

    def discard(
        self, inbox: InboxId, agent: AgentId, conversation: ConversationId
    ) -> None:
        with translate_errors("ledger.discard"):
            self._client.zrem(self.keys.fair(inbox, agent), id_text(conversation))
