"""The discrete-event simulation: the real core, driven on a virtual clock.

Every conversation, status and presence change goes through the real
:class:`~autoassign.AssignmentTriggers` (``on_conversation_saved``,
``on_agent_status_changed``); the job queue is drained after every event by running the
real :class:`~autoassign.AssignmentJob`; the real :class:`~autoassign.PeriodicAssignmentJob`
runs every ``periodic_interval_minutes``. The adapters are the in-memory ones
(:func:`~autoassign.adapters.memory.build_in_memory`); nothing in the core is replaced.

Events at the same minute run in this order: presence changes, conversation status
changes (resolutions), arrivals, the periodic job, then the backlog sample.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from autoassign.adapters.memory import InMemoryBackend, InMemoryWorld, build_in_memory
from autoassign.decisions import (
    AgentFilter,
    GateFailure,
    capacity_limits,
    exclusions_for_inbox,
    total_limits,
)
from autoassign.events import AssigneeChanged
from autoassign.explain import inbox_verdicts
from autoassign.model import (
    ONLINE,
    WEIGHT_SCALE,
    AccountId,
    AgentId,
    CapacityPolicy,
    Conversation,
    ConversationId,
    ConversationStatus,
    ExclusionRules,
    Id,
    InboxId,
    load_from_units,
    weight_units,
)
from autoassign.results import Assignment
from autoassign.service import InboxState
from autoassign.simulate.scenario import CapacitySpec, InboxSpec, PolicySpec, Scenario
from autoassign.simulate.workload import Arrival, PresenceChange, Workload
from autoassign.skills import (
    InMemorySkillBook,
    SkillRouting,
    check_skills,
    missing_skills,
    skills_from_labels,
)
from autoassign.sticky import InMemoryContactHistory, StickyRouting
from autoassign.testing import FakeClock
from autoassign.weights import InMemoryAgentWeights
from autoassign.wiring import Autoassign

__all__ = ["INVARIANTS", "Simulation", "jain_index", "percentile"]

INVARIANTS = (
    "double_assignment",
    "rate_limit_overshoot",
    "capacity_overshoot",
    "assigned_while_not_online",
    "assigned_outside_team",
)

_PRESENCE, _STATUS, _ARRIVAL, _PERIODIC, _SAMPLE = range(5)

_USAGE_BATCH = 1
"""``AssignmentService.usage_batch`` in simulations (the results do not depend on it).
In memory a ledger read costs per agent read, not a round trip, and a pass here mostly
assigns one conversation to the first agent its walk reaches: reading ahead costs more
than it saves (at 100,000 conversations a day, 16 made the ledger reads and the
look-ahead about 15% of a run)."""


def _wait_summary(waits: list[float]) -> dict[str, float | None]:
    return {
        "p50": _r(percentile(waits, 50)),
        "p90": _r(percentile(waits, 90)),
        "p99": _r(percentile(waits, 99)),
        "max": _r(max(waits) if waits else None),
        "mean": _r(sum(waits) / len(waits) if waits else None),
    }


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of ``values`` (``None`` when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


def jain_index(values: list[float]) -> float | None:
    """Jain's fairness index, (sum x)^2 / (n * sum x^2): 1 is perfectly even, 1/n is one
    agent taking everything. ``None`` for no values or all zero."""
    square = sum(x * x for x in values)
    if not values or square == 0:
        return None
    return sum(values) ** 2 / (len(values) * square)


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


@attrs.define
class _AgentStats:
    assignments: int = 0
    open_now: int = 0
    peak_open: int = 0
    open_area: float = 0.0
    since: float = 0.0
    online_since: float | None = None
    online_minutes: float = 0.0
    held_back_rate_limit: int = 0
    held_back_capacity: int = 0
    load_now: int = 0
    """The weights of its open conversations, in thousandths (weighted capacity)."""
    peak_load: int = 0
    load_area: float = 0.0

    def change_open(self, minute: float, delta: int, units: int) -> None:
        """``delta`` open conversations weighing ``units`` thousandths in all."""
        self.open_area += self.open_now * (minute - self.since)
        self.load_area += self.load_now * (minute - self.since)
        self.since = minute
        self.open_now += delta
        self.peak_open = max(self.peak_open, self.open_now)
        self.load_now += units
        self.peak_load = max(self.peak_load, self.load_now)


@attrs.define
class _Conversation:
    arrival: Arrival
    created: float
    assigned: float | None = None
    agent: str | None = None
    closed: float | None = None
    waiting_since: float = 0.0
    """When it last became open and unassigned (creation, or a reopen)."""
    reopened: int = 0
    archived: Conversation | None = None
    """The record as it was resolved (the store forgets resolved conversations)."""
    returning: bool = False
    """Its contact had an earlier conversation in the run."""
    previous_agent: str | None = None
    """When it was assigned: the agent of its contact's latest other conversation
    that had one (``None``: none had)."""
    previous_online: bool = False
    """When it was assigned: whether :attr:`previous_agent` was online."""
    units: int = WEIGHT_SCALE
    """What it counts for against capacity, in thousandths (its weight, or 1 on a
    policy with ``weighted_capacity = false``)."""
    required: Mapping[str, int] | None = None
    """The skills its labels require (counted when a policy sets skill keys)."""
    without_skills: bool = False
    """It was assigned to an agent lacking one of :attr:`required`."""


_Event = tuple[float, int, int, str, Any]
"""(minute, kind, sequence number, handler name, payload): events sort by minute, then
kind (the order of events at the same minute), then when they were queued."""


class _Events:
    """The run's events in order: the workload, known before the run, in one sorted list
    taken from its end, and the events the run itself schedules (resolutions) in a heap
    of their own. The same order as one heap of everything, but each pop costs the log
    of what is pending, not of the whole day."""

    def __init__(self, planned: list[_Event]) -> None:
        planned.sort(reverse=True)  # the next event last: taken in O(1), and released
        self._planned = planned
        self._scheduled: list[_Event] = []

    def push(self, event: _Event) -> None:
        heapq.heappush(self._scheduled, event)

    def pop_before(self, end: float) -> _Event | None:
        """The next event if it comes before minute ``end`` (else ``None``, and it
        stays queued)."""
        planned, scheduled = self._planned, self._scheduled
        if scheduled and (not planned or scheduled[0] < planned[-1]):
            return heapq.heappop(scheduled) if scheduled[0][0] < end else None
        if not planned or planned[-1][0] >= end:
            return None
        return planned.pop()


class _Waiting:
    """One inbox's open, unassigned conversations, split by whether they carry one of
    the inbox's excluded labels (its rules are fixed for the run, and so are a
    conversation's labels): a pass can fetch only the others, and of those only what the
    age rule, if any, lets through. So "can a pass fetch anything now?" costs O(1) for
    label rules instead of a read of the store."""

    def __init__(self, rules: ExclusionRules) -> None:
        self.rules = rules
        self.labelled_out: set[int] = set()
        """Waiting, with an excluded label: never fetched."""
        self.rest: set[int] = set()
        """Waiting, without one: fetched unless the age rule excludes them."""

    def __len__(self) -> int:
        return len(self.labelled_out) + len(self.rest)

    def __contains__(self, number: int) -> bool:
        return number in self.rest or number in self.labelled_out

    def add(self, number: int, labels: Iterable[str]) -> None:
        if self.rules.excluded_labels.isdisjoint(labels):
            self.rest.add(number)
        else:
            self.labelled_out.add(number)

    def discard(self, number: int) -> None:
        self.rest.discard(number)
        self.labelled_out.discard(number)

    def _aged_out(self, world: InMemoryWorld, now: datetime) -> Iterator[int]:
        """Those of :attr:`rest` the rules exclude now (by age)."""
        if self.rules.exclude_older_than_hours is None:
            return
        for number in self.rest:
            record = world.get(number)
            if record is not None and self.rules.excludes(record, now):
                yield number

    def excluded(self, world: InMemoryWorld, now: datetime) -> int:
        """How many the rules keep from a pass now."""
        return len(self.labelled_out) + sum(1 for _ in self._aged_out(world, now))

    def any_fetchable(self, world: InMemoryWorld, now: datetime) -> bool:
        """Whether a pass now would fetch at least one (``unassigned_open`` would not
        be empty)."""
        if self.rules.exclude_older_than_hours is None:
            return bool(self.rest)
        return any(
            (record := world.get(number)) is not None
            and not self.rules.excludes(record, now)
            for number in self.rest
        )


class _StickyContacts:
    """The simulated :class:`~autoassign.ports.ContactHistory`: the library's
    :class:`~autoassign.sticky.InMemoryContactHistory` over the store and the
    simulator's archive of resolved conversations (a returning contact's previous
    conversation is usually resolved), answering only for the inboxes on a policy with
    ``sticky_window_minutes``, each within its own window. ``StickyRouting``'s window
    is the longest of them, so a shorter one starts that much later."""

    def __init__(
        self,
        history: InMemoryContactHistory,
        windows: Mapping[str, timedelta],
    ) -> None:
        self.history = history
        self.windows = windows
        self.longest = max(windows.values())

    def previous_agents(
        self,
        account: AccountId,
        conversations: Sequence[Conversation],
        *,
        since: datetime,
    ) -> Mapping[ConversationId, AgentId]:
        groups: dict[timedelta, list[Conversation]] = {}
        for conversation in conversations:
            window = self.windows.get(str(conversation.inbox))
            if window is not None:
                groups.setdefault(window, []).append(conversation)
        found: dict[ConversationId, AgentId] = {}
        for window, group in groups.items():
            found.update(
                self.history.previous_agents(
                    account, group, since=since + (self.longest - window)
                )
            )
        return found


class Simulation:
    """One run of a workload through the real core under one set of policies.

    ``policy``: link every inbox to that scenario policy instead of its own (``compare``).
    ``record``: a list that receives the run's events as log entries (for ``replay``).
    ``progress(minute, total)`` is called at every backlog sample.
    """

    def __init__(
        self,
        scenario: Scenario,
        workload: Workload,
        *,
        policy: str | None = None,
        record: list[dict[str, object]] | None = None,
        progress: Callable[[float, float], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.workload = workload
        self.policy_override = policy
        if policy is not None:
            scenario.policy(policy)  # raises ScenarioError for an unknown name
        self.record = record
        self.progress = progress
        self.clock = FakeClock(scenario.start)
        self.backend = InMemoryBackend(clock=self.clock)
        self._conversations: dict[int, _Conversation] = {}
        # Each inbox's policy in this run (``None``: the inbox has none).
        self._policies: dict[str, PolicySpec | None] = {}
        for inbox in scenario.inboxes:
            name = policy or inbox.policy
            self._policies[inbox.id] = None if name is None else scenario.policy(name)
        # Sticky agents: the window of each inbox whose policy has one, in minutes.
        self._sticky_windows: dict[str, int] = {}
        for inbox_id, spec in self._policies.items():
            if spec is not None and spec.sticky_window_minutes is not None:
                self._sticky_windows[inbox_id] = spec.sticky_window_minutes
        # Weighted capacity: whether an inbox's conversations count their weight (not
        # on a policy with ``weighted_capacity = false``), and the lightest one of the
        # workload in each inbox, in thousandths: the held-back counts judge capacity
        # for it ("not even the lightest fits").
        self._counts_weight = {
            inbox: spec is None or spec.weighted_capacity is not False
            for inbox, spec in self._policies.items()
        }
        self._weights_used = any(a.weight != 1 for a in workload.arrivals)
        """Some conversation weighs other than 1: the report shows loads in weight."""
        self._lightest = dict.fromkeys(self._policies, WEIGHT_SCALE)
        if self._weights_used:
            lightest: dict[str, int] = {}
            for arrival in workload.arrivals:
                units = self._units(arrival)
                if units < lightest.get(arrival.inbox, units + 1):
                    lightest[arrival.inbox] = units
            self._lightest.update(lightest)
        self._rotation_weights = {
            agent.id: agent.rotation_weight
            for agent in scenario.agents
            if agent.rotation_weight is not None
        }
        # Skills: counted per inbox (what their labels require, and whether they went
        # to an agent without it) when a policy sets skill keys.
        self._required: Callable[[Conversation], Mapping[str, int]] | None = None
        if scenario.skills is not None and any(
            p.sets_skills for p in scenario.policies
        ):
            self._required = skills_from_labels(scenario.skills.label_prefix)
        self._agent_skills = {agent.id: dict(agent.skills) for agent in scenario.agents}
        self._contacts: _StickyContacts | None = None
        self._by_contact: dict[Id, list[int]] = {}
        """Each contact's conversations, in arrival order."""
        self.app: Autoassign = self._build()
        # In memory a ledger read costs per agent read, not a round trip: no read-ahead,
        # not the default 128 agents (most passes here assign one conversation).
        self.app.service.usage_batch = _USAGE_BATCH
        self.minute = 0.0
        self.done = False
        self._seq = itertools.count()
        self._agents = {agent.id: _AgentStats() for agent in scenario.agents}
        self._open_by: Counter[tuple[str, str]] = Counter()
        self._open_total: Counter[str] = Counter()  # an agent's open, every inbox
        # The same in weight (thousandths), as capacity counts them.
        self._load_by: Counter[tuple[str, str]] = Counter()
        self._load_total: Counter[str] = Counter()
        self._backlog: dict[str, list[list[float]]] = {
            inbox.id: [] for inbox in scenario.inboxes
        }
        self._assign_log: dict[tuple[str, str], list[datetime]] = {}
        self._violations: Counter[str] = Counter()
        self._examples: list[str] = []
        self._skips: Counter[str] = Counter()
        self._jobs = 0
        self._passes = 0
        self._ignored_events = 0
        self._reopened = 0
        self._decisions: list[dict[str, object]] = []
        self._team_members = {team.id: set(team.members) for team in scenario.teams}
        self._agent_order = [agent.id for agent in scenario.agents]
        # The scenario's configuration is fixed for the run: each inbox's capacity
        # limits, read once. The agents at or over them, and the agents whose own
        # assignment log reached the rate limit (kept until it is seen below it), are
        # the only ones a job can find held back (``_count_held_back``).
        self._limits = {
            inbox.id: capacity_limits(
                self.backend.world.capacity_policies_for_inbox(inbox.id), inbox.id
            )
            for inbox in scenario.inboxes
        }
        # capacity policies' total limits (an agent's open conversations in every
        # inbox), per inbox the policies link
        self._totals = {
            inbox.id: total_limits(
                self.backend.world.capacity_policies_for_inbox(inbox.id)
            )
            for inbox in scenario.inboxes
        }
        self._total_agents = {
            str(agent) for totals in self._totals.values() for agent in totals
        }
        self._at_capacity: dict[str, set[str]] = {
            inbox: {
                str(agent)
                for agent in {*limits, *self._totals[inbox]}
                if self._full(str(agent), inbox)
            }
            for inbox, limits in self._limits.items()
        }
        self._at_rate_limit: dict[str, set[str]] = {
            inbox.id: set() for inbox in scenario.inboxes
        }
        # Fixed for the run as well: each inbox's exclusion rules, and its gates and
        # effective policy (read once, when first needed).
        self._exclusions = {
            inbox.id: exclusions_for_inbox(
                self.backend.world.capacity_policies_for_inbox(inbox.id), inbox.id
            )
            for inbox in scenario.inboxes
        }
        self._waiting = {
            inbox: _Waiting(rules) for inbox, rules in self._exclusions.items()
        }
        self._states: dict[str, InboxState | GateFailure] = {}
        self._due_after = {
            inbox.id: inbox.due_after_minutes for inbox in scenario.inboxes
        }
        self._events = _Events(self._planned_events())

    # -- setup ---------------------------------------------------------------------------

    def _build(self) -> Autoassign:
        scenario, backend = self.scenario, self.backend
        backend.add_account(scenario.account, features=scenario.features)
        for inbox in scenario.inboxes:
            backend.add_inbox(
                inbox.id,
                account=scenario.account,
                members=inbox.members,
                enable_auto_assignment=inbox.enable_auto_assignment,
            )
        for team in scenario.teams:
            backend.add_team(
                team.id,
                account=scenario.account,
                members=team.members,
                allow_auto_assign=team.allow_auto_assign,
            )
        for policy in scenario.policies:
            backend.add_policy(policy.build(scenario.account))
        for inbox in scenario.inboxes:
            name = self.policy_override or inbox.policy
            if name is not None:
                backend.world.link_policy(inbox.id, name)
        unchecked = {
            inbox
            for inbox, spec in self._policies.items()
            if spec is not None and spec.global_capacity is False
        }
        for capacity in _capacity_policies(scenario, unchecked):
            backend.add_capacity_policy(capacity)
        agent_weights: InMemoryAgentWeights | None = None
        if self._rotation_weights:
            agent_weights = InMemoryAgentWeights()
            for agent, weight in self._rotation_weights.items():
                agent_weights.set_weight(scenario.account, agent, weight)
        # strict: a failure inside the core stops the simulation loudly instead of being
        # logged and absorbed. No legacy fallback: every assignment comes from a pass.
        # No event outbox: it keeps a claim's events until they are published, against
        # a failure in between, and nothing here fails without stopping the run; each
        # pass would relay an empty outbox (the same events are published either way).
        return build_in_memory(
            backend,
            bulk_limit=scenario.bulk_limit,
            strict=True,
            legacy_fallback=False,
            outbox=None,
            skills=_skill_routing(scenario, self._policies),
            sticky=self._sticky_routing(),
            **({} if agent_weights is None else {"agent_weights": agent_weights}),
        )

    def _sticky_routing(self) -> StickyRouting | None:
        """Sticky agents for the inboxes on a policy with ``sticky_window_minutes``
        (``None`` when there are none: the core runs as without them)."""
        if not self._sticky_windows:
            return None
        self._contacts = _StickyContacts(
            InMemoryContactHistory(self._lookup),
            {
                inbox: timedelta(minutes=minutes)
                for inbox, minutes in self._sticky_windows.items()
            },
        )
        return StickyRouting(history=self._contacts, window=self._contacts.longest)

    def _units(self, arrival: Arrival) -> int:
        """What ``arrival`` counts for against capacity in this run, in thousandths."""
        if self._counts_weight[arrival.inbox]:
            return weight_units(arrival.weight)
        return WEIGHT_SCALE

    def _lookup(self, conversation: ConversationId) -> Conversation | None:
        """A conversation as the contact history sees it: in the store, or as it was
        resolved (archived out of the store)."""
        found = self.backend.world.get(conversation)
        if found is None and isinstance(conversation, int):
            tracked = self._conversations.get(conversation)
            if tracked is not None:
                return tracked.archived
        return found

    def _push(self, minute: float, kind: int, name: str, payload: object) -> None:
        self._events.push((minute, kind, next(self._seq), name, payload))

    def _state(self, inbox: str) -> InboxState | GateFailure:
        """The inbox's gates and effective policy (``load_inbox``), read once: the
        scenario's configuration does not change during a run."""
        state = self._states.get(inbox)
        if state is None:
            state = self._states[inbox] = self.app.service.load_inbox(inbox)
        return state

    def _planned_events(self) -> list[_Event]:
        """The whole workload's events, numbered in the order single pushes would
        number them (unsorted)."""
        duration = float(self.scenario.duration_minutes)
        seq = self._seq
        queue: list[_Event] = []
        queue.extend(
            (change.minute, _PRESENCE, next(seq), "presence", change)
            for change in self.workload.presence
            if change.minute < duration
        )
        queue.extend(
            (
                status.minute,
                _STATUS,
                next(seq),
                "status",
                (status.conversation, status.status),
            )
            for status in self.workload.status_changes
            if status.minute < duration
        )
        queue.extend(
            (arrival.minute, _ARRIVAL, next(seq), "arrival", arrival)
            for arrival in self.workload.arrivals
            if arrival.minute < duration
        )
        step = self.scenario.periodic_interval_minutes
        queue.extend(
            (float(minute), _PERIODIC, next(seq), "periodic", None)
            for minute in range(0, self.scenario.duration_minutes, step)
        )
        step = self.scenario.sample_interval_minutes
        queue.extend(
            (float(minute), _SAMPLE, next(seq), "sample", None)
            for minute in range(0, self.scenario.duration_minutes, step)
        )
        return queue

    # -- the loop ------------------------------------------------------------------------

    def at(self, minute: float) -> datetime:
        return self.scenario.start + timedelta(minutes=minute)

    def run(self, until: float | None = None) -> None:
        """Process every event before ``until`` minutes (default: the whole duration)."""
        end = float(self.scenario.duration_minutes) if until is None else until
        end = min(end, float(self.scenario.duration_minutes))
        pop, drain = self._events.pop_before, self._drain
        handlers: dict[str, Callable[[Any], None]] = {}
        while (event := pop(end)) is not None:
            minute, _kind, _seq, name, payload = event
            if minute > self.minute:
                self._advance(minute)
            handler = handlers.get(name)
            if handler is None:
                handler = handlers[name] = getattr(self, f"_on_{name}")
            handler(payload)
            drain()
        self._advance(end)
        if end >= self.scenario.duration_minutes:
            self.done = True

    def _advance(self, minute: float) -> None:
        if minute > self.minute:
            self.minute = minute
            self.clock.set(self.at(minute))

    def _drain(self) -> None:
        jobs = self.backend.jobs
        for _ in range(100_000):
            inbox = jobs.pop()
            if inbox is None:
                return
            self._jobs += 1
            self._count_held_back(inbox)
            outcome = self.app.job.run(inbox)
            self._passes += len(outcome.results)
            for result in outcome.results:
                for skip in result.skips:
                    self._skips[skip.reason.value] += 1
                for assignment in result.assignments:
                    self._on_assigned(str(inbox), assignment)
        raise RuntimeError("the job queue does not drain")  # pragma: no cover

    # -- events ----------------------------------------------------------------------------

    def _log(self, event: str, **fields: object) -> None:
        if self.record is not None:
            self.record.append({"event": event, "minute": self.minute, **fields})

    def _on_presence(self, change: PresenceChange) -> None:
        stats = self._agents[change.agent]
        before = self.backend.set_status(
            self.scenario.account, change.agent, change.status
        )
        if self.record is not None:
            self._log("agent_status_changed", agent=change.agent, status=change.status)
        if (
            before == ONLINE
            and change.status != ONLINE
            and stats.online_since is not None
        ):
            stats.online_minutes += self.minute - stats.online_since
            stats.online_since = None
        if change.status == ONLINE and before != ONLINE:
            stats.online_since = self.minute
        self.app.triggers.on_agent_status_changed(
            self.scenario.account, change.agent, before, change.status
        )

    def _on_arrival(self, arrival: Arrival) -> None:
        due_after = self._due_after[arrival.inbox]
        units = self._units(arrival)
        conversation = self.backend.add_conversation(
            arrival.conversation,
            inbox=arrival.inbox,
            labels=arrival.labels,
            team=arrival.team,
            urgency=arrival.urgency,
            due_at=(
                None
                if due_after is None
                else self.clock.now() + timedelta(minutes=due_after)
            ),
            weight=load_from_units(units),
        )
        tracked = self._conversations[arrival.conversation] = _Conversation(
            arrival=arrival, created=self.minute, waiting_since=self.minute, units=units
        )
        if self._required is not None:
            tracked.required = check_skills(self._required(conversation))
        self._waiting[arrival.inbox].add(arrival.conversation, arrival.labels)
        if arrival.contact is not None:
            self._add_contact(tracked)
        if self.record is not None:
            urgency = {} if arrival.urgency is None else {"urgency": arrival.urgency}
            contact = {} if arrival.contact is None else {"contact": arrival.contact}
            weight = {} if arrival.weight == 1 else {"weight": arrival.weight}
            self._log(
                "conversation_created",
                conversation=arrival.conversation,
                inbox=arrival.inbox,
                labels=list(arrival.labels),
                team=arrival.team,
                **urgency,
                **contact,
                **weight,
            )
        self.app.triggers.on_conversation_saved(None, conversation)

    def _add_contact(self, tracked: _Conversation) -> None:
        """A conversation with a contact arrived: remember it under its contact (and
        tell the contact history, with sticky agents on)."""
        arrival = tracked.arrival
        assert arrival.contact is not None
        earlier = self._by_contact.setdefault(arrival.contact, [])
        tracked.returning = bool(earlier)
        earlier.append(arrival.conversation)
        if self._contacts is not None:
            self._contacts.history.set_contact(
                self.scenario.account, arrival.conversation, arrival.contact
            )

    def _previous_agent(self, tracked: _Conversation) -> str | None:
        """The agent of the contact's latest other conversation (by arrival) that
        had one, now."""
        contact = tracked.arrival.contact
        number = tracked.arrival.conversation
        assert contact is not None
        for other in reversed(self._by_contact[contact]):
            agent = self._conversations[other].agent
            if other != number and agent is not None:
                return agent
        return None

    def _on_status(self, payload: tuple[int, str]) -> None:
        number, status = payload
        world = self.backend.world
        new_status = ConversationStatus(status)
        tracked = self._conversations.get(number)
        if world.get(number) is not None:
            before, after = world.update_conversation(number, status=new_status)
        elif (
            tracked is not None
            and tracked.archived is not None
            and new_status is not ConversationStatus.RESOLVED
        ):
            before, after = self._reopen(tracked, new_status)
        else:
            # unknown, or a resolved conversation resolved again
            self._ignored_events += 1
            return
        assert tracked is not None
        self._log("status_changed", conversation=number, status=status)
        was_open = before.status is ConversationStatus.OPEN
        is_open = after.status is ConversationStatus.OPEN
        if after.assignee is not None and was_open != is_open:
            self._change_open(
                str(after.assignee),
                str(after.inbox),
                1 if is_open else -1,
                tracked.units,
            )
        if after.assignee is None:
            waiting = self._waiting[str(after.inbox)]
            if is_open:
                if number not in waiting:
                    tracked.waiting_since = self.minute
                waiting.add(number, after.labels)
            else:
                waiting.discard(number)
        self.app.triggers.on_conversation_saved(before, after)
        if after.status is ConversationStatus.RESOLVED:
            tracked.closed = self.minute
            tracked.archived = after
            # Resolved conversations can only come back by a reopen (a logged status
            # change), which restores them from ``tracked.archived``: archive them out
            # of the store, so a pass costs O(open conversations).
            world.remove_conversation(number)

    def _reopen(
        self, tracked: _Conversation, status: ConversationStatus
    ) -> tuple[Conversation, Conversation]:
        """Put a resolved (archived) conversation back in the store with ``status``.

        As in the reference, reopening changes the status only: the conversation keeps
        its assignee if it had one (Chatwoot hands a returning conversation back to its
        agent, chatwoot#4158), so the trigger enqueues a pass only if it has none. The
        reopen counts as activity (``last_activity_at``), and it is resolved no more.
        """
        before = tracked.archived
        assert before is not None
        now = self.clock.now()
        after = attrs.evolve(before, status=status, last_activity_at=now)
        self.backend.world.put_conversation(after)
        tracked.archived = None
        tracked.closed = None
        tracked.reopened += 1
        self._reopened += 1
        return before, after

    def _on_periodic(self, _payload: object) -> None:
        self.app.periodic.run()

    def _on_sample(self, _payload: object) -> None:
        # The backlog is what a pass could fetch: open, unassigned and not excluded.
        now = self.clock.now()
        world = self.backend.world
        for inbox, waiting in self._waiting.items():
            count = len(waiting) - waiting.excluded(world, now)
            self._backlog[inbox].append([round(self.minute, 3), count])
        if self.progress is not None:
            self.progress(self.minute, float(self.scenario.duration_minutes))

    # -- bookkeeping -------------------------------------------------------------------------

    def _change_open(self, agent: str, inbox: str, delta: int, units: int) -> None:
        """``agent`` holds ``delta`` more open conversations in ``inbox`` (``-1``,
        ``1``), of ``units`` thousandths of weight each."""
        self._agents[agent].change_open(self.minute, delta, delta * units)
        self._open_by[(agent, inbox)] += delta
        self._open_total[agent] += delta
        self._load_by[(agent, inbox)] += delta * units
        self._load_total[agent] += delta * units
        limit = self._limits[inbox].get(agent)
        if agent not in self._total_agents:
            if limit is not None:
                self._mark_full(agent, inbox)
            return
        for each in self._limits:  # a total limit reaches across the inboxes
            self._mark_full(agent, each)

    def _held(self, units: int, count: int) -> str:
        """An agent's open conversations for a violation's text: their count, and
        their weight when the workload has weights."""
        if not self._weights_used:
            return f"{count} open conversations"
        return f"{count} open conversations ({load_from_units(units)} in weight)"

    def _full(self, agent: str, inbox: str) -> bool:
        """Whether ``agent`` is at a limit in ``inbox`` (its own, or its total): not
        even the inbox's lightest conversation fits beside their open weights (with
        every weight 1: they hold as many as the limit)."""
        limit = self._limits[inbox].get(agent)
        total = self._totals[inbox].get(agent)
        lightest = self._lightest[inbox]
        return (
            limit is not None
            and self._load_by[(agent, inbox)] + lightest > limit * WEIGHT_SCALE
        ) or (
            total is not None
            and self._load_total[agent] + lightest > total * WEIGHT_SCALE
        )

    def _mark_full(self, agent: str, inbox: str) -> None:
        if self._full(agent, inbox):
            self._at_capacity[inbox].add(agent)
        else:
            self._at_capacity[inbox].discard(agent)

    def _violation(self, kind: str, text: str) -> None:
        self._violations[kind] += 1
        if len(self._examples) < 20:
            self._examples.append(f"minute {self.minute:.2f}: {kind}: {text}")

    def _count_held_back(self, inbox: InboxId) -> None:
        """Before a job: which members the filter chain holds back from this inbox now
        (same reads and decision functions as the pass), if anything is waiting.

        Only the members that can be held back are judged: those the simulator's own
        records put at the rate limit (its assignment log, which holds every ledger
        entry) or at capacity (its open counts). A verdict depends on its agent alone,
        so judging the others could only find them eligible or offline. Whether a
        pass would fetch anything comes from the simulator's own waiting conversations
        (what ``unassigned_open`` holds, under the same exclusion rules).
        """
        key = str(inbox)
        waiting = self._waiting[key]
        if not waiting:
            return  # nothing open and unassigned: nothing can be waiting
        if not self._at_capacity[key] and not self._at_rate_limit[key]:
            return  # nobody can be held back
        service = self.app.service
        loaded = self._state(key)
        if isinstance(loaded, GateFailure):
            return
        now = self.clock.now()
        if not waiting.any_fetchable(self.backend.world, now):
            return  # everything waiting is excluded
        candidates = self._held_back_candidates(key, loaded, now)
        if not candidates:
            return
        members = set(service.directory.inbox_members(inbox))
        judged = [agent for agent in candidates if agent in members]
        verdicts, _recent, _counts = inbox_verdicts(
            service,
            loaded,
            members=judged,
            weight=load_from_units(self._lightest[key]),
        )
        for verdict in verdicts:
            if verdict.removed_by is AgentFilter.RATE_LIMITED:
                self._agents[str(verdict.agent)].held_back_rate_limit += 1
            elif verdict.removed_by is AgentFilter.AT_CAPACITY:
                self._agents[str(verdict.agent)].held_back_capacity += 1

    def _held_back_candidates(
        self, inbox: str, loaded: InboxState, now: datetime
    ) -> list[str]:
        """The agents that may be rate limited or at capacity in ``inbox`` now, in
        scenario order: a superset of those the filter chain removes for either."""
        full = self._at_capacity[inbox]
        limited = self._at_rate_limit[inbox]
        if limited and loaded.policy.rate_limited:
            limit = loaded.policy.fair_distribution_limit
            assert limit is not None
            start = now - loaded.policy.window
            for agent in list(limited):
                log = self._assign_log[(inbox, agent)]
                if len(log) - bisect.bisect_right(log, start) < limit:
                    # Below the limit now; only a new assignment brings it back.
                    limited.discard(agent)
        else:
            limited = set()
        if not full and not limited:
            return []
        return [
            agent for agent in self._agent_order if agent in full or agent in limited
        ]

    def _on_assigned(self, inbox: str, assignment: Assignment) -> None:
        number = int(assignment.conversation)
        agent = str(assignment.agent)
        tracked = self._conversations[number]
        if tracked.agent is not None:
            self._violation(
                "double_assignment",
                f"conversation {number} assigned to {agent}, already {tracked.agent}",
            )
        if tracked.returning:
            previous = tracked.previous_agent = self._previous_agent(tracked)
            if previous is not None:
                tracked.previous_online = (
                    self._agents[previous].online_since is not None
                )
        tracked.agent = agent
        tracked.assigned = self.minute
        self._waiting[inbox].discard(number)
        self._decisions.append(
            {"conversation": number, "agent": agent, "minute": round(self.minute, 6)}
        )
        if tracked.required:
            tracked.without_skills = bool(
                missing_skills(tracked.required, self._agent_skills[agent])
            )
        stats = self._agents[agent]
        stats.assignments += 1
        self._change_open(agent, inbox, 1, tracked.units)
        # Rate limit: count this agent's assignments in the inbox within the window,
        # from the simulator's own log (not the ledger). The virtual clock never goes
        # back, so the log is sorted: a binary search, not a walk of the history.
        loaded = self._state(inbox)
        log = self._assign_log.setdefault((inbox, agent), [])
        log.append(assignment.occurred_at)
        if not isinstance(loaded, GateFailure) and loaded.policy.rate_limited:
            limit = loaded.policy.fair_distribution_limit
            assert limit is not None
            start = assignment.occurred_at - loaded.policy.window
            recent = len(log) - bisect.bisect_right(log, start)
            if recent >= limit:
                self._at_rate_limit[inbox].add(agent)
            if recent > limit:
                self._violation(
                    "rate_limit_overshoot",
                    f"{agent} has {recent} assignments in {inbox} within the window "
                    f"(limit {limit})",
                )
        # Capacity, in weight as the claim sums it (``autoassign.model.fits``): with
        # every weight 1, the open count.
        limit = self._limits[inbox].get(agent)
        if limit is not None and self._load_by[(agent, inbox)] > limit * WEIGHT_SCALE:
            self._violation(
                "capacity_overshoot",
                f"{agent} holds "
                f"{self._held(self._load_by[(agent, inbox)], self._open_by[(agent, inbox)])}"
                f" in {inbox} (limit {limit})",
            )
        total = self._totals[inbox].get(agent)
        if total is not None and self._load_total[agent] > total * WEIGHT_SCALE:
            self._violation(
                "capacity_overshoot",
                f"{agent} holds "
                f"{self._held(self._load_total[agent], self._open_total[agent])} in all "
                f"(total limit {total})",
            )
        status = self.backend.presence.statuses(self.scenario.account, [agent]).get(
            agent
        )
        if status != ONLINE:
            self._violation(
                "assigned_while_not_online",
                f"conversation {number} to {agent} ({status})",
            )
        team = tracked.arrival.team
        if team is not None and agent not in self._team_members.get(team, set()):
            self._violation(
                "assigned_outside_team",
                f"conversation {number} to {agent} (team {team})",
            )
        if tracked.arrival.resolve_after is not None:
            self._push(
                self.minute + tracked.arrival.resolve_after,
                _STATUS,
                "status",
                (number, ConversationStatus.RESOLVED.value),
            )

    # -- the report ------------------------------------------------------------------------

    @staticmethod
    def _waits_by_urgency(
        inbox: InboxSpec, tracked: list[_Conversation]
    ) -> dict[str, dict[str, dict[str, float | None]]]:
        """``{"wait_minutes_by_urgency": {level: summary, ..., "none": ...}}``, most
        urgent first, when the inbox's conversations have urgencies (else nothing, so
        a report without them is unchanged)."""
        levels = sorted(
            {c.arrival.urgency for c in tracked if c.arrival.urgency is not None},
            reverse=True,
        )
        if not levels and not inbox.urgency:
            return {}
        out: dict[str, dict[str, float | None]] = {}
        for level in [*levels, None]:
            waits = [
                c.assigned - c.waiting_since
                for c in tracked
                if c.assigned is not None and c.arrival.urgency == level
            ]
            out["none" if level is None else str(level)] = _wait_summary(waits)
        return {"wait_minutes_by_urgency": out}

    def _returning(
        self, inbox: InboxSpec, tracked: list[_Conversation]
    ) -> dict[str, Any]:
        """``sticky_window_minutes`` when the inbox's policy has one, and
        ``returning`` (its returning contacts' conversations: how many went to their
        previous agent, and their waits) when its conversations have contacts (else
        nothing, so a report without either is unchanged)."""
        out: dict[str, Any] = {}
        window = self._sticky_windows.get(inbox.id)
        if window is not None:
            out["sticky_window_minutes"] = window
        if not any(c.arrival.contact is not None for c in tracked):
            return out
        returning = [c for c in tracked if c.returning]
        assigned = [c for c in returning if c.assigned is not None]
        known = [c for c in assigned if c.previous_agent is not None]
        kept = sum(1 for c in known if c.agent == c.previous_agent)
        out["returning"] = {
            "conversations": len(returning),
            "assigned": len(assigned),
            "with_previous_agent": len(known),
            "previous_agent_online": sum(1 for c in known if c.previous_online),
            "to_previous_agent": kept,
            "share_to_previous_agent": _r(kept / len(known) if known else None),
            "wait_minutes": _wait_summary(
                [
                    c.assigned - c.waiting_since
                    for c in assigned
                    if c.assigned is not None
                ]
            ),
        }
        return out

    def _skills(self, tracked: list[_Conversation]) -> dict[str, Any]:
        """``skills`` when a policy sets skill keys: the conversations whose labels
        require skills, those assigned, those assigned to an agent lacking one (their
        requirements relaxed, or off on the inbox's policy), and their waits (else
        nothing, so a report without those keys is unchanged)."""
        if self._required is None:
            return {}
        needing = [c for c in tracked if c.required]
        assigned = [c for c in needing if c.assigned is not None]
        return {
            "skills": {
                "conversations": len(needing),
                "assigned": len(assigned),
                "to_agent_without_skills": sum(1 for c in assigned if c.without_skills),
                "wait_minutes": _wait_summary(
                    [
                        c.assigned - c.waiting_since
                        for c in assigned
                        if c.assigned is not None
                    ]
                ),
            }
        }

    def _policy_of(self, inbox: str) -> str | None:
        policy = self.backend.world.policy_for_inbox(inbox)
        return None if policy is None else str(policy.id)

    def report(self) -> dict[str, Any]:
        """The run's report (plain data, ready for ``json.dumps``)."""
        end = self.minute
        scenario = self.scenario
        events = self.backend.events.of_type(AssigneeChanged)
        if len(events) != len(self._decisions):
            self._violation(
                "double_assignment",
                f"{len(events)} AssigneeChanged events for {len(self._decisions)} assignments",
            )
        agents: list[dict[str, Any]] = []
        worked: list[float] = []
        per_hour: list[float] = []
        for spec in scenario.agents:
            stats = self._agents[spec.id]
            online = stats.online_minutes + (
                end - stats.online_since if stats.online_since is not None else 0.0
            )
            area = stats.open_area + stats.open_now * (end - stats.since)
            row: dict[str, Any] = {
                "agent": spec.id,
                "shift": spec.shift,
                "online_minutes": _r(online, 1),
                "assignments": stats.assignments,
            }
            if self._rotation_weights:
                row["rotation_weight"] = spec.rotation_weight or 1
                row["share"] = _r(
                    stats.assignments / len(self._decisions) if self._decisions else 0.0
                )
            row["peak_open"] = stats.peak_open
            row["mean_open"] = _r(area / end if end > 0 else 0.0)
            if self._weights_used:
                load = stats.load_area + stats.load_now * (end - stats.since)
                row["peak_load"] = load_from_units(stats.peak_load)
                row["mean_load"] = _r(load / WEIGHT_SCALE / end if end > 0 else 0.0)
            row["held_back_rate_limit"] = stats.held_back_rate_limit
            row["held_back_capacity"] = stats.held_back_capacity
            agents.append(row)
            if online > 0:
                worked.append(float(stats.assignments))
                per_hour.append(stats.assignments / (online / 60.0))
        inboxes: list[dict[str, Any]] = []
        now = self.clock.now()
        by_inbox: dict[str, list[_Conversation]] = {
            inbox.id: [] for inbox in scenario.inboxes
        }
        for conversation in self._conversations.values():
            by_inbox[conversation.arrival.inbox].append(conversation)
        for inbox_spec in scenario.inboxes:
            tracked = by_inbox[inbox_spec.id]
            waits = [
                c.assigned - c.waiting_since for c in tracked if c.assigned is not None
            ]
            excluded = self._waiting[inbox_spec.id].excluded(self.backend.world, now)
            backlog = self._backlog[inbox_spec.id]
            inboxes.append(
                {
                    "inbox": inbox_spec.id,
                    "policy": self._policy_of(inbox_spec.id),
                    "conversations": len(tracked),
                    "assigned": len(waits),
                    "resolved": sum(1 for c in tracked if c.closed is not None),
                    "reopened": sum(c.reopened for c in tracked),
                    "wait_minutes": _wait_summary(waits),
                    **self._waits_by_urgency(inbox_spec, tracked),
                    **self._returning(inbox_spec, tracked),
                    **self._skills(tracked),
                    "unassigned_at_end": len(self._waiting[inbox_spec.id]),
                    "excluded_at_end": excluded,
                    "peak_backlog": max((n for _m, n in backlog), default=0),
                    "backlog": backlog,
                }
            )
        jain = jain_index(worked)
        total = sum(self._violations.values())
        return {
            "scenario": {
                "name": scenario.name,
                "seed": scenario.seed,
                "start": scenario.start.isoformat(),
                "duration_minutes": scenario.duration_minutes,
                "simulated_minutes": _r(end),
                "periodic_interval_minutes": scenario.periodic_interval_minutes,
                "workload": self.workload.source,
                "policy_override": self.policy_override,
            },
            "totals": {
                "conversations": len(self._conversations),
                "assigned": len(self._decisions),
                "resolved": sum(
                    1 for c in self._conversations.values() if c.closed is not None
                ),
                "reopened": self._reopened,
                "unassigned_at_end": sum(len(w) for w in self._waiting.values()),
                "excluded_at_end": sum(i["excluded_at_end"] for i in inboxes),
                "jobs": self._jobs,
                "passes": self._passes,
                "ignored_events": self._ignored_events,
                "skips": dict(sorted(self._skips.items())),
            },
            "agents": agents,
            "inboxes": inboxes,
            "fairness": {
                "agents_counted": len(worked),
                "jain_index": _r(jain, 4),
                "jain_index_per_online_hour": _r(jain_index(per_hour), 4),
                "max_min_spread": int(max(worked) - min(worked)) if worked else 0,
            },
            "invariants": {
                **{name: self._violations.get(name, 0) for name in INVARIANTS},
                "total": total,
                "examples": list(self._examples),
            },
        }

    def history(self, conversation: int) -> dict[str, object] | None:
        """What happened to a conversation so far (minutes), or ``None`` if it has not
        arrived."""
        tracked = self._conversations.get(conversation)
        if tracked is None:
            return None
        return {
            "conversation": conversation,
            "inbox": tracked.arrival.inbox,
            "created": _r(tracked.created),
            "assigned": _r(tracked.assigned),
            "agent": tracked.agent,
            "resolved": _r(tracked.closed),
            "reopened": tracked.reopened,
        }

    @property
    def decisions(self) -> list[dict[str, object]]:
        """Every assignment of the run, in order: conversation, agent, minute."""
        return list(self._decisions)


