""":class:`RedisPresence`: agents' statuses in the reference tracker's layout."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from autoassign.clock import SystemClock
from autoassign.errors import ConfigurationError
from autoassign.model import ONLINE, AccountId, AgentId
from autoassign.ports import Clock

from . import _scripts
from ._codec import IdMapCache, as_int, as_list, as_optional_text, as_text
from ._errors import translate_errors
from ._keys import KeySchema, id_text

if TYPE_CHECKING:
    from ._types import RedisClient

__all__ = ["DEFAULT_PRESENCE_WINDOW", "ONLINE_READ_AGENTS", "RedisPresence"]

DEFAULT_PRESENCE_WINDOW = timedelta(seconds=20)
"""The reference's ``PRESENCE_DURATION``."""

ONLINE_READ_AGENTS = 256
""":meth:`RedisPresence.online` asks the index about at most this many agents by name;
for more it reads every online agent of the account and keeps the ones asked about."""


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

    Both helpers (and :meth:`forget`) also keep the **online index**
    (``<prefix>:{a:<account>}:online``: the agents whose status is ``online``, scored
    by their last heartbeat). With ``online_index=True`` :meth:`online` (the optional
    :class:`~autoassign.ports.OnlinePresence` capability a pass uses for its snapshot)
    reads that index: one range read whose cost grows with the account's online
    agents, not with the agents asked about. Turn it on only when every status and
    heartbeat goes through these helpers (a host writing the hash or the presence set
    itself does not update the index; :meth:`rebuild_online_index` rebuilds it from
    the hash). With ``online_index=False`` (the default) :meth:`online` reads the
    statuses as :meth:`statuses` does.
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str | KeySchema = "autoassign",
        window: timedelta = DEFAULT_PRESENCE_WINDOW,
        clock: Clock | None = None,
        require_heartbeat: bool = True,
        online_index: bool = False,
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
        self.online_index = online_index
        self._statuses = _scripts.register(self._client, "presence_statuses")
        self._set_status = _scripts.register(self._client, "presence_set_status")
        self._heartbeat = _scripts.register(self._client, "presence_heartbeat")
        self._online = _scripts.register(self._client, "presence_online")
        self._reindex = _scripts.register(self._client, "presence_reindex")
        self._ids = IdMapCache()

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

    def online(
        self, account: AccountId, agents: Collection[AgentId]
    ) -> Collection[AgentId]:
        """The agents of ``agents`` that are online now (status ``online`` and, with
        ``require_heartbeat``, a heartbeat within the window): what :meth:`statuses`
        reports as ``online``, without the other statuses. One read. With the online
        index, up to ``ONLINE_READ_AGENTS`` agents are looked up by name; more
        read the account's online agents in one range (no read per agent)."""
        wanted = list(agents)
        if not wanted:
            return []
        if not self.online_index:
            statuses = self.statuses(account, wanted)
            return [agent for agent, status in statuses.items() if status == ONLINE]
        cutoff = _epoch_seconds(self.clock) - self.window.total_seconds()
        head = ["1" if self.require_heartbeat else "0", repr(cutoff)]
        keys = [self.keys.online(account)]
        if len(wanted) <= ONLINE_READ_AGENTS:
            args = [*head, "some", *(id_text(agent) for agent in wanted)]
            with translate_errors("presence.online"):
                reply = as_list(self._online(keys=keys, args=args))
            return [wanted[as_int(position) - 1] for position in reply]
        with translate_errors("presence.online"):
            reply = as_list(self._online(keys=keys, args=[*head, "all"]))
        if not reply:
            return []
        found: list[AgentId | None] = list(
            map(self._ids.get(wanted).getter(reply[0]), reply)
        )
        if None in found:  # online agents of the account that were not asked about
            return [agent for agent in found if agent is not None]
        return found  # type: ignore[return-value]  # no None in it

    # -- the script calls, shared with RedisReservations and autoassign.aio -------------

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

    def _heartbeat_call(
        self, account: AccountId, agent: AgentId
    ) -> _scripts.ScriptCall:
        seconds = round(_epoch_seconds(self.clock), 3)
        keys = [self.keys.presence(account), self.keys.online(account)]
        return _scripts.ScriptCall(
            self._heartbeat, keys, [id_text(agent), repr(seconds)]
        )

    def _set_status_call(
        self, account: AccountId, agent: AgentId, status: str
    ) -> _scripts.ScriptCall:
        keys = [
            self.keys.status(account),
            self.keys.presence(account),
            self.keys.online(account),
        ]
        return _scripts.ScriptCall(
            self._set_status, keys, [id_text(agent), status, ONLINE]
        )

    @staticmethod
    def _previous_status(reply: Any) -> str | None:
        """``set_status``'s answer from its script's reply."""
        pairs = as_list(reply)
        return as_optional_text(pairs[0]) if pairs else None

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
        with translate_errors("presence.heartbeat"):
            self._heartbeat_call(account, agent).run()

    def set_status(self, account: AccountId, agent: AgentId, status: str) -> str | None:
        """Set ``agent``'s status (``online``, ``busy``, ``offline``, ...); returns the
        previous one."""
        with translate_errors("presence.set_status"):
            reply = self._set_status_call(account, agent, status).run()
        return self._previous_status(reply)

    def rebuild_online_index(self, account: AccountId) -> int:
        """Rebuild the account's online index from its status hash and presence set
        (one script, reading every agent with a status once): after turning
        ``online_index`` on over statuses written without these helpers. Returns how
        many agents are online in it."""
        keys = [
            self.keys.status(account),
            self.keys.presence(account),
            self.keys.online(account),
        ]
        with translate_errors("presence.rebuild_online_index"):
            return as_int(self._reindex(keys=keys, args=[ONLINE]))

    def forget(self, account: AccountId, agent: AgentId) -> None:
        """Remove ``agent``'s status and heartbeat (e.g. it left the account)."""
        text = id_text(agent)
        with translate_errors("presence.forget"):
            pipe = self._client.pipeline(transaction=False)
            pipe.hdel(self.keys.status(account), text)
            pipe.zrem(self.keys.presence(account), text)
            pipe.zrem(self.keys.online(account), text)
            pipe.execute()
