"""Contract suites: the guarantees written in :mod:`autoassign.ports`, as tests.

Each port has one plain class here (no pytest import, no base class to inherit from):
:class:`RateLimitLedgerContract`, :class:`ReservationsContract` (its hook returns a
:class:`ReservationsSetup`), :class:`RotationStoreContract`,
:class:`WeightedRotationContract` (weighted round robin's tags),
:class:`InboxLeaseContract`, :class:`PresenceContract`,
:class:`ConversationRepositoryContract`, :class:`DirectoryContract` and
:class:`EventOutboxContract` (its hook returns an :class:`OutboxSetup`).
A host checks its own adapter by subclassing the suite under a name its test runner
collects and filling in the factory hooks, which raise :class:`NotImplementedError`
until overridden::

    from autoassign.testing.contracts import (
        ConversationRepositoryContract,
        RateLimitLedgerContract,
    )

    class TestMyLedger(RateLimitLedgerContract):
        def make_ledger(self):
            return MyLedger(redis.Redis(...))   # a fresh, empty store per call

    class TestMyRepository(ConversationRepositoryContract):
        def make_repository(self, conversations):
            session = make_session()
            session.add_all(to_rows(conversations))
            return MyRepository(session)

Every ``test_*`` method takes only ``self``, builds what it needs through the hooks and
checks with plain ``assert``, so the suites run under pytest (class collection) and can
be driven by any other runner. Each hook is called once per test and must return a
fresh, empty (or freshly seeded) instance: tests do not clean up after themselves.

Capability flags are class attributes that a subclass may override where an adapter
really differs, e.g. :attr:`InboxLeaseContract.expiry_follows_clock` (``False`` for a
lease that expires by server-side TTLs instead of the injected clock; the tests that
need the fake clock to drive expiry then pass without checking anything), and on the
repository and directory suites ``single_account``, ``integer_ids``, ``no_teams``,
(repository) ``no_urgency``, ``no_due_at``, ``no_total_capacity`` and ``no_weights``,
and (directory)
``policy_id_is_inbox_id``, for a host's own tables: a case is rewritten to
what the host can store where it can be, and skipped (``pytest.skip``, the reason naming
the flag) only where it cannot. Optional hooks, doing nothing by default:
``ConversationRepositoryContract.prepare_agents(agents)`` (the agents a case will name,
before its repository is made: rows for a foreign key) and ``close_connections()``
(called at the end of each thread a suite starts).

Times are built from :data:`autoassign.testing.EPOCH` in whole seconds, so an adapter
that stores milliseconds round-trips them exactly. The suites are fast: no sleeps, no
network beyond what the hooks open.
"""

from __future__ import annotations

import random
import threading
import unittest
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple, NoReturn, Protocol

from autoassign.model import (
    Account,
    AccountId,
    AgentId,
    AssignmentOrder,
    AssignmentPolicy,
    CapacityPolicy,
    Conversation,
    ConversationId,
    ConversationPriority,
    ConversationStatus,
    ExclusionRules,
    Id,
    Inbox,
    InboxId,
    PolicyId,
    Reservation,
    Team,
    TeamId,
    id_sort_key,
)
from autoassign.outbox import OutboxRecord
from autoassign.ports import (
    BatchPendingLease,
    ConversationRepository,
    Directory,
    EventOutbox,
    InboxLease,
    OnlinePresence,
    PagedPolicyDirectory,
    Presence,
    RateLimitLedger,
    Reservations,
    RotationStore,
    TotalCapacity,
    WeightedRotation,
)
from autoassign.selection import reconcile_queue
from autoassign.testing import EPOCH, FakeClock
from autoassign.triggers import Reassigner
from autoassign.weights import (
    ROTATION_ROUND,
    WeightedMove,
    WeightedQueue,
    apply_weighted_moves,
    fill_tags,
)

__all__ = [
    "ConversationRepositoryContract",
    "DirectoryContract",
    "EventOutboxContract",
    "InboxLeaseContract",
    "OnlinePresenceContract",
    "OutboxSetup",
    "PresenceContract",
    "RateLimitLedgerContract",
    "ReassignerContract",
    "ReservationsContract",
    "ReservationsSetup",
    "RotationStoreContract",
    "WeightedRotationContract",
    "WeightedRotationStore",
]

_HOUR = timedelta(hours=1)
_CONCURRENCY = 8


