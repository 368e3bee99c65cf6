"""Weighted round robin (issue 18): agents take turns in proportion to their weights.

Opt-in per policy: ``assignment_order="weighted_round_robin"``
(:class:`~autoassign.selection.WeightedRoundRobinSelector`), with the weights from an
:class:`~autoassign.ports.AgentWeights` wired by ``build_autoassign(agent_weights=...)``
(the host's own table, or :class:`InMemoryAgentWeights`). Without weights, or with every
weight 1, the order is exactly round robin's.

* **Weights** are ints from 1 to :data:`MAX_AGENT_WEIGHT`; an agent the source does not
  name has weight 1. A pass reads the members' weights once, with its ranking.
* **Turns.** Each member has a *tag*: the virtual time of its next turn, in ticks, where
  :data:`ROTATION_ROUND` ticks are one turn of a weight-1 agent. The pass walks the
  members by tag, then by their place in the inbox's round-robin queue (the queue
  round robin, balanced and most available share), and gives the conversation to the
  first eligible one. Its turn starts at ``at = max(clock, tag)``; its tag becomes
  ``at + ROTATION_ROUND // weight`` (its *stride*), the inbox's ``clock`` becomes
  ``at``, and it moves to the back of the queue. An agent of weight 3 so comes round
  three times as often as one of weight 1, its turns interleaved with the others'
  (stride scheduling).
* **Ineligible agents keep their tag**, so they are first in line once eligible again,
  as in round robin; the ``max(clock, tag)`` then starts their next turn where the
  others are, so an agent back from a long absence gets one early turn, not a burst of
  the turns it missed.
* **New members** join at the back: tag ``clock + ROTATION_ROUND`` (one weight-1 turn
  behind the clock). When no member has a tag yet (a new inbox, or one switched from
  another order), the members' tags are spread over one round in queue order
  (``clock + i * ROTATION_ROUND // n``), so that turns interleave from the start and
  the order is the queue's. Removed members' tags are dropped.
* **A weight change** applies from the agent's next turn: the tag it has stays.
* **A failing weights source**: every agent counts as weight 1 for that pass (equal
  turns from where each stands: round robin), logged; no assignment is lost. A source
  that answers something other than ints from 1 to :data:`MAX_AGENT_WEIGHT` counts as
  failing (the :class:`~autoassign.errors.ConfigurationError` names the agent).
* **Many workers.** A pass reads the tags once
  (:meth:`~autoassign.ports.WeightedRotation.weighted_order`) and writes its turns
  once, at its end, as :class:`WeightedMove` values
  (:meth:`~autoassign.ports.WeightedRotation.weighted_advance`): the store replays each
  move on the tags it holds then (``tag = max(tag, at) + stride``), atomically, so two
  passes that overlapped both charge every turn they gave; none is lost, and shares
  stay proportional. Claims stay atomic in the repository: nobody is assigned twice.

**How close to proportional.** Over a static run (the same members, all eligible, fixed
weights that divide :data:`ROTATION_ROUND`), after ``N`` assignments an agent of weight
``w`` in a team of total weight ``W`` has had ``N * w / W`` of them, give or take less
than ``2 * w + 1`` (``tests/unit/test_weighted_round_robin.py`` checks it). A weight
that does not divide :data:`ROTATION_ROUND` (17, 19, 23, ...) has its stride rounded
down: at most 7 parts per million more turns than its weight says.

Tags stay exact while the inbox's clock is below 2**53 ticks (Lua's numbers): more
than 600 million assignments per unit of the team's total weight.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Mapping, Sequence

import attrs

from autoassign.errors import ConfigurationError
from autoassign.model import AccountId, AgentId, InboxId

__all__ = [
    "MAX_AGENT_WEIGHT",
    "ROTATION_ROUND",
    "InMemoryAgentWeights",
    "WeightedMove",
    "WeightedQueue",
    "apply_weighted_moves",
    "check_weight",
    "check_weights",
    "fill_tags",
    "turn_stride",
]

ROTATION_ROUND = 14_414_400
"""Ticks in one turn of a weight-1 agent: ``2**6 * 3**2 * 5**2 * 7 * 11 * 13``, so
that every weight from 1 to 16, and 18, 20, 24, 25, 30, 32, 50, 64, 100 among others,
has an exact stride."""

MAX_AGENT_WEIGHT = 100
"""The largest weight."""


def check_weight(weight: object, *, field: str = "weight") -> int:
    """``weight`` if it is an int from 1 to :data:`MAX_AGENT_WEIGHT`, else
    :class:`ConfigurationError` naming ``field``."""
    if (
        isinstance(weight, bool)
        or not isinstance(weight, int)
        or not 1 <= weight <= MAX_AGENT_WEIGHT
    ):
        raise ConfigurationError(
            f"{field} must be an int from 1 to {MAX_AGENT_WEIGHT}, got {weight!r}",
            field=field,
        )
    return weight


def check_weights(weights: object, *, field: str = "weights") -> dict[AgentId, int]:
    """``weights`` as a plain dict of agent to weight, or :class:`ConfigurationError`
    naming ``field`` and the agent whose weight is wrong."""
    if not isinstance(weights, Mapping):
        raise ConfigurationError(
            f"{field} must map agents to weights, got {type(weights).__name__}",
            field=field,
        )
    given: Mapping[AgentId, object] = weights
    return {
        agent: check_weight(weight, field=f"{field}[{agent!r}]")
        for agent, weight in given.items()
    }


def turn_stride(weight: int) -> int:
    """How far one turn moves an agent of ``weight``'s tag, in ticks."""
    return ROTATION_ROUND // weight


