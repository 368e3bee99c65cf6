"""In-memory adapters for every port: the embedded default and the reference the other
adapters are tested against.

No dependencies, no threads, no timers: every store is guarded by its own lock (so it is
thread-safe), and expiry is lazy, read from the injected :class:`~autoassign.ports.Clock`.

:class:`InMemoryBackend` bundles them with a short seeding API::

    backend = InMemoryBackend(clock=FakeClock())
    backend.add_account(1)                       # with assignment_v2 on
    backend.add_inbox(10, account=1, members=["ann", "bob"])
    backend.add_policy(AssignmentPolicy(id=7, account=1), inboxes=[10])
    backend.set_status(1, "ann", "online")
    backend.add_conversation(100, inbox=10)
"""

from __future__ import annotations

import heapq
import itertools
import sys
import threading
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import attrs

from autoassign.adapters._sorted import SortedChunks
from autoassign.clock import check_max_clock_skew, skew_margin
from autoassign.model import (
    ASSIGNMENT_V2_FEATURE,
    ONLINE,
    WEIGHT_SCALE,
    Account,
    AccountId,
    AgentId,
    AssignmentPolicy,
    CapacityPolicy,
    Conversation,
    ConversationId,
    ConversationPriority,
    ConversationStatus,
    ExclusionRules,
    Inbox,
    InboxId,
    LedgerUsage,
    Load,
    PolicyId,
    PolicyOverrides,
    Team,
    TeamId,
    load_from_units,
    weight_units,
)
from autoassign.outbox import OutboxRecord, StagedClaims
from autoassign.ports import Clock, HandOff
from autoassign.selection import reconcile_queue
from autoassign.weights import (
    WeightedMove,
    WeightedQueue,
    apply_weighted_moves,
    fill_tags,
)
from autoassign.wiring import Autoassign, build_autoassign

__all__ = [
    "InMemoryBackend",
    "InMemoryEventBus",
    "InMemoryEventOutbox",
    "InMemoryInboxLease",
    "InMemoryJobQueue",
    "InMemoryOnlinePresence",
    "InMemoryPresence",
    "InMemoryRateLimitLedger",
    "InMemoryRotationStore",
    "InMemoryWorld",
    "build_in_memory",
    "reconcile_queue",
]

T = TypeVar("T")


