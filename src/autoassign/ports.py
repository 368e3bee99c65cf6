"""Ports: the ``typing.Protocol`` interfaces the core is written against.

A host implements the ones it owns (usually :class:`ConversationRepository` and
:class:`Directory`, over its own database) and takes the rest from a shipped adapter
(``autoassign.adapters.memory``, ``autoassign.adapters.redis``). Nothing needs to inherit
from these classes; the contract suites in :mod:`autoassign.testing.contracts` check that an
implementation keeps the guarantees written here.

Every method that can fail because of I/O should raise
:class:`~autoassign.errors.BackendError` (or :class:`~autoassign.errors.BackendUnavailable`)
with the driver's exception as ``__cause__``; the core degrades as the spec says on those.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

from autoassign.model import (
    Account,
    AccountId,
    AgentId,
    AssignmentPolicy,
    CapacityPolicy,
    Conversation,
    ConversationId,
    ConversationPriority,
    ExclusionRules,
    Inbox,
    InboxId,
    LedgerUsage,
    Load,
    Reservation,
    Team,
    TeamId,
)
from autoassign.outbox import OutboxRecord
from autoassign.weights import WeightedMove, WeightedQueue

if TYPE_CHECKING:
    from autoassign.schedules import WorkingHours

__all__ = [
    "AgentWeights",
    "BatchPendingLease",
    "CheckedClaims",
    "CheckedOutboxClaims",
    "Clock",
    "ContactHistory",
    "ConversationRepository",
    "DelayedJobQueue",
    "Directory",
    "EventBus",
    "EventOutbox",
    "HandOff",
    "InboxLease",
    "JobQueue",
    "Lease",
    "OnlinePresence",
    "PagedPolicyDirectory",
    "Presence",
    "RateLimitLedger",
    "Reservations",
    "RotationStore",
    "ScheduleBook",
    "SkillBook",
    "TotalCapacity",
    "WeightedRotation",
]


class Clock(Protocol):
    """**Port:** the only source of time. ``now()`` returns an aware UTC datetime and never
    goes backwards."""

    def now(self) -> datetime: ...


class ConversationRepository(Protocol):
    """**Port:** where conversations live. Implemented by the host over its database."""

    def get(self, conversation: ConversationId) -> Conversation | None:
        """The conversation as stored now, or ``None`` if it does not exist."""
        ...

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
        """At most ``limit`` conversations of ``inbox`` that are open, have no assignee and
        are not excluded by ``exclusions`` at ``now``, ordered by
        :meth:`Conversation.priority_key` for ``priority`` (a total order: the id breaks
        ties).

        Paging, so a pass can reach the conversations it can assign past those nobody can
        take (no head-of-line blocking):

        * ``after``: only conversations that come strictly after it in that order
          (``c.priority_key(priority) > after.priority_key(priority)``; keyset paging:
          ``after`` need not be stored any more).
        * ``exclude_teams``: leave out conversations whose team is one of these
          (conversations without a team are kept). A pass names the teams it found
          nobody can take, so later pages skip them in the query.

        An index on the inbox's unassigned open conversations in priority order serves
        every page (docs/sql.md)."""
        ...

    def open_counts(
        self, inbox: InboxId, agents: Collection[AgentId]
    ) -> Mapping[AgentId, Load]:
        """For each of ``agents``, its number of **open** conversations in ``inbox``,
        whoever assigned them (a repository that stores weights: the sum of their
        :attr:`~autoassign.model.Conversation.weight`, an ``int`` when whole). Agents
        with none may be absent from the result. One query for all agents."""
        ...

    def claim(
        self,
        conversation: ConversationId,
        agent: AgentId,
        *,
        capacity_limit: int | None = None,
    ) -> bool:
        """The only write: atomically assign ``conversation`` to ``agent`` if, at that
        instant, it exists, is open and has no assignee, and (when ``capacity_limit`` is
        given) ``agent`` has fewer than ``capacity_limit`` open conversations in the
        conversation's inbox. Returns whether it assigned. Never reassigns.

        A repository that stores weights (weighted capacity) compares weights instead
        of counts: the sum of the weights of the agent's open conversations in the
        inbox plus this conversation's weight must be at most ``capacity_limit``
        (exact in thousandths, :func:`~autoassign.model.fits`); with every weight 1
        that is the count above.

        A repository with :class:`TotalCapacity` also takes ``total_limit`` (passed
        only when set): then ``agent`` must also have fewer than ``total_limit`` open
        conversations across all the inboxes of the conversation's account (with
        weights: room for this one's weight), in the same atomic check."""
        ...


