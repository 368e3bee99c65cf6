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
import itertools
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Protocol

import attrs

from autoassign._quietlog import degradations
from autoassign.model import AccountId, AgentId, Conversation, InboxId, Load
from autoassign.ports import AgentWeights, RotationStore, WeightedRotation
from autoassign.weights import WeightedMove, WeightedQueue, check_weights, turn_stride

__all__ = [
    "BalancedSelector",
    "MostAvailableSelector",
    "Ranking",
    "RankingInput",
    "RoundRobinSelector",
    "SelectionContext",
    "Selector",
    "WeightedRoundRobinSelector",
    "WeightedStanding",
    "fallback_ranking",
    "reconcile_queue",
]

logger = logging.getLogger(__name__)


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
    open_counts: Mapping[AgentId, Load]
    last_assigned: Mapping[AgentId, datetime]
    limits: Mapping[AgentId, int] = attrs.field(factory=dict)
    """The capacity limit each agent has in the inbox (an agent absent has none)."""
    account: AccountId | None = None
    """The inbox's account (weighted round robin reads the weights of its agents)."""


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
    open_counts: Mapping[AgentId, Load]
    last_assigned: Mapping[AgentId, datetime]
    limits: Mapping[AgentId, int] = attrs.field(factory=dict)
    """The capacity limit each member has in the inbox (the pass's own, from the
    capacity policies linked to it); a member absent has none."""
    account: AccountId | None = None
    """The inbox's account (weighted round robin reads the weights of its members)."""


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


@attrs.define
class BalancedSelector:
    """Equal workload: the eligible agent with the fewest open conversations in the inbox.

    Ties go to the agent first in the inbox's round-robin queue: the one that has waited
    longest since its last auto-assignment in the inbox (members who joined later queue
    behind, as in round robin). The chosen agent moves to the back of that queue, so
    agents at equal load take turns, and switching an inbox between round robin and
    balanced keeps everyone's place in line. A pass reads the queue once
    (:meth:`RotationStore.order`) and writes its moves once, at its end
    (:meth:`RotationStore.advance`), like round robin: the cost of a pass does not
    depend on how much history the inbox has.
    """

    rotation: RotationStore
    name: str = "balanced"
    needs_open_counts: bool = True
    needs_last_assigned: bool = False

    def rank(self, source: RankingInput) -> Ranking:
        return _BalancedRanking(
            rotation=self.rotation,
            inbox=source.inbox,
            members=source.members,
            open_counts=source.open_counts,
            queue=_reconciled(self.rotation, source.inbox, source.members),
        )

    def preview(self, context: SelectionContext) -> AgentId | None:
        return _preview(
            self.rotation, context, lambda agent: (context.open_counts.get(agent, 0),)
        )


@attrs.define
class MostAvailableSelector:
    """Most spare capacity: the eligible agent whose share of their capacity limit in
    the inbox would be lowest once they take the conversation, ``(open + 1) / limit``
    (Salesforce's "most available", Zendesk's "highest spare capacity", as a share so
    that agents with different limits fill up evenly). An agent with no limit in the
    inbox counts as empty (share 0). Ties go to the agent with fewer open
    conversations, then to the one first in the inbox's round-robin queue; the chosen
    agent moves to the back of that queue, as in balanced, and the pass writes its
    moves once, at its end.

    In a static team, every step keeps the team's highest share as low as any
    allocation of the same conversations could (``tests/unit/test_most_available.py``
    checks it against every allocation). Without capacity policies every share is 0,
    and with equal limits the order is the same: it picks as balanced does.

    Shares are compared as floats: exact for limits up to 1,000,000 (two different
    shares then differ by far more than a float's rounding; equal shares are equal
    floats)."""

    rotation: RotationStore
    name: str = "most_available"
    needs_open_counts: bool = True
    needs_last_assigned: bool = False

    def rank(self, source: RankingInput) -> Ranking:
        return _MostAvailableRanking(
            rotation=self.rotation,
            inbox=source.inbox,
            members=source.members,
            open_counts=source.open_counts,
            limits=source.limits,
            queue=_reconciled(self.rotation, source.inbox, source.members),
        )

    def preview(self, context: SelectionContext) -> AgentId | None:
        return _preview(
            self.rotation,
            context,
            lambda agent: _availability(
                context.open_counts.get(agent, 0), context.limits.get(agent)
            ),
        )