@attrs.frozen(kw_only=True)
class _InboxSkills(SkillRouting):
    """Skills routing with some inboxes' own (their policies' ``skill_routing`` and
    ``skill_relax_after_minutes``): a conversation of an inbox in ``by_inbox`` gets
    its requirements from that inbox's routing, the others from this one."""

    by_inbox: Mapping[str, SkillRouting] = attrs.field(factory=dict)

    def requirements(
        self, conversation: Conversation, *, waiting_since: datetime, now: datetime
    ) -> tuple[dict[str, int], bool]:
        own = self.by_inbox.get(str(conversation.inbox))
        if own is None:
            return super().requirements(
                conversation, waiting_since=waiting_since, now=now
            )
        return own.requirements(conversation, waiting_since=waiting_since, now=now)


def _no_skills(conversation: Conversation) -> dict[str, int]:
    """The requirements where skills routing is off: none."""
    return {}


def _skill_routing(
    scenario: Scenario, policies: Mapping[str, PolicySpec | None]
) -> SkillRouting | None:
    """The scenario's ``[skills]``: its agents' skills in a book, requirements from
    labels with its prefix (``None``: no ``[skills]`` table), and each inbox's
    policy's ``skill_routing`` and ``skill_relax_after_minutes``, if any sets them."""
    spec = scenario.skills
    if spec is None:
        return None
    book = InMemorySkillBook()
    book.set_many(
        scenario.account,
        {agent.id: dict(agent.skills) for agent in scenario.agents if agent.skills},
    )
    relax = spec.relax_after_minutes
    routing = SkillRouting(
        book=book,
        required=skills_from_labels(spec.label_prefix),
        relax_after=None if relax is None else timedelta(minutes=relax),
    )
    by_inbox: dict[str, SkillRouting] = {}
    for inbox, policy in policies.items():
        if policy is None or not policy.sets_skills:
            continue
        minutes = policy.skill_relax_after_minutes
        by_inbox[inbox] = attrs.evolve(
            routing,
            required=_no_skills if policy.skill_routing is False else routing.required,
            relax_after=(
                routing.relax_after
                if minutes is None
                else timedelta(minutes=minutes)
                if minutes
                else None
            ),
        )
    if not by_inbox:
        return routing
    return _InboxSkills(
        book=routing.book,
        required=routing.required,
        relax_after=routing.relax_after,
        by_inbox=by_inbox,
    )


