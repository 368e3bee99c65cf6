"""Fixtures for the unit tests: a scenario builder over the in-memory backend and a
wrapper that spies on (and hooks into) any port.

The tests run with ``--import-mode=importlib``, so nothing here is imported by the test
modules: everything they need comes through fixtures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import pytest

from autoassign import (
    AssignmentPolicy,
    AssignmentResult,
    Autoassign,
    Conversation,
    build_autoassign,
)
from autoassign.model import ASSIGNMENT_V2_FEATURE
from autoassign.testing import FakeClock, InMemoryBackend

ACCOUNT = 1
INBOX = 10
POLICY = 1


class Wrapped:
    """A transparent proxy over a port. Every method call is recorded in ``calls``; a
    hook ``name=fn`` replaces the call with ``fn(original, *args, **kwargs)``."""

    def __init__(self, target: Any, hooks: dict[str, Callable[..., Any]]) -> None:
        self._target = target
        self._hooks = hooks
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr
        hook = self._hooks.get(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            if hook is None:
                return attr(*args, **kwargs)
            return hook(attr, *args, **kwargs)

        return call

    def called(self, name: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        return [(args, kwargs) for n, args, kwargs in self.calls if n == name]


class Scenario:
    """One account (``ACCOUNT``), one inbox (``INBOX``) linked to one policy
    (``POLICY``), built on a fresh in-memory backend in a few lines."""

    ACCOUNT = ACCOUNT
    INBOX = INBOX
    POLICY = POLICY

    def __init__(self, backend: InMemoryBackend, clock: FakeClock) -> None:
        self.backend = backend
        self.clock = clock
        self.world = backend.world
        self._app: Autoassign | None = None

    # -- building the world --------------------------------------------------------------

    def setup(
        self,
        *,
        members: Iterable[Any] = ("ann", "bob"),
        online: Iterable[Any] | None = None,
        policy: AssignmentPolicy | None = None,
        features: Iterable[str] = (ASSIGNMENT_V2_FEATURE,),
        enable_auto_assignment: bool = True,
        link_policy: bool = True,
        **inbox_options: Any,
    ) -> Scenario:
        members = list(members)
        self.backend.add_account(ACCOUNT, features=features)
        self.backend.add_inbox(
            INBOX,
            account=ACCOUNT,
            members=members,
            enable_auto_assignment=enable_auto_assignment,
            **inbox_options,
        )
        self.backend.add_policy(
            policy or AssignmentPolicy(id=POLICY, account=ACCOUNT),
            inboxes=[INBOX] if link_policy else [],
        )
        for agent in members if online is None else online:
            self.set_status(agent, "online")
        return self

    def set_status(self, agent: Any, status: str) -> None:
        self.backend.set_status(ACCOUNT, agent, status)

    def conv(
        self,
        conversation: Any,
        *,
        ago: float = 0,
        activity_ago: float | None = None,
        inbox: Any = INBOX,
        **options: Any,
    ) -> Conversation:
        """Add a conversation created ``ago`` seconds before now, last active
        ``activity_ago`` seconds before now (default: when created)."""
        now = self.clock.now()
        created = now - timedelta(seconds=ago)
        activity = (
            created if activity_ago is None else now - timedelta(seconds=activity_ago)
        )
        return self.backend.add_conversation(
            conversation,
            inbox=inbox,
            created_at=created,
            last_activity_at=activity,
            **options,
        )

    def convs(self, ids: Iterable[Any], **options: Any) -> None:
        for number, conversation in enumerate(ids):
            self.conv(conversation, ago=10_000 - number, **options)

    # -- running -------------------------------------------------------------------------

    def build(self, **options: Any) -> Autoassign:
        """``build_autoassign`` over the backend; a port given in ``options`` (e.g.
        ``conversations=wrapper``) replaces the backend's. ``strict`` defaults on."""
        b = self.backend
        ports: dict[str, Any] = {
            "directory": b.directory,
            "conversations": b.conversations,
            "presence": b.presence,
            "ledger": b.ledger,
            "rotation": b.rotation,
            "lease": b.lease,
            "events": b.events,
            "jobs": b.jobs,
            "clock": b.clock,
            "strict": True,
            "environ": {},
        }
        ports.update(options)
        self._app = build_autoassign(**ports)
        return self._app

    @property
    def app(self) -> Autoassign:
        if self._app is None:
            self._app = self.build()
        return self._app

    def run(self, inbox: Any = INBOX, **options: Any) -> AssignmentResult:
        return self.app.service.perform_bulk_assignment(inbox, **options)

    # -- reading -------------------------------------------------------------------------

    def assignee(self, conversation: Any) -> Any:
        record = self.world.get(conversation)
        assert record is not None
        return record.assignee

    def assigned_to(self, agent: Any) -> list[Any]:
        return sorted(
            (c.id for c in self.world.conversations.values() if c.assignee == agent),
            key=str,
        )

    def snapshot(self) -> dict[str, Any]:
        """Everything a pass could change, copied (private state of the in-memory
        adapters, so that "nothing touched" is exact)."""
        b = self.backend
        return {
            "conversations": dict(b.world.conversations),
            "ledger": {
                key: dict(value) for key, value in b.ledger._entries.items() if value
            },
            "rotation": {key: list(value) for key, value in b.rotation._queues.items()},
            "events": list(b.events.events),
            "jobs": b.jobs.queued,
            "held": dict(b.lease._held),
            "pending": dict(b.lease._pending),
        }


@pytest.fixture(scope="session")
def make_scenario() -> Callable[..., Scenario]:
    """A factory of fresh scenarios (for hypothesis tests, which must not share a
    function-scoped backend between examples)."""

    def make(start: datetime | None = None) -> Scenario:
        clock = FakeClock() if start is None else FakeClock(start)
        return Scenario(InMemoryBackend(clock=clock), clock)

    return make


@pytest.fixture
def scenario(backend: InMemoryBackend, clock: FakeClock) -> Scenario:
    return Scenario(backend, clock)


@pytest.fixture(scope="session")
def wrap() -> Callable[..., Wrapped]:
    """``wrap(port, name=hook, ...)``: a recording proxy over ``port``."""

    def make(target: Any, **hooks: Callable[..., Any]) -> Wrapped:
        return Wrapped(target, hooks)

    return make


class Boom(RuntimeError):
    """The failure injected into ports."""


@pytest.fixture(scope="session")
def boom() -> type[Boom]:
    return Boom
