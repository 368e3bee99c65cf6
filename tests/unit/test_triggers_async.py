"""The whole trigger suite (test_triggers.py) again, through
:class:`autoassign.aio.AsyncAssignmentTriggers`: the async triggers run the sync core's
own rules (one home), so every sync case must hold for them unchanged. Each case runs
twice: over coroutine ports (the memory adapters behind ``async def`` shims) and over
the sync ports themselves (run in worker threads by the driver)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import attrs
import pytest

from autoassign import Autoassign, Conversation, TriggerOutcome
from autoassign.aio import AsyncAssignmentTriggers
from autoassign.model import AccountId, AgentId, InboxId
from autoassign.testing import FakeClock, InMemoryBackend

from .conftest import Scenario
from .test_triggers import *  # noqa: F403  (every case of the sync suite, collected here)


class _Coroutines:
    """``async def`` twins of a sync port's methods."""

    def __init__(self, port: Any) -> None:
        self._port = port

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._port, name)

        async def twin(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return twin


class _Blocking:
    """The sync triggers' interface over the async ones (``asyncio.run`` per call), so
    the sync suite drives them unchanged."""

    def __init__(self, triggers: AsyncAssignmentTriggers) -> None:
        self.aio = triggers

    def __getattr__(self, name: str) -> Any:
        return getattr(self.aio, name)

    def request(self, inbox: InboxId) -> TriggerOutcome:
        return asyncio.run(self.aio.request(inbox))

    def on_conversation_saved(
        self, before: Conversation | None, after: Conversation
    ) -> TriggerOutcome:
        return asyncio.run(self.aio.on_conversation_saved(before, after))

    def on_agent_status_changed(
        self, account: AccountId, agent: AgentId, before: str | None, after: str
    ) -> Sequence[InboxId]:
        return asyncio.run(
            self.aio.on_agent_status_changed(account, agent, before, after)
        )


class _AsyncScenario(Scenario):
    mode = "coroutines"

    def build(self, **options: Any) -> Autoassign:
        app = super().build(**options)
        sync = app.triggers
        if self.mode == "coroutines":
            aio = AsyncAssignmentTriggers.like(
                app,
                directory=_Coroutines(sync.directory),
                lease=_Coroutines(sync.lease),
                jobs=_Coroutines(sync.jobs),
            )
        else:
            aio = AsyncAssignmentTriggers.like(app)
        self._app = attrs.evolve(app, triggers=_Blocking(aio))  # type: ignore[arg-type]
        return self._app


@pytest.fixture(params=["coroutines", "threads"])
def scenario(
    request: pytest.FixtureRequest, backend: InMemoryBackend, clock: FakeClock
) -> Scenario:
    made = _AsyncScenario(backend, clock)
    made.mode = request.param
    return made


def test_the_async_triggers_are_used(scenario: Scenario) -> None:
    """This module really drives the async triggers (the fixture did not fall back)."""
    scenario.setup()
    assert isinstance(scenario.app.triggers, _Blocking)
