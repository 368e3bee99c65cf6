"""The shipped testing kit: fakes, contract suites, strategies and a state machine.

``autoassign.testing`` itself needs nothing beyond the core. The hypothesis strategies
(:mod:`autoassign.testing.strategies`) and the state machines
(:mod:`autoassign.testing.stateful`, and :mod:`autoassign.testing.skew` for a ledger
shared by workers whose clocks disagree) need the ``autoassign[testing]`` extra.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Protocol

from autoassign.adapters.memory import (
    InMemoryBackend,
    InMemoryEventBus,
    build_in_memory,
)
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

__all__ = [
    "EPOCH",
    "DirectoryWriter",
    "FakeClock",
    "InMemoryBackend",
    "RecordingEventBus",
    "build_in_memory",
    "seed_directory",
]

EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
"""The default start of a :class:`FakeClock`: a Monday, 09:00 UTC."""


class FakeClock:
    """A :class:`~autoassign.ports.Clock` that only moves when told to."""

    def __init__(self, start: datetime = EPOCH) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start")
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | float = 0.0) -> datetime:
        """Move forward by ``delta`` (a timedelta or seconds); returns the new time."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise ValueError("a clock never goes backwards")
        with self._lock:
            self._now += step
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            if when < self._now:
                raise ValueError("a clock never goes backwards")
            self._now = when


RecordingEventBus = InMemoryEventBus
"""An event bus that records every event (``.events``, ``.of_type(kind)``)."""


class DirectoryWriter(Protocol):
    """The write side of a directory, as test seeding needs it. ``InMemoryWorld`` and
    ``autoassign.adapters.sql.SqlWriter`` are such writers; a host's fixture can be one
    too."""

    def put_account(self, account: Account) -> None: ...

    def put_inbox(self, inbox: Inbox, members: Iterable[AgentId] = ()) -> None: ...

    def put_team(self, team: Team) -> None: ...

    def put_policy(self, policy: AssignmentPolicy) -> None: ...

    def link_policy(self, inbox: InboxId, policy: PolicyId) -> None: ...

    def put_capacity_policy(self, policy: CapacityPolicy) -> None: ...


def seed_directory(
    writer: DirectoryWriter,
    *,
    accounts: Iterable[Account] = (),
    inboxes: Iterable[Inbox] = (),
    members: Mapping[InboxId, Iterable[AgentId]] | None = None,
    teams: Iterable[Team] = (),
    policies: Iterable[AssignmentPolicy] = (),
    links: Mapping[InboxId, PolicyId] | None = None,
    capacity_policies: Iterable[CapacityPolicy] = (),
) -> None:
    """Write a whole directory through ``writer``, in dependency order (accounts, then
    inboxes with their members, teams, policies, links, capacity policies). The
    arguments are those of :meth:`DirectoryContract.make_directory
    <autoassign.testing.contracts.DirectoryContract.make_directory>`."""
    members = members or {}
    for account in accounts:
        writer.put_account(account)
    for inbox in inboxes:
        writer.put_inbox(inbox, members.get(inbox.id, ()))
    for team in teams:
        writer.put_team(team)
    for policy in policies:
        writer.put_policy(policy)
    for inbox_id, policy_id in (links or {}).items():
        writer.link_policy(inbox_id, policy_id)
    for capacity in capacity_policies:
        writer.put_capacity_policy(capacity)
