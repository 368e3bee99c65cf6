"""The shipped contract suites (autoassign.testing.contracts) against the Redis adapters,
on fakeredis (fresh server per test), real Redis and a real cluster, with bytes and str
replies. Each hook returns a store under a fresh key prefix."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import timedelta

import pytest

from autoassign.adapters.memory import InMemoryWorld
from autoassign.adapters.redis import (
    DEFAULT_MAX_CLOCK_SKEW,
    RedisBackend,
    RedisEventOutbox,
    RedisInboxLease,
    RedisPresence,
    RedisRateLimitLedger,
    RedisRotationStore,
)
from autoassign.model import AccountId, AgentId, Conversation
from autoassign.ports import InboxLease, Presence, RateLimitLedger, RotationStore
from autoassign.testing import FakeClock
from autoassign.testing.contracts import (
    EventOutboxContract,
    InboxLeaseContract,
    OnlinePresenceContract,
    OutboxSetup,
    RateLimitLedgerContract,
    ReservationsContract,
    ReservationsSetup,
    RotationStoreContract,
    WeightedRotationContract,
    WeightedRotationStore,
)

from .conftest import Target


class _OnRedis:
    target: Target
    _counter: itertools.count[int]

    @pytest.fixture(autouse=True)
    def _on_redis(self, any_redis: Target) -> None:
        self.target = any_redis
        self._counter = itertools.count()

    def fresh_prefix(self) -> str:
        return f"{self.target.prefix}:{next(self._counter)}"


class TestRedisRateLimitLedger(_OnRedis, RateLimitLedgerContract):
    """The default tolerance (one second)."""

    max_clock_skew = DEFAULT_MAX_CLOCK_SKEW

    def make_ledger(self) -> RateLimitLedger:
        ledger = RedisRateLimitLedger(self.target.client, prefix=self.fresh_prefix())
        assert ledger.max_clock_skew == self.max_clock_skew
        return ledger


class TestRedisRateLimitLedgerExact(TestRedisRateLimitLedger):
    max_clock_skew = timedelta(0)

    def make_ledger(self) -> RateLimitLedger:
        return RedisRateLimitLedger(
            self.target.client,
            prefix=self.fresh_prefix(),
            max_clock_skew=self.max_clock_skew,
        )


class TestRedisRateLimitLedgerWideSkew(TestRedisRateLimitLedgerExact):
    max_clock_skew = timedelta(seconds=90)


class TestRedisRotationStore(_OnRedis, RotationStoreContract):
    def make_rotation(self) -> RotationStore:
        return RedisRotationStore(self.target.client, prefix=self.fresh_prefix())


class TestRedisWeightedRotation(_OnRedis, WeightedRotationContract):
    def make_weighted_rotation(self) -> WeightedRotationStore:
        return RedisRotationStore(self.target.client, prefix=self.fresh_prefix())


class TestRedisInboxLease(_OnRedis, InboxLeaseContract):
    expiry_follows_clock = False  # redis-py Lock TTLs run on the server's clock

    def make_lease(self, clock: FakeClock) -> InboxLease:
        return RedisInboxLease(self.target.client, prefix=self.fresh_prefix())


class TestRedisPresence(_OnRedis, OnlinePresenceContract):
    """``online`` read from the online index."""

    require_heartbeat = True
    online_index = True

    def make_presence(self) -> RedisPresence:
        return RedisPresence(
            self.target.client,
            prefix=self.fresh_prefix(),
            require_heartbeat=self.require_heartbeat,
            online_index=self.online_index,
        )

    def set_status(
        self, presence: Presence, account: AccountId, agent: AgentId, status: str
    ) -> None:
        assert isinstance(presence, RedisPresence)
        presence.set_status(account, agent, status)
        if self.require_heartbeat:
            presence.heartbeat(account, agent)


class TestRedisPresenceWithoutHeartbeats(TestRedisPresence):
    require_heartbeat = False


class TestRedisPresenceWithoutTheIndex(TestRedisPresence):
    """``online`` read through the statuses script (the default)."""

    online_index = False


class TestRedisPresenceHeartbeatFirst(TestRedisPresence):
    """The heartbeat comes before the status: the index takes it from the presence
    set."""

    def set_status(
        self, presence: Presence, account: AccountId, agent: AgentId, status: str
    ) -> None:
        assert isinstance(presence, RedisPresence)
        presence.heartbeat(account, agent)
        presence.set_status(account, agent, status)


class TestRedisReservations(_OnRedis, ReservationsContract):
    """``RedisBackend.reservations``: presence and try-record in one pipeline."""

    def make_reservations(self) -> ReservationsSetup:
        backend = RedisBackend(self.target.client, prefix=self.fresh_prefix())
        client = self.target.client

        def set_status(account: AccountId, agent: AgentId, status: str) -> None:
            backend.presence.set_status(account, agent, status)
            backend.presence.heartbeat(account, agent)

        def break_presence(account: AccountId) -> None:
            # Wrong-typed keys: the presence script fails on its first command.
            client.set(backend.keys.status(account), "not a hash")
            client.set(backend.keys.presence(account), "not a zset")

        return ReservationsSetup(
            reservations=backend.reservations,
            ledger=backend.ledger,
            set_status=set_status,
            break_presence=break_presence,
        )


class TestRedisEventOutbox(_OnRedis, EventOutboxContract):
    """``RedisBackend.outbox``: staged before the claim, claims through a memory
    repository."""

    def make_outbox(self, conversations: Sequence[Conversation]) -> OutboxSetup:
        world = InMemoryWorld(FakeClock())
        for conversation in conversations:
            world.put_conversation(conversation)
        return OutboxSetup(
            RedisEventOutbox(self.target.client, prefix=self.fresh_prefix()), world
        )
