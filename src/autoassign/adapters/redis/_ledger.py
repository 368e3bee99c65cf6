""":class:`RedisRateLimitLedger`: the fair-distribution ledger in sorted sets."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from autoassign.model import AgentId, ConversationId, InboxId

from . import _scripts
from ._codec import (
    as_int,
    as_list,
    datetime_from_score,
    score_from_datetime,
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

    ``recent`` is one pipelined round trip for all agents; ``try_record`` is one Lua
    script (trim, count, refuse or record); ``discard`` is one ``ZREM``. Counting is
    logarithmic in the set size; nothing scans the keyspace.
    """

    def __init__(
        self, client: RedisClient, *, prefix: str | KeySchema = "autoassign"
    ) -> None:
        self._client: Any = client
        self.keys = prefix if isinstance(prefix, KeySchema) else KeySchema(prefix)
        self._try_record = _scripts.register(self._client, "ledger_try_record")

    def recent(
        self,
        inbox: InboxId,
        agents: Collection[AgentId],
        *,
        now: datetime,
        window: timedelta,
    ) -> Mapping[AgentId, Sequence[datetime]]:
        wanted = list(dict.fromkeys(agents))
        if not wanted:
            return {}
        start = f"({score_from_datetime(now) - window_micros(window)}"
        keys = [self.keys.fair(inbox, agent) for agent in wanted]
        with translate_errors("ledger.recent"):
            pipe = self._client.pipeline(transaction=False)
            for key in keys:
                pipe.zrangebyscore(key, start, "+inf", withscores=True)
            replies = as_list(pipe.execute())
        out: dict[AgentId, Sequence[datetime]] = {}
        for agent, reply in zip(wanted, replies, strict=True):
            times = [datetime_from_score(pair[1]) for pair in as_list(reply)]
            if times:
                out[agent] = times
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
        ttl_ms = max(1, -(-(window + GC_MARGIN) // timedelta(milliseconds=1)))
        args = [
            id_text(conversation),
            str(now_score),
            str(now_score - window_micros(window)),
            str(limit or 0),
            str(ttl_ms),
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