class Directory(Protocol):
    """**Port:** read-only configuration the host owns: accounts, inboxes, membership,
    teams, assignment policies and capacity policies."""

    def account(self, account: AccountId) -> Account | None: ...

    def inbox(self, inbox: InboxId) -> Inbox | None: ...

    def inbox_members(self, inbox: InboxId) -> Sequence[AgentId]:
        """The agents who are members of ``inbox``, in a stable order."""
        ...

    def team(self, team: TeamId) -> Team | None: ...

    def policy_for_inbox(self, inbox: InboxId) -> AssignmentPolicy | None:
        """The one assignment policy linked to ``inbox``, if any."""
        ...

    def capacity_policies_for_inbox(self, inbox: InboxId) -> Sequence[CapacityPolicy]:
        """Every capacity policy of the inbox's account linked to ``inbox``: with a
        limit for it, or an unlimited link (``inbox_limits[inbox] is None``)."""
        ...

    def inboxes_of_agent(self, account: AccountId, agent: AgentId) -> Sequence[InboxId]:
        """The inboxes of ``account`` that ``agent`` is a member of."""
        ...

    def iter_accounts(
        self, *, feature: str, batch_size: int
    ) -> Iterator[Sequence[Account]]:
        """Accounts that have ``feature``, in batches of at most ``batch_size``."""
        ...

    def iter_inboxes(
        self, account: AccountId, *, batch_size: int
    ) -> Iterator[Sequence[Inbox]]:
        """The inboxes of ``account`` that have a linked assignment policy, in batches of
        at most ``batch_size``."""
        ...


@runtime_checkable
class PagedPolicyDirectory(Protocol):
    """**Port (optional capability):** what a :class:`Directory` may also have to read
    the inboxes of several accounts together with their linked policies, one read per
    page.

    :class:`~autoassign.jobs.PeriodicAssignmentJob` uses it when the directory's class
    has :meth:`iter_inboxes_with_policies` (checked with ``isinstance`` against this
    ``runtime_checkable`` protocol and with ``issubclass`` on the directory's class,
    so a proxy that forwards attributes through ``__getattr__`` keeps the base calls it
    may be hooking, on every Python version):
    instead of one :meth:`~Directory.iter_inboxes` per account and one
    :meth:`~Directory.policy_for_inbox` per inbox, one query per page of inboxes.
    Directories without it keep working as before. Shipped by ``InMemoryWorld``,
    ``SqlDirectory`` and ``DjangoDirectory``.
    """

    def iter_inboxes_with_policies(
        self, accounts: Sequence[AccountId], *, batch_size: int
    ) -> Iterator[Sequence[tuple[Inbox, AssignmentPolicy | None]]]:
        """The inboxes of ``accounts`` that have a linked assignment policy, each with
        that policy (``None`` when the link names no policy), in pages of at most
        ``batch_size`` pairs: exactly the inboxes :meth:`~Directory.iter_inboxes` yields
        for each account, paired with what :meth:`~Directory.policy_for_inbox` returns.
        Account by account (in :meth:`~Directory.iter_accounts` order), each account's
        inboxes in :meth:`~Directory.iter_inboxes` order; a page may hold several
        accounts, and an account may span pages. One read per page (a join), however
        many accounts and inboxes there are."""
        ...


class Presence(Protocol):
    """**Port:** agents' live statuses (``online``, ``busy``, ``offline``, ...)."""

    def statuses(
        self, account: AccountId, agents: Collection[AgentId]
    ) -> Mapping[AgentId, str]:
        """The current status of each of ``agents`` in ``account``. An agent absent from
        the result is offline. Read in one step (a snapshot)."""
        ...


