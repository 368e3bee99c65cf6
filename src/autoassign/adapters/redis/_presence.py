""":class:`RedisPresence`: agents' statuses in the reference tracker's layout."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from autoassign.clock import SystemClock
from autoassign.errors import ConfigurationError
from autoassign.model import AccountId, AgentId
from autoassign.ports import Clock

from . import _scripts
from ._codec import as_int, as_list, as_optional_text, as_text
from ._errors import translate_errors
from ._keys import KeySchema, id_text

if TYPE_CHECKING:
    from ._types import RedisClient

__all__ = ["DEFAULT_PRESENCE_WINDOW", "RedisPresence"]

DEFAULT_PRESENCE_WINDOW = timedelta(seconds=20)
"""The reference's ``PRESENCE_DURATION``."""


def _epoch_seconds(clock: Clock) -> float:
    return clock.now().timestamp()


class RedisPresence:
    """:class:`~autoassign.ports.Presence` over, per account, a status hash
    (``<prefix>:{a:<account>}:status``: agent -> ``online``/``busy``/``offline``/...)
    and a presence sorted set (``<prefix>:{a:<account>}:presence``: agent -> last
    heartbeat in epoch seconds), the layout of the reference's online-status tracker.

    ``statuses`` is one read-only Lua script over both keys (one slot): an agent counts
    only if its heartbeat is within ``window`` of ``clock.now()`` (inclusive, like the
    reference's ``ZRANGEBYSCORE now-20s +inf``) and it has a status. With
    ``require_heartbeat=False`` the status hash alone decides.

    The host calls :meth:`heartbeat` from its presence pings and :meth:`set_status` when
    an agent changes availability (or writes the same keys itself).
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str | KeySchema = "autoassign",
        window: timedelta = DEFAULT_PRESENCE_WINDOW,
        clock: Clock | None = None,
        require_heartbeat: bool = True,
    ) -> None:
        if window <= timedelta(0):
            raise ConfigurationError(
                "presence_window must be a positive timedelta", field="presence_window"
            )
        self._client: Any = client
        self.keys = prefix if isinstance(prefix, KeySchema) else KeySchema(prefix)
        self.window = window
        self.clock: Clock = clock or SystemClock()
        self.require_heartbeat = require_heartbeat
        self._statuses = _scripts.register(self._client, "presence_statuses")
        self._set_status = _scripts.register(self._client, "presence_set_status")

    def statuses(
        self, account: AccountId, agents: Collection[AgentId]
    ) -> Mapping[AgentId, str]:
        wanted = list(agents)
        if not wanted:
            return {}
        call = self._statuses_call(account, wanted)
        with translate_errors("presence.statuses"):
            reply = call.run()
        return self._read_statuses(wanted, reply)

    # -- the script call, shared with RedisReservations ---------------------------------

    def _statuses_call(
        self, account: AccountId, wanted: Sequence[AgentId]
    ) -> _scripts.ScriptCall:
        """The ``presence_statuses.lua`` call for ``wanted`` (non-empty), freshness
        judged at ``clock.now()``."""
        cutoff = _epoch_seconds(self.clock) - self.window.total_seconds()
        args = [
            "1" if self.require_heartbeat else "0",
            repr(cutoff),
            *(id_text(agent) for agent in wanted),
        ]
        keys = [self.keys.status(account), self.keys.presence(account)]
        return _scripts.ScriptCall(self._statuses, keys, args)

    @staticmethod
    def _read_statuses(wanted: Sequence[AgentId], reply: Any) -> dict[AgentId, str]:
        """The script's position/status pairs as statuses of ``wanted``'s ids."""
        pairs = as_list(reply)
        out: dict[AgentId, str] = {}
        for index in range(0, len(pairs) - 1, 2):
            out[wanted[as_int(pairs[index]) - 1]] = as_text(pairs[index + 1])
        return out

    # -- host helpers -----------------------------------------------------------------

    def heartbeat(self, account: AccountId, agent: AgentId) -> None:
        """Record that ``agent`` is connected now (``ZADD``; the reference's
        ``update_presence``)."""
        seconds = round(_epoch_seconds(self.clock), 3)
        with translate_errors("presence.heartbeat"):
            self._client.zadd(self.keys.presence(account), {id_text(agent): seconds})

    def set_status(self, account: AccountId, agent: AgentId, status: str) -> str | None:
        """Set ``agent``'s status (``online``, ``busy``, ``offline``, ...); returns the
        previous one."""
        keys = [self.keys.status(account)]
        with translate_errors("presence.set_status"):
            reply = as_list(self._set_status(keys=keys, args=[id_text(agent), status]))
        return as_optional_text(reply[0]) if reply else None

    def forget(self, account: AccountId, agent: AgentId) -> None:
        """Remove ``agent``'s status and heartbeat (e.g. it left the account)."""
        text = id_text(agent)
        with translate_errors("presence.forget"):
            pipe = self._client.pipeline(transaction=False)
            pipe.hdel(self.keys.status(account), text)
            pipe.zrem(self.keys.presence(account), text)
            pipe.execute()