@attrs.frozen(kw_only=True)
class WeightedStanding:
    """One member in weighted round robin's order (``explain``)."""

    agent: AgentId
    weight: int
    tag: int
    """The virtual time of its next turn, in ticks (:mod:`autoassign.weights`)."""
    place: int
    """Its place in the order the pass walks, 1 first."""


@attrs.define
class WeightedRoundRobinSelector:
    """Turns in proportion to weight: the eligible agent whose next turn comes first
    in virtual time (its tag), ties to the first in the inbox's round-robin queue; the
    chosen agent's tag moves on by ``ROTATION_ROUND // weight`` and it moves to the back
    of the queue (stride scheduling; :mod:`autoassign.weights` has the rules and the
    bound). With every weight 1 it picks exactly as :class:`RoundRobinSelector` does.

    ``weights`` (an :class:`~autoassign.ports.AgentWeights`) is read once per ranking;
    ``None``, or a failing read, gives every agent weight 1 (logged). The rotation store
    needs :class:`~autoassign.ports.WeightedRotation`; one without it ranks as round
    robin (logged). A pass reads the state once and writes its turns once, at its end.
    """

    rotation: RotationStore
    weights: AgentWeights | None = None
    name: str = "weighted_round_robin"
    needs_open_counts: bool = False
    needs_last_assigned: bool = False

    def rank(self, source: RankingInput) -> Ranking:
        store = self._weighted_store(source.inbox)
        if store is None:
            return RoundRobinSelector(self.rotation).rank(source)
        state = store.weighted_order(source.inbox, members=source.members)
        return _WeightedRanking(
            rotation=store,
            inbox=source.inbox,
            members=source.members,
            state=state,
            weights=self.read_weights(source.account, source.inbox, source.members),
        )

    def preview(self, context: SelectionContext) -> AgentId | None:
        eligible = set(context.eligible)
        for standing in self.standings(
            context.account, context.inbox, members=context.members
        ):
            if standing.agent in eligible:
                return standing.agent
        return None

    def standings(
        self,
        account: AccountId | None,
        inbox: InboxId,
        *,
        members: Sequence[AgentId],
    ) -> list[WeightedStanding]:
        """Every member in the order a pass would walk them now, with its weight and
        tag (without :class:`~autoassign.ports.WeightedRotation`: the round-robin
        queue, every weight 1). Writes nothing."""
        store = self._weighted_store(inbox)
        if store is None:
            order = self.rotation.order(inbox, members=members)
            return [
                WeightedStanding(agent=agent, weight=1, tag=0, place=at)
                for at, agent in enumerate(order, 1)
            ]
        state = store.weighted_order(inbox, members=members)
        weights = self.read_weights(account, inbox, members)
        ranking = _WeightedRanking(
            rotation=store, inbox=inbox, members=members, state=state, weights=weights
        )
        return [
            WeightedStanding(
                agent=agent,
                weight=weights.get(agent, 1),
                tag=state.tags[agent],
                place=at,
            )
            for at, agent in enumerate(ranking.candidates(), 1)
        ]

    def read_weights(
        self, account: AccountId | None, inbox: InboxId, members: Sequence[AgentId]
    ) -> dict[AgentId, int]:
        """The members' weights other than 1 (one read); ``{}`` (everyone weight 1)
        without a source, without an account, or when the source fails or answers a
        weight that is not an int from 1 to
        :data:`~autoassign.weights.MAX_AGENT_WEIGHT` (logged)."""
        if self.weights is None or account is None:
            return {}
        try:
            found = check_weights(
                self.weights.agent_weights(account, members, inbox=inbox),
                field="agent_weights",
            )
        except Exception as exc:
            degradations.failed(
                logger,
                "agent weights",
                "the agent weights could not be read: every agent counts as weight "
                "1 (round robin) until they are",
                error=exc,
                extra={"autoassign_inbox": inbox, "autoassign_account": account},
            )
            return {}
        degradations.recovered(logger, "agent weights")
        member_set = set(members)
        return {
            agent: weight
            for agent, weight in found.items()
            if weight != 1 and agent in member_set
        }

    def _weighted_store(self, inbox: InboxId) -> WeightedRotation | None:
        if isinstance(self.rotation, WeightedRotation):
            return self.rotation
        degradations.failed(
            logger,
            "weighted rotation",
            "the rotation store %s has no weighted_order/weighted_advance "
            "(ports.WeightedRotation): weighted_round_robin ranks as round robin",
            type(self.rotation).__name__,
            error=None,
            extra={"autoassign_inbox": inbox},
        )
        return None