@runtime_checkable
class OnlinePresence(Presence, Protocol):
    """**Optional capability of** :class:`Presence`: who is online, without a read per
    agent. A pass takes its presence snapshot with :meth:`online` when its presence
    adapter offers it (checked with ``isinstance``), and with
    :meth:`Presence.statuses` otherwise."""

    def online(
        self, account: AccountId, agents: Collection[AgentId]
    ) -> Collection[AgentId]:
        """The agents of ``agents`` whose status is :data:`~autoassign.model.ONLINE`
        now: exactly those :meth:`Presence.statuses` would report as online, read in
        one step (a snapshot). Its cost should grow with the online agents, not with
        ``len(agents)`` (an index of the online agents, kept on every status write)."""
        ...


class RateLimitLedger(Protocol):
    """**Port:** a log of auto-assignments per (inbox, agent), for fair distribution.

    Windows are logical: time always comes from the caller (the :class:`Clock`), never
    from the store, and an entry is stamped with the recording caller's ``now``.

    **Clock skew.** Workers on different machines read different clocks. A ledger
    states its tolerance as an optional attribute ``max_clock_skew`` (a
    :class:`~datetime.timedelta`; absent means zero): every caller's clock is assumed
    within that much of true time. With ``margin = 2 * max_clock_skew``
    (:func:`autoassign.clock.skew_margin`), an entry stamped ``t`` counts for a reader
    at ``now`` while ``now - t < window + margin`` -- entries stamped after ``now``
    (by a faster clock) count too -- and is only ever deleted once
    ``now - t >= window + margin`` on the deleting caller's clock. Then no interleaving
    of callers within the bound records more than ``limit`` entries for an agent in
    any window of true time; the price is caution: a slot frees up to ``2 * margin``
    later in true time than an exact window would free it. With zero tolerance windows
    are exact: an entry counts in ``(now - window, now]`` and stops counting exactly
    when ``now - t >= window``. ``docs/concepts.md`` (*Clock skew and the rate limit*)
    has the argument.
    """

    def usage(
        self,
        inbox: InboxId,
        agents: Collection[AgentId],
        *,
        now: datetime,
        window: timedelta,
    ) -> Mapping[AgentId, LedgerUsage]:
        """For each of ``agents``: how many entries it has in ``inbox`` within the window
        ending ``now`` (widened by the margin, see above), and the times of the oldest
        and the newest of them. Agents with
        no entry in the window may be absent. One read for all agents; the cost must not
        grow with the number of entries (count them, never list them)."""
        ...

    def last_assigned(
        self,
        inbox: InboxId,
        agents: Collection[AgentId],
        *,
        now: datetime,
        window: timedelta,
    ) -> Mapping[AgentId, datetime]:
        """For each of ``agents`` with an entry in ``inbox`` within the window ending
        ``now``: the time of its newest entry (what :meth:`usage` reports as ``last``).
        Agents without one are absent. A pass reads it for every member once, for a
        host selector that needs it, so it must be one read that costs little per agent:
        keep an index of each agent's newest entry rather than visiting each agent's
        log. An entry :meth:`discard` removed no longer counts."""
        ...

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
        """Atomically: if ``limit`` is ``None`` or the agent has fewer than ``limit``
        entries in the window (widened by the margin, see above; entries stamped after
        ``now`` included), record ``conversation`` at ``now`` and return ``True``;
        otherwise change nothing and return ``False``. Recording the same conversation
        again replaces its entry. Two callers can never both take an agent's last slot."""
        ...

    def discard(
        self, inbox: InboxId, agent: AgentId, conversation: ConversationId
    ) -> None:
        """Remove the entry for ``conversation`` (a reservation whose claim failed)."""
        ...


