"""A hypothesis state machine that drives the whole engine against a reference model.

Needs the ``autoassign[testing]`` extra (hypothesis). :func:`assignment_machine` builds
a :class:`~hypothesis.stateful.RuleBasedStateMachine` class over a backend factory, so
the same checks run on every adapter set::

    from hypothesis import settings
    from autoassign.testing import InMemoryBackend
    from autoassign.testing.stateful import assignment_machine

    Machine = assignment_machine(lambda clock: InMemoryBackend(clock=clock))
    Machine.TestCase.settings = settings(max_examples=200, stateful_step_count=30)
    TestAssignment = Machine.TestCase

The host's data (directory and conversations) always lives in an
:class:`~autoassign.adapters.memory.InMemoryWorld` that the machine edits; presence,
ledger, rotation, lease and the job queue come from the backend under test (and its
``reservations``, when it has one, e.g. a ``RedisBackend``). Each example also draws
how many agents' ledger usage a lazy read covers (1, 2 or 128), so passes read the
ledger in one or in many steps.

**Rules:** add or remove an inbox member; set an agent's presence (``online``,
``busy``, ``offline``; coming online fires the trigger); open a conversation (with
labels, a team, an age); change a conversation's status (resolve, snooze, reopen);
assign or unassign one by hand; change an inbox's policy (limit, window, order,
priority, enabled, routing settings) or its capacity limit; switch a gate (the account
flag, the inbox's ``enable_auto_assignment``, the policy link); advance the clock (by
fixed steps, or to exactly where an assignment leaves the fair-distribution window,
then run a pass); run a pass; run the periodic cycle; drain the job queue (real-time
triggers enqueue jobs).

**Checked after every step** against a small dict-based reference model:

* no conversation is claimed twice or reassigned: the stored assignee of every
  conversation is the model's (an auto-assignee changes only by the manual rule), and
  each pass only assigns conversations the model has open and unassigned;
* every auto-assignee was, when chosen, an inbox member, exactly ``online``, in the
  conversation's team, under the fair-distribution limit and under capacity (checked
  in decision order against the model, with the pass's earlier assignments applied);
  one ``AssigneeChanged`` and one ``ConversationUpdated`` per assignment;
* whenever the model can tell (the ledger's view is exact), the chosen agent is the one
  the policy's selector must pick: the first eligible agent in the model's own
  round-robin queue, or for balanced the fewest open conversations, then the first in
  that same queue, or for most available the lowest share ``(open + 1) / limit`` of
  its capacity limit (0 without one), then the fewest open, then that queue, or for
  weighted round robin (agents weigh 1 to 4, or 1 without a weights source) the earliest tag,
  then that queue, the model keeping its own tags and clock (all four move the chosen
  agent to its back);
* with skills routing drawn (:mod:`autoassign.skills`, ``relax_after`` off or 3000 s),
  a conversation labelled :data:`SKILL_LABEL` goes only to an agent holding ``de``
  until it has waited ``relax_after``, and a skip for lack of one stops neither the
  pass nor its team;
* each policy's routing settings (:mod:`autoassign.routing`) are drawn and changed
  (mostly unset; with the ports wired or not): skills off, its own relaxation (``0``:
  never) and sticky window (``0``: off) apply in its inbox only, and a setting whose
  port is not wired changes nothing;
* each pass fetched exactly the model's top conversations in priority order (after
  exclusions, up to the bulk limit) and assigned them in that order; a conversation
  skipped for lack of an eligible agent really had none, and no later team-less
  conversation of the same pass was assigned;
* per (inbox, agent), the auto-assignments in the window since the limit or window was
  last changed never exceed the limit, and the backend ledger's count lies between
  those and all the auto-assignments in the window;
* round robin: between agents that were surely eligible at every round-robin decision
  of an inbox since some point, the numbers of assignments since that point differ by
  at most one;
* a pass over an inbox whose gate is off assigns nothing and names the gate.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any, Protocol, TypeAlias

import attrs

try:
    from hypothesis import strategies as st
    from hypothesis.stateful import (
        Bundle,
        MultipleResults,
        RuleBasedStateMachine,
        initialize,
        invariant,
        multiple,
        rule,
    )
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "autoassign.testing.stateful needs hypothesis: install autoassign[testing]"
    ) from exc

from autoassign.adapters.memory import InMemoryWorld
from autoassign.decisions import GateFailure, SkipReason
from autoassign.events import AssigneeChanged, ConversationUpdated
from autoassign.model import (
    ASSIGNMENT_V2_FEATURE,
    ONLINE,
    WEIGHT_SCALE,
    Account,
    AccountId,
    AgentId,
    AssignmentOrder,
    AssignmentPolicy,
    CapacityPolicy,
    Conversation,
    ConversationId,
    ConversationPriority,
    ConversationStatus,
    ExclusionRules,
    Inbox,
    InboxId,
    Load,
    PolicyId,
    Team,
    TeamId,
    add_load,
    fits,
    id_sort_key,
    weight_units,
)
from autoassign.ports import (
    ConversationRepository,
    Directory,
    EventBus,
    InboxLease,
    Presence,
    RateLimitLedger,
    RotationStore,
)
from autoassign.results import Assignment, AssignmentResult, Skip
from autoassign.service import DEFAULT_MAX_PAGES
from autoassign.skills import InMemorySkillBook, SkillRouting
from autoassign.sticky import InMemoryContactHistory, StickyRouting
from autoassign.testing import FakeClock
from autoassign.weights import ROTATION_ROUND, InMemoryAgentWeights, turn_stride
from autoassign.wiring import Autoassign, build_autoassign

__all__ = [
    "Backendish",
    "DrainableJobQueue",
    "ReferenceModel",
    "assignment_machine",
]

ACCOUNT: AccountId = 1
INBOXES: tuple[InboxId, ...] = (10, "mail")
AGENTS: tuple[AgentId, ...] = (1, 2, 3, "d", "e")
OPEN_TEAM: TeamId = 7
CLOSED_TEAM: TeamId = "closed"
MISSING_TEAM: TeamId = 99
CAPACITY_POLICY: PolicyId = 500
POLICY_IDS: dict[InboxId, PolicyId] = {10: 100, "mail": "p-mail"}
SPAM = "spam"
SKILL_LABEL = "skill:de"
"""The label that requires the skill ``de`` when skills routing is drawn."""

_ConversationSpec: TypeAlias = tuple[
    InboxId, TeamId | None, frozenset[str], int, int, int | None, int | None, float
]
"""(inbox, team, labels, age in seconds, idle seconds, urgency, seconds until due,
weight) of a conversation to open."""

_CONVERSATION_SPECS: st.SearchStrategy[_ConversationSpec] = st.tuples(
    st.sampled_from(INBOXES),
    st.sampled_from([*([None] * 8), OPEN_TEAM, OPEN_TEAM, CLOSED_TEAM, MISSING_TEAM]),
    st.frozensets(st.sampled_from([SPAM, "Spam", "vip", SKILL_LABEL]), max_size=2),
    st.sampled_from([0, 0, 1, 59, 3599, 3600, 3601, 7200, 9000]),
    st.sampled_from([0, 0, 1, 60, 3000]),
    st.sampled_from([None, None, 0, 1, 3]),
    st.sampled_from([None, None, -60, 0, 600]),
    # binary fractions: the selectors' float shares then agree with exact fractions
    st.sampled_from([1, 1, 1, 1, 0.5, 0.25, 1.5, 2]),
)
_NO_DUE = datetime.max.replace(tzinfo=UTC)
"""The model's due time of a conversation without one."""
_ORDERS = st.sampled_from(
    [
        AssignmentOrder.ROUND_ROBIN,
        AssignmentOrder.ROUND_ROBIN,
        AssignmentOrder.BALANCED,
        AssignmentOrder.MOST_AVAILABLE,
        AssignmentOrder.WEIGHTED_ROUND_ROBIN,
    ]
)
_LIMITS = st.sampled_from([None, 1, 1, 2, 3])
_UNLIMITED = "unlimited"
"""A drawn capacity: the inbox is linked with no limit (rules only)."""
_CAPACITIES = st.sampled_from([None, None, _UNLIMITED, 1, 2, 3])
_TOTALS = st.sampled_from([None, None, None, 0, 1, 2, 4])
_MOSTLY_ON = st.sampled_from([True, True, True, False])
_ROUTING = st.fixed_dictionaries(
    {
        "sticky_window": st.sampled_from([None, None, None, 0, 300, 7200]),
        "skill_routing": st.sampled_from([None, None, None, True, False]),
        "skill_relax_after": st.sampled_from([None, None, None, 0, 60, 3000]),
    }
)
"""A policy's routing settings (:mod:`autoassign.routing`), mostly unset."""