class _WeightedRanking:
    """The members sorted by (tag, queue place): one sort when the pass starts; an
    assignment re-inserts one agent (a bisect and a list move)."""

    def __init__(
        self,
        *,
        rotation: WeightedRotation,
        inbox: InboxId,
        members: Sequence[AgentId],
        state: WeightedQueue,
        weights: Mapping[AgentId, int],
    ) -> None:
        self._rotation = rotation
        self._inbox = inbox
        self._members = members
        self._clock = state.clock
        self._weights = weights
        tags = state.tags
        self._keys: dict[AgentId, tuple[int, int]] = {
            agent: (tags[agent], at) for at, agent in enumerate(state.order)
        }
        self._order = sorted(state.order, key=self._keys.__getitem__)
        self._next = len(state.order)
        self._moves: list[WeightedMove] = []

    def candidates(self) -> Iterator[AgentId]:
        return iter(self._order)

    def update(self, agent: AgentId, *, assigned: bool) -> None:
        keys = self._keys
        old = keys.get(agent)
        if not assigned or old is None:
            return  # open counts do not move a weighted turn; or not a member
        at = max(self._clock, old[0])
        stride = turn_stride(self._weights.get(agent, 1))
        self._clock = at
        self._moves.append(WeightedMove(agent, at, stride))
        order = self._order
        del order[bisect.bisect_left(order, old, key=keys.__getitem__)]
        keys[agent] = (at + stride, self._next)
        self._next += 1
        bisect.insort(order, agent, key=keys.__getitem__)

    def finish(self) -> None:
        if self._moves:
            self._rotation.weighted_advance(
                self._inbox, members=self._members, moves=self._moves
            )
            self._moves = []


def _preview(
    rotation: RotationStore,
    context: SelectionContext,
    key: Callable[[AgentId], tuple[float, ...]],
) -> AgentId | None:
    """The eligible agent with the lowest ``key``, ties to the first in the inbox's
    reconciled round-robin queue (balanced and most available)."""
    if not context.eligible:
        return None
    queue = _reconciled(rotation, context.inbox, context.members)
    place = {agent: at for at, agent in enumerate(queue)}
    return min(
        context.eligible, key=lambda agent: (*key(agent), place.get(agent, len(place)))
    )


def _availability(open_count: Load, limit: int | None) -> tuple[float, Load]:
    """The most-available key of an agent, best first: the share of its limit it
    would hold with one more conversation (0 without a limit), then its open count."""
    if limit is None:
        return (0.0, open_count)
    if limit <= 0:
        return (float("inf"), open_count)
    return ((open_count + 1) / limit, open_count)


class _MostAvailableRanking:
    """The members sorted by :func:`_availability`, then queue position: one sort when
    the pass starts; an assignment re-inserts one agent (a bisect and a list move,
    with no per-agent work for the others)."""

    def __init__(
        self,
        *,
        rotation: RotationStore,
        inbox: InboxId,
        members: Sequence[AgentId],
        open_counts: Mapping[AgentId, Load],
        limits: Mapping[AgentId, int],
        queue: list[AgentId],
    ) -> None:
        self._rotation = rotation
        self._inbox = inbox
        self._members = members
        self._counts = open_counts
        self._limits = limits
        count_of = open_counts.get
        limit_of = limits.get
        self._keys: dict[AgentId, tuple[float, Load, int]] = {
            agent: (*_availability(count_of(agent, 0), limit_of(agent)), at)
            for at, agent in enumerate(queue)
        }
        self._order = sorted(queue, key=self._keys.__getitem__)
        self._next = len(queue)
        self._moved: list[AgentId] = []

    def candidates(self) -> Iterator[AgentId]:
        return iter(self._order)

    def update(self, agent: AgentId, *, assigned: bool) -> None:
        keys = self._keys
        old = keys.get(agent)
        if old is None:
            return  # not a member
        at = old[2]
        if assigned:
            self._moved.append(agent)
            at = self._next
            self._next += 1
        new = (*_availability(self._counts.get(agent, 0), self._limits.get(agent)), at)
        if new == old:
            return
        order = self._order
        del order[bisect.bisect_left(order, old, key=keys.__getitem__)]
        keys[agent] = new
        bisect.insort(order, agent, key=keys.__getitem__)

    def finish(self) -> None:
        if self._moved:
            self._rotation.advance(
                self._inbox, members=self._members, agents=self._moved
            )
            self._moved = []


