"""Every shipped contract suite against the in-memory adapters."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import timedelta

from autoassign.adapters.memory import (
    InMemoryEventOutbox,
    InMemoryInboxLease,
    InMemoryOnlinePresence,
    InMemoryPresence,
    InMemoryRateLimitLedger,
    InMemoryRotationStore,
    InMemoryWorld,
)
from autoassign.errors import BackendUnavailable
from autoassign.model import (
    Account,
    AccountId,
    AgentId,
    AssignmentPolicy,
    CapacityPolicy,
    Conversation,
    Inbox,
    InboxId,
    PolicyId,
    Team,
)
from autoassign.ports import (
    ConversationRepository,
    Directory,
    InboxLease,
    Presence,
    RateLimitLedger,
    RotationStore,
)
from autoassign.reservations import SequentialReservations
from autoassign.testing import FakeClock, seed_directory
from autoassign.testing.contracts import (
    ConversationRepositoryContract,
    DirectoryContract,
    EventOutboxContract,
    InboxLeaseContract,
    OnlinePresenceContract,
    OutboxSetup,
    PresenceContract,
    RateLimitLedgerContract,
    ReassignerContract,
    ReservationsContract,
    ReservationsSetup,
    RotationStoreContract,
    WeightedRotationContract,
    WeightedRotationStore,
)


class TestMemoryRateLimitLedger(RateLimitLedgerContract):
    def make_ledger(self) -> RateLimitLedger:
        ledger = InMemoryRateLimitLedger()
        assert ledger.max_clock_skew == self.max_clock_skew  # the default: exact
        return ledger


class TestMemoryRateLimitLedgerWithSkew(RateLimitLedgerContract):
    max_clock_skew = timedelta(seconds=3)

    def make_ledger(self) -> RateLimitLedger:
        return InMemoryRateLimitLedger(max_clock_skew=self.max_clock_skew)


class _BreakablePresence(InMemoryPresence):
    """In-memory presence whose reads of a broken account fail."""

    def __init__(self) -> None:
        super().__init__()
        self.broken: set[AccountId] = set()

    def statuses(
        self, account: AccountId, agents: Collection[AgentId]
    ) -> Mapping[AgentId, str]:
        if account in self.broken:
            raise BackendUnavailable(f"presence of account {account!r} is down")
        return super().statuses(account, agents)


class TestSequentialReservations(ReservationsContract):
    def make_reservations(self) -> ReservationsSetup:
        presence = _BreakablePresence()
        ledger = InMemoryRateLimitLedger()
        return ReservationsSetup(
            reservations=SequentialReservations(presence, ledger),
            ledger=ledger,
            set_status=presence.set_status,
            break_presence=presence.broken.add,
        )


class TestMemoryRotationStore(RotationStoreContract):
    def make_rotation(self) -> RotationStore:
        return InMemoryRotationStore()


class TestMemoryWeightedRotation(WeightedRotationContract):
    def make_weighted_rotation(self) -> WeightedRotationStore:
        return InMemoryRotationStore()


class TestMemoryInboxLease(InboxLeaseContract):
    def make_lease(self, clock: FakeClock) -> InboxLease:
        return InMemoryInboxLease(clock)


class TestMemoryPresence(PresenceContract):
    def make_presence(self) -> Presence:
        return InMemoryPresence()

    def set_status(
        self, presence: Presence, account: AccountId, agent: AgentId, status: str
    ) -> None:
        assert isinstance(presence, InMemoryPresence)
        presence.set_status(account, agent, status)


class TestMemoryOnlinePresence(TestMemoryPresence, OnlinePresenceContract):
    def make_presence(self) -> InMemoryOnlinePresence:
        return InMemoryOnlinePresence()


class TestMemoryConversationRepository(ConversationRepositoryContract):
    def make_repository(
        self, conversations: Sequence[Conversation]
    ) -> ConversationRepository:
        world = InMemoryWorld(FakeClock())
        for conversation in conversations:
            world.put_conversation(conversation)
        return world


class TestMemoryReassigner(ReassignerContract):
    def make_repository(self, conversations: Sequence[Conversation]) -> InMemoryWorld:
        world = InMemoryWorld(FakeClock())
        for conversation in conversations:
            world.put_conversation(conversation)
        return world


class TestMemoryDirectory(DirectoryContract):
    def make_directory(
        self,
        *,
        accounts: Sequence[Account],
        inboxes: Sequence[Inbox],
        members: Mapping[InboxId, Sequence[AgentId]],
        teams: Sequence[Team],
        policies: Sequence[AssignmentPolicy],
        links: Mapping[InboxId, PolicyId],
        capacity_policies: Sequence[CapacityPolicy],
    ) -> Directory:
        world = InMemoryWorld(FakeClock())
        seed_directory(
            world,
            accounts=accounts,
            inboxes=inboxes,
            members=members,
            teams=teams,
            policies=policies,
            links=links,
            capacity_policies=capacity_policies,
        )
        return world


class TestMemoryEventOutbox(EventOutboxContract):
    def make_outbox(self, conversations: Sequence[Conversation]) -> OutboxSetup:
        world = InMemoryWorld(FakeClock())
        for conversation in conversations:
            world.put_conversation(conversation)
        return OutboxSetup(InMemoryEventOutbox(), world)