_NO_ELIGIBLE_AGENT = frozenset(
    {
        SkipReason.NO_AGENT_ONLINE,
        SkipReason.NO_TEAM_MEMBER_ONLINE,
        SkipReason.ALL_RATE_LIMITED,
        SkipReason.ALL_AT_CAPACITY,
        SkipReason.NO_AGENT_SELECTED,
        SkipReason.NO_AGENT_WITH_SKILLS,
    }
)
_NOBODY_CAN_TAKE = frozenset(
    {
        SkipReason.TEAM_NOT_FOUND,
        SkipReason.TEAM_NOT_AUTO_ASSIGNABLE,
        SkipReason.NO_AGENT_ONLINE,
        SkipReason.NO_TEAM_MEMBER_ONLINE,
        SkipReason.ALL_RATE_LIMITED,
        SkipReason.ALL_AT_CAPACITY,
    }
)
"""Skips after which a pass takes nobody of the same team (or, without a team, nobody
at all) for the rest of the pass: later pages leave the team out, or are not read."""


class DrainableJobQueue(Protocol):
    """A :class:`~autoassign.ports.JobQueue` the machine can drain one job at a time
    (:class:`~autoassign.adapters.memory.InMemoryJobQueue` is one)."""

    def enqueue_assignment(self, inbox: InboxId) -> None: ...

    def pop(self) -> InboxId | None: ...


class Backendish(Protocol):
    """What :func:`assignment_machine` needs from a backend; an
    :class:`~autoassign.adapters.memory.InMemoryBackend` is one. ``world`` holds the
    host's data (the machine edits it); ``directory`` and ``conversations`` are the
    ports the engine reads it through (usually ``world`` itself)."""

    @property
    def world(self) -> InMemoryWorld: ...

    @property
    def directory(self) -> Directory: ...

    @property
    def conversations(self) -> ConversationRepository: ...

    @property
    def presence(self) -> Presence: ...

    @property
    def ledger(self) -> RateLimitLedger: ...

    @property
    def rotation(self) -> RotationStore: ...

    @property
    def lease(self) -> InboxLease: ...

    @property
    def events(self) -> EventBus: ...

    @property
    def jobs(self) -> DrainableJobQueue: ...

    def set_status(self, account: AccountId, agent: AgentId, status: str) -> object:
        """Set an agent's presence status (the host's write path)."""
        ...


class _TeeBus:
    """Forwards events to the backend's bus and keeps a copy for the checks."""

    def __init__(self, inner: EventBus) -> None:
        self.inner = inner
        self.events: list[object] = []

    def publish(self, event: object) -> None:
        self.events.append(event)
        self.inner.publish(event)


@attrs.define
class _LogEntry:
    seq: int
    at: datetime