def _reconciled(
    rotation: RotationStore, inbox: InboxId, members: Sequence[AgentId]
) -> list[AgentId]:
    """The inbox's stored queue (one read), reconciled with ``members``."""
    return reconcile_queue(rotation.order(inbox, members=members), members)


def reconcile_queue(
    queue: Iterable[AgentId], members: Sequence[AgentId]
) -> list[AgentId]:
    """The round-robin queue reconciled with ``members``: non-members and duplicates
    leave, survivors keep their order, new members join at the back in member order.
    (What every :class:`~autoassign.ports.RotationStore` does before reading or moving;
    the balanced ranking applies it to whatever a store returns.)"""
    member_set = set(members)
    queued = list(queue)
    if len(queued) == len(member_set) and set(queued) == member_set:
        return queued  # the common case: nothing to reconcile
    seen: set[AgentId] = set()
    out: list[AgentId] = []
    for agent in itertools.chain(queued, members):
        if agent in member_set and agent not in seen:
            seen.add(agent)
            out.append(agent)
    return out


class _BalancedRanking:
    """The members in tiers by open count, each tier in queue order.

    Building it is one walk over the queue (no sort, no per-agent key); an assignment
    moves one agent to the back of the next tier, and :meth:`finish` moves the assigned
    agents to the back of the stored queue in one write.
    """

    def __init__(
        self,
        *,
        rotation: RotationStore,
        inbox: InboxId,
        members: Sequence[AgentId],
        open_counts: Mapping[AgentId, Load],
        queue: list[AgentId],
    ) -> None:
        self._rotation = rotation
        self._inbox = inbox
        self._members = members
        self._counts = open_counts
        self._ranked_counts = dict(open_counts)
        self._pos = dict(zip(queue, range(len(queue)), strict=True))
        tiers: dict[Load, list[AgentId]] = {}
        count_of = self._ranked_counts.get
        for agent in queue:
            count = count_of(agent, 0)
            tier = tiers.get(count)
            if tier is None:
                tiers[count] = tier = []
            tier.append(agent)
        self._tiers = tiers
        self._next = len(queue)
        self._moved: list[AgentId] = []

    def candidates(self) -> Iterator[AgentId]:
        for count in sorted(self._tiers):
            yield from self._tiers[count]

    def update(self, agent: AgentId, *, assigned: bool) -> None:
        pos = self._pos
        at = pos.get(agent)
        if at is None:
            return  # not a member
        count = self._ranked_counts.get(agent, 0)
        new_count = self._counts.get(agent, 0)
        if not assigned and new_count == count:
            return
        tier = self._tiers[count]
        del tier[bisect.bisect_left(tier, at, key=pos.__getitem__)]
        if not tier:
            del self._tiers[count]
        if assigned:
            self._moved.append(agent)
            pos[agent] = self._next
            self._next += 1
        self._ranked_counts[agent] = new_count
        bisect.insort(self._tiers.setdefault(new_count, []), agent, key=pos.__getitem__)

    def finish(self) -> None:
        if self._moved:
            self._rotation.advance(
                self._inbox, members=self._members, agents=self._moved
            )
            self._moved = []


class _NoRotation:
    """Stands in for the rotation store in a fallback ranking: nothing is written."""

    def advance(
        self,
        inbox: InboxId,
        *,
        members: Sequence[AgentId],
        agents: Sequence[AgentId],
    ) -> None:
        return None


def fallback_ranking(
    source: RankingInput, *, balanced: bool, most_available: bool = False
) -> Ranking:
    """The ranking a pass uses when its selector cannot rank (the rotation store is
    down): the members in membership order, taking turns within the pass (round robin),
    in tiers by open count in membership order (``balanced``), or by share of their
    limit then membership order (``most_available``). Deterministic, and it writes
    nothing: the stored queue is left as it was (the turns given while degraded are
    not recorded)."""
    rotation: RotationStore = _NoRotation()  # type: ignore[assignment]
    queue = reconcile_queue((), source.members)
    if most_available:
        return _MostAvailableRanking(
            rotation=rotation,
            inbox=source.inbox,
            members=source.members,
            open_counts=source.open_counts,
            limits=source.limits,
            queue=queue,
        )
    if balanced:
        return _BalancedRanking(
            rotation=rotation,
            inbox=source.inbox,
            members=source.members,
            open_counts=source.open_counts,
            queue=queue,
        )
    return _RotationRanking(
        rotation=rotation,
        inbox=source.inbox,
        members=source.members,
        queue=OrderedDict.fromkeys(queue),
    )