def _at(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def _skip(flag: str, reason: str) -> NoReturn:
    """Skip the running case because of the capability flag ``flag``: with
    ``pytest.skip`` under pytest, else :class:`unittest.SkipTest` (which pytest and
    unittest both report as a skip). The reason names the flag."""
    message = f"{flag}: {reason}"
    try:
        import pytest  # noqa: PLC0415 - the suites import without pytest
    except ImportError:  # pragma: no cover - the suites run under pytest here
        raise unittest.SkipTest(message) from None
    pytest.skip(message)


class _Threads:
    """The hook of every suite that starts threads."""

    def close_connections(self) -> None:
        """Called at the end of each thread the suite starts (after its last call
        into the adapter, also when it failed): close the connections this thread
        opened, e.g. ``django.db.connections.close_all()``, so that the test
        database can be dropped afterwards. Default: nothing."""


def _race(
    workers: int,
    body: Callable[[int], bool],
    close: Callable[[], None] = lambda: None,
) -> list[bool]:
    """Run ``body(i)`` for ``i`` in ``range(workers)`` on threads released together;
    returns each result. Each thread calls ``close()`` last. A worker's exception is
    re-raised here."""
    barrier = threading.Barrier(workers, timeout=10)
    results: list[bool | None] = [None] * workers
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = body(index)
        except BaseException as exc:  # re-raised in the caller
            errors.append(exc)
        finally:
            try:
                close()
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    if errors:
        raise errors[0]
    assert all(result is not None for result in results), "a worker did not finish"
    return [bool(result) for result in results]


def _standing(
    ledger: RateLimitLedger,
    inbox: InboxId,
    agent: AgentId,
    now: datetime,
    window: timedelta,
) -> tuple[int, datetime | None]:
    """The agent's count and newest entry in the window ending at ``now``, by
    :meth:`RateLimitLedger.usage`; ``(0, None)`` without entries."""
    found = ledger.usage(inbox, [agent], now=now, window=window)
    assert set(found) <= {agent}, f"usage() returned unrequested agents {found!r}"
    usage = found.get(agent)
    if usage is None or usage.count == 0:
        return (0, None)
    return (usage.count, usage.last)


# -- RateLimitLedger ----------------------------------------------------------------------


class RateLimitLedgerContract(_Threads):
    """Checks :class:`~autoassign.ports.RateLimitLedger`: sliding windows on the
    caller's time (widened by the ledger's clock-skew margin), counted usage with the
    newest entry, atomic limited recording, replacement and discard, and no overshoot
    by workers whose clocks disagree within the ledger's tolerance."""

    window: timedelta = _HOUR
    max_clock_skew: timedelta = timedelta(0)
    """The tolerance of the ledgers :meth:`make_ledger` returns (their
    ``max_clock_skew``): an entry counts until ``window + 2 * max_clock_skew`` has
    passed on the reader's clock. With zero, windows are exact and the skew tests pass
    without checking anything."""

    @property
    def margin(self) -> timedelta:
        """How long past its window an entry still counts: ``2 * max_clock_skew``."""
        return 2 * self.max_clock_skew

    def make_ledger(self) -> RateLimitLedger:
        """A fresh, empty ledger."""
        raise NotImplementedError

    def _usage(
        self,
        ledger: RateLimitLedger,
        inbox: InboxId,
        agent: AgentId,
        now: datetime,
        window: timedelta | None = None,
    ) -> tuple[int, datetime | None]:
        return _standing(ledger, inbox, agent, now, window or self.window)

    def test_entry_counts_until_exactly_the_window_has_passed(self) -> None:
        """... the window plus the margin, on the reader's clock."""
        ledger = self.make_ledger()
        t0 = _at(0)
        assert ledger.try_record(1, "ann", 100, now=t0, window=self.window, limit=None)
        assert self._usage(ledger, 1, "ann", t0) == (1, t0)
        expiry = t0 + self.window + self.margin
        almost = expiry - timedelta(milliseconds=1)
        assert self._usage(ledger, 1, "ann", almost) == (1, t0)
        assert self._usage(ledger, 1, "ann", expiry) == (0, None)
        assert self._usage(ledger, 1, "ann", t0 + 2 * self.window) == (0, None)

    def test_window_is_the_callers(self) -> None:
        ledger = self.make_ledger()
        t0 = _at(0)
        ledger.try_record(1, "ann", 100, now=t0, window=self.window, limit=None)
        now = t0 + timedelta(seconds=30) + self.margin
        assert self._usage(ledger, 1, "ann", now, timedelta(seconds=31)) == (1, t0)
        assert self._usage(ledger, 1, "ann", now, timedelta(seconds=30)) == (0, None)
        assert self._usage(ledger, 1, "ann", now, timedelta(seconds=29)) == (0, None)

    def test_usage_counts_the_window_and_reports_the_newest_entry(self) -> None:
        ledger = self.make_ledger()
        # recorded out of time order: "last" is the newest time, not the latest call
        for seconds, conversation in ((3, "zeta"), (1, "alpha"), (4, 7), (2, "mid")):
            assert ledger.try_record(
                1, "ann", conversation, now=_at(seconds), window=self.window, limit=None
            )
        assert self._usage(ledger, 1, "ann", _at(10)) == (4, _at(4))
        # entries leave the window one by one, oldest first
        later = _at(2) + self.window + self.margin
        assert self._usage(ledger, 1, "ann", later) == (2, _at(4))

    def test_usage_reports_each_requested_agent(self) -> None:
        ledger = self.make_ledger()
        ledger.try_record(1, "ann", 100, now=_at(0), window=self.window, limit=None)
        ledger.try_record(1, "bob", 101, now=_at(1), window=self.window, limit=None)
        ledger.try_record(1, "bob", 102, now=_at(2), window=self.window, limit=None)
        found = ledger.usage(1, ["ann", "bob", "cy"], now=_at(5), window=self.window)
        assert set(found) <= {"ann", "bob", "cy"}
        assert (found["ann"].count, found["ann"].last) == (1, _at(0))
        assert (found["bob"].count, found["bob"].last) == (2, _at(2))
        assert "cy" not in found or found["cy"].count == 0
        assert dict(ledger.usage(1, [], now=_at(5), window=self.window)) == {}

    def test_entries_are_per_inbox_and_agent(self) -> None:
        ledger = self.make_ledger()
        ledger.try_record(1, "ann", 100, now=_at(0), window=self.window, limit=None)
        assert self._usage(ledger, 2, "ann", _at(1)) == (0, None)
        assert self._usage(ledger, 1, "bob", _at(1)) == (0, None)
        # a full agent in one inbox is not full in another, nor is a colleague
        assert ledger.try_record(2, "ann", 101, now=_at(1), window=self.window, limit=1)
        assert ledger.try_record(1, "bob", 102, now=_at(1), window=self.window, limit=1)
        assert not ledger.try_record(
            1, "ann", 103, now=_at(1), window=self.window, limit=1
        )

    def test_try_record_without_limit_always_records(self) -> None:
        ledger = self.make_ledger()
        for index in range(20):
            assert ledger.try_record(
                1, "ann", index, now=_at(index), window=self.window, limit=None
            )
        assert self._usage(ledger, 1, "ann", _at(20)) == (20, _at(19))

    def test_try_record_refuses_at_the_limit_and_changes_nothing(self) -> None:
        ledger = self.make_ledger()
        assert ledger.try_record(1, "ann", 100, now=_at(0), window=self.window, limit=2)
        assert ledger.try_record(1, "ann", 101, now=_at(1), window=self.window, limit=2)
        assert not ledger.try_record(
            1, "ann", 102, now=_at(2), window=self.window, limit=2
        )
        assert self._usage(ledger, 1, "ann", _at(3)) == (2, _at(1))
        # the refused conversation was not recorded: discarding the others frees both
        ledger.discard(1, "ann", 100)
        ledger.discard(1, "ann", 101)
        assert self._usage(ledger, 1, "ann", _at(3)) == (0, None)

    def test_a_slot_frees_when_its_entry_leaves_the_window(self) -> None:
        ledger = self.make_ledger()
        assert ledger.try_record(1, "ann", 100, now=_at(0), window=self.window, limit=1)
        exactly = _at(0) + self.window + self.margin
        almost = exactly - timedelta(seconds=1)
        assert not ledger.try_record(
            1, "ann", 101, now=almost, window=self.window, limit=1
        )
        assert ledger.try_record(
            1, "ann", 101, now=exactly, window=self.window, limit=1
        )
        assert self._usage(ledger, 1, "ann", exactly) == (1, exactly)

    def test_recording_a_conversation_again_replaces_its_entry(self) -> None:
        ledger = self.make_ledger()
        assert ledger.try_record(
            1, "ann", 100, now=_at(0), window=self.window, limit=None
        )
        assert ledger.try_record(
            1, "ann", 100, now=_at(5), window=self.window, limit=None
        )
        assert self._usage(ledger, 1, "ann", _at(6)) == (1, _at(5))
        # it counts once toward the limit
        assert ledger.try_record(1, "ann", 101, now=_at(6), window=self.window, limit=2)
        assert not ledger.try_record(
            1, "ann", 102, now=_at(7), window=self.window, limit=2
        )
        assert self._usage(ledger, 1, "ann", _at(8)) == (2, _at(6))

    def test_discard_removes_one_entry(self) -> None:
        ledger = self.make_ledger()
        ledger.try_record(1, "ann", 100, now=_at(0), window=self.window, limit=None)
        ledger.try_record(1, "ann", 101, now=_at(1), window=self.window, limit=None)
        ledger.try_record(2, "ann", 100, now=_at(2), window=self.window, limit=None)
        ledger.discard(1, "ann", 100)
        assert self._usage(ledger, 1, "ann", _at(3)) == (1, _at(1))
        assert self._usage(ledger, 2, "ann", _at(3)) == (1, _at(2))
        ledger.discard(1, "ann", 101)  # the newest goes: "last" goes with it
        assert self._usage(ledger, 1, "ann", _at(3)) == (0, None)
        # unknown entries are ignored
        ledger.discard(1, "ann", 999)
        ledger.discard(3, "nobody", 100)
        assert self._usage(ledger, 2, "ann", _at(3)) == (1, _at(2))

    def test_discard_frees_a_slot(self) -> None:
        ledger = self.make_ledger()
        assert ledger.try_record(1, "ann", 100, now=_at(0), window=self.window, limit=1)
        ledger.discard(1, "ann", 100)
        assert ledger.try_record(1, "ann", 101, now=_at(1), window=self.window, limit=1)

    def test_many_entries(self) -> None:
        ledger = self.make_ledger()
        count = 500
        for index in range(count):
            assert ledger.try_record(
                1, "ann", index, now=_at(index), window=self.window, limit=count
            )
        assert not ledger.try_record(
            1, "ann", count, now=_at(count), window=self.window, limit=count
        )
        assert self._usage(ledger, 1, "ann", _at(count)) == (count, _at(count - 1))
        # entries 0..250 have left the window
        later = _at(250) + self.window + self.margin
        assert self._usage(ledger, 1, "ann", later) == (count - 251, _at(count - 1))

    def test_int_and_str_ids(self) -> None:
        ledger = self.make_ledger()
        assert ledger.try_record(7, 42, 1000, now=_at(0), window=self.window, limit=5)
        assert ledger.try_record(
            "inbox-x", "agent-y", "conv-z", now=_at(1), window=self.window, limit=5
        )
        found = ledger.usage(7, [42], now=_at(2), window=self.window)
        assert list(found) == [42]
        assert type(next(iter(found))) is int
        assert (found[42].count, found[42].last) == (1, _at(0))
        found = ledger.usage("inbox-x", ["agent-y"], now=_at(2), window=self.window)
        assert list(found) == ["agent-y"]
        assert (found["agent-y"].count, found["agent-y"].last) == (1, _at(1))
        ledger.discard("inbox-x", "agent-y", "conv-z")
        assert self._usage(ledger, "inbox-x", "agent-y", _at(2)) == (0, None)

    def test_two_callers_never_both_take_the_last_slot(self) -> None:
        ledger = self.make_ledger()
        limit = 3
        wins = _race(
            _CONCURRENCY,
            lambda i: ledger.try_record(
                1, "ann", 100 + i, now=_at(0), window=self.window, limit=limit
            ),
            self.close_connections,
        )
        assert sum(wins) == limit
        assert self._usage(ledger, 1, "ann", _at(1))[0] == limit

    def test_entries_stamped_ahead_of_the_readers_clock_count(self) -> None:
        """A worker whose clock runs ahead stamps entries in the reader's future: they
        count (and hold their slot) all the same."""
        ledger = self.make_ledger()
        assert ledger.try_record(
            1, "ann", 100, now=_at(10), window=self.window, limit=1
        )
        assert self._usage(ledger, 1, "ann", _at(5)) == (1, _at(10))
        assert self._last(ledger, 1, ["ann"], _at(5)) == {"ann": _at(10)}
        assert not ledger.try_record(
            1, "ann", 101, now=_at(5), window=self.window, limit=1
        )

    def test_a_clock_ahead_by_the_tolerance_cannot_overshoot(self) -> None:
        """Issue 14, item 7, at the ledger's tolerance ``s``: a slow worker (clock
        ``s`` behind true time) takes both slots of a limit of 2; a fast one (``s``
        ahead) asks while both are still in the true window. Without the margin its
        clock says the first has expired: it would trim it, count one and record a
        third entry within one window. With it, it is refused, the slow worker still
        counts both, and the slots free once every clock has them out of the window
        plus the margin."""
        skew = self.max_clock_skew
        if not skew:
            return
        ledger = self.make_ledger()
        window = timedelta(seconds=10) + 4 * skew
        slow, fast = -skew, skew
        assert ledger.try_record(1, "ann", 1, now=_at(0) + slow, window=window, limit=2)
        assert ledger.try_record(1, "ann", 2, now=_at(1) + slow, window=window, limit=2)
        true = _at(0) + window - skew  # both entries are in the true window
        assert not ledger.try_record(
            1, "ann", 3, now=true + fast, window=window, limit=2
        )
        assert self._usage(ledger, 1, "ann", true + slow, window) == (2, _at(1) + slow)
        # twice the skew after the second entry left the true window, even the slow
        # clock has both entries out of the window plus the margin
        free = _at(1) + window + 2 * skew
        assert ledger.try_record(1, "ann", 3, now=free + slow, window=window, limit=2)
        assert self._usage(ledger, 1, "ann", free + slow, window) == (1, free + slow)

    def _last(
        self,
        ledger: RateLimitLedger,
        inbox: InboxId,
        agents: Sequence[AgentId],
        now: datetime,
        window: timedelta | None = None,
    ) -> dict[AgentId, datetime]:
        found = dict(
            ledger.last_assigned(inbox, agents, now=now, window=window or self.window)
        )
        assert set(found) <= set(agents), (
            f"last_assigned() returned unrequested agents {found!r}"
        )
        return found

    def test_last_assigned_is_the_newest_entry_in_the_window(self) -> None:
        ledger = self.make_ledger()
        # recorded out of time order: the newest time wins, not the latest call
        for seconds, conversation in ((3, "zeta"), (1, "alpha"), (4, 7), (2, "mid")):
            ledger.try_record(
                1, "ann", conversation, now=_at(seconds), window=self.window, limit=None
            )
        assert self._last(ledger, 1, ["ann"], _at(10)) == {"ann": _at(4)}
        # it counts until exactly the window (and the margin) has passed since the
        # newest entry
        expiry = _at(4) + self.window + self.margin
        almost = expiry - timedelta(milliseconds=1)
        assert self._last(ledger, 1, ["ann"], almost) == {"ann": _at(4)}
        assert self._last(ledger, 1, ["ann"], expiry) == {}
        # the window is the caller's
        now = _at(4 + 30) + self.margin
        second = timedelta(seconds=1)
        assert self._last(ledger, 1, ["ann"], now, 31 * second) == {"ann": _at(4)}
        assert self._last(ledger, 1, ["ann"], now, 30 * second) == {}
        assert self._last(ledger, 1, [], _at(10)) == {}

    def test_last_assigned_follows_a_replaced_entry(self) -> None:
        ledger = self.make_ledger()
        ledger.try_record(1, "ann", 100, now=_at(5), window=self.window, limit=None)
        ledger.try_record(1, "ann", 100, now=_at(8), window=self.window, limit=None)
        assert self._last(ledger, 1, ["ann"], _at(9)) == {"ann": _at(8)}
        # recorded again at an earlier time (another worker's clock): that time counts
        ledger.try_record(1, "ann", 100, now=_at(6), window=self.window, limit=None)
        assert self._last(ledger, 1, ["ann"], _at(9)) == {"ann": _at(6)}

    def test_last_assigned_falls_back_when_the_newest_entry_is_discarded(self) -> None:
        ledger = self.make_ledger()
        for seconds, conversation in ((1, 100), (3, 101), (2, 102)):
            ledger.try_record(
                1, "ann", conversation, now=_at(seconds), window=self.window, limit=None
            )
        ledger.discard(1, "ann", 101)
        assert self._last(ledger, 1, ["ann"], _at(4)) == {"ann": _at(2)}
        ledger.discard(1, "ann", 100)  # not the newest: nothing changes
        assert self._last(ledger, 1, ["ann"], _at(4)) == {"ann": _at(2)}
        ledger.discard(1, "ann", 999)  # unknown: nothing changes
        assert self._last(ledger, 1, ["ann"], _at(4)) == {"ann": _at(2)}
        ledger.discard(1, "ann", 102)  # the only one left: the agent goes
        assert self._last(ledger, 1, ["ann"], _at(4)) == {}
        assert ledger.try_record(1, "ann", 103, now=_at(4), window=self.window, limit=1)
        assert self._last(ledger, 1, ["ann"], _at(5)) == {"ann": _at(4)}

    def test_last_assigned_is_per_inbox_for_the_requested_agents(self) -> None:
        ledger = self.make_ledger()
        ledger.try_record(1, "ann", 100, now=_at(1), window=self.window, limit=None)
        ledger.try_record(1, "bob", 101, now=_at(2), window=self.window, limit=None)
        ledger.try_record(2, "ann", 102, now=_at(3), window=self.window, limit=None)
        ledger.try_record(2, "cy", 103, now=_at(4), window=self.window, limit=None)
        assert self._last(ledger, 1, ["ann", "bob", "cy", "zed"], _at(5)) == {
            "ann": _at(1),
            "bob": _at(2),
        }
        assert self._last(ledger, 2, ["ann", "bob", "cy"], _at(5)) == {
            "ann": _at(3),
            "cy": _at(4),
        }
        assert self._last(ledger, 1, ["bob"], _at(5)) == {"bob": _at(2)}
        assert self._last(ledger, 3, ["ann", "bob", "cy"], _at(5)) == {}
        ledger.discard(2, "ann", 102)
        assert self._last(ledger, 1, ["ann"], _at(5)) == {"ann": _at(1)}

    def test_last_assigned_int_and_str_ids(self) -> None:
        ledger = self.make_ledger()
        ledger.try_record(7, 42, 1000, now=_at(0), window=self.window, limit=None)
        ledger.try_record(7, "42x", "c", now=_at(1), window=self.window, limit=None)
        ledger.try_record(
            "inbox-x", "agent-y", 5, now=_at(2), window=self.window, limit=1
        )
        found = self._last(ledger, 7, [42, "42x", "nobody"], _at(3))
        assert found == {42: _at(0), "42x": _at(1)}
        assert sorted(type(agent).__name__ for agent in found) == ["int", "str"]
        found = self._last(ledger, "inbox-x", ["agent-y"], _at(3))
        assert found == {"agent-y": _at(2)}

    def test_last_assigned_agrees_with_usage(self) -> None:
        """A random walk of records, discards and time steps (seeded: the same every
        run), with ``last_assigned`` checked against :meth:`usage` after every step."""
        agents: list[AgentId] = [1, 2, "ann"]
        inboxes: list[InboxId] = [1, "x"]
        windows = [timedelta(seconds=n) for n in (5, 10, 30)]
        for seed in range(3):
            rng = random.Random(seed)
            ledger = self.make_ledger()
            now = _at(0)
            for _ in range(60):
                now += timedelta(seconds=rng.choice([0, 0, 1, 2, 7]))
                inbox = rng.choice(inboxes)
                agent = rng.choice(agents)
                conversation = rng.randrange(8)
                step = rng.random()
                if step < 0.6:
                    # sometimes recorded a little in the past (another worker's clock)
                    at = now - timedelta(seconds=rng.choice([0, 0, 0, 3]))
                    ledger.try_record(
                        inbox,
                        agent,
                        conversation,
                        now=at,
                        window=rng.choice(windows),
                        limit=rng.choice([None, 1, 2, 3]),
                    )
                elif step < 0.85:
                    ledger.discard(inbox, agent, conversation)
                window = rng.choice(windows)
                for where in inboxes:
                    usage = ledger.usage(where, agents, now=now, window=window)
                    expected = {
                        who: found.last
                        for who, found in usage.items()
                        if found.count and found.last is not None
                    }
                    last = self._last(ledger, where, agents, now, window)
                    assert last == expected, (seed, where, now, window)


# -- RotationStore ----------------------------------------------------------------------


class RotationStoreContract:
    """Checks :class:`~autoassign.ports.RotationStore`: the spec's rotation, queue
    reconciliation on membership drift, and a read-only :meth:`order`."""

    def make_rotation(self) -> RotationStore:
        """A fresh, empty rotation store."""
        raise NotImplementedError

    def test_spec_example(self) -> None:
        rotation = self.make_rotation()
        members = ["A", "B", "C"]
        assert list(rotation.order(1, members=members)) == ["A", "B", "C"]
        assert rotation.select(1, members=members, eligible=members) == "A"
        assert list(rotation.order(1, members=members)) == ["B", "C", "A"]
        assert rotation.select(1, members=members, eligible=members) == "B"
        assert list(rotation.order(1, members=members)) == ["C", "A", "B"]
        assert rotation.select(1, members=members, eligible=members) == "C"
        assert list(rotation.order(1, members=members)) == ["A", "B", "C"]
        assert rotation.select(1, members=members, eligible=members) == "A"

    def test_ineligible_agents_keep_their_place(self) -> None:
        rotation = self.make_rotation()
        members = ["A", "B", "C"]
        assert rotation.select(1, members=members, eligible={"B", "C"}) == "B"
        assert list(rotation.order(1, members=members)) == ["A", "C", "B"]
        assert rotation.select(1, members=members, eligible={"C"}) == "C"
        assert list(rotation.order(1, members=members)) == ["A", "B", "C"]
        # A waited at the front and is first in line once eligible again
        assert rotation.select(1, members=members, eligible=members) == "A"

    def test_nobody_eligible_returns_none_and_does_not_rotate(self) -> None:
        rotation = self.make_rotation()
        members = ["A", "B", "C"]
        rotation.select(1, members=members, eligible=members)  # -> B, C, A
        assert rotation.select(1, members=members, eligible=()) is None
        assert rotation.select(1, members=members, eligible={"X"}) is None
        assert list(rotation.order(1, members=members)) == ["B", "C", "A"]
        assert rotation.select(1, members=members, eligible=members) == "B"
        assert rotation.select(1, members=[], eligible={"A"}) is None

    def test_removed_members_leave_and_new_ones_join_at_the_back(self) -> None:
        rotation = self.make_rotation()
        rotation.select(1, members=["A", "B", "C"], eligible={"A"})  # B, C, A
        drifted = ["D", "C", "A", "E"]  # B left; D and E are new
        assert list(rotation.order(1, members=drifted)) == ["C", "A", "D", "E"]
        assert rotation.select(1, members=drifted, eligible={"A", "D"}) == "A"
        assert list(rotation.order(1, members=drifted)) == ["C", "D", "E", "A"]
        # B comes back: at the back, not at its old place
        back = ["A", "B", "C", "D", "E"]
        assert list(rotation.order(1, members=back)) == ["C", "D", "E", "A", "B"]

    def test_advance_moves_agents_to_the_back_in_order(self) -> None:
        rotation = self.make_rotation()
        members = ["A", "B", "C", "D"]
        rotation.advance(1, members=members, agents=["B", "A"])
        assert list(rotation.order(1, members=members)) == ["C", "D", "B", "A"]
        # an agent listed twice moves twice; non-members are ignored
        rotation.advance(1, members=members, agents=["C", "X", "D", "C"])
        assert list(rotation.order(1, members=members)) == ["B", "A", "D", "C"]
        rotation.advance(1, members=members, agents=[])
        assert list(rotation.order(1, members=members)) == ["B", "A", "D", "C"]
        # select continues from there
        assert rotation.select(1, members=members, eligible=members) == "B"

    def test_advance_equals_the_same_selects(self) -> None:
        """What a pass writes at its end equals choosing the same agents one by one."""
        stepwise, batched = self.make_rotation(), self.make_rotation()
        members = [f"agent-{index}" for index in range(12)]
        picks = ["agent-3", "agent-0", "agent-3", "agent-11", "agent-5", "agent-0"]
        picks += [f"agent-{index}" for index in range(12)]  # many moves at once
        for agent in picks:
            assert stepwise.select(1, members=members, eligible={agent}) == agent
        batched.advance(1, members=members, agents=picks)
        assert list(batched.order(1, members=members)) == list(
            stepwise.order(1, members=members)
        )

    def test_advance_reconciles_with_the_members(self) -> None:
        rotation = self.make_rotation()
        rotation.select(1, members=["A", "B", "C"], eligible={"A"})  # B, C, A
        drifted = ["D", "C", "A", "E"]  # B left; D and E are new
        rotation.advance(1, members=drifted, agents=["C", "B"])
        assert list(rotation.order(1, members=drifted)) == ["A", "D", "E", "C"]

    def test_duplicates_never_appear(self) -> None:
        rotation = self.make_rotation()
        members = ["A", "B", "A", "C", "B"]
        assert list(rotation.order(1, members=members)) == ["A", "B", "C"]
        seen = [rotation.select(1, members=members, eligible=members) for _ in range(6)]
        assert seen == ["A", "B", "C", "A", "B", "C"]
        for _ in range(3):
            rotation.select(1, members=["C", "C", "A"], eligible={"C"})
            rotation.select(1, members=["A", "B", "C"], eligible={"B", "A"})
        order = list(rotation.order(1, members=["A", "B", "C"]))
        assert sorted(order) == ["A", "B", "C"]
        # each round: B leaves ([A, C]) and C moves back; B rejoins at the back
        # ([A, C, B]) and A moves back
        assert order == ["C", "B", "A"]

    def test_order_is_read_only(self) -> None:
        rotation = self.make_rotation()
        # on a queue that was never written
        assert list(rotation.order(1, members=["A", "B"])) == ["A", "B"]
        assert rotation.select(1, members=["B", "A"], eligible={"A", "B"}) == "B"
        # on an existing queue, with members that would change it
        other = self.make_rotation()
        members = ["A", "B", "C"]
        assert other.select(2, members=members, eligible=members) == "A"  # B, C, A
        assert list(other.order(2, members=["A", "C"])) == ["C", "A"]
        assert list(other.order(2, members=["C"])) == ["C"]
        assert list(other.order(2, members=members)) == ["B", "C", "A"]
        assert other.select(2, members=members, eligible=members) == "B"

    def test_inboxes_are_isolated(self) -> None:
        rotation = self.make_rotation()
        members = ["A", "B", "C"]
        assert rotation.select(1, members=members, eligible=members) == "A"
        assert rotation.select(1, members=members, eligible=members) == "B"
        assert rotation.select(2, members=members, eligible=members) == "A"
        assert list(rotation.order(2, members=members)) == ["B", "C", "A"]
        assert list(rotation.order(1, members=members)) == ["C", "A", "B"]
        assert list(rotation.order("other", members=members)) == ["A", "B", "C"]

    def test_ids_come_back_as_passed(self) -> None:
        rotation = self.make_rotation()
        members: list[AgentId] = [7, "bob", 12, "ann"]
        picked = [
            rotation.select("inbox-1", members=members, eligible=members)
            for _ in range(len(members))
        ]
        assert picked == [7, "bob", 12, "ann"]
        assert [type(agent) for agent in picked] == [int, str, int, str]
        order = list(rotation.order("inbox-1", members=members))
        assert order == members
        assert [type(agent) for agent in order] == [int, str, int, str]
        assert rotation.select(3, members=[5, 6], eligible={6}) == 6
        assert list(rotation.order(3, members=[5, 6])) == [5, 6]

    def test_passes_over_a_large_queue_with_drifting_members(self) -> None:
        """Order-then-advance passes (what a pass does), over hundreds of members whose
        membership drifts between some passes, agree with the same selects one by
        one."""
        batched, stepwise = self.make_rotation(), self.make_rotation()
        rng = random.Random(17)
        members: list[AgentId] = [f"agent-{index}" for index in range(300)]
        for round_ in range(8):
            if round_ in {3, 6}:
                members = [m for m in members if rng.random() > 0.1]
                members += [f"new-{round_}-{index}" for index in range(5)]
            order = list(batched.order(1, members=members))
            assert order == list(stepwise.order(1, members=members))
            picks = [order[rng.randrange(len(order))] for _ in range(20)]
            picks += order[:5]
            batched.advance(1, members=members, agents=picks)
            for agent in picks:
                assert stepwise.select(1, members=members, eligible={agent}) == agent
        assert list(batched.order(1, members=members)) == list(
            stepwise.order(1, members=members)
        )

    def test_advance_with_other_members_than_the_order_read(self) -> None:
        rotation = self.make_rotation()
        members = ["A", "B", "C", "D"]
        assert list(rotation.order(1, members=members)) == members
        rotation.advance(1, members=members, agents=["A"])  # B, C, D, A
        assert list(rotation.order(1, members=members)) == ["B", "C", "D", "A"]
        # The membership changed after the read: the advance reconciles first.
        rotation.advance(1, members=["A", "C", "D", "E"], agents=["C"])
        assert list(rotation.order(1, members=["A", "C", "D", "E"])) == [
            "D",
            "A",
            "E",
            "C",
        ]
        # And back to the earlier membership: B rejoins at the back.
        rotation.advance(1, members=members, agents=["D"])
        assert list(rotation.order(1, members=members)) == ["A", "C", "B", "D"]


# -- WeightedRotation --------------------------------------------------------------------


class WeightedRotationStore(RotationStore, WeightedRotation, Protocol):
    """A :class:`~autoassign.ports.RotationStore` with
    :class:`~autoassign.ports.WeightedRotation` (what
    :class:`WeightedRotationContract` checks)."""


class WeightedRotationContract:
    """Checks :class:`~autoassign.ports.WeightedRotation` (weighted round robin's tags
    and clock beside a :class:`~autoassign.ports.RotationStore`'s queue): the fill of
    missing tags, the moves replayed on the stored tags, membership drift, the queue
    shared with :meth:`~autoassign.ports.RotationStore.order` and
    :meth:`~autoassign.ports.RotationStore.advance`, and a read-only
    :meth:`~autoassign.ports.WeightedRotation.weighted_order`. Its hook returns a
    store with both capabilities."""

    def make_weighted_rotation(self) -> WeightedRotationStore:
        """A fresh, empty rotation store with :class:`WeightedRotation`."""
        raise NotImplementedError

    def test_a_fresh_inbox_spreads_the_members_over_one_round(self) -> None:
        rotation = self.make_weighted_rotation()
        members = ["A", "B", "C", "D"]
        state = rotation.weighted_order(1, members=members)
        quarter = ROTATION_ROUND // 4
        assert state == WeightedQueue(
            order=("A", "B", "C", "D"),
            tags={"A": 0, "B": quarter, "C": 2 * quarter, "D": 3 * quarter},
            clock=0,
        )
        assert rotation.weighted_order(1, members=[]) == WeightedQueue(
            order=(), tags={}, clock=0
        )

    def test_moves_are_replayed_on_the_stored_tags(self) -> None:
        rotation = self.make_weighted_rotation()
        members = ["A", "B", "C"]
        third = ROTATION_ROUND // 3
        rotation.weighted_advance(
            1,
            members=members,
            moves=[WeightedMove("B", third, 100), WeightedMove("A", 5, 7)],
        )
        # B's tag: the larger of its own and at, plus 100; A's: 5 plus 7; the clock:
        # the larger at
        assert rotation.weighted_order(1, members=members) == WeightedQueue(
            order=("C", "B", "A"),
            tags={"A": 12, "B": third + 100, "C": 2 * third},
            clock=third,
        )
        # the same moves again (another pass that read the same state): both charged
        rotation.weighted_advance(
            1, members=members, moves=[WeightedMove("B", third, 100)]
        )
        assert rotation.weighted_order(1, members=members).tags["B"] == third + 200
        # a move of a non-member is ignored; an agent listed twice moves twice
        rotation.weighted_advance(
            1,
            members=members,
            moves=[
                WeightedMove("X", 10**9, 1),
                WeightedMove("C", 0, 1),
                WeightedMove("A", 0, 1),
                WeightedMove("C", 0, 1),
            ],
        )
        state = rotation.weighted_order(1, members=members)
        assert state.order == ("B", "A", "C")
        assert state.tags == {"A": 13, "B": third + 200, "C": 2 * third + 2}
        assert state.clock == third

    def test_the_queue_is_the_rotation_stores_queue(self) -> None:
        rotation = self.make_weighted_rotation()
        members = ["A", "B", "C"]
        assert rotation.select(1, members=members, eligible={"A"}) == "A"
        assert rotation.weighted_order(1, members=members).order == ("B", "C", "A")
        rotation.weighted_advance(
            1, members=members, moves=[WeightedMove("B", 0, ROTATION_ROUND)]
        )
        assert list(rotation.order(1, members=members)) == ["C", "A", "B"]
        rotation.advance(1, members=members, agents=["C"])
        state = rotation.weighted_order(1, members=members)
        assert state.order == ("A", "B", "C")
        # the tags were spread in the queue's order then (B, C, A), and the plain
        # moves leave them alone
        third = ROTATION_ROUND // 3
        assert state.tags == {"B": ROTATION_ROUND, "C": third, "A": 2 * third}
        assert rotation.select(1, members=members, eligible=members) == "A"

    def test_new_members_join_at_the_back_and_removed_ones_leave(self) -> None:
        rotation = self.make_weighted_rotation()
        rotation.weighted_advance(
            1, members=["A", "B"], moves=[WeightedMove("A", 40, 10)]
        )
        drifted = ["C", "B", "D"]  # A left; C and D are new
        expected = WeightedQueue(
            order=("B", "C", "D"),
            tags={
                "B": ROTATION_ROUND // 2,
                "C": 40 + ROTATION_ROUND,
                "D": 40 + ROTATION_ROUND,
            },
            clock=40,
        )
        assert rotation.weighted_order(1, members=drifted) == expected
        rotation.weighted_advance(1, members=drifted, moves=[])
        assert rotation.weighted_order(1, members=drifted) == expected
        # A comes back: at the back, its old tag gone
        back = rotation.weighted_order(1, members=["A", *drifted])
        assert back.order == ("B", "C", "D", "A")
        assert back.tags["A"] == 40 + ROTATION_ROUND

    def test_weighted_order_is_read_only(self) -> None:
        rotation = self.make_weighted_rotation()
        members = ["A", "B", "C"]
        rotation.weighted_order(1, members=["C", "B"])
        assert rotation.weighted_order(1, members=members) == WeightedQueue(
            order=("A", "B", "C"),
            tags={agent: at * (ROTATION_ROUND // 3) for at, agent in enumerate("ABC")},
            clock=0,
        )
        assert list(rotation.order(1, members=members)) == ["A", "B", "C"]
        rotation.weighted_advance(
            1, members=members, moves=[WeightedMove("A", 0, ROTATION_ROUND)]
        )
        before = rotation.weighted_order(1, members=members)
        rotation.weighted_order(1, members=["D"])
        assert rotation.weighted_order(1, members=members) == before

    def test_inboxes_are_isolated_and_ids_keep_their_type(self) -> None:
        rotation = self.make_weighted_rotation()
        members: list[AgentId] = [1, "x", 2]
        rotation.weighted_advance(7, members=members, moves=[WeightedMove(1, 3, 4)])
        state = rotation.weighted_order(7, members=members)
        assert state.order == ("x", 2, 1)
        assert [type(agent) for agent in state.order] == [str, int, int]
        assert state.tags[1] == 7
        assert rotation.weighted_order(8, members=members).clock == 0

    def test_random_moves_match_the_reference(self) -> None:
        """Random membership drift and moves, against :func:`fill_tags` and
        :func:`apply_weighted_moves` over :func:`reconcile_queue`."""
        for seed in range(5):
            rng = random.Random(seed)
            rotation = self.make_weighted_rotation()
            queue: list[AgentId] = []
            tags: dict[AgentId, int] = {}
            clock = 0
            pool: list[AgentId] = ["a", "b", "c", "d", "e", 1, 2]
            for _ in range(40):
                members = rng.sample(pool, rng.randint(0, len(pool)))
                moves = [
                    WeightedMove(
                        rng.choice(pool),
                        rng.randrange(0, 3 * ROTATION_ROUND),
                        rng.randint(1, ROTATION_ROUND),
                    )
                    for _ in range(rng.randint(0, 6))
                ]
                reconciled = reconcile_queue(queue, members)
                filled = fill_tags(reconciled, tags, clock)
                assert rotation.weighted_order(1, members=members) == WeightedQueue(
                    order=tuple(reconciled), tags=filled, clock=clock
                ), seed
                queue, tags, clock = apply_weighted_moves(
                    reconciled, filled, clock, moves
                )
                rotation.weighted_advance(1, members=members, moves=moves)
                assert list(rotation.order(1, members=members)) == queue, seed


# -- InboxLease ---------------------------------------------------------------------------


class InboxLeaseContract(_Threads):
    """Checks :class:`~autoassign.ports.InboxLease`: exclusive leases that only their
    owner releases, and the pending mark used to coalesce triggers, in both its forms
    (queued, and handed off to a holder: coalescing only while that holder holds the
    lease)."""

    expiry_follows_clock: bool = True
    """``False`` for adapters whose leases and marks expire by server-side TTL rather
    than the injected clock: the expiry tests then check nothing."""

    ttl: timedelta = timedelta(seconds=30)

    def make_lease(self, clock: FakeClock) -> InboxLease:
        """A fresh lease store whose time (if it keeps any) comes from ``clock``."""
        raise NotImplementedError

    def test_acquire_is_exclusive(self) -> None:
        leases = self.make_lease(FakeClock())
        first = leases.acquire(1, ttl=self.ttl)
        assert first is not None
        assert leases.acquire(1, ttl=self.ttl) is None
        assert leases.acquire(1, ttl=self.ttl) is None

    def test_release_by_the_owner_frees_it(self) -> None:
        leases = self.make_lease(FakeClock())
        first = leases.acquire(1, ttl=self.ttl)
        assert first is not None
        first.release()
        second = leases.acquire(1, ttl=self.ttl)
        assert second is not None
        assert leases.acquire(1, ttl=self.ttl) is None
        second.release()
        second.release()  # a second release is harmless
        assert leases.acquire(1, ttl=self.ttl) is not None

    def test_lease_is_held_until_its_ttl(self) -> None:
        if not self.expiry_follows_clock:
            return
        clock = FakeClock()
        leases = self.make_lease(clock)
        assert leases.acquire(1, ttl=self.ttl) is not None
        clock.advance(self.ttl - timedelta(seconds=1))
        assert leases.acquire(1, ttl=self.ttl) is None
        clock.advance(timedelta(seconds=1))
        assert leases.acquire(1, ttl=self.ttl) is not None

    def test_a_stale_release_does_not_free_the_new_owner(self) -> None:
        if not self.expiry_follows_clock:
            return
        clock = FakeClock()
        leases = self.make_lease(clock)
        stale = leases.acquire(1, ttl=self.ttl)
        assert stale is not None
        clock.advance(self.ttl + timedelta(seconds=1))
        fresh = leases.acquire(1, ttl=self.ttl)
        assert fresh is not None
        stale.release()
        assert leases.acquire(1, ttl=self.ttl) is None
        fresh.release()
        assert leases.acquire(1, ttl=self.ttl) is not None

    def test_pending_mark_coalesces(self) -> None:
        leases = self.make_lease(FakeClock())
        assert leases.take_pending(1) is False
        assert leases.mark_pending(1, ttl=self.ttl) is True
        assert leases.mark_pending(1, ttl=self.ttl) is False
        assert leases.mark_pending(1, ttl=self.ttl) is False
        assert leases.take_pending(1) is True
        assert leases.take_pending(1) is False
        assert leases.mark_pending(1, ttl=self.ttl) is True

    def test_pending_mark_is_independent_of_the_lease(self) -> None:
        leases = self.make_lease(FakeClock())
        held = leases.acquire(1, ttl=self.ttl)
        assert held is not None
        assert leases.mark_pending(1, ttl=self.ttl) is True
        held.release()
        assert leases.take_pending(1) is True
        assert leases.acquire(1, ttl=self.ttl) is not None

    def test_pending_mark_lapses_after_its_ttl(self) -> None:
        if not self.expiry_follows_clock:
            return
        clock = FakeClock()
        leases = self.make_lease(clock)
        assert leases.mark_pending(1, ttl=self.ttl) is True
        clock.advance(self.ttl - timedelta(seconds=1))
        assert leases.mark_pending(1, ttl=self.ttl) is False
        clock.advance(timedelta(seconds=1))
        assert leases.mark_pending(1, ttl=self.ttl) is True
        clock.advance(self.ttl)
        assert leases.take_pending(1) is False

    def test_is_pending_reports_the_mark(self) -> None:
        leases = self.make_lease(FakeClock())
        assert leases.is_pending(1) is False
        assert leases.mark_pending(1, ttl=self.ttl) is True
        assert leases.is_pending(1) is True
        assert leases.is_pending(2) is False
        assert leases.is_pending("two") is False
        assert leases.take_pending(1) is True
        assert leases.is_pending(1) is False

    def test_is_pending_is_read_only(self) -> None:
        leases = self.make_lease(FakeClock())
        for _ in range(3):
            assert leases.is_pending(1) is False
        assert leases.mark_pending(1, ttl=self.ttl) is True  # checking set nothing
        for _ in range(3):
            assert leases.is_pending(1) is True
        assert leases.mark_pending(1, ttl=self.ttl) is False  # nor cleared it
        assert leases.take_pending(1) is True
        assert leases.take_pending(1) is False

    def test_is_pending_ignores_the_lease(self) -> None:
        leases = self.make_lease(FakeClock())
        held = leases.acquire(1, ttl=self.ttl)
        assert held is not None
        assert leases.is_pending(1) is False
        assert leases.mark_pending(1, ttl=self.ttl) is True
        held.release()
        assert leases.is_pending(1) is True
        assert leases.acquire(1, ttl=self.ttl) is not None  # checking took no lease

    def test_is_pending_lapses_with_the_mark_and_never_extends_it(self) -> None:
        if not self.expiry_follows_clock:
            return
        clock = FakeClock()
        leases = self.make_lease(clock)
        assert leases.mark_pending(1, ttl=self.ttl) is True
        clock.advance(self.ttl - timedelta(seconds=1))
        assert leases.is_pending(1) is True
        clock.advance(timedelta(seconds=1))
        assert leases.is_pending(1) is False
        assert leases.mark_pending(1, ttl=self.ttl) is True

    def test_hand_off_without_a_holder_changes_nothing(self) -> None:
        leases = self.make_lease(FakeClock())
        assert leases.hand_off(1, ttl=self.ttl) is None
        assert leases.is_pending(1) is False
        assert leases.take_pending(1) is False
        held = leases.acquire(1, ttl=self.ttl)
        assert held is not None
        held.release()
        assert leases.hand_off(1, ttl=self.ttl) is None
        assert leases.mark_pending(1, ttl=self.ttl) is True

    def test_hand_off_marks_the_inbox_for_the_holder(self) -> None:
        leases = self.make_lease(FakeClock())
        held = leases.acquire(1, ttl=self.ttl)
        assert held is not None
        handed = leases.hand_off(1, ttl=self.ttl)
        assert handed is not None
        assert handed.first is True
        assert timedelta(0) < handed.holder_expires_in <= self.ttl
        assert leases.is_pending(1) is True
        assert leases.mark_pending(1, ttl=self.ttl) is False  # coalesced
        again = leases.hand_off(1, ttl=self.ttl)
        assert again is not None
        assert again.first is False  # already this holder's
        held.release()
        # The holder takes the request after its pass (after releasing the lease).
        assert leases.take_pending(1) is True
        assert leases.take_pending(1) is False

    def test_hand_off_replaces_a_queued_mark(self) -> None:
        leases = self.make_lease(FakeClock())
        assert leases.mark_pending(1, ttl=self.ttl) is True
        held = leases.acquire(1, ttl=self.ttl)
        assert held is not None
        handed = leases.hand_off(1, ttl=self.ttl)
        assert handed is not None
        assert handed.first is True
        assert leases.take_pending(1) is True
        held.release()

    def test_a_mark_handed_to_a_holder_that_let_go_does_not_coalesce(self) -> None:
        leases = self.make_lease(FakeClock())
        held = leases.acquire(1, ttl=self.ttl)
        assert held is not None
        assert leases.hand_off(1, ttl=self.ttl) is not None
        held.release()
        assert leases.is_pending(1) is False
        assert leases.mark_pending(1, ttl=self.ttl) is True  # a fresh, queued mark
        assert leases.mark_pending(1, ttl=self.ttl) is False
        assert leases.is_pending(1) is True
        assert leases.take_pending(1) is True

    def test_a_new_holder_is_handed_off_anew(self) -> None:
        leases = self.make_lease(FakeClock())
        first = leases.acquire(1, ttl=self.ttl)
        assert first is not None
        assert leases.hand_off(1, ttl=self.ttl) is not None
        first.release()
        second = leases.acquire(1, ttl=self.ttl)
        assert second is not None
        assert leases.is_pending(1) is False  # handed to the first holder only
        handed = leases.hand_off(1, ttl=self.ttl)
        assert handed is not None
        assert handed.first is True
        assert leases.mark_pending(1, ttl=self.ttl) is False
        second.release()

    def test_a_mark_handed_to_an_expired_holder_does_not_coalesce(self) -> None:
        """A holder that died: once its lease expires, the next request is fresh (it
        does not wait for the mark's own ``ttl``)."""
        if not self.expiry_follows_clock:
            return
        clock = FakeClock()
        leases = self.make_lease(clock)
        lease_ttl = self.ttl / 3
        assert leases.acquire(1, ttl=lease_ttl) is not None
        clock.advance(timedelta(seconds=1))
        handed = leases.hand_off(1, ttl=self.ttl)
        assert handed is not None
        assert handed.holder_expires_in == lease_ttl - timedelta(seconds=1)
        clock.advance(handed.holder_expires_in - timedelta(seconds=1))
        assert leases.mark_pending(1, ttl=self.ttl) is False  # still held
        clock.advance(timedelta(seconds=1))
        assert leases.is_pending(1) is False
        assert leases.mark_pending(1, ttl=self.ttl) is True
        assert leases.mark_pending(1, ttl=self.ttl) is False

    def test_concurrent_hand_offs_agree_on_the_first(self) -> None:
        leases = self.make_lease(FakeClock())
        held = leases.acquire(5, ttl=self.ttl)
        assert held is not None

        def hand(_i: int) -> bool:
            handed = leases.hand_off(5, ttl=self.ttl)
            return handed is not None and handed.first

        assert sum(_race(_CONCURRENCY, hand, self.close_connections)) == 1
        held.release()

    def test_inboxes_are_isolated(self) -> None:
        leases = self.make_lease(FakeClock())
        one = leases.acquire(1, ttl=self.ttl)
        assert one is not None
        two = leases.acquire("two", ttl=self.ttl)
        assert two is not None
        one.release()
        assert leases.acquire("two", ttl=self.ttl) is None
        assert leases.mark_pending(1, ttl=self.ttl) is True
        assert leases.mark_pending("two", ttl=self.ttl) is True
        assert leases.take_pending(1) is True
        assert leases.mark_pending("two", ttl=self.ttl) is False
        assert leases.take_pending("two") is True

    def test_mark_pending_many_marks_each_as_mark_pending_would(self) -> None:
        """(:class:`~autoassign.ports.BatchPendingLease` only.)"""
        leases = self.make_lease(FakeClock())
        if not isinstance(leases, BatchPendingLease):
            return
        assert list(leases.mark_pending_many([], ttl=self.ttl)) == []
        assert leases.mark_pending(2, ttl=self.ttl) is True  # queued
        holder = leases.acquire(3, ttl=self.ttl)
        assert holder is not None
        assert leases.hand_off(3, ttl=self.ttl) is not None  # handed to a live holder
        gone = leases.acquire(4, ttl=self.ttl)
        assert gone is not None
        assert leases.hand_off(4, ttl=self.ttl) is not None
        gone.release()  # handed to a holder that let go
        held = leases.acquire(5, ttl=self.ttl)  # held, not marked
        assert held is not None
        inboxes: list[InboxId] = [1, 2, 3, 4, 5, "six", 1]
        fresh = leases.mark_pending_many(inboxes, ttl=self.ttl)
        assert list(fresh) == [True, False, False, True, True, True, False]
        assert all(leases.is_pending(inbox) for inbox in inboxes)
        assert list(leases.mark_pending_many([1, 4, 7], ttl=self.ttl)) == [
            False,
            False,
            True,
        ]
        holder.release()
        held.release()

    def test_concurrent_acquire_has_one_winner(self) -> None:
        leases = self.make_lease(FakeClock())
        wins = _race(
            _CONCURRENCY,
            lambda i: leases.acquire(5, ttl=self.ttl) is not None,
            self.close_connections,
        )
        assert sum(wins) == 1
        marks = _race(
            _CONCURRENCY,
            lambda i: leases.mark_pending(5, ttl=self.ttl),
            self.close_connections,
        )
        assert sum(marks) == 1


# -- Presence -----------------------------------------------------------------------------


class PresenceContract:
    """Checks :class:`~autoassign.ports.Presence`: exact statuses per account, for the
    requested agents only."""

    def make_presence(self) -> Presence:
        """A fresh presence store in which no agent has a status."""
        raise NotImplementedError

    def set_status(
        self, presence: Presence, account: AccountId, agent: AgentId, status: str
    ) -> None:
        """Give ``agent`` of ``account`` the ``status`` (the host's own write path)."""
        raise NotImplementedError

    def test_statuses_are_reported_exactly(self) -> None:
        presence = self.make_presence()
        self.set_status(presence, 1, "ann", "online")
        self.set_status(presence, 1, "bob", "busy")
        self.set_status(presence, 1, "cy", "offline")
        self.set_status(presence, 1, "dee", "Online")
        self.set_status(presence, 1, "eve", " online")
        found = presence.statuses(1, ["ann", "bob", "cy", "dee", "eve"])
        assert found.get("ann") == "online"
        assert found.get("bob") == "busy"
        assert found.get("cy", "offline") == "offline"
        assert found.get("dee") == "Online"
        assert found.get("eve") == " online"

    def test_latest_status_wins(self) -> None:
        presence = self.make_presence()
        self.set_status(presence, 1, "ann", "online")
        self.set_status(presence, 1, "ann", "busy")
        assert presence.statuses(1, ["ann"]).get("ann") == "busy"
        self.set_status(presence, 1, "ann", "online")
        assert presence.statuses(1, ["ann"]).get("ann") == "online"

    def test_unknown_agents_are_absent(self) -> None:
        presence = self.make_presence()
        self.set_status(presence, 1, "ann", "online")
        found = presence.statuses(1, ["ann", "ghost"])
        assert "ghost" not in found
        assert presence.statuses(1, []) == {}

    def test_accounts_are_isolated(self) -> None:
        presence = self.make_presence()
        self.set_status(presence, 1, "ann", "online")
        self.set_status(presence, 2, "ann", "busy")
        assert presence.statuses(1, ["ann"]).get("ann") == "online"
        assert presence.statuses(2, ["ann"]).get("ann") == "busy"
        assert "ann" not in presence.statuses(3, ["ann"])

    def test_only_requested_agents_are_returned(self) -> None:
        presence = self.make_presence()
        for agent in ("ann", "bob", "cy"):
            self.set_status(presence, 1, agent, "online")
        assert set(presence.statuses(1, ["bob"])) == {"bob"}
        assert set(presence.statuses(1, ["ann", "cy", "zed"])) == {"ann", "cy"}

    def test_int_and_str_ids(self) -> None:
        presence = self.make_presence()
        self.set_status(presence, 1, 42, "online")
        self.set_status(presence, "acct", "ann", "busy")
        found = presence.statuses(1, [42])
        assert list(found) == [42]
        assert type(next(iter(found))) is int
        assert found[42] == "online"
        assert dict(presence.statuses("acct", ["ann"])) == {"ann": "busy"}


class OnlinePresenceContract(PresenceContract):
    """Checks :class:`~autoassign.ports.OnlinePresence` (the optional capability):
    :meth:`~autoassign.ports.OnlinePresence.online` names exactly the agents
    :meth:`~autoassign.ports.Presence.statuses` reports as online, for few agents and
    for many (a store may read those differently)."""

    many_agents = 600
    """How many agents :meth:`test_online_with_many_agents` asks about."""

    def make_presence(self) -> OnlinePresence:
        """A fresh presence store in which no agent has a status."""
        raise NotImplementedError

    def _online(
        self, presence: Presence, account: AccountId, agents: Sequence[AgentId]
    ) -> list[AgentId]:
        assert isinstance(presence, OnlinePresence)
        found = list(presence.online(account, agents))
        assert len(found) == len(set(found)), found
        statuses = presence.statuses(account, agents)
        expected = {agent for agent in agents if statuses.get(agent) == "online"}
        assert set(found) == expected
        return found

    def test_online_names_the_online_agents(self) -> None:
        presence = self.make_presence()
        self.set_status(presence, 1, "ann", "online")
        self.set_status(presence, 1, "bob", "busy")
        self.set_status(presence, 1, "cy", "offline")
        self.set_status(presence, 1, "dee", "Online")
        agents = ["ann", "bob", "cy", "dee", "ghost"]
        assert self._online(presence, 1, agents) == ["ann"]
        assert list(self.make_presence().online(1, agents)) == []
        assert list(presence.online(1, [])) == []

    def test_online_follows_status_changes(self) -> None:
        presence = self.make_presence()
        self.set_status(presence, 1, "ann", "online")
        self.set_status(presence, 1, "ann", "busy")
        assert self._online(presence, 1, ["ann"]) == []
        self.set_status(presence, 1, "ann", "online")
        assert self._online(presence, 1, ["ann"]) == ["ann"]
        self.set_status(presence, 1, "ann", "offline")
        assert self._online(presence, 1, ["ann"]) == []

    def test_online_only_names_requested_agents_of_the_account(self) -> None:
        presence = self.make_presence()
        for agent in ("ann", "bob", "cy"):
            self.set_status(presence, 1, agent, "online")
        self.set_status(presence, 2, "dee", "online")
        assert self._online(presence, 1, ["bob", "dee", "zed"]) == ["bob"]
        assert self._online(presence, 2, ["ann", "dee"]) == ["dee"]
        assert self._online(presence, 3, ["ann"]) == []

    def test_online_with_many_agents(self) -> None:
        presence = self.make_presence()
        numbers = range(self.many_agents)
        agents: list[AgentId] = list(numbers)
        statuses = ("online", "busy", "online", "offline")
        for agent in numbers:
            if agent % 5 != 4:  # every fifth never had a status
                self.set_status(presence, 1, agent, statuses[agent % 4])
        self.set_status(presence, 1, "outsider", "online")
        found = self._online(presence, 1, agents)
        assert all(type(agent) is int for agent in found)
        assert len(found) == len(
            [a for a in numbers if a % 5 != 4 and statuses[a % 4] == "online"]
        )
        # A subset asks about fewer agents, and only those come back.
        half = agents[: self.many_agents // 2]
        assert set(self._online(presence, 1, half)) == {a for a in found if a in half}

    def test_online_int_and_str_ids(self) -> None:
        presence = self.make_presence()
        self.set_status(presence, 1, 42, "online")
        self.set_status(presence, 1, "ann", "online")
        found = self._online(presence, 1, [42, "ann", 7])
        assert sorted(map(str, found)) == ["42", "ann"]
        assert {type(agent) for agent in found} == {int, str}


# -- Reservations -------------------------------------------------------------------------


class ReservationsSetup(NamedTuple):
    """What :meth:`ReservationsContract.make_reservations` returns: the implementation
    under test and handles on the stores behind it."""

    reservations: Reservations
    ledger: RateLimitLedger
    """The ledger ``reservations`` records in (the tests read it)."""
    set_status: Callable[[AccountId, AgentId, str], None]
    """Gives an agent of an account a status in the presence ``reservations`` reads
    (the host's own write path)."""
    break_presence: Callable[[AccountId], None] | None = None
    """Makes every later presence read of the account fail, or ``None`` where that
    cannot be injected (the tests that need it then pass without checking)."""


class ReservationsContract(_Threads):
    """Checks :class:`~autoassign.ports.Reservations`: presence read as a snapshot and
    compared with ``expect_online``; the slot taken (atomically, against the limit)
    only when presence is confirmed; no entry left behind otherwise; failures reported,
    never raised."""

    window: timedelta = _HOUR

    def make_reservations(self) -> ReservationsSetup:
        """A fresh implementation over an empty ledger and a presence store in which no
        agent has a status."""
        raise NotImplementedError

    def _reserve(
        self,
        setup: ReservationsSetup,
        agent: AgentId,
        conversation: ConversationId,
        expect_online: Mapping[AgentId, bool],
        *,
        at: float = 0,
        limit: int | None = None,
        record: bool = True,
        account: AccountId = 1,
        inbox: InboxId = 10,
    ) -> Reservation:
        return setup.reservations.reserve(
            account,
            inbox,
            agent,
            conversation,
            expect_online=expect_online,
            now=_at(at),
            window=self.window,
            limit=limit,
            record=record,
        )

    def _entries(
        self, setup: ReservationsSetup, agent: AgentId, inbox: InboxId = 10
    ) -> tuple[int, datetime | None]:
        """The agent's count and newest entry in the window ending at ``_at(100)``."""
        return _standing(setup.ledger, inbox, agent, _at(100), self.window)

    def test_records_when_presence_matches(self) -> None:
        setup = self.make_reservations()
        setup.set_status(1, "ann", "online")
        setup.set_status(1, "bob", "busy")
        done = self._reserve(setup, "ann", 100, {"ann": True, "bob": False}, at=5)
        assert done.confirmed
        assert done.recorded
        assert not done.refused
        assert done.presence_error is None
        assert done.ledger_error is None
        assert dict(done.statuses) == {"ann": "online", "bob": "busy"}
        assert self._entries(setup, "ann") == (1, _at(5))
        found = setup.ledger.last_assigned(10, ["ann"], now=_at(6), window=self.window)
        assert dict(found) == {"ann": _at(5)}

    def test_expected_online_but_not_leaves_no_entry(self) -> None:
        setup = self.make_reservations()
        setup.set_status(1, "ann", "busy")
        done = self._reserve(setup, "ann", 100, {"ann": True})
        assert (done.confirmed, done.recorded, done.refused) == (False, False, False)
        assert done.presence_error is None
        assert done.ledger_error is None
        assert dict(done.statuses) == {"ann": "busy"}
        # nobody with a status at all is offline too
        done = self._reserve(setup, "bob", 101, {"bob": True})
        assert (done.confirmed, done.recorded) == (False, False)
        assert dict(done.statuses) == {}
        assert self._entries(setup, "ann") == (0, None)
        assert self._entries(setup, "bob") == (0, None)

    def test_expected_offline_but_online_leaves_no_entry(self) -> None:
        setup = self.make_reservations()
        setup.set_status(1, "ann", "online")
        setup.set_status(1, "bob", "online")
        done = self._reserve(setup, "ann", 100, {"ann": True, "bob": False})
        assert (done.confirmed, done.recorded, done.refused) == (False, False, False)
        assert done.presence_error is None
        assert dict(done.statuses) == {"ann": "online", "bob": "online"}
        assert self._entries(setup, "ann") == (0, None)

    def test_a_mismatch_keeps_the_conversations_earlier_entry(self) -> None:
        setup = self.make_reservations()
        assert setup.ledger.try_record(
            10, "ann", 100, now=_at(1), window=self.window, limit=None
        )
        setup.set_status(1, "ann", "busy")
        done = self._reserve(setup, "ann", 100, {"ann": True}, at=5)
        assert not done.recorded
        assert self._entries(setup, "ann") == (1, _at(1))

    def test_refused_at_the_limit_changes_nothing(self) -> None:
        setup = self.make_reservations()
        setup.set_status(1, "ann", "online")
        assert self._reserve(setup, "ann", 100, {"ann": True}, at=1, limit=2).recorded
        assert self._reserve(setup, "ann", 101, {"ann": True}, at=2, limit=2).recorded
        done = self._reserve(setup, "ann", 102, {"ann": True}, at=3, limit=2)
        assert done.confirmed
        assert done.refused
        assert not done.recorded
        assert done.ledger_error is None
        assert dict(done.statuses) == {"ann": "online"}
        assert self._entries(setup, "ann") == (2, _at(2))
        # the same conversation again replaces its entry: never refused for itself
        again = self._reserve(setup, "ann", 101, {"ann": True}, at=4, limit=2)
        assert (again.recorded, again.refused) == (True, False)
        assert self._entries(setup, "ann") == (2, _at(4))

    def test_record_false_only_reads_presence(self) -> None:
        setup = self.make_reservations()
        setup.set_status(1, "ann", "online")
        done = self._reserve(setup, "ann", 100, {"ann": True}, record=False)
        assert (done.confirmed, done.recorded, done.refused) == (True, False, False)
        assert dict(done.statuses) == {"ann": "online"}
        done = self._reserve(setup, "ann", 100, {"ann": False}, record=False)
        assert (done.confirmed, done.recorded, done.refused) == (False, False, False)
        assert dict(done.statuses) == {"ann": "online"}
        assert self._entries(setup, "ann") == (0, None)

    def test_nothing_expected_records_without_reading_presence(self) -> None:
        setup = self.make_reservations()
        if setup.break_presence is not None:
            setup.break_presence(1)  # a read would fail: there must be none
        done = self._reserve(setup, "ann", 100, {}, at=3)
        assert (done.confirmed, done.recorded, done.refused) == (True, True, False)
        assert done.presence_error is None
        assert dict(done.statuses) == {}
        assert self._entries(setup, "ann") == (1, _at(3))
        done = self._reserve(setup, "ann", 101, {}, at=4, record=False)
        assert (done.confirmed, done.recorded, done.presence_error) == (
            True,
            False,
            None,
        )
        assert self._entries(setup, "ann") == (1, _at(3))

    def test_failing_presence_leaves_no_entry(self) -> None:
        setup = self.make_reservations()
        if setup.break_presence is None:
            return
        setup.set_status(1, "ann", "online")
        assert setup.ledger.try_record(
            10, "ann", 100, now=_at(1), window=self.window, limit=None
        )
        setup.break_presence(1)
        for conversation in (100, 101):
            done = self._reserve(setup, "ann", conversation, {"ann": True}, at=5)
            assert isinstance(done.presence_error, Exception)
            assert (done.confirmed, done.recorded, done.refused) == (
                False,
                False,
                False,
            )
            assert dict(done.statuses) == {}
        # the conversation's earlier entry is still there, and nothing else
        assert self._entries(setup, "ann") == (1, _at(1))
        done = self._reserve(setup, "ann", 102, {"ann": True}, record=False)
        assert isinstance(done.presence_error, Exception)
        assert not done.confirmed

    def test_statuses_hold_exactly_the_agents_read_that_have_one(self) -> None:
        setup = self.make_reservations()
        setup.set_status(1, "ann", "online")
        setup.set_status(1, "bob", "busy")
        setup.set_status(1, "eve", "online")  # not asked about
        setup.set_status(2, "dee", "online")  # another account
        expect: dict[AgentId, bool] = {
            "ann": True,
            "bob": False,
            "cy": False,
            "dee": False,
        }
        done = self._reserve(setup, "ann", 100, expect)
        assert done.confirmed
        assert done.recorded
        assert dict(done.statuses) == {"ann": "online", "bob": "busy"}

    def test_int_and_str_ids(self) -> None:
        setup = self.make_reservations()
        setup.set_status("acct", 42, "online")
        setup.set_status("acct", "42x", "busy")
        done = self._reserve(
            setup, 42, "conv", {42: True, "42x": False}, account="acct", inbox="box"
        )
        assert done.recorded
        assert dict(done.statuses) == {42: "online", "42x": "busy"}
        assert sorted(type(agent).__name__ for agent in done.statuses) == ["int", "str"]
        assert self._entries(setup, 42, inbox="box") == (1, _at(0))

    def test_two_callers_never_both_take_the_last_slot(self) -> None:
        setup = self.make_reservations()
        setup.set_status(1, "ann", "online")
        limit = 3
        wins = _race(
            _CONCURRENCY,
            lambda i: (
                self._reserve(
                    setup, "ann", 100 + i, {"ann": True}, limit=limit
                ).recorded
            ),
            self.close_connections,
        )
        assert sum(wins) == limit
        assert self._entries(setup, "ann")[0] == limit


# -- ConversationRepository ---------------------------------------------------------------


def _conversation(
    id: int,
    *,
    inbox: InboxId = 1,
    account: AccountId = 1,
    status: ConversationStatus = ConversationStatus.OPEN,
    assignee: AgentId | None = None,
    labels: Sequence[str] = (),
    created: float = 0,
    activity: float | None = None,
    team: TeamId | None = None,
    urgency: int | None = None,
    due: float | None = None,
    weight: float = 1,
) -> Conversation:
    return Conversation(
        id=id,
        inbox=inbox,
        account=account,
        status=status,
        assignee=assignee,
        team=team,
        labels=frozenset(labels),
        created_at=_at(created),
        last_activity_at=_at(created if activity is None else activity),
        urgency=urgency,
        due_at=None if due is None else _at(due),
        weight=weight,
    )


_NO_EXCLUSIONS = ExclusionRules()


def _assignee(
    repository: ConversationRepository, conversation: ConversationId
) -> AgentId | None:
    """The stored assignee of ``conversation``, which must exist."""
    stored = repository.get(conversation)
    assert stored is not None, f"conversation {conversation!r} is gone"
    return stored.assignee


_AGENT_NUMBERS: dict[str, int] = {
    "ann": 1,
    "bob": 2,
    "cy": 3,
    "dee": 4,
    "gone": 5,
    "zed": 6,
}
"""The int each agent name of the suites stands for under ``integer_ids``
(``"agent-N"`` is ``100 + N``; ints stay as they are)."""

_TEAM_NUMBERS: dict[str, int] = {"blocked": 1, "open": 2, "other": 3, "t2": 2}


def _numbered(name: str | int, integer: bool, numbers: Mapping[str, int]) -> Id:
    if not integer or isinstance(name, int):
        return name
    if name.startswith("agent-"):
        return 100 + int(name.removeprefix("agent-"))
    return numbers[name]


class _Flags:
    """The capability flags of the repository and directory suites. Each is ``False``
    by default (the host represents everything); a host sets the ones that describe
    it. A case is rewritten to what the host can store wherever it can be (ints for
    the suite's str ids, account 1 for the others, one policy per inbox), its parts
    that cannot are left out, and a case that is only about what the host lacks is
    skipped with a reason naming the flag."""

    single_account: bool = False
    """The host stores one account, id ``1`` (no tenant column): cases about telling
    accounts apart are skipped, the others use account ``1`` only."""

    integer_ids: bool = False
    """Every id (conversation, inbox, account, agent, team, policy) is an int: the
    suite's names (``"ann"``, ``"blocked"``) become ints, the cases about str ids
    are skipped."""

    no_teams: bool = False
    """The host has no teams: no conversation has a team, the directory holds none,
    and the cases about teams are skipped."""

    no_urgency: bool = False
    """The host stores no :attr:`~autoassign.model.Conversation.urgency` (repository
    suite): no conversation has one, and the case about the ``highest_urgency``
    order is skipped."""

    no_due_at: bool = False
    """The host stores no :attr:`~autoassign.model.Conversation.due_at` (repository
    suite): no conversation has one, and the case about the ``earliest_due`` order is
    skipped."""

    no_total_capacity: bool = False
    """The repository lacks :class:`~autoassign.ports.TotalCapacity` (no capacity
    policy ``total_limit`` can be used with it): its cases are skipped."""

    no_weights: bool = False
    """The host stores no :attr:`~autoassign.model.Conversation.weight` (every
    conversation counts 1): the weighted-capacity cases are skipped."""

    def agent(self, name: str | int) -> AgentId:
        """The agent id the suite uses for ``name`` (an int under
        :attr:`integer_ids`)."""
        return _numbered(name, self.integer_ids, _AGENT_NUMBERS)

    def team_id(self, name: str | int) -> TeamId:
        """The team id the suite uses for ``name`` (an int under
        :attr:`integer_ids`)."""
        return _numbered(name, self.integer_ids, _TEAM_NUMBERS)


class _Agents(_Flags):
    """The repository suites' agents: named under the flags, prepared by the host."""

    def prepare_agents(self, agents: Sequence[AgentId]) -> None:
        """Called before each ``make_repository`` with every agent the case names
        (the conversations' assignees, and every agent it will claim for, reassign to
        or count), in id order: a host whose assignee column is a foreign key to its
        user table creates those rows here. Default: nothing."""

    def _prepare(
        self, conversations: Sequence[Conversation], agents: Iterable[str | int]
    ) -> None:
        named = {self.agent(agent) for agent in agents}
        named |= {c.assignee for c in conversations if c.assignee is not None}
        self.prepare_agents(sorted(named, key=id_sort_key))

    def _conversation(
        self,
        id: int,
        *,
        assignee: str | None = None,
        team: str | int | None = None,
        urgency: int | None = None,
        due: float | None = None,
        weight: float = 1,
        **fields: object,
    ) -> Conversation:
        return _conversation(
            id,
            assignee=None if assignee is None else self.agent(assignee),
            team=None if team is None else self.team_id(team),
            urgency=None if self.no_urgency else urgency,
            due=None if self.no_due_at else due,
            weight=1 if self.no_weights else weight,
            **fields,  # type: ignore[arg-type]
        )


class ConversationRepositoryContract(_Threads, _Agents):
    """Checks :class:`~autoassign.ports.ConversationRepository`: filtering, priority
    order, exclusions, open counts and the compare-and-set claim.

    Capability flags: :attr:`single_account`, :attr:`integer_ids`, :attr:`no_teams`,
    :attr:`no_urgency`, :attr:`no_due_at`, :attr:`no_total_capacity`,
    :attr:`no_weights`.
    Hooks: :meth:`make_repository`, :meth:`prepare_agents` (agents as rows) and
    :meth:`close_connections` (threads)."""

    def make_repository(
        self, conversations: Sequence[Conversation]
    ) -> ConversationRepository:
        """A fresh repository holding exactly ``conversations``."""
        raise NotImplementedError

    def _repository(
        self, conversations: Sequence[Conversation], agents: Iterable[str | int] = ()
    ) -> ConversationRepository:
        self._prepare(conversations, agents)
        return self.make_repository(conversations)

    def _ids(
        self,
        repository: ConversationRepository,
        inbox: InboxId = 1,
        *,
        limit: int = 100,
        priority: ConversationPriority = ConversationPriority.EARLIEST_CREATED,
        exclusions: ExclusionRules = _NO_EXCLUSIONS,
        now: datetime | None = None,
        after: Conversation | None = None,
        exclude_teams: Collection[TeamId] = (),
    ) -> list[ConversationId]:
        found = repository.unassigned_open(
            inbox,
            limit=limit,
            priority=priority,
            exclusions=exclusions,
            now=now or _at(86_400),
            after=after,
            exclude_teams=exclude_teams,
        )
        return [conversation.id for conversation in found]

    def test_pages_after_a_conversation(self) -> None:
        c = self._conversation
        stored = [
            c(5, created=30, activity=31, urgency=2, due=90),
            c(3, created=10, activity=90, due=60),
            c(9, created=10, activity=40, urgency=2),
            c(1, created=20, activity=40, urgency=0, due=60),
            c(2, created=5, activity=40, urgency=2, due=90),
            c(4, created=5, activity=40),
        ]
        repository = self._repository(stored)
        by_id = {conversation.id: conversation for conversation in stored}
        for priority in ConversationPriority:
            whole = self._ids(repository, priority=priority)
            assert len(whole) == len(stored)
            for at, cursor in enumerate(whole):
                # every page after a conversation continues the order exactly
                assert (
                    self._ids(repository, priority=priority, after=by_id[cursor])
                    == whole[at + 1 :]
                )
                assert (
                    self._ids(
                        repository, priority=priority, after=by_id[cursor], limit=2
                    )
                    == whole[at + 1 : at + 3]
                )
        # the cursor need not be stored (keyset paging): a deleted one still pages
        gone = _conversation(77, created=10, activity=40)
        assert self._ids(repository, after=gone) == [1, 5]

    def test_excluded_teams_are_left_out(self) -> None:
        if self.no_teams:
            _skip("no_teams", "conversations without teams: nothing to exclude")
        c, t = self._conversation, self.team_id
        repository = self._repository(
            [
                c(1, created=1, team="blocked"),
                c(2, created=2),
                c(3, created=3, team="open"),
                c(4, created=4, team="blocked"),
                c(5, created=5, team="other"),
            ]
        )
        assert self._ids(repository) == [1, 2, 3, 4, 5]
        assert self._ids(repository, exclude_teams={t("blocked")}) == [2, 3, 5]
        # ids of both kinds in one set (a pass collects them from the stored rows)
        assert self._ids(repository, exclude_teams={t("blocked"), 7}) == [2, 3, 5]
        assert self._ids(
            repository, exclude_teams=[t("blocked"), t("other")], limit=2
        ) == [2, 3]
        page = self._ids(
            repository,
            exclude_teams={t("blocked")},
            after=c(2, created=2),
        )
        assert page == [3, 5]

    def test_get(self) -> None:
        stored = self._conversation(
            1, assignee="ann", labels=["vip", "billing"], created=10, activity=20
        )
        repository = self._repository([stored, _conversation(2)])
        assert repository.get(1) == stored
        assert repository.get(3) is None

    def test_unassigned_open_filters(self) -> None:
        repository = self._repository(
            [
                _conversation(1),
                _conversation(2, status=ConversationStatus.RESOLVED),
                _conversation(3, status=ConversationStatus.PENDING),
                _conversation(4, status=ConversationStatus.SNOOZED),
                self._conversation(5, assignee="ann"),
                _conversation(6, inbox=2),
                _conversation(7, created=1),
            ]
        )
        assert self._ids(repository) == [1, 7]
        assert self._ids(repository, 2) == [6]
        assert self._ids(repository, 3) == []
        for conversation in repository.unassigned_open(
            1,
            limit=10,
            priority=ConversationPriority.EARLIEST_CREATED,
            exclusions=_NO_EXCLUSIONS,
            now=_at(100),
        ):
            assert conversation.is_assignable
            assert conversation.inbox == 1

    def test_earliest_created_order_with_id_tie_break(self) -> None:
        repository = self._repository(
            [
                _conversation(5, created=30, activity=31),
                _conversation(3, created=10, activity=90),
                _conversation(9, created=10, activity=11),
                _conversation(1, created=20, activity=12),
                _conversation(2, created=10, activity=50),
            ]
        )
        assert self._ids(repository) == [2, 3, 9, 1, 5]

    def test_longest_waiting_order(self) -> None:
        repository = self._repository(
            [
                _conversation(5, created=30, activity=31),
                _conversation(3, created=10, activity=90),
                _conversation(9, created=10, activity=40),
                _conversation(1, created=20, activity=40),
                _conversation(2, created=5, activity=40),
                _conversation(4, created=5, activity=40),
            ]
        )
        order = self._ids(repository, priority=ConversationPriority.LONGEST_WAITING)
        assert order == [5, 2, 4, 9, 1, 3]

    def test_highest_urgency_order(self) -> None:
        """Higher urgency first, a conversation without one after level 0; earliest
        created, then id, within a level."""
        if self.no_urgency:
            _skip("no_urgency", "conversations without an urgency")
        c = self._conversation
        repository = self._repository(
            [
                c(5, created=30, urgency=3),
                c(3, created=10),
                c(9, created=10, urgency=0),
                c(1, created=20, urgency=3),
                c(2, created=5, urgency=1),
                c(4, created=5),
                c(6, created=1, urgency=1_000_000),
            ]
        )
        order = self._ids(repository, priority=ConversationPriority.HIGHEST_URGENCY)
        assert order == [6, 1, 5, 2, 9, 4, 3]

    def test_earliest_due_order(self) -> None:
        """The earliest due time first, a conversation without one after every due
        time; then higher urgency, earliest created, id."""
        if self.no_due_at:
            _skip("no_due_at", "conversations without a due time")
        c = self._conversation
        repository = self._repository(
            [
                c(5, created=30, due=100, urgency=1),
                c(3, created=10),
                c(9, created=10, due=50),
                c(1, created=20, due=100, urgency=2),
                c(2, created=5, due=100, urgency=1),
                c(4, created=5, urgency=4),
                c(7, created=1, due=2_000_000_000),
            ]
        )
        order = self._ids(repository, priority=ConversationPriority.EARLIEST_DUE)
        expected = [9, 1, 2, 5, 7, 4, 3]
        if self.no_urgency:  # the tie at due 100 falls to the creation time
            expected = [9, 2, 1, 5, 7, 4, 3]
        assert order == expected

    def test_str_ids_order_is_total(self) -> None:
        if self.integer_ids:
            _skip("integer_ids", "str conversation and inbox ids")
        conversations = [
            Conversation(
                id=name,
                inbox="in",
                account=1 if self.single_account else "acc",
                created_at=_at(0),
                last_activity_at=_at(0),
            )
            for name in ("c", "a", "b")
        ]
        repository = self._repository(conversations)
        first = self._ids(repository, "in")
        assert first == ["a", "b", "c"]
        assert self._ids(repository, "in", after=conversations[1]) == ["b", "c"]

    def test_limit(self) -> None:
        repository = self._repository(
            [_conversation(i, created=i) for i in range(1, 11)]
        )
        assert self._ids(repository, limit=3) == [1, 2, 3]
        assert self._ids(repository, limit=1) == [1]
        assert self._ids(repository, limit=50) == list(range(1, 11))

    def test_label_exclusions(self) -> None:
        repository = self._repository(
            [
                _conversation(1, labels=["vip"]),
                _conversation(2, labels=["VIP"]),
                _conversation(3, labels=["billing", "spam"]),
                _conversation(4, labels=[]),
                _conversation(5, labels=["spammy"]),
            ]
        )
        rules = ExclusionRules(excluded_labels={"vip", "spam"})
        assert self._ids(repository, exclusions=rules) == [2, 4, 5]

    def test_age_exclusion_by_created_at(self) -> None:
        now = _at(10 * 3600)
        repository = self._repository(
            [
                _conversation(1, created=0, activity=9 * 3600),  # 10 h old
                _conversation(2, created=7 * 3600),  # exactly 3 h old
                _conversation(3, created=7 * 3600 - 1),  # just over 3 h old
                _conversation(4, created=9 * 3600),
            ]
        )
        rules = ExclusionRules(exclude_older_than_hours=3)
        assert self._ids(repository, exclusions=rules, now=now) == [2, 4]
        later = now + timedelta(hours=1)
        assert self._ids(repository, exclusions=rules, now=later) == [4]

    def test_both_exclusions_apply(self) -> None:
        now = _at(10 * 3600)
        repository = self._repository(
            [
                _conversation(1, created=0),
                _conversation(2, created=9 * 3600, labels=["spam"]),
                _conversation(3, created=9 * 3600, labels=["ok"]),
            ]
        )
        rules = ExclusionRules(excluded_labels={"spam"}, exclude_older_than_hours=2)
        assert self._ids(repository, exclusions=rules, now=now) == [3]

    def test_exclusions_apply_before_the_limit(self) -> None:
        repository = self._repository(
            [
                _conversation(1, created=1, labels=["spam"]),
                _conversation(2, created=2, labels=["spam"]),
                _conversation(3, created=3),
                _conversation(4, created=4),
            ]
        )
        rules = ExclusionRules(excluded_labels={"spam"})
        assert self._ids(repository, exclusions=rules, limit=2) == [3, 4]

    def test_open_counts(self) -> None:
        c, a = self._conversation, self.agent
        resolved, snoozed = ConversationStatus.RESOLVED, ConversationStatus.SNOOZED
        repository = self._repository(
            [
                c(1, assignee="ann"),
                c(2, assignee="ann"),
                c(3, assignee="ann", status=resolved),
                c(4, assignee="ann", status=snoozed),
                c(5, assignee="ann", status=ConversationStatus.PENDING),
                c(6, assignee="ann", inbox=2),
                c(7, assignee="bob"),
                c(8, assignee="cy"),
                c(9),
            ],
            agents=["dee"],
        )
        counts = repository.open_counts(1, [a("ann"), a("bob"), a("dee")])
        assert set(counts) <= {a("ann"), a("bob"), a("dee")}
        assert counts.get(a("ann"), 0) == 2
        assert counts.get(a("bob"), 0) == 1
        assert counts.get(a("dee"), 0) == 0
        assert dict(repository.open_counts(2, [a("ann")])) == {a("ann"): 1}
        assert repository.open_counts(3, [a("ann")]).get(a("ann"), 0) == 0
        assert dict(repository.open_counts(1, [])) == {}

    def test_claim_assigns_an_open_unassigned_conversation(self) -> None:
        ann = self.agent("ann")
        repository = self._repository([_conversation(1)], agents=["ann"])
        assert repository.claim(1, ann) is True
        stored = repository.get(1)
        assert stored is not None
        assert stored.assignee == ann
        assert stored.status is ConversationStatus.OPEN
        assert self._ids(repository) == []
        assert repository.open_counts(1, [ann]).get(ann, 0) == 1

    def test_claim_never_reassigns(self) -> None:
        ann, bob = self.agent("ann"), self.agent("bob")
        repository = self._repository(
            [self._conversation(1, assignee="ann")], agents=["bob"]
        )
        assert repository.claim(1, bob) is False
        assert repository.claim(1, ann) is False
        assert _assignee(repository, 1) == ann
        fresh = self._repository([_conversation(2)], agents=["ann", "bob"])
        assert fresh.claim(2, ann) is True
        assert fresh.claim(2, bob) is False
        assert _assignee(fresh, 2) == ann

    def test_claim_refuses_closed_and_missing_conversations(self) -> None:
        ann = self.agent("ann")
        repository = self._repository(
            [
                _conversation(1, status=ConversationStatus.RESOLVED),
                _conversation(2, status=ConversationStatus.PENDING),
                _conversation(3, status=ConversationStatus.SNOOZED),
            ],
            agents=["ann"],
        )
        for conversation in (1, 2, 3):
            assert repository.claim(conversation, ann) is False
            assert _assignee(repository, conversation) is None
        assert repository.claim(99, ann) is False
        assert repository.get(99) is None

    def test_claim_respects_capacity(self) -> None:
        c = self._conversation
        ann, bob, cy = self.agent("ann"), self.agent("bob"), self.agent("cy")
        repository = self._repository(
            [
                c(1, assignee="ann"),
                c(2, assignee="ann"),
                c(3, assignee="ann", status=ConversationStatus.RESOLVED),
                c(4, assignee="ann", inbox=2),
                c(5, assignee="ann", inbox=2),
                c(6, assignee="ann", inbox=2),
                c(10),
                c(11),
                c(12),
                c(20, inbox=2),
            ],
            agents=["bob", "cy"],
        )
        # 2 open in inbox 1 (the resolved one and inbox 2's do not count)
        assert repository.claim(10, ann, capacity_limit=3) is True
        assert repository.claim(11, ann, capacity_limit=3) is False
        assert _assignee(repository, 11) is None
        assert repository.claim(11, bob, capacity_limit=1) is True
        assert repository.claim(12, cy, capacity_limit=0) is False
        assert repository.claim(12, ann, capacity_limit=None) is True
        assert repository.claim(20, ann, capacity_limit=3) is False
        assert repository.claim(20, ann, capacity_limit=4) is True

    def test_concurrent_claims_have_exactly_one_winner(self) -> None:
        rounds = 5
        claimants = [self.agent(f"agent-{i}") for i in range(_CONCURRENCY)]
        repository = self._repository(
            [_conversation(i) for i in range(rounds)], agents=claimants
        )
        for conversation in range(rounds):

            def attempt(index: int, target: int = conversation) -> bool:
                return repository.claim(target, claimants[index])

            wins = _race(_CONCURRENCY, attempt, self.close_connections)
            assert sum(wins) == 1, f"conversation {conversation}: {wins}"
            assert _assignee(repository, conversation) == claimants[wins.index(True)]

    def test_concurrent_claims_respect_capacity(self) -> None:
        ann = self.agent("ann")
        repository = self._repository(
            [_conversation(i, created=i) for i in range(_CONCURRENCY)], agents=["ann"]
        )
        wins = _race(
            _CONCURRENCY,
            lambda i: repository.claim(i, ann, capacity_limit=3),
            self.close_connections,
        )
        assert sum(wins) == 3
        assert repository.open_counts(1, [ann]).get(ann, 0) == 3

    def _totals(self, conversations: Sequence[Conversation]) -> Any:
        if self.no_total_capacity:
            _skip("no_total_capacity", "no counts across inboxes")
        repository = self._repository(conversations, agents=["ann", "bob", "cy"])
        assert isinstance(repository, TotalCapacity), "set no_total_capacity"
        return repository

    def test_open_totals_count_every_inbox_of_the_account(self) -> None:
        c = self._conversation
        stored = [
            c(1, assignee="ann"),
            c(2, assignee="ann", inbox=2),
            c(3, assignee="ann", inbox=2, status=ConversationStatus.RESOLVED),
            c(4, assignee="bob", inbox=2),
            c(5),
        ]
        if not self.single_account:
            stored.append(c(6, assignee="ann", inbox=3, account=2))
        repository = self._totals(stored)
        ann, bob, cy = self.agent("ann"), self.agent("bob"), self.agent("cy")
        assert repository.open_totals(1, [ann, bob, cy]) == {ann: 2, bob: 1}
        assert repository.open_totals(1, [bob]) == {bob: 1}
        assert repository.open_totals(1, []) == {}
        if not self.single_account:
            assert repository.open_totals(2, [ann, bob]) == {ann: 1}

    def test_claim_respects_the_total_limit(self) -> None:
        """``total_limit`` counts the agent's open conversations in every inbox of the
        account, together with (not instead of) the inbox's ``capacity_limit``."""
        c = self._conversation
        repository = self._totals(
            [c(1, assignee="ann", inbox=2), c(2), c(3), c(4, inbox=2)]
        )
        ann = self.agent("ann")
        assert not repository.claim(2, ann, total_limit=1)
        assert not repository.claim(2, ann, total_limit=0)
        assert _assignee(repository, 2) is None
        assert repository.claim(2, ann, capacity_limit=5, total_limit=2)
        assert not repository.claim(3, ann, capacity_limit=5, total_limit=2)
        assert not repository.claim(3, ann, capacity_limit=1, total_limit=9)
        assert repository.claim(4, ann, capacity_limit=2, total_limit=3)
        assert repository.open_totals(1, [ann]) == {ann: 3}

    def test_concurrent_claims_respect_the_total_limit(self) -> None:
        repository = self._totals(
            [
                self._conversation(i, inbox=1 + i % 2, created=i)
                for i in range(_CONCURRENCY)
            ]
        )
        ann = self.agent("ann")
        wins = _race(
            _CONCURRENCY,
            lambda i: repository.claim(i, ann, capacity_limit=3, total_limit=3),
            self.close_connections,
        )
        assert sum(wins) == 3
        assert repository.open_totals(1, [ann]) == {ann: 3}

    # -- weighted capacity ------------------------------------------------------------

    def _weighted(
        self, conversations: Sequence[Conversation], *, agents: Sequence[str] = ()
    ) -> ConversationRepository:
        if self.no_weights:
            _skip("no_weights", "every conversation counts 1")
        return self._repository(conversations, agents=["ann", "bob", *agents])

    def test_weights_are_stored_and_summed(self) -> None:
        """``get`` returns a conversation's weight; ``open_counts`` (and
        ``open_totals``) sum the weights of the open ones, exactly."""
        c = self._conversation
        repository = self._weighted(
            [
                c(1, assignee="ann", weight=0.1),
                c(2, assignee="ann", weight=0.2),
                c(3, assignee="ann", weight=2.5, status=ConversationStatus.RESOLVED),
                c(4, assignee="bob", weight=0.5),
                c(5, assignee="bob", weight=0.5),
                c(6, assignee="bob"),
                c(7, weight=0.75),
                c(8, assignee="ann", inbox=2, weight=3),
            ]
        )
        ann, bob = self.agent("ann"), self.agent("bob")
        assert [getattr(repository.get(i), "weight", None) for i in (7, 6)] == [0.75, 1]
        counts = repository.open_counts(1, [ann, bob])
        assert counts == {ann: 0.3, bob: 2}, counts
        assert isinstance(counts[bob], int), "a whole load is an int"
        if isinstance(repository, TotalCapacity) and not self.no_total_capacity:
            assert repository.open_totals(1, [ann, bob]) == {ann: 3.3, bob: 2}

    def test_claim_compares_weights_with_the_limit(self) -> None:
        """An agent may take a conversation when its weight fits beside the weights
        they hold (``held + weight <= limit``), exact in thousandths: 0.1 + 0.2 + 0.7
        fills a limit of 1, which floats would overshoot."""
        c = self._conversation
        repository = self._weighted(
            [
                c(1, assignee="ann", weight=0.1),
                c(2, assignee="ann", weight=0.2),
                c(10, weight=0.8),
                c(11, weight=0.7),
                c(12, weight=0.001),
                c(20, weight=2),
                c(21, weight=1.5),
            ]
        )
        ann, bob = self.agent("ann"), self.agent("bob")
        assert not repository.claim(10, ann, capacity_limit=1)  # 1.1 > 1
        assert _assignee(repository, 10) is None
        assert repository.claim(11, ann, capacity_limit=1)  # exactly 1
        assert not repository.claim(12, ann, capacity_limit=1)  # full
        assert not repository.claim(20, bob, capacity_limit=1)  # heavier than a limit
        assert repository.claim(21, bob, capacity_limit=2)
        assert not repository.claim(20, bob, capacity_limit=3)  # 3.5 > 3
        assert repository.claim(10, bob, capacity_limit=3)  # 2.3
        assert repository.open_counts(1, [ann, bob]) == {ann: 1, bob: 2.3}

    def test_claim_compares_weights_with_the_total_limit(self) -> None:
        if self.no_total_capacity:
            _skip("no_total_capacity", "no counts across inboxes")
        c = self._conversation
        stored = self._weighted(
            [c(1, assignee="ann", inbox=2, weight=1.5), c(2, weight=0.5), c(3)]
        )
        assert isinstance(stored, TotalCapacity), "set no_total_capacity"
        repository: Any = stored
        ann = self.agent("ann")
        assert not repository.claim(3, ann, capacity_limit=5, total_limit=2)
        assert repository.claim(2, ann, capacity_limit=5, total_limit=2)
        assert repository.open_totals(1, [ann]) == {ann: 2}

    def test_concurrent_weighted_claims_never_overshoot(self) -> None:
        """Racing claims of half-weight conversations for one agent with a limit of 2:
        exactly four win."""
        ann = self.agent("ann")
        repository = self._weighted(
            [self._conversation(i, created=i, weight=0.5) for i in range(_CONCURRENCY)]
        )
        wins = _race(
            _CONCURRENCY,
            lambda i: repository.claim(i, ann, capacity_limit=2),
            self.close_connections,
        )
        assert sum(wins) == 4
        assert repository.open_counts(1, [ann]) == {ann: 2}


class _ReassigningRepository(ConversationRepository, Reassigner, Protocol):
    pass


class ReassignerContract(_Threads, _Agents):
    """Checks :class:`~autoassign.triggers.Reassigner` (the legacy path's reassignment)
    on a repository that implements it: a compare-and-set on the previous assignee of an
    open conversation, one winner under races.

    Capability flags: :attr:`single_account`, :attr:`integer_ids`, :attr:`no_teams`
    (its cases need no str id, second account or team, so none is skipped). Hooks:
    :meth:`make_repository`, :meth:`prepare_agents`, :meth:`close_connections`."""

    def make_repository(
        self, conversations: Sequence[Conversation]
    ) -> _ReassigningRepository:
        """A fresh repository holding exactly ``conversations``, with ``reassign``."""
        raise NotImplementedError

    def _repository(
        self, conversations: Sequence[Conversation], agents: Iterable[str | int] = ()
    ) -> _ReassigningRepository:
        self._prepare(conversations, agents)
        return self.make_repository(conversations)

    def test_reassigns_an_open_conversation_held_by_previous(self) -> None:
        ann, gone = self.agent("ann"), self.agent("gone")
        repository = self._repository(
            [self._conversation(1, assignee="gone")], agents=["ann"]
        )
        assert repository.reassign(1, ann, previous=gone)
        assert _assignee(repository, 1) == ann
        assert repository.open_counts(1, [ann, gone]) == {ann: 1}

    def test_refuses_anything_else_and_changes_nothing(self) -> None:
        ann, bob, gone = self.agent("ann"), self.agent("bob"), self.agent("gone")
        resolved = ConversationStatus.RESOLVED
        repository = self._repository(
            [
                self._conversation(1, assignee="bob"),
                _conversation(2),
                self._conversation(3, assignee="gone", status=resolved),
            ],
            agents=["ann"],
        )
        assert not repository.reassign(1, ann, previous=gone)  # someone else's
        assert not repository.reassign(2, ann, previous=gone)  # unassigned: claim
        assert not repository.reassign(3, ann, previous=gone)  # not open
        assert not repository.reassign(99, ann, previous=gone)  # missing
        assert [_assignee(repository, c) for c in (1, 2, 3)] == [bob, None, gone]

    def test_concurrent_reassigns_have_exactly_one_winner(self) -> None:
        gone = self.agent("gone")
        claimants = [self.agent(f"agent-{i}") for i in range(_CONCURRENCY)]
        repository = self._repository(
            [self._conversation(1, assignee="gone")], agents=claimants
        )
        wins = _race(
            _CONCURRENCY,
            lambda index: repository.reassign(1, claimants[index], previous=gone),
            self.close_connections,
        )
        assert sum(wins) == 1, wins
        assert _assignee(repository, 1) == claimants[wins.index(True)]


# -- Directory ------------------------------------------------------------------------------


class _Identified(Protocol):
    @property
    def id(self) -> Id: ...


def _flat_ids(batches: Iterable[Iterable[_Identified]]) -> list[Id]:
    """The ids of every item of every batch, in order."""
    return [item.id for batch in batches for item in batch]


class DirectoryContract(_Flags):
    """Checks :class:`~autoassign.ports.Directory`: lookups, membership, policy links,
    capacity policies per inbox and batched iteration.

    Capability flags: :attr:`single_account`, :attr:`integer_ids`, :attr:`no_teams`,
    :attr:`policy_id_is_inbox_id` and :attr:`no_policy_routing`. Every agent a case
    names is in the members, teams or capacity policies :meth:`make_directory`
    receives, so a host whose agents are rows with foreign keys creates them there."""

    policy_id_is_inbox_id: bool = False
    """Each inbox's assignment policy is stored on the inbox (its id is the inbox's
    id): every case gives each linked inbox a policy of its own with that id, and
    links no policy to two inboxes. Nothing is skipped."""

    no_policy_routing: bool = False
    """The host stores no policy routing settings
    (:attr:`~autoassign.model.AssignmentPolicy.sticky_window`, ``skill_routing``,
    ``skill_relax_after``; every policy routes as wired): no policy the suite hands
    over has one, and the case about them is skipped."""

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
        """A fresh directory holding exactly this configuration."""
        raise NotImplementedError

    def policy_id(self, inbox: InboxId, default: PolicyId) -> PolicyId:
        """The id of the policy the suite links to ``inbox``: ``default``, or the
        inbox's id under :attr:`policy_id_is_inbox_id`."""
        return inbox if self.policy_id_is_inbox_id else default

    @property
    def _str_account(self) -> AccountId:
        """The account of the str-id inbox ``"in"`` (``1`` for a single account)."""
        return 1 if self.single_account else "acc"

    def _world(self) -> Directory:
        feature = "assignment_v2"
        a, pid = self.agent, self.policy_id
        several, strs = not self.single_account, not self.integer_ids
        accounts = [Account(id=1, features={feature})]
        inboxes = [
            Inbox(id=10, account=1),
            Inbox(id=11, account=1, enable_auto_assignment=False),
            Inbox(id=12, account=1),
        ]
        members: dict[InboxId, Sequence[AgentId]] = {
            10: [a("ann"), a("bob"), 7],
            11: [a("ann")],
            12: [],
        }
        policies = [
            AssignmentPolicy(id=pid(10, 100), account=1, name="Main"),
            AssignmentPolicy(
                id=pid(11, 101),
                account=1,
                name="Balanced",
                assignment_order=AssignmentOrder.BALANCED,
                fair_distribution_limit=5,
                fair_distribution_window=600,
                enabled=False,
            ),
        ]
        links: dict[InboxId, PolicyId] = {10: pid(10, 100), 11: pid(11, 101)}
        capacity_policies = [
            CapacityPolicy(
                id=1,
                account=1,
                inbox_limits={10: 2, 11: 0},
                agents={a("ann")},
                exclusion_rules=ExclusionRules(
                    excluded_labels={"spam"}, exclude_older_than_hours=24
                ),
            ),
            CapacityPolicy(id=2, account=1, inbox_limits={11: 4}, agents={a("bob")}),
            CapacityPolicy(id=3, account=1, agents={a("cy")}),
        ]
        if several:
            accounts += [Account(id=2, features={feature, "other"}), Account(id=3)]
            inboxes.append(Inbox(id=20, account=2))
            members[20] = [a("ann"), a("cy")]
            policies.append(AssignmentPolicy(id=pid(20, 200), account=2))
            links[20] = pid(20, 200)
            capacity_policies.append(
                CapacityPolicy(id=4, account=2, inbox_limits={10: 9, 20: 1})
            )
        if strs:
            if several:
                accounts.append(Account(id="acc", features={feature}))
            inboxes.append(Inbox(id="in", account=self._str_account))
            members["in"] = ["zed"]
            policies.append(
                AssignmentPolicy(id=pid("in", "p"), account=self._str_account)
            )
            links["in"] = pid("in", "p")
        teams = [
            Team(id=1, account=1, members={a("ann"), 7}),
            Team(id=self.team_id("t2"), account=1, allow_auto_assign=False),
        ]
        return self.make_directory(
            accounts=accounts,
            inboxes=inboxes,
            members=members,
            teams=[] if self.no_teams else teams,
            policies=policies,
            links=links,
            capacity_policies=capacity_policies,
        )

    def test_account(self) -> None:
        directory = self._world()
        found = directory.account(1)
        assert found is not None
        assert found.id == 1
        assert found.has_feature("assignment_v2")
        assert directory.account(99) is None
        if self.single_account:
            assert directory.account(2) is None
            return
        other = directory.account(3)
        assert other is not None
        assert not other.has_feature("assignment_v2")
        if not self.integer_ids:
            named = directory.account("acc")
            assert named is not None
            assert named.id == "acc"

    def test_inbox(self) -> None:
        directory = self._world()
        found = directory.inbox(10)
        assert found is not None
        assert (found.id, found.account, found.enable_auto_assignment) == (10, 1, True)
        off = directory.inbox(11)
        assert off is not None
        assert off.enable_auto_assignment is False
        assert directory.inbox(99) is None

    def test_inbox_members(self) -> None:
        a = self.agent
        directory = self._world()
        members = list(directory.inbox_members(10))
        assert sorted(members, key=id_sort_key) == sorted(
            [7, a("ann"), a("bob")], key=id_sort_key
        )
        assert len(members) == len(set(members))
        assert list(directory.inbox_members(10)) == members  # a stable order
        assert list(directory.inbox_members(12)) == []
        assert list(directory.inbox_members(99)) == []
        if not self.integer_ids:
            assert list(directory.inbox_members("in")) == ["zed"]

    def test_team(self) -> None:
        if self.no_teams:
            _skip("no_teams", "the directory holds no teams")
        directory = self._world()
        team = directory.team(1)
        assert team is not None
        assert team.allow_auto_assign is True
        assert set(team.members) == {self.agent("ann"), 7}
        closed = directory.team(self.team_id("t2"))
        assert closed is not None
        assert closed.allow_auto_assign is False
        assert set(closed.members) == set()
        assert directory.team(99) is None

    def test_policy_for_inbox(self) -> None:
        directory = self._world()
        policy = directory.policy_for_inbox(10)
        assert policy is not None
        assert policy.id == self.policy_id(10, 100)
        assert policy.enabled is True
        other = directory.policy_for_inbox(11)
        assert other is not None
        assert other.id == self.policy_id(11, 101)
        assert other.assignment_order is AssignmentOrder.BALANCED
        assert other.fair_distribution_limit == 5
        assert other.fair_distribution_window == 600
        assert other.enabled is False
        assert directory.policy_for_inbox(12) is None
        assert directory.policy_for_inbox(99) is None
        if not self.integer_ids:
            named = directory.policy_for_inbox("in")
            assert named is not None
            assert named.id == self.policy_id("in", "p")

    def test_policy_routing_settings(self) -> None:
        """A policy's routing settings are read back as they were given: ``0`` and
        ``False`` (off) are values, not "unset" (``None``: as wired), both through
        :meth:`~autoassign.ports.Directory.policy_for_inbox` and, when the directory
        pages, ``iter_inboxes_with_policies``."""
        if self.no_policy_routing:
            _skip("no_policy_routing", "the directory stores no routing settings")
        settings = {
            10: {"sticky_window": 0, "skill_routing": False, "skill_relax_after": 0},
            11: {"sticky_window": 600, "skill_routing": True, "skill_relax_after": 60},
            12: {},
        }
        policies = [
            AssignmentPolicy(
                id=self.policy_id(inbox, 100 + inbox),
                account=1,
                name=f"P{inbox}",
                **setting,  # type: ignore[arg-type]
            )
            for inbox, setting in settings.items()
        ]
        directory = self.make_directory(
            accounts=[Account(id=1, features={"assignment_v2"})],
            inboxes=[Inbox(id=inbox, account=1) for inbox in settings],
            members={inbox: [] for inbox in settings},
            teams=[],
            policies=policies,
            links={inbox: self.policy_id(inbox, 100 + inbox) for inbox in settings},
            capacity_policies=[],
        )
        fields = ("sticky_window", "skill_routing", "skill_relax_after")
        expected = {
            inbox: tuple(setting.get(field) for field in fields)
            for inbox, setting in settings.items()
        }
        seen: dict[InboxId, tuple[object, ...]] = {}
        for inbox in settings:
            policy = directory.policy_for_inbox(inbox)
            assert policy is not None
            seen[inbox] = tuple(getattr(policy, field) for field in fields)
        assert seen == expected
        types = {
            inbox: tuple(type(value) for value in values)
            for inbox, values in seen.items()
        }
        assert types == {
            inbox: tuple(type(value) for value in values)
            for inbox, values in expected.items()
        }
        if isinstance(directory, PagedPolicyDirectory):
            paged = {
                inbox.id: tuple(getattr(policy, field) for field in fields)
                for page in directory.iter_inboxes_with_policies([1], batch_size=2)
                for inbox, policy in page
                if policy is not None
            }
            assert paged == expected

    def test_capacity_policies_for_inbox(self) -> None:
        directory = self._world()
        found = directory.capacity_policies_for_inbox(10)
        assert [policy.id for policy in found] == [1]  # 4 is another account's
        (policy,) = found
        assert policy.limit_for(10) == 2
        assert set(policy.agents) == {self.agent("ann")}
        assert policy.exclusion_rules.excluded_labels == frozenset({"spam"})
        assert policy.exclusion_rules.exclude_older_than_hours == 24
        assert sorted(
            (policy.id for policy in directory.capacity_policies_for_inbox(11)),
            key=id_sort_key,
        ) == [1, 2]
        zero = {p.id: p for p in directory.capacity_policies_for_inbox(11)}
        assert zero[1].limit_for(11) == 0
        assert list(directory.capacity_policies_for_inbox(12)) == []
        if not self.single_account:
            assert [p.id for p in directory.capacity_policies_for_inbox(20)] == [4]
        assert list(directory.capacity_policies_for_inbox(99)) == []

    def test_an_unlimited_capacity_link(self) -> None:
        """A link with no limit (``None``) is returned for its inbox, as ``None``:
        the policy's exclusion rules apply there, its capacity caps nobody."""
        rules = ExclusionRules(excluded_labels={"vip"})
        ann = self.agent("ann")
        directory = self.make_directory(
            accounts=[Account(id=1, features={"assignment_v2"})],
            inboxes=[Inbox(id=10, account=1), Inbox(id=11, account=1)],
            members={10: [ann], 11: [ann]},
            teams=[],
            policies=[],
            links={},
            capacity_policies=[
                CapacityPolicy(
                    id=1,
                    account=1,
                    inbox_limits={10: None, 11: 3},
                    agents={ann},
                    exclusion_rules=rules,
                )
            ],
        )
        (policy,) = directory.capacity_policies_for_inbox(10)
        assert policy.inbox_limits == {10: None, 11: 3}
        assert policy.links(10)
        assert policy.limit_for(10) is None
        assert policy.exclusion_rules == rules
        assert [p.id for p in directory.capacity_policies_for_inbox(11)] == [1]

    def test_inboxes_of_agent(self) -> None:
        a = self.agent
        directory = self._world()
        assert sorted(directory.inboxes_of_agent(1, a("ann")), key=id_sort_key) == [
            10,
            11,
        ]
        if not self.single_account:
            assert list(directory.inboxes_of_agent(2, a("ann"))) == [20]
        assert list(directory.inboxes_of_agent(1, 7)) == [10]
        assert list(directory.inboxes_of_agent(1, a("cy"))) == []
        assert list(directory.inboxes_of_agent(3, a("ann"))) == []
        if not self.integer_ids:
            found = directory.inboxes_of_agent(self._str_account, "zed")
            assert list(found) == ["in"]

    def test_iter_accounts_filters_by_feature(self) -> None:
        directory = self._world()
        batches = [
            list(b)
            for b in directory.iter_accounts(feature="assignment_v2", batch_size=10)
        ]
        found = _flat_ids(batches)
        expected: list[AccountId] = [1]
        if not self.single_account:
            expected += [2] if self.integer_ids else [2, "acc"]
        assert sorted(found, key=id_sort_key) == expected
        other = directory.iter_accounts(feature="other", batch_size=10)
        assert _flat_ids(other) == ([] if self.single_account else [2])
        assert _flat_ids(directory.iter_accounts(feature="nope", batch_size=10)) == []

    def test_iter_accounts_in_batches(self) -> None:
        if self.single_account:
            _skip("single_account", "batches of several accounts")
        accounts = [
            Account(id=i, features={"assignment_v2"} if i % 4 else set())
            for i in range(1, 24)
        ]
        directory = self.make_directory(
            accounts=accounts,
            inboxes=[],
            members={},
            teams=[],
            policies=[],
            links={},
            capacity_policies=[],
        )
        batches = [
            list(b)
            for b in directory.iter_accounts(feature="assignment_v2", batch_size=5)
        ]
        assert all(0 < len(batch) <= 5 for batch in batches)
        found = _flat_ids(batches)
        assert len(found) == len(set(found))
        assert set(found) == {i for i in range(1, 24) if i % 4}
        ones = list(directory.iter_accounts(feature="assignment_v2", batch_size=1))
        assert all(len(batch) == 1 for batch in ones)
        assert len(ones) == len(found)

    def test_iter_inboxes_only_linked_inboxes_of_the_account(self) -> None:
        directory = self._world()
        found = _flat_ids(directory.iter_inboxes(1, batch_size=10))
        expected: list[InboxId] = [10, 11]  # 12 has no policy
        if self.single_account and not self.integer_ids:
            expected.append("in")
        assert sorted(found, key=id_sort_key) == expected
        if not self.single_account:
            assert _flat_ids(directory.iter_inboxes(2, batch_size=10)) == [20]
        assert _flat_ids(directory.iter_inboxes(3, batch_size=10)) == []

    def test_iter_inboxes_in_batches(self) -> None:
        inboxes = [Inbox(id=i, account=1) for i in range(1, 18)]
        links: dict[InboxId, PolicyId] = {
            i: self.policy_id(i, 100) for i in range(1, 18) if i % 3
        }
        directory = self.make_directory(
            accounts=[Account(id=1, features={"assignment_v2"})],
            inboxes=inboxes,
            members={},
            teams=[],
            policies=[
                AssignmentPolicy(id=policy, account=1)
                for policy in sorted(set(links.values()), key=id_sort_key)
            ],
            links=links,
            capacity_policies=[],
        )
        batches = [list(b) for b in directory.iter_inboxes(1, batch_size=4)]
        assert all(0 < len(batch) <= 4 for batch in batches)
        found = _flat_ids(batches)
        assert len(found) == len(set(found))
        assert set(found) == set(links)

    def _expected_pairs(
        self, directory: Directory, accounts: Sequence[AccountId]
    ) -> list[tuple[Inbox, AssignmentPolicy | None]]:
        return [
            (inbox, directory.policy_for_inbox(inbox.id))
            for account in accounts
            for batch in directory.iter_inboxes(account, batch_size=1000)
            for inbox in batch
        ]

    def test_iter_inboxes_with_policies_pairs_each_inbox_with_its_policy(self) -> None:
        """(:class:`~autoassign.ports.PagedPolicyDirectory` only.)"""
        directory = self._world()
        if not isinstance(directory, PagedPolicyDirectory):
            return
        accounts: list[AccountId] = [1, 2, 3]
        inboxes: set[InboxId] = {10, 11} if self.single_account else {10, 11, 20}
        if not self.integer_ids:
            accounts.append("acc")
            inboxes.add("in")
        expected = self._expected_pairs(directory, accounts)
        assert {inbox.id for inbox, _ in expected} == inboxes
        for size in (1, 2, 3, 100):
            pages = list(
                directory.iter_inboxes_with_policies(accounts, batch_size=size)
            )
            assert all(0 < len(page) <= size for page in pages)
            assert [pair for page in pages for pair in page] == expected
        assert list(directory.iter_inboxes_with_policies([], batch_size=5)) == []
        missing = directory.iter_inboxes_with_policies([3, 999], batch_size=5)
        assert list(missing) == []
        if not self.integer_ids:
            missing = directory.iter_inboxes_with_policies(["nope"], batch_size=5)
            assert list(missing) == []

    def test_iter_inboxes_with_policies_pages_across_accounts(self) -> None:
        """(:class:`~autoassign.ports.PagedPolicyDirectory` only.) Pages cross account
        boundaries; unlinked inboxes and unasked accounts are left out."""
        if self.single_account:
            _skip("single_account", "pages across several accounts")
        pid = self.policy_id
        accounts = [Account(id=a, features={"assignment_v2"}) for a in range(1, 7)]
        inboxes = [Inbox(id=i, account=1 + i % 6) for i in range(1, 40)]
        links: dict[InboxId, PolicyId] = {
            i: pid(i, 101 + i % 6) for i in range(1, 40) if i % 5
        }
        account_of = {inbox.id: inbox.account for inbox in inboxes}
        policies = list(
            {
                policy: AssignmentPolicy(id=policy, account=account_of[inbox])
                for inbox, policy in links.items()
            }.values()
        )
        directory = self.make_directory(
            accounts=accounts,
            inboxes=inboxes,
            members={},
            teams=[],
            policies=policies,
            links=links,
            capacity_policies=[],
        )
        if not isinstance(directory, PagedPolicyDirectory):
            return
        asked: list[AccountId] = [1, 2, 3, 5, 6]
        expected = self._expected_pairs(directory, asked)
        assert len(expected) == len([i for i in range(1, 40) if i % 5 and i % 6 != 3])
        for size in (1, 4, 7, 1000):
            pages = list(directory.iter_inboxes_with_policies(asked, batch_size=size))
            assert all(0 < len(page) <= size for page in pages)
            assert [pair for page in pages for pair in page] == expected


# -- EventOutbox --------------------------------------------------------------------------


class OutboxSetup(NamedTuple):
    """What :meth:`EventOutboxContract.make_outbox` returns: the outbox and the
    repository its claims go through (holding the conversations given)."""

    outbox: EventOutbox
    conversations: ConversationRepository


def _record(
    conversation: ConversationId,
    *,
    id: str = "",
    agent: AgentId = "ann",
    inbox: InboxId = 1,
    at: float = 0,
    policy: PolicyId | None = 7,
) -> OutboxRecord:
    return OutboxRecord(
        id=id or f"e-{conversation!r}-{at}",
        inbox=inbox,
        conversation=conversation,
        agent=agent,
        policy=policy,
        selector="round_robin",
        occurred_at=_at(at),
    )


class EventOutboxContract(_Agents):
    """Checks :class:`~autoassign.ports.EventOutbox`: a claim leaves a record exactly
    when it assigned, ``due`` is oldest first, strict in time, limited and per inbox,
    records round-trip exactly, ``confirm`` removes a record and the older ones of its
    conversation, ``discard`` only the records it names.

    Capability flags: :attr:`single_account` (the suite uses account ``1`` only),
    :attr:`integer_ids` (int agents and policies; the str-id round trips are left
    out). Hook: :meth:`prepare_agents`, called with the agents a case claims for
    before :meth:`make_outbox` (rows for a foreign key)."""

    def make_outbox(self, conversations: Sequence[Conversation]) -> OutboxSetup:
        """A fresh, empty outbox and a repository holding exactly ``conversations``
        (for an outbox that writes its record in the claim, that repository)."""
        raise NotImplementedError

    def _record(
        self,
        conversation: ConversationId,
        *,
        agent: str | int = "ann",
        **fields: object,
    ) -> OutboxRecord:
        """A record of the suite, its agent named under the flags."""
        return _record(conversation, agent=self.agent(agent), **fields)  # type: ignore[arg-type]

    def _setup(self, *ids: ConversationId, inbox: InboxId = 1) -> OutboxSetup:
        conversations = [
            Conversation(
                id=conversation,
                inbox=inbox,
                account=1,
                status=ConversationStatus.OPEN,
                assignee=None,
                created_at=_at(0),
                last_activity_at=_at(0),
            )
            for conversation in ids
        ]
        self._prepare(conversations, ["ann", "bob"])
        return self.make_outbox(conversations)

    @staticmethod
    def _all(outbox: EventOutbox, inbox: InboxId = 1) -> list[OutboxRecord]:
        return list(outbox.due(inbox, staged_before=_at(10**6), limit=1000))

    def test_a_claim_that_assigns_stores_its_record(self) -> None:
        outbox, conversations = self._setup(1)
        record = self._record(1, at=5)
        assert outbox.claim(conversations, record, capacity_limit=None)
        assert self._all(outbox) == [record]
        stored = conversations.get(1)
        assert stored is not None
        assert stored.assignee == self.agent("ann")

    def test_a_claim_that_does_not_assign_leaves_no_record(self) -> None:
        outbox, conversations = self._setup(1, 2)
        bob = self._record(1, agent="bob")
        assert outbox.claim(conversations, bob, capacity_limit=None)
        lost = self._record(1, id="lost", agent="ann", at=1)
        assert not outbox.claim(conversations, lost, capacity_limit=None)
        assert self._all(outbox) == [bob]  # the earlier claim's record stays
        # over capacity: bob holds one open conversation already
        full = self._record(2, agent="bob", at=2)
        assert not outbox.claim(conversations, full, capacity_limit=1)
        assert self._all(outbox) == [bob]

    def test_stage_stores_records_by_id(self) -> None:
        outbox, _ = self._setup(1)
        first, second = self._record(1, id="a", at=1), self._record(1, id="b", at=2)
        outbox.stage(first)
        outbox.stage(second)
        outbox.stage(first)  # again: still one record
        assert self._all(outbox) == [first, second]

    def test_due_is_strictly_before_oldest_first_and_limited(self) -> None:
        outbox, _ = self._setup()
        for conversation, at in ((1, 30), (2, 10), (3, 20)):
            outbox.stage(self._record(conversation, at=at))
        due = outbox.due(1, staged_before=_at(30), limit=10)
        assert [r.conversation for r in due] == [2, 3]
        due = outbox.due(1, staged_before=_at(31), limit=2)
        assert [r.conversation for r in due] == [2, 3]
        assert list(outbox.due(1, staged_before=_at(10), limit=10)) == []
        assert list(outbox.due(1, staged_before=_at(31), limit=0)) == []
        # read-only
        assert [r.conversation for r in self._all(outbox)] == [2, 3, 1]

    def test_records_are_per_inbox(self) -> None:
        outbox, _ = self._setup()
        outbox.stage(self._record(1, inbox=1))
        outbox.stage(self._record(2, inbox=2))
        assert [r.conversation for r in self._all(outbox, 1)] == [1]
        assert [r.conversation for r in self._all(outbox, 2)] == [2]
        outbox.confirm(1, [self._record(2, inbox=2)])  # another inbox's record: no-op
        outbox.discard(1, [self._record(2, inbox=2)])
        assert [r.conversation for r in self._all(outbox, 2)] == [2]

    def test_records_round_trip_with_int_and_str_ids(self) -> None:
        if self.integer_ids:
            outbox, conversations = self._setup(1, 2)
            records = [
                self._record(1, agent=3, at=1, policy=None),
                self._record(2, agent="ann", at=2, policy=9),
            ]
        else:
            outbox, conversations = self._setup(1, "1", "c-x")
            records = [
                self._record(1, agent=3, at=1, policy=None),
                self._record("1", agent="3", at=2, policy=9),
                self._record("c-x", agent="ann", at=3, policy="p"),
            ]
        for record in records:
            assert outbox.claim(conversations, record, capacity_limit=None)
        found = self._all(outbox)
        assert found == records
        assert [type(r.conversation) for r in found] == [
            type(r.conversation) for r in records
        ]
        assert [type(r.agent) for r in found] == [type(r.agent) for r in records]

    def test_confirm_removes_the_record_and_the_older_ones_of_its_conversation(
        self,
    ) -> None:
        outbox, _ = self._setup()
        old, mine, newer = (
            self._record(1, id=n, at=t) for n, t in (("o", 1), ("m", 2), ("n", 3))
        )
        same_time = self._record(1, id="s", at=2)
        other = self._record(
            11, id="x", at=0
        )  # "11" starts like "1": another conversation
        # str "1" is another conversation too (where the host has str ids)
        text = [] if self.integer_ids else [self._record("1", id="t", at=1)]
        for record in (old, mine, newer, same_time, other, *text):
            outbox.stage(record)
        outbox.confirm(1, [mine])
        assert self._all(outbox) == [other, *text, newer]
        outbox.confirm(1, [mine, self._record(5, at=9)])  # gone, or never there: no-op
        outbox.confirm(1, [])
        assert self._all(outbox) == [other, *text, newer]

    def test_discard_removes_exactly_the_named_records(self) -> None:
        outbox, _ = self._setup()
        records = [self._record(1, id=f"r{n}", at=n) for n in (1, 2, 3)]
        for record in records:
            outbox.stage(record)
        outbox.discard(1, [records[1]])
        assert self._all(outbox) == [records[0], records[2]]
        outbox.discard(1, [records[1]])
        outbox.discard(1, [])
        outbox.discard(1, records)
        assert self._all(outbox) == []

    def test_many_records(self) -> None:
        ids = list(range(1, 201))
        outbox, _ = self._setup()
        for n in ids:
            outbox.stage(self._record(n, agent=f"agent-{n % 7}", at=n))
        due = outbox.due(1, staged_before=_at(151), limit=500)
        assert [r.conversation for r in due] == list(range(1, 151))
        outbox.confirm(1, due)
        assert [r.conversation for r in self._all(outbox)] == list(range(151, 201))