def _capacity_policies(
    scenario: Scenario, unchecked: set[str]
) -> Iterator[CapacityPolicy]:
    """The scenario's capacity policies. A ``total_limit`` is not checked in the
    ``unchecked`` inboxes (on a policy with ``global_capacity = false``): a capacity
    policy with a total that links some of them is split in two, the same agents and
    rules, the total only on the part that links the others."""
    ids = {spec.id for spec in scenario.capacity_policies}

    def build(
        spec: CapacitySpec,
        id: str,
        limits: Iterable[tuple[str, int | None]],
        total: int | None,
    ) -> CapacityPolicy:
        return CapacityPolicy(
            id=id,
            account=scenario.account,
            name=id,
            inbox_limits=dict(limits),
            agents=frozenset(spec.agents),
            exclusion_rules=spec.exclusion_rules,
            total_limit=total,
        )

    for spec in scenario.capacity_policies:
        off = [(i, limit) for i, limit in spec.inbox_limits if i in unchecked]
        if spec.total_limit is None or not off:
            yield build(spec, spec.id, spec.inbox_limits, spec.total_limit)
            continue
        on = [(i, limit) for i, limit in spec.inbox_limits if i not in unchecked]
        if on:
            yield build(spec, spec.id, on, spec.total_limit)
        other = f"{spec.id} without total_limit"
        while other in ids:
            other += "'"
        yield build(spec, other if on else spec.id, off, None)
