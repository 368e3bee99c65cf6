""":class:`RedisRotationStore`: the round-robin queue of each inbox, as a list."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from autoassign.model import AgentId, InboxId
from autoassign.selection import reconcile_queue

from . import _scripts
from ._codec import IdMapCache, as_int, as_list, as_text
from ._errors import translate_errors
from ._keys import KeySchema, id_text

if TYPE_CHECKING:
    from ._types import RedisClient

__all__ = ["RedisRotationStore"]


class RedisRotationStore:
    """:class:`~autoassign.ports.RotationStore` over one list per inbox (agent id texts,
    front first). ``select`` and ``advance`` are one Lua script each (``rotation.lua``):
    reconcile with the members, then pick the first eligible agent and move it to the
    back, or move the given agents to the back. ``order`` is one ``LRANGE`` and writes
    nothing."""

    def __init__(
        self, client: RedisClient, *, prefix: str | KeySchema = "autoassign"
    ) -> None:
        self._client: Any = client
        self.keys = prefix if isinstance(prefix, KeySchema) else KeySchema(prefix)
        self._script = _scripts.register(self._client, "rotation")
        self._ids = IdMapCache()

    def select(
        self,
        inbox: InboxId,
        *,
        members: Sequence[AgentId],
        eligible: Collection[AgentId],
    ) -> AgentId | None:
        args = self._args("select", members)
        args.extend(dict.fromkeys(id_text(agent) for agent in eligible))
        with translate_errors("rotation.select"):
            reply = self._script(keys=[self.keys.rotation(inbox)], args=args)
        position = as_int(reply)
        if position == 0:
            return None
        return members[position - 1]

    def order(self, inbox: InboxId, *, members: Sequence[AgentId]) -> Sequence[AgentId]:
        with translate_errors("rotation.order"):
            raw = as_list(self._client.lrange(self.keys.rotation(inbox), 0, -1))
        by_text = self._ids.get(members)
        queue = [as_text(item) for item in raw]
        order = reconcile_queue(queue, by_text.texts)
        out: list[AgentId] = []
        for text in order:
            agent = by_text.get(text)
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
        args = self._args("advance", members)
        args.extend(id_text(agent) for agent in agents)
        with translate_errors("rotation.advance"):
            self._script(keys=[self.keys.rotation(inbox)], args=args)

    @staticmethod
    def _args(mode: str, members: Sequence[AgentId]) -> list[str]:
        return [mode, str(len(members)), *(id_text(agent) for agent in members)]
