"""The SQL directory over SQLAlchemy's asyncio engine (extra ``[sql]`` plus an async
driver: ``postgresql+psycopg`` or ``postgresql+asyncpg``, ``sqlite+aiosqlite``; and
``greenlet``, which SQLAlchemy's asyncio support needs: ``pip install
"sqlalchemy[asyncio]"``).

:class:`AsyncSqlDirectory` is every :class:`~autoassign.ports.Directory` method as a
coroutine. It runs the sync :class:`~autoassign.adapters.sql.SqlDirectory`'s own queries
(one home: the same statements, mappings and checks) through SQLAlchemy's asyncio
bridge: the sync code runs in a greenlet and each database call is awaited on the
async driver, on the loop's thread, with no worker thread. This is how SQLAlchemy's own
``AsyncConnection.run_sync`` works.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, TypeVar

try:
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.util import greenlet_spawn
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "autoassign.aio.sql needs SQLAlchemy: install autoassign[sql]"
    ) from exc

from autoassign.adapters.sql import SqlDirectory, SqlSchema
from autoassign.model import (
    Account,
    AccountId,
    AgentId,
    AssignmentPolicy,
    CapacityPolicy,
    Inbox,
    InboxId,
    Team,
    TeamId,
)

__all__ = ["AsyncSqlDirectory"]

T = TypeVar("T")
_DONE = object()


async def _in_greenlet(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    result: T = await greenlet_spawn(function, *args, **kwargs)
    return result


async def _batches(iterator: Iterator[T]) -> AsyncIterator[T]:
    """Each ``next`` of a sync iterator that queries (keyset pages) in a greenlet."""
    while True:
        batch = await _in_greenlet(next, iterator, _DONE)
        if batch is _DONE:
            return
        yield batch


class AsyncSqlDirectory:
    """:class:`~autoassign.ports.Directory` (and its ``iter_inboxes_with_policies``
    capability) as coroutines over an :class:`~sqlalchemy.ext.asyncio.AsyncEngine`;
    the ``iter_*`` methods are async generators. ``schema`` is the same
    :class:`~autoassign.adapters.sql.SqlSchema` the sync adapters use."""

    def __init__(self, engine: AsyncEngine, schema: SqlSchema) -> None:
        self.engine = engine
        self.schema = schema
        self._sync = SqlDirectory(engine.sync_engine, schema)

    async def account(self, account: AccountId) -> Account | None:
        return await _in_greenlet(self._sync.account, account)

    async def inbox(self, inbox: InboxId) -> Inbox | None:
        return await _in_greenlet(self._sync.inbox, inbox)

    async def inbox_members(self, inbox: InboxId) -> Sequence[AgentId]:
        return await _in_greenlet(self._sync.inbox_members, inbox)

    async def inboxes_of_agent(
        self, account: AccountId, agent: AgentId
    ) -> Sequence[InboxId]:
        return await _in_greenlet(self._sync.inboxes_of_agent, account, agent)

    async def team(self, team: TeamId) -> Team | None:
        return await _in_greenlet(self._sync.team, team)

    async def policy_for_inbox(self, inbox: InboxId) -> AssignmentPolicy | None:
        return await _in_greenlet(self._sync.policy_for_inbox, inbox)

    async def capacity_policies_for_inbox(
        self, inbox: InboxId
    ) -> Sequence[CapacityPolicy]:
        return await _in_greenlet(self._sync.capacity_policies_for_inbox, inbox)

    def iter_accounts(
        self, *, feature: str, batch_size: int
    ) -> AsyncIterator[Sequence[Account]]:
        return _batches(
            self._sync.iter_accounts(feature=feature, batch_size=batch_size)
        )

    def iter_inboxes(
        self, account: AccountId, *, batch_size: int
    ) -> AsyncIterator[Sequence[Inbox]]:
        return _batches(self._sync.iter_inboxes(account, batch_size=batch_size))

    def iter_inboxes_with_policies(
        self, accounts: Sequence[AccountId], *, batch_size: int
    ) -> AsyncIterator[Sequence[tuple[Inbox, AssignmentPolicy | None]]]:
        return _batches(
            self._sync.iter_inboxes_with_policies(accounts, batch_size=batch_size)
        )