class Reservations(Protocol):
    """**Port:** the last step before a claim: confirm presence at the time of
    assignment and take the chosen agent's fair-distribution slot.

    :class:`autoassign.reservations.SequentialReservations` does it with one
    :class:`Presence` read and one :meth:`RateLimitLedger.try_record`; a backend that
    holds both (``RedisBackend.reservations``) answers in one round trip.
    """

    def reserve(
        self,
        account: AccountId,
        inbox: InboxId,
        agent: AgentId,
        conversation: ConversationId,
        *,
        expect_online: Mapping[AgentId, bool],
        now: datetime,
        window: timedelta,
        limit: int | None,
        record: bool = True,
    ) -> Reservation:
        """Read the presence of every agent in ``expect_online`` (in ``account``, one
        snapshot, as :meth:`Presence.statuses`; no read when it is empty). If the read
        succeeded, every one of them is online (:data:`~autoassign.model.ONLINE`)
        exactly when expected, and ``record`` is true, record ``conversation`` for
        ``agent`` in ``inbox`` as :meth:`RateLimitLedger.try_record` would (atomic
        check against ``limit``, with the ledger's clock-skew margin).

        Leaves no entry when presence fails or differs: an implementation that records
        speculatively (in the same round trip as the read) removes its entry again.
        Never raises for a failing backend; errors are reported on the
        :class:`~autoassign.model.Reservation`."""
        ...


class RotationStore(Protocol):
    """**Port:** the round-robin queue of each inbox (round robin's order, and balanced's
    among agents with equal open counts)."""

    def select(
        self,
        inbox: InboxId,
        *,
        members: Sequence[AgentId],
        eligible: Collection[AgentId],
    ) -> AgentId | None:
        """In one atomic step: reconcile the queue with ``members`` (removed agents leave,
        new ones join at the back, survivors keep their order, duplicates go), pick the
        first agent in queue order that is in ``eligible``, move it to the back and
        return it. ``None`` (and no rotation) when no member is eligible."""
        ...

    def order(self, inbox: InboxId, *, members: Sequence[AgentId]) -> Sequence[AgentId]:
        """The queue as :meth:`select` would see it after reconciling, front first.
        Read-only: nothing is written."""
        ...

    def advance(
        self,
        inbox: InboxId,
        *,
        members: Sequence[AgentId],
        agents: Sequence[AgentId],
    ) -> None:
        """In one atomic step: reconcile the queue with ``members`` (as :meth:`select`
        does), then move each of ``agents`` that is a member to the back, in the order
        given (an agent listed twice moves twice). A pass calls it once at its end with
        the agents it assigned, in assignment order, after choosing from :meth:`order`."""
        ...


@runtime_checkable
class WeightedRotation(Protocol):
    """**Optional capability** of a :class:`RotationStore`: the tags and clock of
    weighted round robin (:mod:`autoassign.weights`) beside each inbox's queue, the
    same queue :meth:`RotationStore.order` reads and :meth:`RotationStore.advance`
    moves. Checked with ``isinstance``; without it the ``weighted_round_robin`` order
    ranks as round robin (logged). Shipped by ``InMemoryRotationStore`` and
    ``RedisRotationStore``; the contract suite is
    :class:`autoassign.testing.contracts.WeightedRotationContract`."""

    def weighted_order(
        self, inbox: InboxId, *, members: Sequence[AgentId]
    ) -> WeightedQueue:
        """The queue as :meth:`RotationStore.order` returns it, every member's tag
        (stored, or as :func:`~autoassign.weights.fill_tags` gives a member without
        one) and the inbox's clock (0 before the first move). Read-only."""
        ...

    def weighted_advance(
        self,
        inbox: InboxId,
        *,
        members: Sequence[AgentId],
        moves: Sequence[WeightedMove],
    ) -> None:
        """In one atomic step: reconcile the queue with ``members`` (as
        :meth:`RotationStore.advance` does), store the tags
        :func:`~autoassign.weights.fill_tags` gives the members without one (dropping
        non-members' tags), then apply ``moves`` in order as
        :func:`~autoassign.weights.apply_weighted_moves` does: each member's tag becomes
        ``max(tag, at) + stride``, the clock ``max(clock, at)``, and the agent moves to
        the back of the queue. Moves of non-members are ignored. The moves are applied
        to the tags stored *now*, so two passes that read the same state both charge
        every turn they gave."""
        ...


class Lease(Protocol):
    """A held inbox lease."""

    def release(self) -> None:
        """Release it. Only the owner's lease is released; a lease that has already
        expired and been taken by someone else is left alone."""
        ...


