"""A FastAPI helpdesk that calls autoassign from its request handlers without blocking
the event loop (``autoassign.aio``).

* ``POST /conversations`` stores a conversation (here: the in-memory world stands in
  for the host's database) and awaits the save-hook trigger;
* ``POST /conversations/{id}/resolve`` resolves one (capacity freed: a pass is asked for);
* ``PUT /agents/{agent}/status`` is the presence update (and an agent coming online
  takes the backlog);
* ``GET /conversations/{id}/explain`` is ``explain`` as JSON, and
  ``GET /conversations/{id}/wait`` its queue position and wait estimate;
* ``/autoassign/...`` is the admin API (``autoassign.aio.asgi``);
* the job engine is an asyncio task in the same process that awaits
  ``AsyncAutoassign.run_job`` for each queued inbox (with arq or taskiq, their task
  body is the same one line).

Run it with any ASGI server, e.g. ``uvicorn examples.fastapi_host.app:app``.
tests/test_fastapi_example.py drives it end to end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from autoassign import AssignmentPolicy, SystemClock, build_autoassign
from autoassign.admin import (
    Actor,
    AdminApp,
    ApiAccessTokenAuthenticator,
    InMemoryPolicyStore,
    PolicyAdmin,
)
from autoassign.aio import AsyncAutoassign
from autoassign.aio.asgi import admin_asgi_app
from autoassign.model import InboxId
from autoassign.ports import Clock
from autoassign.testing import InMemoryBackend

ADMIN_TOKEN = "admin-demo-token"


class LoopJobQueue:
    """The host's job engine: an ``asyncio.Queue`` drained by a worker task. Its
    ``enqueue_assignment`` is sync and thread-safe, because the core's job (running in
    a worker thread) re-enqueues through it too."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[InboxId] = asyncio.Queue()
        self.loop: asyncio.AbstractEventLoop | None = None

    def enqueue_assignment(self, inbox: InboxId) -> None:
        assert self.loop is not None, "the app is not running"
        self.loop.call_soon_threadsafe(self.queue.put_nowait, inbox)


class NewConversation(BaseModel):
    id: int
    inbox: int
    labels: list[str] = []


class Status(BaseModel):
    status: str


def create_app(clock: Clock | None = None) -> FastAPI:
    """The helpdesk: account 1, inbox 1 with agents ann and bob, round robin."""
    backend = InMemoryBackend(clock=clock or SystemClock())
    backend.add_account(1)
    backend.add_inbox(1, account=1, members=["ann", "bob"])
    backend.add_policy(AssignmentPolicy(id=1, account=1, name="Support"), inboxes=[1])
    jobs = LoopJobQueue()
    engine = AsyncAutoassign(
        build_autoassign(  # the host's own adapters in production (SQL, Redis)
            directory=backend.directory,
            conversations=backend.conversations,
            presence=backend.presence,
            ledger=backend.ledger,
            rotation=backend.rotation,
            lease=backend.lease,
            events=backend.events,
            outbox=backend.outbox,
            jobs=jobs,
            clock=backend.clock,
        )
    )
    store = InMemoryPolicyStore(backend.world, backend.clock)
    tokens = {ADMIN_TOKEN: Actor(account=1, user="root", role="administrator")}
    admin = AdminApp(PolicyAdmin(store), ApiAccessTokenAuthenticator(tokens))

    async def worker() -> None:
        while True:
            inbox = await jobs.queue.get()
            try:
                await engine.run_job(inbox)
            finally:
                jobs.queue.task_done()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        jobs.loop = asyncio.get_running_loop()
        task = asyncio.create_task(worker())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(title="helpdesk", lifespan=lifespan)
    app.state.backend = backend
    app.state.jobs = jobs
    app.mount("/autoassign", admin_asgi_app(admin))

    @app.post("/conversations", status_code=201)
    async def create(new: NewConversation) -> dict[str, Any]:
        saved = backend.add_conversation(new.id, inbox=new.inbox, labels=new.labels)
        outcome = await engine.triggers.on_conversation_saved(None, saved)
        return {"id": saved.id, "trigger": outcome.value}

    @app.post("/conversations/{conversation}/resolve")
    async def resolve(conversation: int) -> dict[str, Any]:
        if backend.world.get(conversation) is None:
            raise HTTPException(404, "no such conversation")
        before, after = backend.world.update_conversation(
            conversation, status="resolved"
        )
        outcome = await engine.triggers.on_conversation_saved(before, after)
        return {"id": conversation, "trigger": outcome.value}

    @app.get("/conversations/{conversation}")
    async def show(conversation: int) -> dict[str, Any]:
        record = backend.world.get(conversation)
        if record is None:
            raise HTTPException(404, "no such conversation")
        return {
            "id": record.id,
            "status": record.status.value,
            "assignee": record.assignee,
        }

    @app.put("/agents/{agent}/status")
    async def set_status(agent: str, body: Status) -> dict[str, Any]:
        before = backend.set_status(1, agent, body.status)
        inboxes = await engine.triggers.on_agent_status_changed(
            1, agent, before, body.status
        )
        return {"agent": agent, "status": body.status, "requested": list(inboxes)}

    @app.get("/conversations/{conversation}/explain")
    async def explain(conversation: int) -> dict[str, Any]:
        explanation = await engine.explain_conversation(conversation)
        return explanation.to_dict()

    @app.get("/conversations/{conversation}/wait")
    async def wait(conversation: int) -> dict[str, Any]:
        estimate = await engine.estimate_wait(conversation, account=1)
        return estimate.to_dict()

    return app


app = create_app()
