"""Selection strategies: who, among the eligible agents, gets the conversation.

A host may pass its own :class:`Selector`. ``select`` may write (round robin rotates its
queue); ``preview`` must not (``explain`` uses it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

import attrs

from autoassign.model import AgentId, Conversation, InboxId, id_sort_key
from autoassign.ports import RotationStore

__all__ = [
    "BalancedSelector",
    "RoundRobinSelector",
    "SelectionContext",
    "Selector",
]


@attrs.frozen(kw_only=True)
class SelectionContext:
    """What a selector may look at. ``eligible`` keeps member order and is never empty.

    ``open_counts`` is filled when the selector's ``needs_open_counts`` is true;
    ``last_assigned`` holds the time of each agent's latest auto-assignment in the inbox
    that the ledger still remembers.
    """

    inbox: InboxId
    conversation: Conversation
    members: Sequence[AgentId]
    eligible: Sequence[AgentId]
    open_counts: Mapping[AgentId, int]
    last_assigned: Mapping[AgentId, datetime]


class Selector(Protocol):
    """**Port:** a selection strategy."""

    name: str
    needs_open_counts: bool

    def select(self, context: SelectionContext) -> AgentId | None:
        """Choose one of ``context.eligible`` (may update the selector's state)."""
        ...

    def preview(self, context: SelectionContext) -> AgentId | None:
        """Who :meth:`select` would choose now, without changing anything."""
        ...


@attrs.define
class RoundRobinSelector:
    """Equal turns: the first eligible agent in the inbox's queue; it moves to the back.

    Ineligible agents keep their place, so they are first in line once eligible again.
    """

    rotation: RotationStore
    name: str = "round_robin"
    needs_open_counts: bool = False

    def select(self, context: SelectionContext) -> AgentId | None:
        return self.rotation.select(
            context.inbox, members=context.members, eligible=context.eligible
        )

    def preview(self, context: SelectionContext) -> AgentId | None:
        eligible = set(context.eligible)
        for agent in self.rotation.order(context.inbox, members=context.members):
            if agent in eligible:
                return agent
        return None


_NEVER = datetime.min


@attrs.define
class BalancedSelector:
    """Equal workload: the eligible agent with the fewest open conversations in the inbox.

    Ties go to the agent whose last auto-assignment in the inbox is oldest (never
    assigned counts as oldest), then to the smallest id, so the choice is deterministic.
    """

    name: str = "balanced"
    needs_open_counts: bool = True

    def select(self, context: SelectionContext) -> AgentId | None:
        return self.preview(context)

    def preview(self, context: SelectionContext) -> AgentId | None:
        if not context.eligible:
            return None

        def key(agent: AgentId) -> tuple[int, datetime, tuple[int, int | str]]:
            last = context.last_assigned.get(agent)
            naive_last = last.replace(tzinfo=None) if last is not None else _NEVER
            return (context.open_counts.get(agent, 0), naive_last, id_sort_key(agent))

        return min(context.eligible, key=key)
