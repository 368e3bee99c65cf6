"""asyncio hosts (FastAPI, Starlette, async Django, arq, taskiq): the library's calls as
coroutines that never block the event loop.

* :class:`AsyncAssignmentTriggers`: the save hook and the presence hook. The rules are
  the sync core's own (the programs :func:`autoassign.triggers.saved_program` and
  :func:`~autoassign.triggers.status_program`, driven by
  ``autoassign._program.arun``): there is no second copy of them. Each port may be
  async (a coroutine method is awaited: :class:`autoassign.aio.redis.AsyncRedisInboxLease`,
  :class:`CallbackJobQueue`) or sync (run in a worker thread: a SQL directory, say).
* :class:`AsyncAutoassign`: passes, jobs, the periodic cycle and ``explain`` for an async
  job engine or request handler. These run the sync core with its sync adapters in a
  worker thread (``asyncio.to_thread``): the pass logic has one home, and the loop
  stays free while a pass waits on its database.
* :mod:`autoassign.aio.redis`: presence updates and the inbox lease over
  ``redis.asyncio`` (extra ``[redis]``), sharing the sync adapters' scripts and keys.
* :mod:`autoassign.aio.sql`: the SQL directory over SQLAlchemy's asyncio engine (the
  sync adapter's own queries, awaited on the async driver).
* :mod:`autoassign.aio.asgi`: the admin HTTP API as an ASGI app (extra ``[asgi]``).

See ``docs/asyncio.md``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable

import attrs

from autoassign import _program
from autoassign.explain import (
    DEFAULT_SCAN_LIMIT,
    ConversationExplanation,
    InboxExplanation,
    explain_conversation,
    explain_inbox,
)
from autoassign.jobs import DEFAULT_PENDING_TTL, JobOutcome, PeriodicOutcome
from autoassign.model import (
    Account,
    AccountId,
    AgentId,
    Conversation,
    ConversationId,
    Inbox,
    InboxId,
)
from autoassign.ports import Directory, InboxLease, JobQueue
from autoassign.results import AssignmentResult
from autoassign.triggers import (
    LegacyAssigner,
    TriggerOptions,
    TriggerOutcome,
    request_program,
    saved_program,
    status_program,
)
from autoassign.waits import WaitEstimate, estimate_wait
from autoassign.wiring import Autoassign

__all__ = [
    "AsyncAssignmentTriggers",
    "AsyncAutoassign",
    "AsyncDirectory",
    "AsyncInboxLease",
    "AsyncJobQueue",
    "CallbackJobQueue",
]


@runtime_checkable
class AsyncDirectory(Protocol):
    """**Port (async):** what the triggers read of the
    :class:`~autoassign.ports.Directory`, as coroutines. A sync
    :class:`~autoassign.ports.Directory` serves too (its calls run in a worker thread)."""

    async def account(self, account: AccountId) -> Account | None: ...

    async def inbox(self, inbox: InboxId) -> Inbox | None: ...

    async def inbox_members(self, inbox: InboxId) -> Collection[AgentId]: ...

    async def inboxes_of_agent(
        self, account: AccountId, agent: AgentId
    ) -> Collection[InboxId]: ...


@runtime_checkable
class AsyncInboxLease(Protocol):
    """**Port (async):** the pending mark of :class:`~autoassign.ports.InboxLease`
    that the triggers set and clear, as coroutines (same rules)."""

    async def mark_pending(self, inbox: InboxId, *, ttl: timedelta) -> bool: ...

    async def take_pending(self, inbox: InboxId) -> bool: ...


@runtime_checkable
class AsyncJobQueue(Protocol):
    """**Port (async):** :class:`~autoassign.ports.JobQueue` as a coroutine (arq's
    ``enqueue_job``, taskiq's ``kiq``, ...)."""

    async def enqueue_assignment(self, inbox: InboxId) -> None: ...


@attrs.frozen
class CallbackJobQueue:
    """:class:`AsyncJobQueue` over one coroutine function of the host's job engine::

    jobs = CallbackJobQueue(lambda inbox: arq_pool.enqueue_job("assign", inbox))
    """

    enqueue: Callable[[InboxId], Awaitable[Any]]

    async def enqueue_assignment(self, inbox: InboxId) -> None:
        await self.enqueue(inbox)


@attrs.define
class AsyncAssignmentTriggers:
    """:class:`~autoassign.triggers.AssignmentTriggers` for a request handler: the same
    rules and outcomes (never raises into the handler unless ``strict``), each port
    awaited if async, else run in a worker thread."""

    directory: AsyncDirectory | Directory
    lease: AsyncInboxLease | InboxLease
    jobs: AsyncJobQueue | JobQueue
    legacy: LegacyAssigner | None = None
    """Accounts without ``assignment_v2``: the sync legacy assigner, in a thread."""
    pending_ttl: timedelta = DEFAULT_PENDING_TTL
    strict: bool = False

    @classmethod
    def like(
        cls,
        app: Autoassign,
        *,
        lease: AsyncInboxLease | InboxLease | None = None,
        jobs: AsyncJobQueue | JobQueue | None = None,
        directory: AsyncDirectory | Directory | None = None,
    ) -> AsyncAssignmentTriggers:
        """The async twin of ``app.triggers`` (its settings and legacy assigner), with
        async ports where given and the app's own ports (in a thread) elsewhere."""
        sync = app.triggers
        return cls(
            directory=sync.directory if directory is None else directory,
            lease=sync.lease if lease is None else lease,
            jobs=sync.jobs if jobs is None else jobs,
            legacy=sync.legacy,
            pending_ttl=sync.pending_ttl,
            strict=sync.strict,
        )

    def _options(self) -> TriggerOptions:
        return TriggerOptions(
            pending_ttl=self.pending_ttl,
            strict=self.strict,
            legacy=self.legacy is not None,
        )

    def _ports(self) -> dict[str, object]:
        return {
            "directory": self.directory,
            "lease": self.lease,
            "jobs": self.jobs,
            "legacy": self.legacy,
        }

    async def request(self, inbox: InboxId) -> TriggerOutcome:
        """Ask for a pass over ``inbox`` (coalesced)."""
        return await _program.arun(
            request_program(inbox, self._options()), self._ports()
        )

    async def on_conversation_saved(
        self, before: Conversation | None, after: Conversation
    ) -> TriggerOutcome:
        """:meth:`AssignmentTriggers.on_conversation_saved
        <autoassign.triggers.AssignmentTriggers.on_conversation_saved>`, awaited."""
        program = saved_program(before, after, self._options())
        return await _program.arun(program, self._ports())

    async def on_agent_status_changed(
        self, account: AccountId, agent: AgentId, before: str | None, after: str
    ) -> Sequence[InboxId]:
        """:meth:`AssignmentTriggers.on_agent_status_changed
        <autoassign.triggers.AssignmentTriggers.on_agent_status_changed>`, awaited."""
        program = status_program(account, agent, before, after, self._options())
        return await _program.arun(program, self._ports())


@attrs.frozen
class AsyncAutoassign:
    """An :class:`~autoassign.Autoassign` for async code: each call runs the sync core
    in a worker thread, so the loop is never blocked (one thread per call in flight,
    from the loop's default executor; size it with ``loop.set_default_executor``).

    ``triggers`` is :class:`AsyncAssignmentTriggers` over the app's ports unless given
    (pass one over :mod:`autoassign.aio.redis` to keep save hooks off threads)."""

    app: Autoassign
    triggers: AsyncAssignmentTriggers = attrs.field(
        default=attrs.Factory(
            lambda self: AsyncAssignmentTriggers.like(self.app), takes_self=True
        )
    )

    async def perform_bulk_assignment(
        self, inbox: InboxId, *, limit: int | None = None
    ) -> AssignmentResult:
        """One pass now (:meth:`AssignmentService.perform_bulk_assignment
        <autoassign.service.AssignmentService.perform_bulk_assignment>`)."""
        service = self.app.service
        return await asyncio.to_thread(
            service.perform_bulk_assignment, inbox, limit=limit
        )

    async def run_job(self, inbox: InboxId, *, limit: int | None = None) -> JobOutcome:
        """The per-inbox job body (:meth:`AssignmentJob.run
        <autoassign.jobs.AssignmentJob.run>`): call it from an arq or taskiq task."""
        return await asyncio.to_thread(self.app.job.run, inbox, limit=limit)

    async def run_periodic(self) -> PeriodicOutcome:
        """The periodic cycle (:meth:`PeriodicAssignmentJob.run
        <autoassign.jobs.PeriodicAssignmentJob.run>`): from an arq cron job, say."""
        return await asyncio.to_thread(self.app.periodic.run)

    async def explain_inbox(
        self,
        inbox: InboxId,
        *,
        jobs_scheduled: bool | None = None,
        scan_limit: int = DEFAULT_SCAN_LIMIT,
    ) -> InboxExplanation:
        """:func:`autoassign.explain.explain_inbox` on the app."""
        return await asyncio.to_thread(
            explain_inbox,
            self.app,
            inbox,
            jobs_scheduled=jobs_scheduled,
            scan_limit=scan_limit,
        )

    async def explain_conversation(
        self, conversation: ConversationId
    ) -> ConversationExplanation:
        """:func:`autoassign.explain.explain_conversation` on the app."""
        return await asyncio.to_thread(explain_conversation, self.app, conversation)

    async def estimate_wait(
        self, conversation: ConversationId, *, account: AccountId | None = None
    ) -> WaitEstimate:
        """:func:`autoassign.waits.estimate_wait` on the app."""
        return await asyncio.to_thread(
            estimate_wait, self.app, conversation, account=account
        )
