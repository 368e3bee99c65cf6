"""Selection strategies: who, among the eligible agents, gets the conversation.

A pass asks its selector once, at the start, for a :class:`Ranking`: the inbox's members
in preference order. For each conversation the pass walks that order and checks
eligibility lazily, stopping at the first eligible agent, so the work per assignment does
not grow with the number of agents. ``preview`` answers the same question for one
conversation without changing anything (``explain`` uses it).

A host may pass its own :class:`Selector`.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Protocol

import attrs

from autoassign.model import AgentId, Conversation, InboxId, id_sort_key
from autoassign.ports import RotationStore

__all__ = [
    "BalancedSelector",
    "Ranking",
    "RankingInput",
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


@attrs.frozen(kw_only=True)
class RankingInput:
    """What a selector may look at when a pass starts.

    ``open_counts`` and ``last_assigned`` are live views the pass keeps current (open
    counts are filled when the selector's ``needs_open_counts`` is true; last assignment
    times when its ``needs_last_assigned`` is: an agent absent from ``last_assigned``
    then has no auto-assignment the ledger remembers); the pass calls
    :meth:`Ranking.update` for every agent whose numbers it changed.
    """

    inbox: InboxId
    members: Sequence[AgentId]
    open_counts: Mapping[AgentId, int]
    last_assigned: Mapping[AgentId, datetime]


class Ranking(Protocol):
    """One pass's preference order over the inbox's members."""

    def candidates(self) -> Iterator[AgentId]:
        """The members, best first. The pass stops at the first eligible one, so this
        should be lazy: cost proportional to how far the pass walks."""
        ...

    def update(self, agent: AgentId, *, assigned: bool) -> None:
        """``agent``'s numbers changed (``assigned``: the pass gave it a conversation);
        re-rank it."""
        ...

    def finish(self) -> None:
        """The pass is over: persist what must outlive it (round robin advances the
        inbox's rotation). Called once, even when nothing was assigned."""
        ...


class Selector(Protocol):
    """**Port:** a selection strategy."""

    name: str
    needs_open_counts: bool
    needs_last_assigned: bool
    """Whether :attr:`RankingInput.last_assigned` must hold every member's newest
    ledger entry (one :meth:`~autoassign.ports.RateLimitLedger.last_assigned` read a
    pass). When false it holds only the pass's own assignments. A host selector
    without the attribute is treated as needing it."""

    def rank(self, source: RankingInput) -> Ranking:
        """The preference order for one pass (may read stores; writes only in
        :meth:`Ranking.finish`)."""
        ...

    def preview(self, context: SelectionContext) -> AgentId | None:
        """Who a pass would choose now among ``context.eligible``, without changing
        anything."""
        ...


@attrs.define
class RoundRobinSelector:
    """Equal turns: the first eligible agent in the inbox's queue; it moves to the back.

    Ineligible agents keep their place, so they are first in line once eligible again.
    A pass reads the queue once (:meth:`RotationStore.order`), walks it locally, and
    writes the moves once at its end (:meth:`RotationStore.advance`); the inbox lease
    keeps other passes of the inbox from rotating it meanwhile.
    """

    rotation: RotationStore
    name: str = "round_robin"
    needs_open_counts: bool = False
    needs_last_assigned: bool = False

    def rank(self, source: RankingInput) -> Ranking:
        order = self.rotation.order(source.inbox, members=source.members)
        return _RotationRanking(
            rotation=self.rotation,
            inbox=source.inbox,
            members=source.members,
            queue=OrderedDict.fromkeys(order),
        )

    def preview(self, context: SelectionContext) -> AgentId | None:
        eligible = set(context.eligible)
        for agent in self.rotation.order(context.inbox, members=context.members):
            if agent in eligible:
                return agent
        return None


@attrs.define
class _RotationRanking:
    rotation: RotationStore
    inbox: InboxId
    members: Sequence[AgentId]
    queue: OrderedDict[AgentId, None]
    moved: list[AgentId] = attrs.field(factory=list)

    def candidates(self) -> Iterator[AgentId]:
        return iter(self.queue)

    def update(self, agent: AgentId, *, assigned: bool) -> None:
        if assigned and agent in self.queue:
            self.queue.move_to_end(agent)
            self.moved.append(agent)

    def finish(self) -> None:
        if self.moved:
            self.rotation.advance(self.inbox, members=self.members, agents=self.moved)
            self.moved = []


_NEVER = datetime.min.replace(tzinfo=timezone.utc)
"""Sorts before every last assignment (all aware: the ledger and the clock give UTC)."""


def _balanced_key(
    agent: AgentId,
    open_counts: Mapping[AgentId, int],
    last_assigned: Mapping[AgentId, datetime],
) -> tuple[int, datetime, tuple[int, int | str]]:
    last = last_assigned.get(agent)
    return (
        open_counts.get(agent, 0),
        _NEVER if last is None else last,
        id_sort_key(agent),
    )


@attrs.define
class BalancedSelector:
    """Equal workload: the eligible agent with the fewest open conversations in the inbox.

    Ties go to the agent whose last auto-assignment in the inbox is oldest (never
    assigned counts as oldest), then to the smallest id, so the choice is deterministic.
    """

    name: str = "balanced"
    needs_open_counts: bool = True
    needs_last_assigned: bool = True

    def rank(self, source: RankingInput) -> Ranking:
        return _BalancedRanking(source)

    def preview(self, context: SelectionContext) -> AgentId | None:
        if not context.eligible:
            return None
        return min(
            context.eligible,
            key=lambda agent: _balanced_key(
                agent, context.open_counts, context.last_assigned
            ),
        )


class _BalancedRanking:
    """Members split in two: the *fresh* ones (no open conversation, no remembered
    assignment: they share the smallest key and go by id) and the *touched* ones, kept
    sorted by their full key. Only touched agents get a key computed, so starting a pass
    costs little more than one pass over the members, and an assignment moves one agent.
    """

    def __init__(self, source: RankingInput) -> None:
        self._source = source
        members = source.members
        member_set = frozenset(members)
        touched = {agent for agent, count in source.open_counts.items() if count}
        touched.update(source.last_assigned)
        touched &= member_set
        fresh = list(dict.fromkeys(a for a in members if a not in touched))
        if all(type(agent) is int for agent in fresh):
            fresh.sort()
        else:
            fresh.sort(key=id_sort_key)
        self._fresh = fresh
        self._start = 0
        self._moved: set[AgentId] = set()
        self._keys = {agent: self._key(agent) for agent in touched}
        self._touched = sorted((key, agent) for agent, key in self._keys.items())

    def _key(self, agent: AgentId) -> tuple[int, datetime, tuple[int, int | str]]:
        return _balanced_key(
            agent, self._source.open_counts, self._source.last_assigned
        )

    def candidates(self) -> Iterator[AgentId]:
        fresh, moved = self._fresh, self._moved
        while self._start < len(fresh) and fresh[self._start] in moved:
            self._start += 1
        for index in range(self._start, len(fresh)):
            agent = fresh[index]
            if agent not in moved:
                yield agent
        for _key, agent in self._touched:
            yield agent

    def update(self, agent: AgentId, *, assigned: bool) -> None:
        new = self._key(agent)
        old = self._keys.get(agent)
        if old is None:
            if new[0] == 0 and new[1] == _NEVER:
                return  # still fresh
            self._moved.add(agent)
        elif new == old:
            return
        else:
            del self._touched[bisect.bisect_left(self._touched, (old, agent))]
        bisect.insort(self._touched, (new, agent))
        self._keys[agent] = new

    def finish(self) -> None:
        return None
