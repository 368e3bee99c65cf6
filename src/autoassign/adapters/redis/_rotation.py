""":class:`RedisRotationStore`: the round-robin queue of each inbox, as a list."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from autoassign.model import AgentId, InboxId
from autoassign.selection import reconcile_queue
from autoassign.weights import ROTATION_ROUND, WeightedMove, WeightedQueue, fill_tags

from . import _scripts
from ._codec import IdMap, IdMapCache, as_int, as_list, as_text
from ._errors import translate_errors
from ._keys import KeySchema, id_text

if TYPE_CHECKING:
    from ._types import RedisClient

__all__ = ["RedisRotationStore"]

_STALE = -1
"""``rotation.lua``'s ``moves`` reply when the queue was reconciled with other members."""

_REMEMBERED = 1024
"""At most this many inboxes' queues (and hints) are remembered by one store."""


class _Copy(NamedTuple):
    """A queue as this store last read or wrote it: current while the stored version
    is ``version`` (every write by ``rotation.lua`` increments it)."""

    version: int
    digest: str
    order: tuple[AgentId, ...]


class RedisRotationStore:
    """:class:`~autoassign.ports.RotationStore` over one list per inbox (agent id texts,
    front first), a digest of the membership the list was last reconciled with, and a
    version counter incremented by every write.

    ``select`` and ``advance`` are one Lua script each (``rotation.lua``): reconcile
    with the members, then pick the first eligible agent and move it to the back, or
    move the given agents to the back. While the stored digest matches the members,
    ``advance`` sends only the moves (not the membership); after a membership change it
    sends the members once (one more round trip when ``order`` did not already see
    the change). ``order`` is one read-only script (``rotation_order.lua``) that
    transfers the queue only when this store's copy of it is not current (another
    worker wrote it since): a store that wrote the last moves itself keeps the queue
    it computed.

    :class:`~autoassign.ports.WeightedRotation`: weighted round robin's tags are a
    hash beside the queue and its clock a string (same hash tag).
    ``weighted_order`` is one read-only script (``rotation_weighted_order.lua``);
    ``weighted_advance`` one script (``rotation_weighted.lua``) that reconciles the
    queue as ``advance`` does, fills and applies the moves to the tags stored then,
    and rewrites the queue and the tags (one write per pass)."""

    def __init__(
        self, client: RedisClient, *, prefix: str | KeySchema = "autoassign"
    ) -> None:
        self._client: Any = client
        self.keys = prefix if isinstance(prefix, KeySchema) else KeySchema(prefix)
        self._script = _scripts.register(self._client, "rotation")
        self._order = _scripts.register(self._client, "rotation_order")
        self._weighted = _scripts.register(self._client, "rotation_weighted")
        self._weighted_order = _scripts.register(
            self._client, "rotation_weighted_order"
        )
        self._ids = IdMapCache()
        self._copies: dict[str, _Copy] = {}
        self._unreconciled: dict[str, str] = {}
        """Queue key -> members' digest that ``order`` found not stored: the next
        ``advance`` with those members sends them at once."""

    def select(
        self,
        inbox: InboxId,
        *,
        members: Sequence[AgentId],
        eligible: Collection[AgentId],
    ) -> AgentId | None:
        ids = self._ids.get(members)
        args = self._args("select", ids)
        args.extend(dict.fromkeys(id_text(agent) for agent in eligible))
        keys = self._keys(inbox)
        self._copies.pop(keys[0], None)
        with translate_errors("rotation.select"):
            reply = as_list(self._script(keys=keys, args=args))
        position = as_int(reply[0])
        if position == 0:
            return None
        return members[position - 1]

    def order(self, inbox: InboxId, *, members: Sequence[AgentId]) -> Sequence[AgentId]:
        keys = self._keys(inbox)
        ids = self._ids.get(members)
        digest = ids.digest()
        copy = self._copies.get(keys[0])
        if copy is not None and copy.digest == digest:
            ends = (
                (id_text(copy.order[0]), id_text(copy.order[-1]))
                if copy.order
                else ("", "")
            )
            args = [digest, str(copy.version), str(len(copy.order)), *ends]
        else:
            copy = None
            args = [digest, "", "", "", ""]
        with translate_errors("rotation.order"):
            reply = as_list(self._order(keys=keys, args=args))
        if len(reply) == 1 and copy is not None:
            return copy.order  # current: nothing was transferred
        version = as_int(reply[0])
        raw = reply[2:]
        if as_text(reply[1]) == "1":
            # Reconciled with these members already (the usual case): map it as it is,
            # unless it does not hold each member exactly once (a writer that does not
            # keep the digest, such as an older version).
            agents = list(map(ids.getter(raw[0] if raw else ""), raw))
            if None not in agents and len(set(agents)) == len(agents) == len(ids):
                order: tuple[AgentId, ...] = tuple(agents)  # type: ignore[arg-type]
                self._unreconciled.pop(keys[0], None)
                self._remember(self._copies, keys[0], _Copy(version, digest, order))
                return order
        self._copies.pop(keys[0], None)
        self._remember(self._unreconciled, keys[0], digest)
        out: list[AgentId] = []
        for text in reconcile_queue([as_text(item) for item in raw], ids.texts):
            agent = ids.get(text)
            if agent is not None:
                out.append(agent)
        return tuple(out)

    def advance(
        self,
        inbox: InboxId,
        *,
        members: Sequence[AgentId],
        agents: Sequence[AgentId],
    ) -> None:
        ids = self._ids.get(members)
        digest = ids.digest()
        keys = self._keys(inbox)
        copy = self._copies.pop(keys[0], None)
        with translate_errors("rotation.advance"):
            if self._unreconciled.get(keys[0]) != digest:
                get = ids.get
                moved = [
                    agent
                    for agent in (get(text) for text in map(id_text, agents))
                    if agent is not None
                ]
                args = ["moves", digest, *map(id_text, moved)]
                reply = as_list(self._script(keys=keys, args=args))
                if as_int(reply[0]) != _STALE:
                    version = as_int(reply[1])
                    if (
                        copy is not None
                        and copy.digest == digest
                        and version == copy.version + 1  # no other write in between
                    ):
                        order = _moved_to_the_back(copy.order, moved)
                        self._remember(
                            self._copies, keys[0], _Copy(version, digest, order)
                        )
                    return
            args = self._args("advance", ids)
            args.extend(id_text(agent) for agent in agents)
            self._script(keys=keys, args=args)
        self._unreconciled.pop(keys[0], None)

    def weighted_order(
        self, inbox: InboxId, *, members: Sequence[AgentId]
    ) -> WeightedQueue:
        ids = self._ids.get(members)
        keys = [
            self.keys.rotation(inbox),
            self.keys.rotation_tags(inbox),
            self.keys.rotation_clock(inbox),
        ]
        with translate_errors("rotation.weighted_order"):
            reply = as_list(self._weighted_order(keys=keys, args=[]))
        clock = as_int(reply[0])
        length = as_int(reply[1])
        listed = [as_text(item) for item in reply[2 : 2 + length]]
        rest = reply[2 + length :]
        stored: dict[AgentId, int] = {}
        for at in range(0, len(rest) - 1, 2):
            agent = ids.get(rest[at])
            if agent is not None:
                stored[agent] = as_int(rest[at + 1])
        order = [
            agent
            for agent in (ids.get(text) for text in reconcile_queue(listed, ids.texts))
            if agent is not None
        ]
        return WeightedQueue(
            order=tuple(order), tags=fill_tags(order, stored, clock), clock=clock
        )

    def weighted_advance(
        self,
        inbox: InboxId,
        *,
        members: Sequence[AgentId],
        moves: Sequence[WeightedMove],
    ) -> None:
        ids = self._ids.get(members)
        keys = [
            *self._keys(inbox),
            self.keys.rotation_tags(inbox),
            self.keys.rotation_clock(inbox),
        ]
        args = [ids.digest(), str(ROTATION_ROUND), str(len(ids.texts)), *ids.texts]
        for move in moves:
            args.extend((id_text(move.agent), str(move.at), str(move.stride)))
        self._copies.pop(keys[0], None)
        with translate_errors("rotation.weighted_advance"):
            self._weighted(keys=keys, args=args)
        self._unreconciled.pop(keys[0], None)

    def _keys(self, inbox: InboxId) -> list[str]:
        return [
            self.keys.rotation(inbox),
            self.keys.rotation_members(inbox),
            self.keys.rotation_version(inbox),
        ]

    @staticmethod
    def _remember(table: dict[str, Any], key: str, value: Any) -> None:
        if len(table) >= _REMEMBERED and key not in table:
            table.clear()
        table[key] = value

    @staticmethod
    def _args(mode: str, ids: IdMap) -> list[str]:
        return [mode, ids.digest(), str(len(ids.texts)), *ids.texts]


def _moved_to_the_back(
    queue: tuple[AgentId, ...], moved: Sequence[AgentId]
) -> tuple[AgentId, ...]:
    """``queue`` after moving each of ``moved`` (members of it) to the back in order:
    each agent's last move decides its place (what ``rotation.lua`` stores)."""
    if not moved:
        return queue
    last = {agent: at for at, agent in enumerate(moved)}
    kept = [agent for agent in queue if agent not in last]
    kept.extend(agent for at, agent in enumerate(moved) if last[agent] == at)
    return tuple(kept)