@attrs.frozen(kw_only=True)
class HandOff:
    """What :meth:`InboxLease.hand_off` did: the inbox is marked pending for the pass
    that holds its lease."""

    holder_expires_in: timedelta
    """How long the holder's lease has left: if the holder dies, the inbox is free (and
    a new request is taken as fresh) after that."""
    first: bool
    """``False`` if the mark was already handed to this same holder (by an earlier
    call), so whoever did that has already arranged any follow-up."""


class InboxLease(Protocol):
    """**Port:** one pass per inbox at a time, and coalescing of triggers.

    The pending mark has two forms: *queued* (set by :meth:`mark_pending`: a job was
    enqueued and has not started) and *handed off* (set by :meth:`hand_off`: a job found
    the lease held and left the request to that holder). A handed-off mark coalesces
    requests only while that same holder still holds the lease: once its lease is
    released or has expired (the holder died), :meth:`mark_pending` treats the inbox as
    unmarked, so the next request enqueues a job at once instead of waiting for the
    mark's ``ttl``.
    """

    def acquire(self, inbox: InboxId, *, ttl: timedelta) -> Lease | None:
        """Take the inbox's lease for at most ``ttl``, or ``None`` if someone holds it."""
        ...

    def mark_pending(self, inbox: InboxId, *, ttl: timedelta) -> bool:
        """Mark that the inbox needs a pass (a queued mark). Returns ``True`` if it was
        not already marked, or marked only for a holder that no longer holds the lease
        (the caller should enqueue a job); ``False`` if a job is already due. The mark
        lapses after ``ttl`` so a lost job cannot block triggers forever. Atomic."""
        ...

    def hand_off(self, inbox: InboxId, *, ttl: timedelta) -> HandOff | None:
        """If someone holds the inbox's lease, mark the inbox pending for that holder
        (a handed-off mark, lapsing after ``ttl``, replacing any mark) and say how long
        its lease has left; ``None`` (changing nothing) if nobody holds it, so the
        caller can take the lease itself. Atomic with respect to :meth:`acquire`,
        :meth:`mark_pending` and :meth:`take_pending`."""
        ...

    def take_pending(self, inbox: InboxId) -> bool:
        """Clear the mark (of either form) and return whether it was set, atomically."""
        ...

    def is_pending(self, inbox: InboxId) -> bool:
        """Whether the inbox is marked now (a job is due and has not started, or the
        holder of the lease will run again), as :meth:`mark_pending` would see it: a
        lapsed mark, or one handed to a holder that no longer holds the lease, is not
        pending. Read-only: it neither sets, clears nor extends the mark (``explain``
        relies on that)."""
        ...


@runtime_checkable
class BatchPendingLease(Protocol):
    """**Port (optional capability):** what an :class:`InboxLease` may also have to
    mark many inboxes pending in one round trip.

    :class:`~autoassign.jobs.PeriodicAssignmentJob` uses it when the lease's class has
    :meth:`mark_pending_many` (checked as for :class:`PagedPolicyDirectory`): one call
    per page of inboxes instead of one :meth:`~InboxLease.mark_pending` each. Leases
    without it keep working as before. Shipped by ``InMemoryInboxLease`` and
    ``RedisInboxLease`` (one pipeline).
    """

    def mark_pending_many(
        self, inboxes: Sequence[InboxId], *, ttl: timedelta
    ) -> Sequence[bool]:
        """:meth:`~InboxLease.mark_pending` for each of ``inboxes`` (each atomic on its
        own, not all together): for each, in order, whether it was fresh (the caller
        should enqueue its job). One round trip. Raises (a
        :class:`~autoassign.errors.BackendError`) if any mark failed; the others may
        have been set, which the caller treats as "enqueue anyway"."""
        ...


class EventBus(Protocol):
    """**Port:** where domain events go (webhooks, notifications, analytics)."""

    def publish(self, event: object) -> None: ...


class JobQueue(Protocol):
    """**Port:** the host's job engine."""

    def enqueue_assignment(self, inbox: InboxId) -> None:
        """Queue the assignment job of ``inbox`` (:meth:`AssignmentJob.run`)."""
        ...