def _natural(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(
            f"{attribute.name} must be an int >= 0, got {value!r}",
            field=attribute.name,
        )


def _stride(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 1 <= value <= ROTATION_ROUND
    ):
        raise ConfigurationError(
            f"stride must be an int from 1 to {ROTATION_ROUND}, got {value!r}",
            field="stride",
        )


@attrs.frozen
class WeightedMove:
    """One turn a pass gave: ``agent``'s turn started at virtual time ``at`` (the
    larger of the inbox's clock and the agent's tag, as the pass read them) and moves
    its tag by ``stride`` ticks (:func:`turn_stride` of its weight)."""

    agent: AgentId
    at: int = attrs.field(validator=_natural)
    stride: int = attrs.field(validator=_stride)


@attrs.frozen(kw_only=True)
class WeightedQueue:
    """An inbox's weighted round-robin state, as a pass reads it: the round-robin queue
    reconciled with the members (front first), every member's tag, and the inbox's
    clock."""

    order: tuple[AgentId, ...]
    tags: Mapping[AgentId, int]
    """Exactly the members of :attr:`order`, each with its tag (a member without a
    stored tag as :func:`fill_tags` gives it one)."""
    clock: int = 0


def fill_tags(
    order: Sequence[AgentId], tags: Mapping[AgentId, int], clock: int
) -> dict[AgentId, int]:
    """The tags of the members of ``order`` (the reconciled queue): a stored one where
    there is one; a member without one joins at the back (``clock +``
    :data:`ROTATION_ROUND`), or, when no member has one, every member is spread over
    one round in queue order (``clock + i * ROTATION_ROUND // n``). Stored tags of
    non-members are left out."""
    known = {agent: tags[agent] for agent in order if agent in tags}
    if not known:
        count = len(order)
        return {
            agent: clock + at * ROTATION_ROUND // count
            for at, agent in enumerate(order)
        }
    back = clock + ROTATION_ROUND
    return {agent: known.get(agent, back) for agent in order}


def apply_weighted_moves(
    order: Iterable[AgentId],
    tags: Mapping[AgentId, int],
    clock: int,
    moves: Iterable[WeightedMove],
) -> tuple[list[AgentId], dict[AgentId, int], int]:
    """The queue, tags and clock after ``moves``, in order, from a reconciled
    ``order`` and its filled ``tags``: each move of a member sets its tag to
    ``max(tag, at) + stride``, the clock to ``max(clock, at)``, and moves the agent to
    the back of the queue (a move of a non-member is ignored). What every
    :class:`~autoassign.ports.WeightedRotation` stores."""
    positions = dict.fromkeys(order)
    out = dict(tags)
    for move in moves:
        agent = move.agent
        if agent not in positions:
            continue
        out[agent] = max(out[agent], move.at) + move.stride
        clock = max(clock, move.at)
        del positions[agent]
        positions[agent] = None
    return list(positions), out, clock


@attrs.define
class InMemoryAgentWeights:
    """An :class:`~autoassign.ports.AgentWeights` in memory (tests, simulations, a
    host that keeps weights in its own settings): an agent's weight in an account,
    optionally overridden for one inbox. Thread-safe."""

    _weights: dict[tuple[AccountId, InboxId | None, AgentId], int] = attrs.field(
        factory=dict, init=False
    )
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False)

    def set_weight(
        self,
        account: AccountId,
        agent: AgentId,
        weight: int | None,
        *,
        inbox: InboxId | None = None,
    ) -> None:
        """Set ``agent``'s weight in ``account`` (in ``inbox`` only, when given);
        ``None`` removes it (back to the account's weight, or 1). A weight that is not
        an int from 1 to :data:`MAX_AGENT_WEIGHT` raises :class:`ConfigurationError`
        and changes nothing."""
        key = (account, inbox, agent)
        if weight is None:
            with self._lock:
                self._weights.pop(key, None)
            return
        checked = check_weight(weight)
        with self._lock:
            self._weights[key] = checked

    def agent_weights(
        self,
        account: AccountId,
        agents: Collection[AgentId],
        *,
        inbox: InboxId,
    ) -> dict[AgentId, int]:
        with self._lock:
            found: dict[AgentId, int] = {}
            for agent in agents:
                weight = self._weights.get((account, inbox, agent))
                if weight is None:
                    weight = self._weights.get((account, None, agent))
                if weight is not None:
                    found[agent] = weight
            return found
