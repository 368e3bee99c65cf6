"""examples/fastapi_host end to end, in the app's own event loop (httpx over ASGI,
its lifespan running the job worker): saves trigger jobs that assign fairly, an agent
coming online takes the backlog, resolving frees capacity, explain and the admin API
answer, and nothing blocks the loop."""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from autoassign import Conversation
from autoassign.aio import AsyncAssignmentTriggers, CallbackJobQueue
from autoassign.model import InboxId
from autoassign.testing import FakeClock, InMemoryBackend

ROOT = Path(__file__).resolve().parent.parent


def _example() -> Any:
    path = ROOT / "examples" / "fastapi_host" / "app.py"
    spec = importlib.util.spec_from_file_location("examples_fastapi_host", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _drive(body: Callable[[Any, httpx.AsyncClient], Awaitable[None]]) -> None:
    example = _example()
    app = example.create_app(clock=FakeClock())

    async def main() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://helpdesk"
            ) as http:
                await asyncio.wait_for(body(app, http), timeout=30)

    asyncio.run(main())


async def _settled(app: Any) -> None:
    await app.state.jobs.queue.join()


def test_saves_assign_fairly_and_online_agents_take_the_backlog() -> None:
    async def body(app: Any, http: httpx.AsyncClient) -> None:
        # Nobody online: the trigger enqueues, the pass assigns nobody.
        reply = await http.post("/conversations", json={"id": 1, "inbox": 1})
        assert reply.status_code == 201
        assert reply.json() == {"id": 1, "trigger": "enqueued"}
        await _settled(app)
        assert (await http.get("/conversations/1")).json()["assignee"] is None
        waiting = (await http.get("/conversations/1/wait")).json()
        assert waiting["status"] == "unknown"
        assert waiting["position"] == 1
        assert waiting["reason"] == "nobody in the inbox is online"
        explained = (await http.get("/conversations/1/explain")).json()
        assert explained["found"] is True
        assert explained["assignable"] is True

        # ann comes online: her inbox's backlog is requested and assigned.
        reply = await http.put("/agents/ann/status", json={"status": "online"})
        assert reply.json()["requested"] == [1]
        await _settled(app)
        assert (await http.get("/conversations/1")).json()["assignee"] == "ann"

        # bob too; new conversations alternate (round robin).
        await http.put("/agents/bob/status", json={"status": "online"})
        await _settled(app)
        for conversation in (2, 3, 4, 5):
            await http.post("/conversations", json={"id": conversation, "inbox": 1})
            await _settled(app)
        assignees = [
            (await http.get(f"/conversations/{c}")).json()["assignee"]
            for c in (2, 3, 4, 5)
        ]
        assert sorted(assignees) == ["ann", "ann", "bob", "bob"]
        assert assignees[0] != assignees[1]

        # Resolving frees capacity: the trigger asks for a pass.
        reply = await http.post("/conversations/2/resolve")
        assert reply.json()["trigger"] == "enqueued"
        await _settled(app)
        assert (await http.get("/conversations/2")).json()["status"] == "resolved"

    _drive(body)


def test_the_admin_api_is_mounted() -> None:
    example = _example()

    async def body(app: Any, http: httpx.AsyncClient) -> None:
        headers = {"api_access_token": example.ADMIN_TOKEN}
        listed = await http.get(
            "/autoassign/api/v1/accounts/1/assignment_policies", headers=headers
        )
        assert listed.status_code == 200, listed.text
        created = await http.post(
            "/autoassign/api/v1/accounts/1/assignment_policies",
            headers=headers,
            json={"assignment_policy": {"name": "Night shift"}},
        )
        assert created.status_code in (200, 201), created.text
        assert created.json()["name"] == "Night shift"
        bad = await http.post(
            "/autoassign/api/v1/accounts/1/assignment_policies",
            headers=headers,
            json={"assignment_policy": {"name": ""}},
        )
        assert bad.status_code == 422
        unauthorised = await http.get(
            "/autoassign/api/v1/accounts/1/assignment_policies"
        )
        assert unauthorised.status_code == 401

    _drive(body)


def test_a_blocking_port_never_blocks_the_loop() -> None:
    """A sync directory that waits until another task on the loop lets it go: with the
    call on the loop's thread this would deadlock; the driver runs it in a thread."""
    backend = InMemoryBackend(clock=FakeClock())
    backend.add_account(1)
    backend.add_inbox(1, account=1, members=["ann"])
    release = threading.Event()

    class SlowDirectory:
        def __getattr__(self, name: str) -> Any:
            return getattr(backend.directory, name)

        def inbox(self, inbox: InboxId) -> Any:
            assert release.wait(timeout=10), "the loop was blocked"
            return backend.directory.inbox(inbox)

    queued: list[InboxId] = []

    async def enqueue(inbox: InboxId) -> None:
        queued.append(inbox)

    triggers = AsyncAssignmentTriggers(
        directory=SlowDirectory(),
        lease=backend.lease,
        jobs=CallbackJobQueue(enqueue),
    )
    conversation: Conversation = backend.add_conversation(1, inbox=1)

    async def main() -> Any:
        saving = asyncio.create_task(triggers.on_conversation_saved(None, conversation))
        await asyncio.sleep(0)  # the save is waiting on its thread; the loop runs on
        release.set()
        return await asyncio.wait_for(saving, timeout=10)

    assert asyncio.run(main()).value == "enqueued"
    assert queued == [1]