@runtime_checkable
class CheckedClaims(Protocol):
    """**Optional capability** of a :class:`ConversationRepository`: a claim that
    re-checks, in its own atomic write, everything the pass would otherwise re-read
    before claiming. The pass then claims each row of its page directly, without a
    separate read of the conversation first (the SQL adapter: one statement per
    assignment). Checked with ``isinstance``; a repository without it is re-read
    before every claim, as always."""

    def claim_checked(
        self,
        expected: Conversation,
        agent: AgentId,
        *,
        capacity_limit: int | None = None,
        record: OutboxRecord | None = None,
    ) -> bool:
        """:meth:`ConversationRepository.claim` of ``expected.id``, which assigns only
        if the conversation is also still in ``expected.inbox`` and of
        ``expected.team`` (``expected`` is a row of :meth:`unassigned_open
        <ConversationRepository.unassigned_open>`). With ``record`` (an outbox that
        writes its rows in the claim passes it) the record is stored atomically with
        the claim. Returns whether it assigned."""
        ...


@runtime_checkable
class ContactHistory(Protocol):
    """**Port (optional):** who had a returning contact before, for sticky agents
    (:mod:`autoassign.sticky`): the host's own query (its conversations table knows
    each conversation's contact), or
    :class:`~autoassign.sticky.InMemoryContactHistory`."""

    def previous_agents(
        self,
        account: AccountId,
        conversations: Sequence[Conversation],
        *,
        since: datetime,
    ) -> Mapping[ConversationId, AgentId]:
        """For each of ``conversations`` (a page of ``account``'s) whose contact had
        another conversation created at or after ``since`` with an assignee: the
        assignee of the most recent one (whatever its status now). Conversations
        without one are absent. One read for the page."""
        ...


@runtime_checkable
class TotalCapacity(Protocol):
    """**Optional capability** of a :class:`ConversationRepository`, needed by a
    capacity policy with a :attr:`~autoassign.model.CapacityPolicy.total_limit`: it
    counts an agent's open conversations across all of an account's inboxes, and its
    :meth:`~ConversationRepository.claim` (and :meth:`CheckedClaims.claim_checked`)
    take ``total_limit=`` and check it atomically with the rest of the claim (the SQL
    adapter: a second count in the claim's UPDATE, under the same per-agent lock).
    Checked with ``isinstance``. A pass whose inbox has a total limit and whose
    repository lacks it skips each conversation with ``backend_error`` (detail
    ``total_limit``): the limit is never ignored."""

    def open_totals(
        self, account: AccountId, agents: Collection[AgentId]
    ) -> Mapping[AgentId, Load]:
        """For each of ``agents``, its number of **open** conversations in every inbox
        of ``account``, whoever assigned them (with weights: the sum of their
        weights). Agents with none may be absent. One query for all agents."""
        ...


@runtime_checkable
class CheckedOutboxClaims(Protocol):
    """**Optional capability** of an :class:`EventOutbox`: :meth:`EventOutbox.claim`
    through :meth:`CheckedClaims.claim_checked` (the shipped outboxes have it)."""

    def claim_checked(
        self,
        conversations: CheckedClaims,
        record: OutboxRecord,
        expected: Conversation,
        *,
        capacity_limit: int | None,
    ) -> bool:
        """As :meth:`EventOutbox.claim`, the claim made with
        :meth:`CheckedClaims.claim_checked` of ``expected``. The shipped outboxes also
        take ``total_limit=`` and pass it on (:class:`TotalCapacity`)."""
        ...