def _batched(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    if size <= 0:
        raise ValueError("batch_size must be positive")
    for start in range(0, len(items), size):
        yield items[start : start + size]


class InMemoryWorld:
    """The host's data in memory: implements both
    :class:`~autoassign.ports.Directory` and
    :class:`~autoassign.ports.ConversationRepository`."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self.accounts: dict[AccountId, Account] = {}
        self.inboxes: dict[InboxId, Inbox] = {}
        self.members: dict[InboxId, list[AgentId]] = {}
        self._member_views: dict[InboxId, tuple[AgentId, ...]] = {}
        """What ``inbox_members`` returns: the same object until membership changes,
        so a caller can tell "unchanged" in O(1)."""
        self.teams: dict[TeamId, Team] = {}
        self.policies: dict[PolicyId, AssignmentPolicy] = {}
        self.policy_links: dict[InboxId, PolicyId] = {}
        self.capacity_policies: dict[PolicyId, CapacityPolicy] = {}
        self.conversations: dict[ConversationId, Conversation] = {}
        # Indexes, so per-assignment work does not grow with history:
        self._waiting: dict[InboxId, dict[frozenset[str], set[ConversationId]]] = {}
        """Open and unassigned, grouped by label set: ``unassigned_open`` skips a whole
        group that carries an excluded label, so excluded conversations piling up do
        not slow every pass."""
        # Open conversations by assignee: the sum of their weights, in thousandths.
        self._open_by_inbox: dict[InboxId, dict[AgentId, int]] = {}
        self._open_by_account: dict[AccountId, dict[AgentId, int]] = {}

    # -- seeding -------------------------------------------------------------------------

    def put_account(self, account: Account) -> None:
        with self._lock:
            self.accounts[account.id] = account

    def put_inbox(self, inbox: Inbox, members: Iterable[AgentId] = ()) -> None:
        with self._lock:
            self.inboxes[inbox.id] = inbox
            self.members.setdefault(inbox.id, [])
            self._member_views.pop(inbox.id, None)
            for agent in members:
                self.add_member(inbox.id, agent)

    def remove_inbox(self, inbox: InboxId) -> None:
        with self._lock:
            self.inboxes.pop(inbox, None)
            self.members.pop(inbox, None)
            self._member_views.pop(inbox, None)
            self.policy_links.pop(inbox, None)

    def add_member(self, inbox: InboxId, agent: AgentId) -> None:
        with self._lock:
            members = self.members.setdefault(inbox, [])
            if agent not in members:
                members.append(agent)
                self._member_views.pop(inbox, None)

    def remove_member(self, inbox: InboxId, agent: AgentId) -> None:
        with self._lock:
            members = self.members.get(inbox, [])
            if agent in members:
                members.remove(agent)
            self._member_views.pop(inbox, None)

    def put_team(self, team: Team) -> None:
        with self._lock:
            self.teams[team.id] = team

    def put_policy(self, policy: AssignmentPolicy) -> None:
        with self._lock:
            self.policies[policy.id] = policy

    def link_policy(self, inbox: InboxId, policy: PolicyId) -> None:
        with self._lock:
            self.policy_links[inbox] = policy

    def unlink_policy(self, inbox: InboxId) -> None:
        with self._lock:
            self.policy_links.pop(inbox, None)

    def remove_policy(self, policy: PolicyId) -> None:
        """Delete an assignment policy and unlink every inbox linked to it."""
        with self._lock:
            for inbox in [i for i, p in self.policy_links.items() if p == policy]:
                del self.policy_links[inbox]
            self.policies.pop(policy, None)

    def put_capacity_policy(self, policy: CapacityPolicy) -> None:
        with self._lock:
            self.capacity_policies[policy.id] = policy

    def remove_capacity_policy(self, policy: PolicyId) -> None:
        with self._lock:
            self.capacity_policies.pop(policy, None)

    def put_conversation(self, conversation: Conversation) -> None:
        with self._lock:
            self._store(conversation)

    def remove_conversation(self, conversation: ConversationId) -> None:
        with self._lock:
            current = self.conversations.pop(conversation, None)
            if current is not None:
                self._unindex(current)

    def _store(self, conversation: Conversation) -> None:
        previous = self.conversations.get(conversation.id)
        if previous is not None:
            self._unindex(previous)
        self.conversations[conversation.id] = conversation
        if conversation.is_assignable:
            groups = self._waiting.setdefault(conversation.inbox, {})
            groups.setdefault(conversation.labels, set()).add(conversation.id)
        elif (
            conversation.status is ConversationStatus.OPEN
            and conversation.assignee is not None
        ):
            agent = conversation.assignee
            units = weight_units(conversation.weight)
            for held in (
                self._open_by_inbox.setdefault(conversation.inbox, {}),
                self._open_by_account.setdefault(conversation.account, {}),
            ):
                held[agent] = held.get(agent, 0) + units

    def _unindex(self, conversation: Conversation) -> None:
        groups = self._waiting.get(conversation.inbox, {})
        group = groups.get(conversation.labels)
        if group is not None:
            group.discard(conversation.id)
            if not group:
                del groups[conversation.labels]
        if (
            conversation.status is ConversationStatus.OPEN
            and conversation.assignee is not None
        ):
            agent = conversation.assignee
            units = weight_units(conversation.weight)
            for held in (
                self._open_by_inbox[conversation.inbox],
                self._open_by_account[conversation.account],
            ):
                held[agent] -= units
                if not held[agent]:
                    del held[agent]

    def update_conversation(
        self, conversation: ConversationId, **changes: Any
    ) -> tuple[Conversation, Conversation]:
        """Change a stored conversation (as the host's app would); returns
        ``(before, after)`` for :meth:`AssignmentTriggers.on_conversation_saved`."""
        with self._lock:
            before = self.conversations[conversation]
            after = attrs.evolve(before, **changes)
            self._store(after)
            return before, after

    # -- Directory -------------------------------------------------------------------------

    def account(self, account: AccountId) -> Account | None:
        with self._lock:
            return self.accounts.get(account)

    def inbox(self, inbox: InboxId) -> Inbox | None:
        with self._lock:
            return self.inboxes.get(inbox)

    def inbox_members(self, inbox: InboxId) -> Sequence[AgentId]:
        with self._lock:
            view = self._member_views.get(inbox)
            if view is None:
                view = tuple(self.members.get(inbox, ()))
                self._member_views[inbox] = view
            return view

    def team(self, team: TeamId) -> Team | None:
        with self._lock:
            return self.teams.get(team)

    def policy_for_inbox(self, inbox: InboxId) -> AssignmentPolicy | None:
        with self._lock:
            policy = self.policy_links.get(inbox)
            return None if policy is None else self.policies.get(policy)

    def capacity_policies_for_inbox(self, inbox: InboxId) -> Sequence[CapacityPolicy]:
        with self._lock:
            record = self.inboxes.get(inbox)
            if record is None:
                return ()
            return tuple(
                policy
                for policy in self.capacity_policies.values()
                if policy.account == record.account and policy.links(inbox)
            )

    def inboxes_of_agent(self, account: AccountId, agent: AgentId) -> Sequence[InboxId]:
        with self._lock:
            return tuple(
                inbox.id
                for inbox in self.inboxes.values()
                if inbox.account == account and agent in self.members.get(inbox.id, ())
            )

    def iter_accounts(
        self, *, feature: str, batch_size: int
    ) -> Iterator[Sequence[Account]]:
        with self._lock:
            accounts = [a for a in self.accounts.values() if a.has_feature(feature)]
        return _batched(accounts, batch_size)

    def iter_inboxes(
        self, account: AccountId, *, batch_size: int
    ) -> Iterator[Sequence[Inbox]]:
        with self._lock:
            inboxes = [
                inbox
                for inbox in self.inboxes.values()
                if inbox.account == account and inbox.id in self.policy_links
            ]
        return _batched(inboxes, batch_size)

    def iter_inboxes_with_policies(
        self, accounts: Sequence[AccountId], *, batch_size: int
    ) -> Iterator[Sequence[tuple[Inbox, AssignmentPolicy | None]]]:
        """:class:`~autoassign.ports.PagedPolicyDirectory`: every account's
        :meth:`iter_inboxes` with :meth:`policy_for_inbox`, in one pass over the
        inboxes."""
        groups: dict[AccountId, list[tuple[Inbox, AssignmentPolicy | None]]] = {
            account: [] for account in accounts
        }
        with self._lock:
            for inbox in self.inboxes.values():
                group = groups.get(inbox.account)
                policy = self.policy_links.get(inbox.id)
                if group is not None and policy is not None:
                    group.append((inbox, self.policies.get(policy)))
        pairs = [pair for account in groups for pair in groups[account]]
        return _batched(pairs, batch_size)

    # -- ConversationRepository -------------------------------------------------------------

    def get(self, conversation: ConversationId) -> Conversation | None:
        with self._lock:
            return self.conversations.get(conversation)

    def unassigned_open(
        self,
        inbox: InboxId,
        *,
        limit: int,
        priority: ConversationPriority,
        exclusions: ExclusionRules,
        now: datetime,
        after: Conversation | None = None,
        exclude_teams: Collection[TeamId] = (),
    ) -> Sequence[Conversation]:
        excluded = exclusions.excluded_labels
        with self._lock:
            # A group with an excluded label is excluded whole; the rules decide the rest.
            candidates = [
                conversation
                for labels, group in self._waiting.get(inbox, {}).items()
                if not excluded & labels
                for conversation in (self.conversations[key] for key in group)
                if not exclusions.excludes(conversation, now)
                and conversation.on_page(
                    priority, after=after, exclude_teams=exclude_teams
                )
            ]
        return tuple(
            heapq.nsmallest(limit, candidates, key=lambda c: c.priority_key(priority))
        )

    def open_counts(
        self, inbox: InboxId, agents: Collection[AgentId]
    ) -> Mapping[AgentId, Load]:
        """The sum of the weights of each agent's open conversations in ``inbox`` (its
        count when every weight is 1), from an index kept with every change."""
        with self._lock:
            held = self._open_by_inbox.get(inbox)
            if not held:
                return {}
            if len(held) < len(agents):  # few agents hold any: walk those
                wanted = agents if isinstance(agents, (set, frozenset)) else set(agents)
                return {
                    agent: load_from_units(n)
                    for agent, n in held.items()
                    if agent in wanted
                }
            return {
                agent: load_from_units(held[agent]) for agent in agents if agent in held
            }

    def open_totals(
        self, account: AccountId, agents: Collection[AgentId]
    ) -> Mapping[AgentId, Load]:
        """:class:`~autoassign.ports.TotalCapacity`: open conversations (the sum of
        their weights) across the account's inboxes, from an index kept with every
        change."""
        with self._lock:
            held = self._open_by_account.get(account, {})
            return {
                agent: load_from_units(held[agent]) for agent in agents if agent in held
            }

    def claim(
        self,
        conversation: ConversationId,
        agent: AgentId,
        *,
        capacity_limit: int | None = None,
        total_limit: int | None = None,
    ) -> bool:
        with self._lock:
            current = self.conversations.get(conversation)
            if current is None or not current.is_assignable:
                return False
            units = weight_units(current.weight)
            if capacity_limit is not None:
                held = self._open_by_inbox.get(current.inbox, {}).get(agent, 0)
                if held + units > capacity_limit * WEIGHT_SCALE:
                    return False
            if total_limit is not None:
                total = self._open_by_account.get(current.account, {}).get(agent, 0)
                if total + units > total_limit * WEIGHT_SCALE:
                    return False
            self._store(current.with_assignee(agent))
            return True

    def reassign(
        self, conversation: ConversationId, agent: AgentId, *, previous: AgentId
    ) -> bool:
        """:class:`~autoassign.triggers.Reassigner`: the legacy path's reassignment of
        an open conversation still assigned to ``previous``."""
        with self._lock:
            current = self.conversations.get(conversation)
            if (
                current is None
                or current.status is not ConversationStatus.OPEN
                or current.assignee != previous
            ):
                return False
            self._store(current.with_assignee(agent))
            return True


class InMemoryPresence:
    """:class:`~autoassign.ports.Presence` over a dict: ``set_status`` is the host's
    status update.

    A read of the same tuple of agents as an earlier one (the directory's member
    view, read by every pass) is answered with a copy of that answer until a status
    of the account changes."""

    _ANSWERS_KEPT = 64
    """At most this many answers are kept per account (then they are forgotten)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._statuses: dict[AccountId, dict[AgentId, str]] = {}
        self._answers: dict[
            AccountId, dict[int, tuple[tuple[AgentId, ...], dict[AgentId, str]]]
        ] = {}
        """Per account: ``id(agents)`` -> (that tuple, the answer)."""

    def set_status(self, account: AccountId, agent: AgentId, status: str) -> str | None:
        """Set an agent's status; returns the previous one."""
        with self._lock:
            return self._write(account, agent, status)

    def _write(self, account: AccountId, agent: AgentId, status: str) -> str | None:
        """Set a status (the lock held): the account's kept answers are forgotten
        when it changes."""
        table = self._statuses.setdefault(account, {})
        previous = table.get(agent)
        table[agent] = status
        if previous != status:
            self._answers.pop(account, None)
        return previous

    def statuses(
        self, account: AccountId, agents: Collection[AgentId]
    ) -> Mapping[AgentId, str]:
        with self._lock:
            kept = self._answers.get(account)
            if kept is not None:
                known = kept.get(id(agents))
                if known is not None and known[0] is agents:
                    return dict(known[1])
            table = self._statuses.get(account, {})
            found = {agent: table[agent] for agent in agents if agent in table}
            if isinstance(agents, tuple):
                kept = self._answers.setdefault(account, {})
                if len(kept) >= self._ANSWERS_KEPT:
                    kept.clear()
                kept[id(agents)] = (agents, found)
                return dict(found)
            return found


class InMemoryOnlinePresence(InMemoryPresence):
    """:class:`InMemoryPresence` with the optional
    :class:`~autoassign.ports.OnlinePresence` capability: each account's online agents
    are kept in a set on every status write, so :meth:`online` costs the smaller of
    the online agents and the agents asked about."""

    def __init__(self) -> None:
        super().__init__()
        self._online: dict[AccountId, set[AgentId]] = {}

    def set_status(self, account: AccountId, agent: AgentId, status: str) -> str | None:
        with self._lock:
            online = self._online.setdefault(account, set())
            if status == ONLINE:
                online.add(agent)
            else:
                online.discard(agent)
            return self._write(account, agent, status)

    def online(
        self, account: AccountId, agents: Collection[AgentId]
    ) -> Collection[AgentId]:
        with self._lock:
            online = set(self._online.get(account, ()))
        if len(online) < len(agents):
            asked = set(agents)
            return [agent for agent in online if agent in asked]
        return [agent for agent in dict.fromkeys(agents) if agent in online]


class InMemoryRateLimitLedger:
    """:class:`~autoassign.ports.RateLimitLedger` in memory: per (inbox, agent), the
    entries sorted by time (a private ``SortedChunks``) and a
    dict from conversation to its entry. ``try_record``, ``usage`` (per agent),
    ``last_assigned`` (per agent) and ``discard`` are O(log n) in the agent's entries;
    entries older than the window (plus the skew margin) are dropped lazily, by
    ``try_record``.

    Args:
        max_clock_skew: how far from true time any caller's ``now`` may be (see the
            port, and ``docs/concepts.md``, *Clock skew and the rate limit*). Default
            zero, exact windows: one process shares one clock. Give the bound when
            callers on different clocks share this ledger.

    Raises:
        ConfigurationError: ``max_clock_skew`` is not a timedelta from zero to
            :data:`autoassign.clock.MAX_CLOCK_SKEW_ALLOWED`.
    """

    def __init__(self, *, max_clock_skew: timedelta = timedelta(0)) -> None:
        self.max_clock_skew = check_max_clock_skew(max_clock_skew)
        self._margin = skew_margin(self.max_clock_skew)
        self._lock = threading.Lock()
        self._logs: dict[tuple[InboxId, AgentId], _AgentLog] = {}
        self._recorded: dict[InboxId, set[AgentId]] = {}
        """The agents with entries in each inbox (maybe expired), so ``usage`` walks
        those rather than every requested agent."""
        self._sequence = itertools.count()

    def __repr__(self) -> str:
        return f"InMemoryRateLimitLedger(max_clock_skew={self.max_clock_skew!r})"

    @property
    def _entries(self) -> dict[tuple[InboxId, AgentId], dict[ConversationId, datetime]]:
        """A copy of every entry: (inbox, agent) -> conversation -> time (O(n); the
        test suites' "nothing changed" snapshots read it)."""
        with self._lock:
            return {
                where: {conversation: key[0] for conversation, key in log.keys.items()}
                for where, log in self._logs.items()
            }

    def _cutoff(self, now: datetime, window: timedelta) -> _LedgerKey:
        """Sorts after every entry stamped at or before ``now - window - margin``
        (those no longer count) and before every later one."""
        return (now - window - self._margin, _AFTER_EVERY_ENTRY)

    def _wanted(self, inbox: InboxId, agents: Collection[AgentId]) -> Iterable[AgentId]:
        recorded = self._recorded.get(inbox, set())
        if len(recorded) < len(agents):
            wanted = agents if isinstance(agents, (set, frozenset)) else set(agents)
            return [agent for agent in recorded if agent in wanted]
        return agents

    def usage(
        self,
        inbox: InboxId,
        agents: Collection[AgentId],
        *,
        now: datetime,
        window: timedelta,
    ) -> Mapping[AgentId, LedgerUsage]:
        cutoff = self._cutoff(now, window)
        out: dict[AgentId, LedgerUsage] = {}
        with self._lock:
            for agent in self._wanted(inbox, agents):
                log = self._logs.get((inbox, agent))
                if log is None:
                    continue
                count, oldest = log.entries.count_from(cutoff)
                last = log.entries.last()
                if count and oldest is not None and last is not None:
                    out[agent] = LedgerUsage(
                        count=count, oldest=oldest[0], last=last[0]
                    )
        return out

    def last_assigned(
        self,
        inbox: InboxId,
        agents: Collection[AgentId],
        *,
        now: datetime,
        window: timedelta,
    ) -> Mapping[AgentId, datetime]:
        cutoff = self._cutoff(now, window)
        out: dict[AgentId, datetime] = {}
        with self._lock:
            for agent in self._wanted(inbox, agents):
                log = self._logs.get((inbox, agent))
                last = None if log is None else log.entries.last()
                if last is not None and cutoff < last:
                    out[agent] = last[0]
        return out

    def try_record(
        self,
        inbox: InboxId,
        agent: AgentId,
        conversation: ConversationId,
        *,
        now: datetime,
        window: timedelta,
        limit: int | None,
    ) -> bool:
        cutoff = self._cutoff(now, window)
        with self._lock:
            log = self._logs.get((inbox, agent))
            if log is None:
                log = self._logs[(inbox, agent)] = _AgentLog()
                self._recorded.setdefault(inbox, set()).add(agent)
            for gone in log.entries.pop_below(cutoff):
                del log.keys[log.owners.pop(gone[1])]
            previous = log.keys.get(conversation)
            others = len(log.entries) - (previous is not None)
            if limit and others >= limit:
                return False
            if previous is not None:
                log.entries.remove(previous)
                del log.owners[previous[1]]
            key = (now, next(self._sequence))
            log.entries.add(key)
            log.keys[conversation] = key
            log.owners[key[1]] = conversation
            return True

    def discard(
        self, inbox: InboxId, agent: AgentId, conversation: ConversationId
    ) -> None:
        with self._lock:
            log = self._logs.get((inbox, agent))
            key = None if log is None else log.keys.pop(conversation, None)
            if log is None or key is None:
                return
            log.entries.remove(key)
            del log.owners[key[1]]
            if not log.keys:
                del self._logs[(inbox, agent)]
                self._recorded[inbox].discard(agent)


_LedgerKey = tuple[datetime, int]
"""An entry of the in-memory ledger: (time, sequence number). Sequence numbers are
unique, so entries recorded at the same time stay distinct."""

_AFTER_EVERY_ENTRY = sys.maxsize
"""A sequence number larger than any entry's."""


class _AgentLog:
    """One (inbox, agent)'s entries: sorted by time, and by conversation."""

    __slots__ = ("entries", "keys", "owners")

    def __init__(self) -> None:
        self.entries: SortedChunks[_LedgerKey] = SortedChunks()
        self.keys: dict[ConversationId, _LedgerKey] = {}
        self.owners: dict[int, ConversationId] = {}
        """Sequence number -> conversation (the inverse of ``keys``)."""


class InMemoryRotationStore:
    """:class:`~autoassign.ports.RotationStore`: one list per inbox; with
    :class:`~autoassign.ports.WeightedRotation` (weighted round robin's tags and clock
    beside it).

    A stored queue is kept reconciled with the members it was last written with: when
    a call passes that same (immutable) tuple of members again, as the directory's
    member view does until the membership changes, it is not reconciled again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[InboxId, list[AgentId]] = {}
        self._tags: dict[InboxId, dict[AgentId, int]] = {}
        self._clocks: dict[InboxId, int] = {}
        self._members: dict[InboxId, tuple[AgentId, ...]] = {}
        """The members each stored queue is reconciled with (that very tuple)."""

    def _reconciled(self, inbox: InboxId, members: Sequence[AgentId]) -> list[AgentId]:
        """The stored queue reconciled with ``members`` (not stored)."""
        queue = self._queues.get(inbox)
        if queue is not None and self._members.get(inbox) is members:
            return queue
        return reconcile_queue(queue or (), members)

    def _store(
        self, inbox: InboxId, members: Sequence[AgentId], queue: list[AgentId]
    ) -> None:
        self._queues[inbox] = queue
        if isinstance(members, tuple):
            self._members[inbox] = members
        else:  # a list may change: reconcile it next time
            self._members.pop(inbox, None)

    def weighted_order(
        self, inbox: InboxId, *, members: Sequence[AgentId]
    ) -> WeightedQueue:
        with self._lock:
            queue = self._reconciled(inbox, members)
            clock = self._clocks.get(inbox, 0)
            tags = fill_tags(queue, self._tags.get(inbox, {}), clock)
            return WeightedQueue(order=tuple(queue), tags=tags, clock=clock)

    def weighted_advance(
        self,
        inbox: InboxId,
        *,
        members: Sequence[AgentId],
        moves: Sequence[WeightedMove],
    ) -> None:
        with self._lock:
            queue = self._reconciled(inbox, members)
            clock = self._clocks.get(inbox, 0)
            tags = fill_tags(queue, self._tags.get(inbox, {}), clock)
            # a new list (the stored one is left as it was until it is replaced)
            queue, tags, clock = apply_weighted_moves(queue, tags, clock, moves)
            self._store(inbox, members, queue)
            self._tags[inbox] = tags
            self._clocks[inbox] = clock

    def select(
        self,
        inbox: InboxId,
        *,
        members: Sequence[AgentId],
        eligible: Collection[AgentId],
    ) -> AgentId | None:
        allowed = set(eligible)
        with self._lock:
            queue = self._reconciled(inbox, members)
            self._store(inbox, members, queue)
            for index, agent in enumerate(queue):
                if agent in allowed:
                    queue.append(queue.pop(index))
                    return agent
            return None

    def order(self, inbox: InboxId, *, members: Sequence[AgentId]) -> Sequence[AgentId]:
        with self._lock:
            return tuple(self._reconciled(inbox, members))

    def advance(
        self,
        inbox: InboxId,
        *,
        members: Sequence[AgentId],
        agents: Sequence[AgentId],
    ) -> None:
        with self._lock:
            positions = dict.fromkeys(self._reconciled(inbox, members))
            for agent in agents:
                if agent in positions:
                    del positions[agent]
                    positions[agent] = None
            self._store(inbox, members, list(positions))


@attrs.define
class _MemoryLease:
    _owner: InMemoryInboxLease
    _inbox: InboxId
    _token: int

    def release(self) -> None:
        self._owner._release(self._inbox, self._token)


class InMemoryInboxLease:
    """:class:`~autoassign.ports.InboxLease` with expiry read from the clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._held: dict[InboxId, tuple[int, datetime]] = {}
        self._pending: dict[InboxId, tuple[datetime, int | None]] = {}
        """Inbox -> (expiry, holder token for a handed-off mark, else ``None``)."""
        self._tokens = itertools.count(1)

    def acquire(self, inbox: InboxId, *, ttl: timedelta) -> _MemoryLease | None:
        now = self._clock.now()
        with self._lock:
            if self._holder(inbox, now) is not None:
                return None
            token = next(self._tokens)
            self._held[inbox] = (token, now + ttl)
            return _MemoryLease(self, inbox, token)

    def _release(self, inbox: InboxId, token: int) -> None:
        with self._lock:
            held = self._held.get(inbox)
            if held is not None and held[0] == token:
                del self._held[inbox]

    def _holder(self, inbox: InboxId, now: datetime) -> tuple[int, datetime] | None:
        held = self._held.get(inbox)
        return held if held is not None and held[1] > now else None

    def _marked(self, inbox: InboxId, now: datetime) -> bool:
        """Whether a live mark coalesces requests now (call with the lock held)."""
        mark = self._pending.get(inbox)
        if mark is None or mark[0] <= now:
            return False
        if mark[1] is None:
            return True
        holder = self._holder(inbox, now)
        return holder is not None and holder[0] == mark[1]

    def is_held(self, inbox: InboxId) -> bool:
        with self._lock:
            return self._holder(inbox, self._clock.now()) is not None

    def mark_pending(self, inbox: InboxId, *, ttl: timedelta) -> bool:
        now = self._clock.now()
        with self._lock:
            if self._marked(inbox, now):
                return False
            self._pending[inbox] = (now + ttl, None)
            return True

    def hand_off(self, inbox: InboxId, *, ttl: timedelta) -> HandOff | None:
        now = self._clock.now()
        with self._lock:
            holder = self._holder(inbox, now)
            if holder is None:
                return None
            mark = self._pending.get(inbox)
            first = mark is None or mark[0] <= now or mark[1] != holder[0]
            self._pending[inbox] = (now + ttl, holder[0])
            return HandOff(holder_expires_in=holder[1] - now, first=first)

    def mark_pending_many(
        self, inboxes: Sequence[InboxId], *, ttl: timedelta
    ) -> Sequence[bool]:
        """:class:`~autoassign.ports.BatchPendingLease`: :meth:`mark_pending` for each
        of ``inboxes``, in order."""
        now = self._clock.now()
        out = []
        with self._lock:
            for inbox in inboxes:
                fresh = not self._marked(inbox, now)
                if fresh:
                    self._pending[inbox] = (now + ttl, None)
                out.append(fresh)
        return out

    def take_pending(self, inbox: InboxId) -> bool:
        now = self._clock.now()
        with self._lock:
            mark = self._pending.pop(inbox, None)
            return mark is not None and mark[0] > now

    def is_pending(self, inbox: InboxId) -> bool:
        now = self._clock.now()
        with self._lock:
            return self._marked(inbox, now)


class InMemoryEventBus:
    """:class:`~autoassign.ports.EventBus` that keeps every event and calls subscribers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[object] = []
        self._subscribers: list[Callable[[object], None]] = []

    def subscribe(self, handler: Callable[[object], None]) -> None:
        self._subscribers.append(handler)

    def publish(self, event: object) -> None:
        with self._lock:
            self.events.append(event)
        for handler in self._subscribers:
            handler(event)

    def of_type(self, kind: type[T]) -> list[T]:
        with self._lock:
            return [event for event in self.events if isinstance(event, kind)]


class InMemoryEventOutbox(StagedClaims):
    """:class:`~autoassign.ports.EventOutbox` in memory (the generic path: the record
    is staged just before the claim, see :func:`autoassign.outbox.stage_then_claim`).
    It lives as long as the process: it covers a failing event bus, a lost claim
    reply and a failed confirmation, not a killed process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[InboxId, dict[str, OutboxRecord]] = {}
        # each inbox's record ids by conversation, so a confirmation touches only
        # the records of its own conversation
        self._by_conversation: dict[InboxId, dict[ConversationId, set[str]]] = {}

    def stage(self, record: OutboxRecord) -> None:
        with self._lock:
            self._records.setdefault(record.inbox, {})[record.id] = record
            self._by_conversation.setdefault(record.inbox, {}).setdefault(
                record.conversation, set()
            ).add(record.id)

    def due(
        self, inbox: InboxId, *, staged_before: datetime, limit: int
    ) -> Sequence[OutboxRecord]:
        with self._lock:
            records = list(self._records.get(inbox, {}).values())
        found = [r for r in records if r.occurred_at < staged_before]
        found.sort(key=lambda r: (r.occurred_at, r.id))
        return found[: max(limit, 0)]

    def _remove(self, inbox: InboxId, key: str) -> None:
        record = self._records[inbox].pop(key)
        ids = self._by_conversation[inbox][record.conversation]
        ids.discard(key)
        if not ids:
            del self._by_conversation[inbox][record.conversation]

    def confirm(self, inbox: InboxId, records: Sequence[OutboxRecord]) -> None:
        with self._lock:
            stored = self._records.get(inbox, {})
            for record in records:
                if record.id in stored:
                    self._remove(inbox, record.id)
                ids = self._by_conversation.get(inbox, {}).get(record.conversation, ())
                for key in list(ids):
                    if stored[key].occurred_at <= record.occurred_at:
                        self._remove(inbox, key)

    def discard(self, inbox: InboxId, records: Sequence[OutboxRecord]) -> None:
        with self._lock:
            stored = self._records.get(inbox, {})
            for record in records:
                if record.id in stored:
                    self._remove(inbox, record.id)

    def records(self, inbox: InboxId) -> list[OutboxRecord]:
        """Every record of ``inbox``, oldest first (for tests and diagnostics)."""
        with self._lock:
            found = list(self._records.get(inbox, {}).values())
        return sorted(found, key=lambda r: (r.occurred_at, r.id))


class InMemoryJobQueue:
    """:class:`~autoassign.ports.JobQueue` that queues inbox ids until :meth:`drain`.

    It is also a :class:`~autoassign.ports.DelayedJobQueue`: a delayed job waits in
    :attr:`delayed` until ``clock`` reaches its time (with no clock it is due at once),
    and :meth:`pop` moves the due ones to the back of the queue, earliest first.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._queue: deque[InboxId] = deque()
        self._delayed: list[tuple[datetime, int, InboxId]] = []
        self._order = itertools.count()

    def enqueue_assignment(self, inbox: InboxId) -> None:
        with self._lock:
            self._queue.append(inbox)

    def enqueue_assignment_after(self, inbox: InboxId, *, delay: timedelta) -> None:
        if delay < timedelta(0):
            raise ValueError(f"delay must not be negative, got {delay}")
        if self._clock is None:
            self.enqueue_assignment(inbox)
            return
        due = self._clock.now() + delay
        with self._lock:
            heapq.heappush(self._delayed, (due, next(self._order), inbox))

    @property
    def queued(self) -> tuple[InboxId, ...]:
        """The jobs ready to run, in order (delayed jobs that are due included)."""
        with self._lock:
            self._promote()
            return tuple(self._queue)

    @property
    def delayed(self) -> tuple[tuple[datetime, InboxId], ...]:
        """The delayed jobs not yet due: ``(due, inbox)``, earliest first."""
        with self._lock:
            self._promote()
            return tuple((due, inbox) for due, _, inbox in sorted(self._delayed))

    def _promote(self) -> None:
        if self._clock is None or not self._delayed:
            return
        now = self._clock.now()
        while self._delayed and self._delayed[0][0] <= now:
            self._queue.append(heapq.heappop(self._delayed)[2])

    def pop(self) -> InboxId | None:
        with self._lock:
            self._promote()
            return self._queue.popleft() if self._queue else None

    def drain(self, run: Callable[[InboxId], object], *, max_jobs: int = 10_000) -> int:
        """Run queued jobs (including ones they enqueue, and delayed ones as they fall
        due) until none is ready; returns how many ran. Delayed jobs not yet due stay in
        :attr:`delayed`."""
        ran = 0
        while ran < max_jobs:
            inbox = self.pop()
            if inbox is None:
                break
            run(inbox)
            ran += 1
        return ran


class InMemoryBackend:
    """Every in-memory adapter, sharing one clock, plus a seeding API."""

    def __init__(self, *, clock: Clock) -> None:
        self.clock = clock
        self.world = InMemoryWorld(clock)
        self.directory = self.world
        self.conversations = self.world
        self.presence = InMemoryPresence()
        self.ledger = InMemoryRateLimitLedger()
        self.rotation = InMemoryRotationStore()
        self.lease = InMemoryInboxLease(clock)
        self.events = InMemoryEventBus()
        self.outbox = InMemoryEventOutbox()
        self.jobs = InMemoryJobQueue(clock)

    # -- seeding shortcuts -------------------------------------------------------------------

    def add_account(
        self, account: AccountId, *, features: Iterable[str] = (ASSIGNMENT_V2_FEATURE,)
    ) -> Account:
        record = Account(id=account, features=frozenset[str](features))
        self.world.put_account(record)
        return record

    def add_inbox(
        self,
        inbox: InboxId,
        *,
        account: AccountId,
        members: Iterable[AgentId] = (),
        enable_auto_assignment: bool = True,
        overrides: PolicyOverrides | None = None,
    ) -> Inbox:
        record = Inbox(
            id=inbox,
            account=account,
            enable_auto_assignment=enable_auto_assignment,
            overrides=overrides or PolicyOverrides(),
        )
        self.world.put_inbox(record, members)
        return record

    def add_team(
        self,
        team: TeamId,
        *,
        account: AccountId,
        members: Iterable[AgentId] = (),
        allow_auto_assign: bool = True,
    ) -> Team:
        record = Team(
            id=team,
            account=account,
            members=frozenset(members),
            allow_auto_assign=allow_auto_assign,
        )
        self.world.put_team(record)
        return record

    def add_policy(
        self, policy: AssignmentPolicy, *, inboxes: Iterable[InboxId] = ()
    ) -> AssignmentPolicy:
        self.world.put_policy(policy)
        for inbox in inboxes:
            self.world.link_policy(inbox, policy.id)
        return policy

    def add_capacity_policy(self, policy: CapacityPolicy) -> CapacityPolicy:
        self.world.put_capacity_policy(policy)
        return policy

    def set_status(self, account: AccountId, agent: AgentId, status: str) -> str | None:
        return self.presence.set_status(account, agent, status)

    def add_conversation(
        self,
        conversation: ConversationId,
        *,
        inbox: InboxId,
        status: ConversationStatus | str = ConversationStatus.OPEN,
        assignee: AgentId | None = None,
        team: TeamId | None = None,
        labels: Iterable[str] = (),
        created_at: datetime | None = None,
        last_activity_at: datetime | None = None,
        urgency: int | None = None,
        due_at: datetime | None = None,
        weight: Load = 1,
    ) -> Conversation:
        record = self.world.inbox(inbox)
        if record is None:
            raise KeyError(f"unknown inbox {inbox!r}")
        created = created_at or self.clock.now()
        value = Conversation(
            id=conversation,
            inbox=inbox,
            account=record.account,
            status=ConversationStatus(status),
            assignee=assignee,
            team=team,
            labels=frozenset(labels),
            created_at=created,
            last_activity_at=last_activity_at or created,
            urgency=urgency,
            due_at=due_at,
            weight=weight,
        )
        self.world.put_conversation(value)
        return value


def build_in_memory(backend: InMemoryBackend, **options: Any) -> Autoassign:
    """:func:`autoassign.build_autoassign` over every port of ``backend`` (its
    ``outbox`` too, unless ``outbox=None`` is given); ``options`` are passed through
    (``bulk_limit``, ``strict``, ``selectors``, ...)."""
    options.setdefault("outbox", backend.outbox)
    return build_autoassign(
        directory=backend.directory,
        conversations=backend.conversations,
        presence=backend.presence,
        ledger=backend.ledger,
        rotation=backend.rotation,
        lease=backend.lease,
        events=backend.events,
        jobs=backend.jobs,
        clock=backend.clock,
        **{"reassigner": backend.conversations, **options},
    )
