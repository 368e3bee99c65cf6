""":class:`RedisRotationStore`: the round-robin queue of each inbox, as a list."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from autoassign.model import AgentId, InboxId
from autoassign.selection import reconcile_queue

from . import _scripts
from ._codec import IdMap, IdMapCache, as_int, as_list, as_optional_text, as_text
from ._errors import translate_errors
from ._keys import KeySchema, id_text

if TYPE_CHECKING:
    from ._types import RedisClient

__all__ = ["RedisRotationStore"]

_STALE = -1
"""``rotation.lua``'s ``moves`` reply when the queue was reconciled with other members."""

_HINTS = 4096
"""At most this many inboxes remembered as needing the members at their next advance."""


class RedisRotationStore:
    """:class:`~autoassign.ports.RotationStore` over one list per inbox (agent id texts,
    front first) and a digest of the membership the list was last reconciled with.

    ``select`` and ``advance`` are one Lua script each (``rotation.lua``): reconcile
    with the members, then pick the first eligible agent and move it to the back, or
    move the given agents to the back. While the stored digest matches the members,
    ``advance`` sends only the moves (not the membership); after a membership change it
    sends the members once (one more round trip when ``order`` did not already see
    the change). ``order`` is one pipeline (``LRANGE`` and ``GET`` of the digest) and
    writes nothing."""

    def __init__(
        self, client: RedisClient, *, prefix: str | KeySchema = "autoassign"
    ) -> None:
        self._client: Any = client
        self.keys = prefix if isinstance(prefix, KeySchema) else KeySchema(prefix)
        self._script = _scripts.register(self._client, "rotation")
        self._ids = IdMapCache()
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
        with translate_errors("rotation.select"):
            reply = self._script(keys=self._keys(inbox), args=args)
        position = as_int(reply)
        if position == 0:
            return None
        return members[position - 1]

    def order(self, inbox: InboxId, *, members: Sequence[AgentId]) -> Sequence[AgentId]:
        key = self.keys.rotation(inbox)
        with translate_errors("rotation.order"):
            pipe = self._client.pipeline(transaction=False)
            pipe.lrange(key, 0, -1)
            pipe.get(self.keys.rotation_members(inbox))
            raw_reply, stored = pipe.execute()
        raw = as_list(raw_reply)
        ids = self._ids.get(members)
        digest = ids.digest()
        if as_optional_text(stored) == digest:
            # Reconciled with these members already (the usual case): map it as it is,
            # unless it does not hold each member exactly once (a writer that does not
            # keep the digest, such as an older version).
            get = ids.getter(raw[0] if raw else "")
            agents = [get(item) for item in raw]
            if None not in agents and len(set(agents)) == len(agents) == len(ids):
                self._unreconciled.pop(key, None)
                return tuple(agents)  # type: ignore[arg-type]
        self._remember_unreconciled(key, digest)
        order = reconcile_queue([as_text(item) for item in raw], ids.texts)
        out: list[AgentId] = []
        for text in order:
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
        with translate_errors("rotation.advance"):
            if self._unreconciled.get(keys[0]) != digest:
                get = ids.get
                moves = [text for text in map(id_text, agents) if get(text) is not None]
                reply = self._script(keys=keys, args=["moves", digest, *moves])
                if as_int(reply) != _STALE:
                    return
            args = self._args("advance", ids)
            args.extend(id_text(agent) for agent in agents)
            self._script(keys=keys, args=args)
        self._unreconciled.pop(keys[0], None)

    def _keys(self, inbox: InboxId) -> list[str]:
        return [self.keys.rotation(inbox), self.keys.rotation_members(inbox)]

    def _remember_unreconciled(self, key: str, digest: str) -> None:
        if len(self._unreconciled) >= _HINTS:
            self._unreconciled.clear()
        self._unreconciled[key] = digest

    @staticmethod
    def _args(mode: str, ids: IdMap) -> list[str]:
        return [mode, ids.digest(), str(len(ids.texts)), *ids.texts]