@attrs.define
class ReferenceModel:
    """The reference: plain dicts of what the world should look like and what each
    agent may receive. Independent of the engine's decision code."""

    feature_on: bool = True
    inbox_enabled: dict[InboxId, bool] = attrs.field(factory=dict)
    linked: dict[InboxId, bool] = attrs.field(factory=dict)
    policies: dict[InboxId, AssignmentPolicy] = attrs.field(factory=dict)
    members: dict[InboxId, list[AgentId]] = attrs.field(factory=dict)
    status: dict[AgentId, str] = attrs.field(factory=dict)
    team_members: frozenset[AgentId] = frozenset()
    capacity_agents: frozenset[AgentId] = frozenset()
    capacity_limits: dict[InboxId, int | None] = attrs.field(factory=dict)
    total_limit: int | None = None
    """The capacity policy's limit across both inboxes (``None``: none); it applies
    in the inboxes the policy links."""
    sticky_window: int | None = None
    """Sticky agents' wired window in seconds (``None``: not wired); each policy's
    ``sticky_window`` may change or turn it off (:meth:`sticky_window_for`).
    Conversation ``n``'s contact is ``n % 3``."""
    excluded_labels: frozenset[str] = frozenset()
    exclude_older_than_hours: int | None = None
    skills_on: bool = False
    """Skills routing is wired: :data:`SKILL_LABEL` requires the skill ``de`` (where
    the inbox's policy does not turn it off)."""
    skilled: frozenset[AgentId] = frozenset()
    """The agents holding ``de``."""
    relax_after: int | None = None
    """The wired seconds of waiting after which the requirement is dropped (``None``:
    never); a policy's ``skill_relax_after`` replaces it (``0``: never)."""
    conversations: dict[ConversationId, Conversation] = attrs.field(factory=dict)
    log: dict[tuple[InboxId, AgentId, ConversationId], _LogEntry] = attrs.field(
        factory=dict
    )
    seq: int = 0
    rate_epoch: dict[InboxId, int] = attrs.field(factory=dict)
    """Log sequence number at the last change of an inbox's limit or window."""
    decisions: dict[InboxId, list[AgentId]] = attrs.field(factory=dict)
    """Round-robin decisions (assignees, in order) per inbox."""
    queues: dict[InboxId, list[AgentId]] = attrs.field(factory=dict)
    tags: dict[InboxId, dict[AgentId, int]] = attrs.field(factory=dict)
    """Weighted round robin's stored tags per inbox."""
    clocks: dict[InboxId, int] = attrs.field(factory=dict)
    agent_weights: dict[AgentId, int] = attrs.field(factory=dict)
    """Weighted round robin's agent weights (an agent absent has weight 1)."""
    """The round-robin queue of each inbox, front first."""
    streaks: dict[InboxId, dict[AgentId, int]] = attrs.field(factory=dict)
    """Per inbox: agent -> index of the first decision of its current streak of being
    surely eligible at every round-robin decision."""

    # -- gates and conversations ----------------------------------------------------------

    def gate(self, inbox: InboxId) -> GateFailure | None:
        if not self.feature_on:
            return GateFailure.FEATURE_DISABLED
        if not self.linked[inbox]:
            return GateFailure.NO_POLICY
        if not self.policies[inbox].enabled:
            return GateFailure.POLICY_DISABLED
        if not self.inbox_enabled[inbox]:
            return GateFailure.AUTO_ASSIGNMENT_DISABLED
        return None

    def excluded(self, conversation: Conversation, now: datetime) -> bool:
        if conversation.inbox not in self.capacity_limits:
            return False
        if self.excluded_labels & conversation.labels:
            return True
        hours = self.exclude_older_than_hours
        return hours is not None and now - conversation.created_at > timedelta(
            hours=hours
        )

    def priority_key(
        self, conversation: Conversation, priority: ConversationPriority
    ) -> tuple[Any, ...]:
        c = conversation
        first: tuple[Any, ...] = ()
        # urgency descending, none last; due ascending, none last
        urgency = (c.urgency is None, -(c.urgency or 0))
        if priority is ConversationPriority.LONGEST_WAITING:
            first = (c.last_activity_at,)
        elif priority is ConversationPriority.HIGHEST_URGENCY:
            first = urgency
        elif priority is ConversationPriority.EARLIEST_DUE:
            first = (c.due_at is None, c.due_at or _NO_DUE, *urgency)
        return (*first, c.created_at, id_sort_key(c.id))

    def candidates(self, inbox: InboxId, now: datetime) -> list[Conversation]:
        """The inbox's assignable conversations, in priority order."""
        priority = self.policies[inbox].conversation_priority
        found = [
            c
            for c in self.conversations.values()
            if c.inbox == inbox
            and c.status is ConversationStatus.OPEN
            and c.assignee is None
            and not self.excluded(c, now)
        ]
        found.sort(key=lambda c: self.priority_key(c, priority))
        return found

    def open_count(self, inbox: InboxId, agent: AgentId) -> Load:
        """The sum of the weights of the agent's open conversations in ``inbox`` (their
        count when every weight is 1)."""
        load: Load = 0
        for c in self.conversations.values():
            if (
                c.inbox == inbox
                and c.assignee == agent
                and c.status is ConversationStatus.OPEN
            ):
                load = add_load(load, c.weight)
        return load

    def previous_agent(
        self, conversation: Conversation, now: datetime
    ) -> AgentId | None:
        """Sticky agents: the assignee of the newest other conversation of the same
        contact created within the window of the conversation's inbox (any status),
        or ``None``."""
        window = self.sticky_window_for(conversation.inbox)
        if window is None or not isinstance(conversation.id, int):
            return None
        since = now - timedelta(seconds=window)
        earlier = [
            c
            for c in self.conversations.values()
            if isinstance(c.id, int)
            and c.id != conversation.id
            and c.id % 3 == conversation.id % 3
            and c.assignee is not None
            and c.created_at >= since
        ]
        if not earlier:
            return None
        return max(earlier, key=lambda c: (c.created_at, id_sort_key(c.id))).assignee

    def sticky_window_for(self, inbox: InboxId) -> int | None:
        """The sticky window in force in ``inbox``: the policy's ``sticky_window``
        (``0``: off) or, unset, the wired one; ``None`` (off) when sticky agents are
        not wired, whatever the policy says."""
        setting = self.policies[inbox].sticky_window
        if self.sticky_window is None or setting == 0:
            return None
        return self.sticky_window if setting is None else setting

    def open_total(self, agent: AgentId) -> Load:
        """The agent's open conversations (their weights) in every inbox (all are the
        account's)."""
        load: Load = 0
        for c in self.conversations.values():
            if c.assignee == agent and c.status is ConversationStatus.OPEN:
                load = add_load(load, c.weight)
        return load

    def total_applies(self, inbox: InboxId, agent: AgentId) -> bool:
        return (
            self.total_limit is not None
            and agent in self.capacity_agents
            and inbox in self.capacity_limits
        )

    def at_total(self, inbox: InboxId, agent: AgentId, weight: Load = 1) -> bool:
        """Whether the total limit removes ``agent`` in ``inbox`` for a conversation
        of ``weight``."""
        return (
            self.total_limit is not None
            and self.total_applies(inbox, agent)
            and not fits(self.open_total(agent), weight, self.total_limit)
        )

    def at_capacity(self, conversation: Conversation, agent: AgentId) -> bool:
        """Whether capacity (the inbox's limit or the total) removes ``agent`` for
        ``conversation``: its weight does not fit beside the agent's."""
        inbox = conversation.inbox
        capacity = self.capacity_limit(inbox, agent)
        if capacity is not None and not fits(
            self.open_count(inbox, agent), conversation.weight, capacity
        ):
            return True
        return self.at_total(inbox, agent, conversation.weight)

    def has_room(self, conversation: Conversation, agent: AgentId) -> bool:
        """Removed by capacity for ``conversation`` while under every limit: a lighter
        conversation may fit (the pass's verdict then holds for this one alone)."""
        if not self.at_capacity(conversation, agent):
            return False
        inbox = conversation.inbox
        capacity = self.capacity_limit(inbox, agent)
        under = capacity is None or weight_units(self.open_count(inbox, agent)) < (
            capacity * WEIGHT_SCALE
        )
        if self.total_limit is not None and self.total_applies(inbox, agent):
            under = under and weight_units(self.open_total(agent)) < (
                self.total_limit * WEIGHT_SCALE
            )
        return under

    def capacity_limit(self, inbox: InboxId, agent: AgentId) -> int | None:
        if agent not in self.capacity_agents:
            return None
        return self.capacity_limits.get(inbox)

    # -- fair distribution ----------------------------------------------------------------

    def recent(self, inbox: InboxId, agent: AgentId, now: datetime) -> tuple[int, int]:
        """``(since, total)``: the agent's logged auto-assignments in the inbox within
        the current window, counting only those since the last limit/window change,
        and all of them. The ledger's own count lies between the two (a ledger may
        forget entries that fell out of an earlier, shorter window)."""
        window = timedelta(seconds=self.policies[inbox].fair_distribution_window)
        epoch = self.rate_epoch.get(inbox, 0)
        since = total = 0
        for (log_inbox, log_agent, _), entry in self.log.items():
            if log_inbox == inbox and log_agent == agent and now - entry.at < window:
                total += 1
                if entry.seq >= epoch:
                    since += 1
        return since, total

    def record(
        self, inbox: InboxId, agent: AgentId, conversation: ConversationId, at: datetime
    ) -> None:
        self.seq += 1
        self.log[(inbox, agent, conversation)] = _LogEntry(seq=self.seq, at=at)

    # -- eligibility ----------------------------------------------------------------------

    def expected_team_skip(self, conversation: Conversation) -> SkipReason | None:
        if conversation.team is None or conversation.team == OPEN_TEAM:
            return None
        if conversation.team == CLOSED_TEAM:
            return SkipReason.TEAM_NOT_AUTO_ASSIGNABLE
        return SkipReason.TEAM_NOT_FOUND

    def requires_skill(self, conversation: Conversation, now: datetime) -> bool:
        """Whether ``conversation`` requires ``de`` now (not yet relaxed): skills
        routing is wired and not off for the inbox's policy, and the wait is under
        the policy's relaxation (or, unset, the wired one; ``0``: never)."""
        policy = self.policies[conversation.inbox]
        if (
            not self.skills_on
            or policy.skill_routing is False
            or SKILL_LABEL not in conversation.labels
        ):
            return False
        relax = self.relax_after
        if policy.skill_relax_after is not None:
            relax = policy.skill_relax_after or None
        since = max(conversation.created_at, conversation.last_activity_at)
        return relax is None or (now - since) < timedelta(seconds=relax)

    def eligible(
        self, conversation: Conversation, now: datetime
    ) -> tuple[set[AgentId], set[AgentId]]:
        """``(maybe, surely)``: the agents the engine may choose for ``conversation``
        now, and those it must consider eligible."""
        maybe, surely, _room_maybe, _room_surely = self._judge(conversation, now)
        return maybe, surely

    def room(
        self, conversation: Conversation, now: datetime
    ) -> tuple[set[AgentId], set[AgentId]]:
        """``(maybe, surely)``: the agents that capacity may (or must) remove from
        ``conversation`` with room left for a lighter one (weighted capacity)."""
        _maybe, _surely, room_maybe, room_surely = self._judge(conversation, now)
        return room_maybe, room_surely

    def _judge(
        self, conversation: Conversation, now: datetime
    ) -> tuple[set[AgentId], set[AgentId], set[AgentId], set[AgentId]]:
        """:meth:`eligible`'s two sets, then :meth:`room`'s: the filter chain in the
        engine's order (rate limit before capacity)."""
        inbox = conversation.inbox
        maybe: set[AgentId] = set()
        surely: set[AgentId] = set()
        room_maybe: set[AgentId] = set()
        room_surely: set[AgentId] = set()
        if self.expected_team_skip(conversation) is not None:
            return maybe, surely, room_maybe, room_surely
        limit = self.policies[inbox].fair_distribution_limit
        needs_skill = self.requires_skill(conversation, now)
        for agent in self.members[inbox]:
            if self.status.get(agent) != ONLINE:
                continue
            if conversation.team == OPEN_TEAM and agent not in self.team_members:
                continue
            if needs_skill and agent not in self.skilled:
                continue
            passes_maybe = passes_surely = True
            if limit:
                since, total = self.recent(inbox, agent, now)
                passes_maybe, passes_surely = since < limit, total < limit
            if self.at_capacity(conversation, agent):
                if self.has_room(conversation, agent):
                    if passes_maybe:
                        room_maybe.add(agent)
                    if passes_surely:
                        room_surely.add(agent)
                continue
            if passes_maybe:
                maybe.add(agent)
            if passes_surely:
                surely.add(agent)
        return maybe, surely, room_maybe, room_surely

    def queue(self, inbox: InboxId) -> list[AgentId]:
        """The inbox's queue reconciled with its members, as the rotation's ``order``
        sees it (reading stores nothing; only a move does)."""
        members = self.members[inbox]
        queue: list[AgentId] = []
        for agent in [*self.queues.get(inbox, []), *members]:
            if agent in members and agent not in queue:
                queue.append(agent)
        return queue

    def expected_agent(
        self, conversation: Conversation, surely: set[AgentId], now: datetime
    ) -> AgentId | None:
        """The agent the policy's selector must choose, when the model can tell."""
        inbox = conversation.inbox
        if not surely:
            return None
        queue = self.queue(inbox)
        order = self.policies[inbox].assignment_order
        if order is AssignmentOrder.ROUND_ROBIN:
            return next(agent for agent in queue if agent in surely)
        place = {agent: at for at, agent in enumerate(queue)}
        if order is AssignmentOrder.WEIGHTED_ROUND_ROBIN:
            tags = self.weighted_tags(inbox, queue)
            return min(surely, key=lambda agent: (tags[agent], place[agent]))
        if self.policies[inbox].assignment_order is AssignmentOrder.MOST_AVAILABLE:
            return min(
                surely, key=lambda agent: (*self.share(inbox, agent), place[agent])
            )
        return min(
            surely, key=lambda agent: (self.open_count(inbox, agent), place[agent])
        )

    def share(self, inbox: InboxId, agent: AgentId) -> tuple[Fraction, Load]:
        """Most available's key: the share of the agent's limit it would hold with one
        more conversation (0 without a limit), then its open count (exact fractions:
        the selector's floats must agree)."""
        held = self.open_count(inbox, agent)
        limit = self.capacity_limit(inbox, agent)
        if limit is None:
            return Fraction(0), held
        return (Fraction(held) + 1) / limit, held

    def weighted_tags(self, inbox: InboxId, queue: list[AgentId]) -> dict[AgentId, int]:
        """Every member's tag (stored, or: a member without one joins a round behind
        the clock; with none stored, the members spread over a round in queue
        order)."""
        clock = self.clocks.get(inbox, 0)
        stored = self.tags.get(inbox, {})
        known = {agent: stored[agent] for agent in queue if agent in stored}
        if not known:
            return {
                agent: clock + at * ROTATION_ROUND // len(queue)
                for at, agent in enumerate(queue)
            }
        return {agent: known.get(agent, clock + ROTATION_ROUND) for agent in queue}

    def rotate(self, inbox: InboxId, agent: AgentId) -> None:
        queue = self.queue(inbox)
        if (
            self.policies[inbox].assignment_order
            is AssignmentOrder.WEIGHTED_ROUND_ROBIN
        ):
            # A turn starts at the later of the clock and the agent's tag and moves
            # the tag one stride on (a round for weight 1).
            tags = self.weighted_tags(inbox, queue)
            at = max(self.clocks.get(inbox, 0), tags[agent])
            tags[agent] = at + turn_stride(self.agent_weights.get(agent, 1))
            self.clocks[inbox] = at
            self.tags[inbox] = tags
        queue.remove(agent)
        queue.append(agent)
        self.queues[inbox] = queue

    def forget_streak(self, agent: AgentId, inbox: InboxId | None = None) -> None:
        for key, streaks in self.streaks.items():
            if inbox is None or key == inbox:
                streaks.pop(agent, None)

    def round_robin_decision(
        self, inbox: InboxId, agent: AgentId, surely: set[AgentId]
    ) -> None:
        """Record a round-robin assignment and check the spread among agents that have
        been surely eligible at every decision since their streak began."""
        decisions = self.decisions.setdefault(inbox, [])
        streaks = self.streaks.setdefault(inbox, {})
        index = len(decisions)
        for candidate in list(streaks):
            if candidate not in surely:
                del streaks[candidate]
        for candidate in surely:
            streaks.setdefault(candidate, index)
        decisions.append(agent)
        ranked = sorted(streaks.items(), key=lambda item: id_sort_key(item[0]))
        for position, (first, first_start) in enumerate(ranked):
            for second, second_start in ranked[position + 1 :]:
                start = max(first_start, second_start)
                window = decisions[start:]
                spread = abs(window.count(first) - window.count(second))
                assert spread <= 1, (
                    f"round robin in inbox {inbox!r}: {first!r} and {second!r} were "
                    f"both eligible for decisions {start}..{index} ({window!r}) but "
                    f"their counts differ by {spread}"
                )


