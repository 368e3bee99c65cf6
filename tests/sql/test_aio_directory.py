"""The shipped directory contract suite on :class:`autoassign.aio.sql.AsyncSqlDirectory`
over SQLAlchemy's asyncio engine on PostgreSQL (psycopg's async driver), through
:class:`autoassign.testing.aio.EventLoopThread`; and the async triggers reading it on
the loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from autoassign import Conversation, ConversationStatus, TriggerOutcome
from autoassign.adapters.memory import InMemoryInboxLease
from autoassign.adapters.sql import SqlWriter
from autoassign.aio import AsyncAssignmentTriggers, CallbackJobQueue
from autoassign.aio.sql import AsyncSqlDirectory
from autoassign.model import (
    Account,
    AgentId,
    AssignmentPolicy,
    CapacityPolicy,
    Inbox,
    InboxId,
    PolicyId,
    Team,
)
from autoassign.ports import Directory
from autoassign.testing import EPOCH, FakeClock, seed_directory
from autoassign.testing.aio import EventLoopThread
from autoassign.testing.contracts import DirectoryContract

from .test_contracts import POSTGRES_URL, _SqlContracts, _Stores

pytestmark = pytest.mark.postgres


class TestAsyncPostgresDirectory(_SqlContracts, DirectoryContract):
    kind = "postgres"

    @pytest.fixture(autouse=True)
    def _loop(self) -> Iterator[None]:
        self.loop = EventLoopThread()
        self.async_engines: list[Any] = []
        try:
            yield
        finally:
            for engine in self.async_engines:
                self.loop.run(engine.dispose())
            self.loop.close()

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
        engine, schema = self.stores.make(**self.options)
        seed_directory(
            SqlWriter(engine, schema),
            accounts=accounts,
            inboxes=inboxes,
            members=members,
            teams=teams,
            policies=policies,
            links=links,
            capacity_policies=capacity_policies,
        )
        async_engine = create_async_engine(POSTGRES_URL)
        self.async_engines.append(async_engine)
        blocking: Directory = self.loop.blocking(
            AsyncSqlDirectory(async_engine, schema)
        )
        return blocking


def test_async_triggers_read_the_sql_directory_on_the_loop(
    require_service: Any, postgres_available: tuple[bool, str]
) -> None:
    require_service("PostgreSQL", *postgres_available)
    made = _Stores("postgres")
    try:
        engine, schema = made.make()
        seed_directory(
            SqlWriter(engine, schema),
            accounts=[Account(id=1, features=frozenset({"assignment_v2"}))],
            inboxes=[Inbox(id=10, account=1)],
            members={10: ["ann"]},
            teams=[],
            policies=[AssignmentPolicy(id=5, account=1)],
            links={10: 5},
            capacity_policies=[],
        )
        queued: list[InboxId] = []

        async def enqueue(inbox: InboxId) -> None:
            queued.append(inbox)

        async def main() -> tuple[TriggerOutcome, Sequence[InboxId]]:
            async_engine = create_async_engine(POSTGRES_URL)
            lease = InMemoryInboxLease(FakeClock())
            try:
                triggers = AsyncAssignmentTriggers(
                    directory=AsyncSqlDirectory(async_engine, schema),
                    lease=lease,
                    jobs=CallbackJobQueue(enqueue),
                )
                saved = Conversation(
                    id=1,
                    inbox=10,
                    account=1,
                    status=ConversationStatus.OPEN,
                    created_at=EPOCH,
                    last_activity_at=EPOCH,
                )
                outcome = await triggers.on_conversation_saved(None, saved)
                lease.take_pending(10)  # the job started: the next request enqueues
                online = await triggers.on_agent_status_changed(
                    1, "ann", None, "online"
                )
                return outcome, online
            finally:
                await async_engine.dispose()

        outcome, online = asyncio.run(main())
        assert outcome is TriggerOutcome.ENQUEUED
        assert tuple(online) == (10,)
        assert queued == [10, 10]
    finally:
        made.close()