class EventOutbox(Protocol):
    """**Port:** the records of assignments whose events may not be published yet
    (:class:`~autoassign.outbox.OutboxRecord`), so that none is lost.

    Records are keyed by their id; a conversation may have several (a claim staged
    again after a lost one). Shipped: ``InMemoryEventOutbox``, ``RedisEventOutbox``
    (``RedisBackend.outbox``) and ``SqlEventOutbox`` (written in the claim's own SQL
    statement). The contract suite is
    :class:`autoassign.testing.contracts.EventOutboxContract`.
    """

    def stage(self, record: OutboxRecord) -> None:
        """Store ``record`` (durably, before returning)."""
        ...

    def claim(
        self,
        conversations: ConversationRepository,
        record: OutboxRecord,
        *,
        capacity_limit: int | None,
    ) -> bool:
        """Claim ``record.conversation`` for ``record.agent`` as
        :meth:`ConversationRepository.claim` does (its answer is returned), with the
        record stored **no later than the claim takes effect**: before it, or
        atomically with it. When the claim does not assign, the record is not left
        (best effort: one left behind is dropped by the relay). When it raises, the
        record may be stored; the caller re-reads the conversation to learn the
        outcome. :func:`autoassign.outbox.stage_then_claim` is the generic way
        (:meth:`stage`, claim, :meth:`discard` if it did not assign)."""
        ...

    def due(
        self, inbox: InboxId, *, staged_before: datetime, limit: int
    ) -> Sequence[OutboxRecord]:
        """At most ``limit`` of ``inbox``'s records whose ``occurred_at`` is before
        ``staged_before``, oldest first. Read-only."""
        ...

    def confirm(self, inbox: InboxId, records: Sequence[OutboxRecord]) -> None:
        """``records`` were published: remove each, and every record of the same
        conversation that occurred at or before it (superseded: that claim never took
        effect, or was undone before this one). One round trip for all of them;
        absent records are ignored."""
        ...

    def discard(self, inbox: InboxId, records: Sequence[OutboxRecord]) -> None:
        """Remove exactly ``records`` (claims that did not take effect); other records
        of their conversations stay. One round trip; absent records are ignored."""
        ...


class DelayedJobQueue(JobQueue, Protocol):
    """**Port (optional capability):** a :class:`JobQueue` that can also run the
    assignment job later. The core looks for :meth:`enqueue_assignment_after` on the
    host's queue (no inheritance needed) and uses it when present: a job that hands its
    request to the pass holding the lease asks for a re-run at about that lease's
    expiry, so the inbox is served within about one lease TTL even if the holder died
    and no other trigger comes. Queues without it keep working as before."""

    def enqueue_assignment_after(self, inbox: InboxId, *, delay: timedelta) -> None:
        """Queue the assignment job of ``inbox`` to start no earlier than ``delay`` from
        now (and soon after it)."""
        ...


@runtime_checkable
class ScheduleBook(Protocol):
    """**Port (optional):** where working hours come from (the host's shifts table, an
    HR system, or :class:`~autoassign.schedules.InMemoryScheduleBook`); wired with
    ``build_autoassign(schedules=...)``. See :mod:`autoassign.schedules`."""

    def agent_hours(
        self, account: AccountId, agents: Collection[AgentId]
    ) -> Mapping[AgentId, WorkingHours]:
        """The hours of those of ``agents`` that have any (one read for all);
        an agent absent from the answer is always available."""
        ...

    def inbox_hours(self, inbox: InboxId) -> WorkingHours | None:
        """The inbox's business hours; ``None``: always open."""
        ...


@runtime_checkable
class SkillBook(Protocol):
    """**Port (optional):** where agents' skills come from (the host's own table, a
    directory service, or :class:`~autoassign.skills.InMemorySkillBook`); wired with
    ``build_autoassign(skills=SkillRouting(book, ...))``. See
    :mod:`autoassign.skills`."""

    def agent_skills(
        self, account: AccountId, agents: Collection[AgentId]
    ) -> Mapping[AgentId, Mapping[str, int]]:
        """The skills of those of ``agents`` that have any, each a name and a level
        (``>= 1``), in one read for all; an agent absent from the answer has none."""
        ...


@runtime_checkable
class AgentWeights(Protocol):
    """**Port (optional):** where agents' weights for weighted round robin come from
    (the host's own table, or :class:`~autoassign.weights.InMemoryAgentWeights`);
    wired with ``build_autoassign(agent_weights=...)``. See :mod:`autoassign.weights`."""

    def agent_weights(
        self,
        account: AccountId,
        agents: Collection[AgentId],
        *,
        inbox: InboxId,
    ) -> Mapping[AgentId, int]:
        """The weights in ``inbox`` of those of ``agents`` that have one, each an int
        from 1 to :data:`~autoassign.weights.MAX_AGENT_WEIGHT`, in one read for all; an
        agent absent from the answer has weight 1."""
        ...