def assignment_machine(
    make_backend: Callable[[FakeClock], Backendish],
    *,
    urgency: bool = True,
    due_at: bool = True,
    weights: bool = True,
    orders: Sequence[AssignmentOrder] | None = None,
) -> type[RuleBasedStateMachine]:
    """A state machine class that runs the engine over ``make_backend(clock)`` (called
    once per example with a fresh :class:`~autoassign.testing.FakeClock`) and checks it
    against :class:`ReferenceModel` after every step. Run it with
    ``assignment_machine(factory).TestCase`` (a :class:`unittest.TestCase`), or
    ``hypothesis.stateful.run_state_machine_as_test``. ``urgency`` and ``due_at``:
    whether the backend's conversations store those fields (``False``: the machine
    opens conversations without them); ``weights`` likewise for
    :attr:`~autoassign.model.Conversation.weight` (``False``: every one weighs 1).
    ``orders``: the assignment orders the policies are drawn from (default: every
    order, round robin twice as often), to aim a run at one selector."""
    drawn_orders = _ORDERS if orders is None else st.sampled_from(list(orders))

    class AssignmentMachine(RuleBasedStateMachine):
        conversation_ids = Bundle("conversation_ids")

        def __init__(self) -> None:
            super().__init__()
            self.clock = FakeClock()
            self.backend = make_backend(self.clock)
            self.model = ReferenceModel()
            self.bus = _TeeBus(self.backend.events)
            self.checked_events = 0
            self.seen_ids: set[str] = set()
            self.next_conversation = 1
            self.bulk_limit = 100
            self.app: Autoassign | None = None
            self.contacts: InMemoryContactHistory | None = None

        # -- set-up -------------------------------------------------------------------------

        @initialize(
            target=conversation_ids,
            backlog=st.lists(_CONVERSATION_SPECS, max_size=8),
            bulk_limit=st.sampled_from([1, 3, 100, 100]),
            usage_batch=st.sampled_from([1, 2, 128]),
            team_members=st.frozensets(st.sampled_from(AGENTS)),
            capacity_agents=st.frozensets(st.sampled_from(AGENTS)),
            exclude_hours=st.sampled_from([None, 1, 2]),
            members=st.lists(st.sampled_from(AGENTS), unique=True, min_size=1),
            online=st.frozensets(st.sampled_from(AGENTS), min_size=2),
            orders=st.tuples(drawn_orders, drawn_orders),
            limits=st.tuples(_LIMITS, _LIMITS),
            capacities=st.tuples(_CAPACITIES, _CAPACITIES),
            total=_TOTALS,
            sticky=st.sampled_from([None, None, None, 600, 7200]),
            skills=st.sampled_from([None, None, 0, 3000]),
            skilled=st.frozensets(st.sampled_from(AGENTS)),
            agent_weights=st.none()
            | st.dictionaries(st.sampled_from(AGENTS), st.integers(2, 4), min_size=1),
            policy_routing=st.tuples(_ROUTING, _ROUTING),
        )
        def build_world(
            self,
            *,
            backlog: list[_ConversationSpec],
            bulk_limit: int,
            usage_batch: int,
            team_members: frozenset[AgentId],
            capacity_agents: frozenset[AgentId],
            exclude_hours: int | None,
            members: list[AgentId],
            online: frozenset[AgentId],
            orders: tuple[AssignmentOrder, AssignmentOrder],
            limits: tuple[int | None, int | None],
            capacities: tuple[int | str | None, int | str | None],
            total: int | None = None,
            sticky: int | None = None,
            skills: int | None = None,
            skilled: frozenset[AgentId] = frozenset(),
            agent_weights: dict[AgentId, int] | None = None,
            policy_routing: tuple[dict[str, Any], dict[str, Any]] = ({}, {}),
        ) -> MultipleResults[ConversationId]:
            world = self.backend.world
            model = self.model
            self.bulk_limit = bulk_limit
            world.put_account(Account(id=ACCOUNT, features={ASSIGNMENT_V2_FEATURE}))
            for inbox, order, limit, capacity, settings in zip(
                INBOXES, orders, limits, capacities, policy_routing, strict=True
            ):
                world.put_inbox(Inbox(id=inbox, account=ACCOUNT), members)
                policy = AssignmentPolicy(
                    id=POLICY_IDS[inbox],
                    account=ACCOUNT,
                    name=f"Policy {inbox}",
                    assignment_order=order,
                    fair_distribution_limit=limit,
                    fair_distribution_window=60,
                    **settings,
                )
                if capacity is not None:
                    model.capacity_limits[inbox] = (
                        None if capacity == _UNLIMITED else int(capacity)
                    )
                world.put_policy(policy)
                world.link_policy(inbox, policy.id)
                model.inbox_enabled[inbox] = True
                model.linked[inbox] = True
                model.policies[inbox] = policy
                model.members[inbox] = list(members)
            world.put_team(Team(id=OPEN_TEAM, account=ACCOUNT, members=team_members))
            world.put_team(
                Team(id=CLOSED_TEAM, account=ACCOUNT, allow_auto_assign=False)
            )
            model.team_members = team_members
            model.capacity_agents = capacity_agents
            model.total_limit = total
            model.excluded_labels = frozenset({SPAM})
            model.exclude_older_than_hours = exclude_hours
            self._put_capacity()
            for agent in AGENTS:
                status = ONLINE if agent in online else "offline"
                self.backend.set_status(ACCOUNT, agent, status)
                model.status[agent] = status
            sticking: StickyRouting | None = None
            if sticky is not None:
                self.contacts = InMemoryContactHistory(self.backend.conversations.get)
                model.sticky_window = sticky
                sticking = StickyRouting(
                    history=self.contacts, window=timedelta(seconds=sticky)
                )
            routing: SkillRouting | None = None
            if skills is not None:
                book = InMemorySkillBook()
                book.set_many(ACCOUNT, {agent: {"de": 1} for agent in skilled})
                model.skills_on, model.skilled = True, skilled
                model.relax_after = skills or None
                routing = SkillRouting(
                    book=book,
                    relax_after=timedelta(seconds=skills) if skills else None,
                )
            self.app = build_autoassign(
                directory=self.backend.directory,
                conversations=self.backend.conversations,
                presence=self.backend.presence,
                ledger=self.backend.ledger,
                rotation=self.backend.rotation,
                lease=self.backend.lease,
                events=self.bus,
                jobs=self.backend.jobs,
                clock=self.clock,
                bulk_limit=bulk_limit,
                environ={},
                legacy_fallback=False,
                strict=True,
                reservations=getattr(self.backend, "reservations", None),
                outbox=getattr(self.backend, "outbox", None),
                skills=routing,
                sticky=sticking,
                agent_weights=self._weights(agent_weights),
            )
            # Small batches make the pass read the ledger lazily in several steps.
            self.app.service.usage_batch = usage_batch
            return multiple(*(self._open(spec) for spec in backlog))

        def _weights(
            self, weights: dict[AgentId, int] | None
        ) -> InMemoryAgentWeights | None:
            """Weighted round robin's weights source (``None``: none wired, every
            agent weighs 1)."""
            if weights is None:
                return None
            source = InMemoryAgentWeights()
            for agent, weight in weights.items():
                source.set_weight(ACCOUNT, agent, weight)
            self.model.agent_weights = dict(weights)
            return source

        def _put_capacity(self) -> None:
            model = self.model
            self.backend.world.put_capacity_policy(
                CapacityPolicy(
                    id=CAPACITY_POLICY,
                    account=ACCOUNT,
                    inbox_limits=dict(model.capacity_limits),
                    agents=model.capacity_agents,
                    total_limit=model.total_limit,
                    exclusion_rules=ExclusionRules(
                        excluded_labels=model.excluded_labels,
                        exclude_older_than_hours=model.exclude_older_than_hours,
                    ),
                )
            )

        @property
        def autoassign(self) -> Autoassign:
            assert self.app is not None
            return self.app

        # -- membership and presence ---------------------------------------------------------

        @rule(inbox=st.sampled_from(INBOXES), agent=st.sampled_from(AGENTS))
        def add_member(self, inbox: InboxId, agent: AgentId) -> None:
            self.backend.world.add_member(inbox, agent)
            if agent not in self.model.members[inbox]:
                self.model.members[inbox].append(agent)

        @rule(inbox=st.sampled_from(INBOXES), agent=st.sampled_from(AGENTS))
        def remove_member(self, inbox: InboxId, agent: AgentId) -> None:
            self.backend.world.remove_member(inbox, agent)
            if agent in self.model.members[inbox]:
                self.model.members[inbox].remove(agent)
            self.model.forget_streak(agent, inbox)

        @rule(
            agent=st.sampled_from(AGENTS),
            status=st.sampled_from([ONLINE, "busy", "offline"]),
        )
        def set_presence(self, agent: AgentId, status: str) -> None:
            before = self.model.status.get(agent)
            self.backend.set_status(ACCOUNT, agent, status)
            self.model.status[agent] = status
            if status != ONLINE:
                self.model.forget_streak(agent)
            self.autoassign.triggers.on_agent_status_changed(
                ACCOUNT, agent, before, status
            )

        # -- conversations -------------------------------------------------------------------

        @rule(
            target=conversation_ids,
            specs=st.lists(_CONVERSATION_SPECS, min_size=1, max_size=3),
        )
        def open_conversations(
            self, specs: list[_ConversationSpec]
        ) -> MultipleResults[ConversationId]:
            return multiple(*(self._open(spec) for spec in specs))

        def _open(self, spec: _ConversationSpec) -> ConversationId:
            inbox, team, labels, age, idle, level, due_in, weight = spec
            now = self.clock.now()
            created = now - timedelta(seconds=age)
            activity = max(created, now - timedelta(seconds=idle))
            conversation = Conversation(
                id=self.next_conversation,
                inbox=inbox,
                account=ACCOUNT,
                team=team,
                labels=labels,
                created_at=created,
                last_activity_at=activity,
                urgency=level if urgency else None,
                due_at=(
                    None
                    if due_in is None or not due_at
                    else now + timedelta(seconds=due_in)
                ),
                weight=weight if weights else 1,
            )
            self.next_conversation += 1
            self.backend.world.put_conversation(conversation)
            self.model.conversations[conversation.id] = conversation
            if self.contacts is not None:
                self.contacts.set_contact(ACCOUNT, conversation.id, conversation.id % 3)
            self.autoassign.triggers.on_conversation_saved(None, conversation)
            return conversation.id

        @rule(
            conversation=conversation_ids,
            status=st.sampled_from(
                [
                    ConversationStatus.RESOLVED,
                    ConversationStatus.SNOOZED,
                    ConversationStatus.PENDING,
                    ConversationStatus.OPEN,
                ]
            ),
        )
        def change_status(
            self, conversation: ConversationId, status: ConversationStatus
        ) -> None:
            self._save(conversation, status=status)

        @rule(
            conversation=conversation_ids,
            agent=st.sampled_from((None, *AGENTS)),
        )
        def assign_manually(
            self, conversation: ConversationId, agent: AgentId | None
        ) -> None:
            self._save(conversation, assignee=agent)

        def _save(self, conversation: ConversationId, **changes: object) -> None:
            before, after = self.backend.world.update_conversation(
                conversation, **changes
            )
            self.model.conversations[conversation] = after
            self.autoassign.triggers.on_conversation_saved(before, after)

        # -- configuration -------------------------------------------------------------------

        @rule(
            inbox=st.sampled_from(INBOXES),
            limit=st.sampled_from([None, 0, 1, 2, 3]),
            window=st.sampled_from([30, 60, 300]),
            order=_ORDERS,
            priority=st.sampled_from(ConversationPriority),
            enabled=st.sampled_from([True, True, True, False]),
            routing=_ROUTING,
        )
        def change_policy(
            self,
            *,
            inbox: InboxId,
            limit: int | None,
            window: int,
            order: AssignmentOrder,
            priority: ConversationPriority,
            enabled: bool,
            routing: dict[str, Any],
        ) -> None:
            old = self.model.policies[inbox]
            policy = attrs.evolve(
                old,
                fair_distribution_limit=limit,
                fair_distribution_window=window,
                assignment_order=order,
                conversation_priority=priority,
                enabled=enabled,
                **routing,
            )
            self.backend.world.put_policy(policy)
            self.model.policies[inbox] = policy
            if (old.fair_distribution_limit, old.fair_distribution_window) != (
                limit,
                window,
            ):
                self.model.rate_epoch[inbox] = self.model.seq + 1

        @rule(
            inbox=st.sampled_from(INBOXES),
            limit=st.sampled_from([None, _UNLIMITED, 0, 1, 2]),
        )
        def change_capacity(self, inbox: InboxId, limit: int | str | None) -> None:
            if limit is None:
                self.model.capacity_limits.pop(inbox, None)
            elif limit == _UNLIMITED:  # linked: its rules apply, nobody capped
                self.model.capacity_limits[inbox] = None
            else:
                self.model.capacity_limits[inbox] = int(limit)
            self._put_capacity()

        @rule(total=_TOTALS)
        def change_total_limit(self, total: int | None) -> None:
            self.model.total_limit = total
            self._put_capacity()

        @rule(on=_MOSTLY_ON)
        def switch_feature(self, on: bool) -> None:
            features = {ASSIGNMENT_V2_FEATURE} if on else set()
            self.backend.world.put_account(Account(id=ACCOUNT, features=features))
            self.model.feature_on = on

        @rule(inbox=st.sampled_from(INBOXES), on=_MOSTLY_ON)
        def switch_inbox(self, inbox: InboxId, on: bool) -> None:
            self.backend.world.put_inbox(
                Inbox(id=inbox, account=ACCOUNT, enable_auto_assignment=on)
            )
            self.model.inbox_enabled[inbox] = on

        @rule(inbox=st.sampled_from(INBOXES), on=_MOSTLY_ON)
        def switch_link(self, inbox: InboxId, on: bool) -> None:
            if on:
                self.backend.world.link_policy(inbox, POLICY_IDS[inbox])
            else:
                self.backend.world.unlink_policy(inbox)
            self.model.linked[inbox] = on

        # -- time and passes -----------------------------------------------------------------

        @rule(seconds=st.sampled_from([0, 1, 29, 30, 31, 59, 60, 61, 300, 3600, 7200]))
        def advance_clock(self, seconds: int) -> None:
            self.clock.advance(seconds)

        @rule(
            inbox=st.sampled_from(INBOXES),
            oldest=st.booleans(),
            offset=st.sampled_from([-1, 0, 0, 1]),
        )
        def advance_to_window_edge(
            self, inbox: InboxId, oldest: bool, offset: int
        ) -> None:
            """Move to where one of the inbox's auto-assignments (the oldest still in
            the window, or the latest) leaves the window, give or take a second; make
            sure a conversation waits; run a pass: the fair-distribution boundary."""
            now = self.clock.now()
            window = timedelta(
                seconds=self.model.policies[inbox].fair_distribution_window
            )
            times = sorted(
                entry.at
                for (log_inbox, _, _), entry in self.model.log.items()
                if log_inbox == inbox
            )
            if not times:
                return
            live = [at for at in times if now - at < window]
            base = live[0] if oldest and live else times[-1]
            edge = base + window + timedelta(seconds=offset)
            if edge > self.clock.now():
                self.clock.set(edge)
            if not self.model.candidates(inbox, self.clock.now()):
                self._open((inbox, None, frozenset(), 0, 0, None, None, 1))
            self.run_pass(inbox)

        @rule(inbox=st.sampled_from(INBOXES))
        def run_pass(self, inbox: InboxId) -> None:
            result = self.autoassign.service.perform_bulk_assignment(inbox)
            self._check_result(result)

        @rule()
        def drain_jobs(self) -> None:
            self._drain()

        @rule()
        def periodic_cycle(self) -> None:
            outcome = self.autoassign.periodic.run()
            due = {inbox for inbox in INBOXES if self.model.gate(inbox) is None}
            assert set(outcome.enqueued) | set(outcome.already_due) == due
            self._drain()

        def _drain(self) -> None:
            for _ in range(50):
                inbox = self.backend.jobs.pop()
                if inbox is None:
                    return
                outcome = self.autoassign.job.run(inbox)
                assert outcome.error is None
                assert not outcome.handed_off, "nobody else holds the lease"
                for result in outcome.results:
                    self._check_result(result)
                assert self.checked_events == len(self.bus.events), "unchecked events"
            raise AssertionError("the job queue did not drain in 50 jobs")

        # -- checking one pass ---------------------------------------------------------------

        def _check_result(self, result: AssignmentResult) -> None:
            model = self.model
            inbox = result.inbox
            now = self.clock.now()
            gate = model.gate(inbox)
            assert result.gate is gate, f"gate: engine {result.gate}, model {gate}"
            if gate is not None:
                assert result.assigned_count == 0
                assert result.fetched == 0
                self._check_events(result)
                return
            assert not result.degraded, result.degraded
            candidates = model.candidates(inbox, now)
            assigned = {a.conversation: a for a in result.assignments}
            skipped = {s.conversation: s for s in result.skips}
            assert len(assigned) == len(result.assignments)
            assert len(skipped) == len(result.skips)
            assert not set(assigned) & set(skipped)
            if not any(model.status.get(a) == ONLINE for a in model.members[inbox]):
                # nobody online: the pass stops before looking at any conversation
                expected = candidates[: self.bulk_limit]
                assert result.fetched == len(expected)
                assert set(skipped) == {c.id for c in expected}
                assert not result.assignments
                assert {s.reason for s in result.skips} <= {SkipReason.NO_AGENT_ONLINE}
                self._check_events(result)
                return
            read, worked, unsure = self._check_pages(
                result, candidates, assigned, skipped, now
            )
            if unsure:
                return  # the model cannot tell where the pass stopped (see below)
            assert result.fetched == len(read), (
                f"fetched {result.fetched}, the model's pages hold {len(read)} of "
                f"{len(candidates)} candidates"
            )
            assert set(assigned) | set(skipped) == {c.id for c in worked}, (
                "the pass did not work on the model's top conversations"
            )
            order = [c.id for c in worked]
            assert [a.conversation for a in result.assignments] == [
                c for c in order if c in assigned
            ], "assignments out of priority order"
            self._check_events(result)

        def _check_pages(
            self,
            result: AssignmentResult,
            candidates: Sequence[Conversation],
            assigned: Mapping[ConversationId, Assignment],
            skipped: Mapping[ConversationId, Skip],
            now: datetime,
        ) -> tuple[list[Conversation], list[Conversation], bool]:
            """Check the conversations of the pages the pass should have read, in
            order, against the model; returns those read and those walked (a pass
            stops walking once it made ``bulk_limit`` assignments, mid-page). The page
            after a full one is read
            while the pass assigned less than a page, no team-less conversation found
            nobody eligible, and fewer than ``max_pages`` pages were read; it leaves out
            the teams found blocked (nobody could take a conversation of theirs).

            A skip by capacity with an agent left room for a lighter conversation
            (weighted capacity) holds for that conversation alone. When the model
            cannot tell whether such an agent is past the rate limit (the ledger's
            count lies between two of the model's), the rest of the pass is checked
            conversation by conversation and the third value is true: where the pass
            stopped is then not checked."""
            model = self.model
            priority = model.policies[result.inbox].conversation_priority
            read: list[Conversation] = []
            worked: list[Conversation] = []
            blocked: set[TeamId] = set()
            starved = False  # a team-less conversation found no eligible agent
            saturated = False  # ... because of the agents: no further page
            saturated_by: SkipReason | None = None
            unsure = False  # whether a skip blocked the rest is unknown
            done = 0  # assignments so far
            after: Conversation | None = None
            for pages in itertools.count(1):
                page = [
                    c
                    for c in candidates
                    if (c.team is None or c.team not in blocked)
                    and (
                        after is None
                        or model.priority_key(c, priority)
                        > model.priority_key(after, priority)
                    )
                ][: self.bulk_limit]
                read.extend(page)
                # sticky agents: read once per page, as the pass reads them
                previous = {c.id: model.previous_agent(c, now) for c in page}
                for conversation in page:
                    if done >= self.bulk_limit:
                        # the pass made its bulk_limit assignments: the rest of the
                        # page is read but not walked
                        assert conversation.id not in skipped, conversation
                        assert conversation.id not in assigned, conversation
                        continue
                    worked.append(conversation)
                    if unsure:
                        if conversation.id in skipped:
                            # skipped unwalked, or found nobody: either way the
                            # conversation has nobody surely eligible
                            self._check_skip(
                                conversation, skipped[conversation.id].reason, now
                            )
                        elif conversation.id in assigned:
                            self._check_assignment(
                                conversation, assigned[conversation.id], now, False
                            )
                        continue
                    if saturated:
                        # nobody could take a team-less one: the rest of the page is
                        # skipped with that reason, unwalked
                        assert conversation.id in skipped, conversation
                        assert skipped[conversation.id].reason is saturated_by
                        continue
                    if conversation.id in skipped:
                        reason = skipped[conversation.id].reason
                        self._check_skip(conversation, reason, now)
                        room_maybe, room_surely = model.room(conversation, now)
                        if model.requires_skill(
                            conversation, now
                        ) and not model.expected_team_skip(conversation):
                            pass  # a verdict for this conversation alone
                        elif reason in _NO_ELIGIBLE_AGENT and room_surely:
                            pass  # weight-bound: a lighter one may still fit
                        elif reason in _NO_ELIGIBLE_AGENT and room_maybe:
                            unsure = True
                        elif conversation.team is not None:
                            if reason in _NOBODY_CAN_TAKE:
                                blocked.add(conversation.team)
                        elif reason in _NO_ELIGIBLE_AGENT:
                            starved = True
                            if reason in _NOBODY_CAN_TAKE:
                                saturated, saturated_by = True, reason
                    else:
                        self._check_assignment(
                            conversation,
                            assigned[conversation.id],
                            now,
                            starved,
                            previous.get(conversation.id),
                        )
                        done += 1
                if not (
                    len(page) >= self.bulk_limit
                    and done < self.bulk_limit
                    and pages < DEFAULT_MAX_PAGES
                    and not saturated
                ):
                    return read, worked, unsure
                if unsure:
                    return read, worked, unsure
                after = page[-1]
            raise AssertionError("unreachable")

        def _check_skip(
            self, conversation: Conversation, reason: SkipReason, now: datetime
        ) -> None:
            model = self.model
            team_skip = model.expected_team_skip(conversation)
            if team_skip is not None:
                assert reason is team_skip, (conversation, reason)
                return
            assert reason in _NO_ELIGIBLE_AGENT, (conversation, reason)
            _maybe, surely = model.eligible(conversation, now)
            assert not surely, (
                f"conversation {conversation.id} skipped ({reason.value}) "
                f"although {sorted(surely, key=id_sort_key)} were eligible"
            )

        def _check_assignment(
            self,
            conversation: Conversation,
            assignment: Assignment,
            now: datetime,
            starved: bool,
            previous: AgentId | None = None,
        ) -> None:
            model = self.model
            inbox = conversation.inbox
            policy = model.policies[inbox]
            maybe, surely = model.eligible(conversation, now)
            agent = assignment.agent
            assert assignment.occurred_at == now
            assert agent in maybe, (
                f"conversation {conversation.id} went to {agent!r}, who was not "
                f"eligible (eligible: {sorted(maybe, key=id_sort_key)}; "
                f"member={agent in model.members[inbox]}, "
                f"status={model.status.get(agent)!r}, "
                f"open={model.open_count(inbox, agent)}, "
                f"capacity={model.capacity_limit(inbox, agent)}, "
                f"total={model.open_total(agent)}/{model.total_limit}, "
                f"recent={model.recent(inbox, agent, now)}, "
                f"limit={policy.fair_distribution_limit})"
            )
            assert not (starved and conversation.team is None), (
                f"conversation {conversation.id} was assigned after an earlier "
                "team-less conversation found nobody eligible"
            )
            if maybe == surely:
                expected_agent = (
                    previous  # sticky agents: the previous agent, when eligible
                    if previous is not None and previous in surely
                    else model.expected_agent(conversation, surely, now)
                )
                assert expected_agent is None or agent == expected_agent, (
                    f"conversation {conversation.id} went to {agent!r}; the "
                    f"{policy.assignment_order.value} selector should have chosen "
                    f"{expected_agent!r} (eligible: {sorted(surely, key=id_sort_key)}, "
                    f"sticky: {previous!r})"
                )
            model.rotate(inbox, agent)
            if (
                policy.assignment_order is AssignmentOrder.ROUND_ROBIN
                and model.sticky_window_for(inbox) is None  # sticky breaks the spread
            ):
                model.round_robin_decision(inbox, agent, surely)
            else:
                model.streaks.pop(inbox, None)
            model.conversations[conversation.id] = attrs.evolve(
                conversation, assignee=agent
            )
            model.record(inbox, agent, conversation.id, now)

        def _check_events(self, result: AssignmentResult) -> None:
            # Each assignment publishes two events; a job may run several passes before
            # its results are checked, so take only this pass's share.
            end = self.checked_events + 2 * len(result.assignments)
            new = self.bus.events[self.checked_events : end]
            self.checked_events = end
            changed = [e for e in new if isinstance(e, AssigneeChanged)]
            updated = [e for e in new if isinstance(e, ConversationUpdated)]
            assert len(new) == len(changed) + len(updated)
            policy_id = self.model.policies[result.inbox].id
            assert [
                (e.conversation, e.agent, e.inbox, e.policy, e.occurred_at)
                for e in changed
            ] == [
                (a.conversation, a.agent, result.inbox, policy_id, a.occurred_at)
                for a in result.assignments
            ]
            assert all(e.previous_agent is None for e in changed)
            assert [e.conversation for e in updated] == [
                a.conversation for a in result.assignments
            ]
            # Stable ids: one assignment id per assignment, never seen before, shared
            # by its two events.
            ids = [e.event_id.removesuffix(":assignee.changed") for e in changed]
            assert ids == [
                e.event_id.removesuffix(":conversation.updated") for e in updated
            ]
            assert len(set(ids)) == len(ids)
            assert not self.seen_ids.intersection(ids)
            self.seen_ids.update(ids)
            outbox = self.app.service.outbox if self.app is not None else None
            if outbox is not None:  # every published assignment was confirmed
                later = self.clock.now() + timedelta(days=1)
                assert not outbox.due(result.inbox, staged_before=later, limit=1)

        # -- invariants ----------------------------------------------------------------------

        @invariant()
        def stored_conversations_match_the_model(self) -> None:
            repository = self.backend.conversations
            for conversation_id, expected in self.model.conversations.items():
                stored = repository.get(conversation_id)
                assert stored is not None
                assert stored.assignee == expected.assignee, (
                    f"conversation {conversation_id}: stored assignee "
                    f"{stored.assignee!r}, expected {expected.assignee!r}"
                )
                assert stored.status is expected.status

        @invariant()
        def fair_distribution_limit_holds(self) -> None:
            model = self.model
            if self.app is None:
                return
            now = self.clock.now()
            for inbox in INBOXES:
                limit = model.policies[inbox].fair_distribution_limit
                if not limit:
                    continue
                for agent in AGENTS:
                    since, _total = model.recent(inbox, agent, now)
                    assert since <= limit, (inbox, agent, since, limit)

        @invariant()
        def ledger_agrees_with_the_model(self) -> None:
            """The backend's ledger holds what the passes recorded: for every inbox
            and agent, its count in the current window lies between the model's
            count since the last limit/window change and its total; and
            ``last_assigned`` reports each agent's newest entry, as ``usage`` does."""
            model = self.model
            if self.app is None:
                return
            now = self.clock.now()
            for inbox in INBOXES:
                window = timedelta(
                    seconds=model.policies[inbox].fair_distribution_window
                )
                usage = self.backend.ledger.usage(inbox, AGENTS, now=now, window=window)
                last = self.backend.ledger.last_assigned(
                    inbox, AGENTS, now=now, window=window
                )
                newest = {a: u.last for a, u in usage.items() if u.count and u.last}
                assert dict(last) == newest, (
                    f"ledger: last_assigned {dict(last)!r} disagrees with usage "
                    f"{newest!r} in inbox {inbox!r}"
                )
                for agent in AGENTS:
                    since, total = model.recent(inbox, agent, now)
                    found = usage.get(agent)
                    count = 0 if found is None else found.count
                    assert since <= count <= total, (
                        f"ledger: {agent!r} in inbox {inbox!r} has {count} entries in "
                        f"the window; the model logged {since} since the last policy "
                        f"change and {total} in all"
                    )

        @invariant()
        def rotation_matches_the_model(self) -> None:
            """Both selectors move each agent they assign to the back of the inbox's
            queue; the store's queue is the model's."""
            if self.app is None:
                return
            for inbox in INBOXES:
                members = self.model.members[inbox]
                stored = list(self.backend.rotation.order(inbox, members=members))
                assert stored == self.model.queue(inbox), (
                    f"rotation of inbox {inbox!r}: stored {stored!r}, expected "
                    f"{self.model.queue(inbox)!r}"
                )

        @invariant()
        def every_event_was_checked(self) -> None:
            assert self.checked_events == len(self.bus.events)

    return AssignmentMachine
