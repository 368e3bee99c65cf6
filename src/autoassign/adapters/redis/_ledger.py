""":class:`RedisRateLimitLedger`: the fair-distribution ledger in sorted sets."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from autoassign.clock import check_max_clock_skew, skew_margin
from autoassign.model import AgentId, ConversationId, InboxId, LedgerUsage

from . import _scripts
from ._codec import (
    IdMapCache,
    agent_times,
    as_int,
    as_list,
    as_text,
    datetime_from_score,
    score_from_datetime,
    ttl_millis,
    window_micros,
)
from ._errors import translate_errors
from ._keys import KeySchema, id_text

if TYPE_CHECKING:
    from ._types import RedisClient

__all__ = ["DEFAULT_MAX_CLOCK_SKEW", "GC_MARGIN", "RedisRateLimitLedger"]

GC_MARGIN = timedelta(minutes=1)
"""Added to a ledger key's TTL beyond the longest time any worker still counts its
newest entry (window + twice the skew margin), so Redis never collects entries that
still count. The TTL only collects garbage."""

DEFAULT_MAX_CLOCK_SKEW = timedelta(seconds=1)
"""The clock skew a Redis ledger tolerates by default: each worker's clock within one
second of true time (NTP keeps servers within milliseconds; this leaves room for a
badly synchronised host). An entry then counts for up to 2 s longer than its window on
the reader's clock."""


class RedisRateLimitLedger:
    """:class:`~autoassign.ports.RateLimitLedger` over one sorted set per (inbox, agent):
    member = conversation id text, score = assignment time in epoch microseconds taken
    from the caller's ``now``; plus one index per inbox (``KeySchema.fair_last``):
    member = agent id text, score = the agent's newest entry.

    ``usage`` is one read-only Lua script for all agents (``ZCOUNT``, the oldest entry
    in the window and the newest per agent: logarithmic in the set size, never a
    listing; only agents with entries come back); ``last_assigned`` is one read-only
    script over the index (a ``ZRANGE ... BYSCORE``, flat reply: its cost grows with the
    agents in the window, never with entries); ``try_record`` is one Lua script (trim,
    count, refuse or record, update the index); ``discard`` is one Lua script (remove,
    set the index to the newest remaining entry). Nothing scans the keyspace.

    Args:
        client: a redis-py client built by the host.
        prefix: the key prefix (or a :class:`KeySchema`).
        max_clock_skew: how far from true time any worker's clock may be. Every read
            and trim then uses the window plus ``2 * max_clock_skew`` (see the port
            and ``docs/redis.md``, *Clock skew*), so no interleaving of workers within
            the bound records past the limit. ``timedelta(0)``: exact windows.

    Raises:
        ConfigurationError: ``max_clock_skew`` is not a timedelta from zero to
            :data:`autoassign.clock.MAX_CLOCK_SKEW_ALLOWED`.
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str | KeySchema = "autoassign",
        max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW,
    ) -> None:
        self.max_clock_skew = check_max_clock_skew(max_clock_skew)
        self._margin = skew_margin(self.max_clock_skew)
        self._client: Any = client
        self.keys = prefix if isinstance(prefix, KeySchema) else KeySchema(prefix)
        self._try_record = _scripts.register(self._client, "ledger_try_record")
        self._discard = _scripts.register(self._client, "ledger_discard")
        self._usage = _scripts.register(self._client, "ledger_usage")
        self._last = _scripts.register(self._client, "ledger_last")
        self._ids = IdMapCache()

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
        start = f"({self._cutoff(now, window)}"
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

    def last_assigned(
        self,
        inbox: InboxId,
        agents: Collection[AgentId],
        *,
        now: datetime,
        window: timedelta,
    ) -> Mapping[AgentId, datetime]:
        ids = self._ids.get(agents)
        if not ids.texts:
            return {}
        with translate_errors("ledger.last_assigned"):
            reply = as_list(
                self._last(
                    keys=[self.keys.fair_last(inbox)],
                    args=[f"({self._cutoff(now, window)}"],
                )
            )
        return agent_times(ids, reply)

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
        call = self._try_record_call(
            inbox, agent, conversation, now=now, window=window, limit=limit
        )
        with translate_errors("ledger.try_record"):
            reply = call.run()
        recorded, _ = self._read_try_record(reply)
        return recorded

    def discard(
        self, inbox: InboxId, agent: AgentId, conversation: ConversationId
    ) -> None:
        self._undo(inbox, agent, conversation, previous=None)

    def _cutoff(self, now: datetime, window: timedelta) -> int:
        """``now - window - 2 * max_clock_skew`` in epoch microseconds: entries scored
        at or below it no longer count, and only those are trimmed."""
        return score_from_datetime(now) - window_micros(window + self._margin)

    # -- the script calls, shared with RedisReservations --------------------------------

    def _try_record_call(
        self,
        inbox: InboxId,
        agent: AgentId,
        conversation: ConversationId,
        *,
        now: datetime,
        window: timedelta,
        limit: int | None,
    ) -> _scripts.ScriptCall:
        """The ``ledger_try_record.lua`` call (see its header)."""
        now_score = score_from_datetime(now)
        args = [
            id_text(conversation),
            str(now_score),
            str(self._cutoff(now, window)),
            str(limit or 0),
            str(ttl_millis(window + 2 * self._margin + GC_MARGIN)),
            id_text(agent),
        ]
        keys = [self.keys.fair(inbox, agent), self.keys.fair_last(inbox)]
        return _scripts.ScriptCall(self._try_record, keys, args)

    @staticmethod
    def _read_try_record(reply: Any) -> tuple[bool, str | None]:
        """Whether the try-record script recorded, and the score of the same
        conversation's entry it replaced (exact text), if any."""
        values = as_list(reply)
        recorded = bool(values) and as_int(values[0]) == 1
        previous = as_text(values[1]) if recorded and len(values) > 1 else None
        return recorded, previous

    def _undo(
        self,
        inbox: InboxId,
        agent: AgentId,
        conversation: ConversationId,
        *,
        previous: str | None,
    ) -> None:
        """Remove ``conversation``'s entry, or with ``previous`` (a score
        :meth:`_read_try_record` reported) put it back at that time: undoes a
        try-record exactly. One ``ledger_discard.lua`` call."""
        args = [id_text(conversation), id_text(agent)]
        if previous is not None:
            args.append(previous)
        keys = [self.keys.fair(inbox, agent), self.keys.fair_last(inbox)]
        call = _scripts.ScriptCall(self._discard, keys, args)
        with translate_errors("ledger.discard"):
            call.run()
