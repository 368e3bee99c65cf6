"""A hypothesis state machine for a fair-distribution ledger shared by workers whose
clocks disagree (needs the ``autoassign[testing]`` extra)::

    from hypothesis.stateful import run_state_machine_as_test
    from autoassign.testing.skew import SkewSubject, skewed_workers_machine

    skew = timedelta(seconds=2)
    Machine = skewed_workers_machine(
        lambda: SkewSubject(ledger=MyLedger(max_clock_skew=skew)),
        max_clock_skew=skew,
    )
    run_state_machine_as_test(Machine)

True time is a :class:`~autoassign.testing.FakeClock`; each logical worker reads it
through its own offset, which the machine sets and changes anywhere within
``[-max_clock_skew, +max_clock_skew]`` (a clock may step back and forth, as NTP
corrections do). Rules, in any interleaving: advance true time (by small steps, or to
just around where an entry leaves the window); let a worker record a new conversation
or record one again, by ``try_record`` or by any extra record path of the subject
(e.g. :func:`reservation_path` over a :class:`~autoassign.ports.Reservations`); discard
an entry; read ``usage``.

Checked after every step (the port's clock-skew guarantee,
:class:`~autoassign.ports.RateLimitLedger`):

* **safety**: for every agent and every instant of true time, the entries recorded
  (and not discarded or replaced) within any true window of length ``window`` number
  at most ``limit``;
* **the margin is all the caution**: a refused record means the agent had at least
  ``limit`` other entries stamped after ``now - window - 2 * max_clock_skew`` on the
  recording worker's clock;
* ``usage``: its count is at least the entries recorded in the true window ending now,
  and at most those stamped after ``now - window - 2 * max_clock_skew``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Protocol

import attrs

try:
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "autoassign.testing.skew needs hypothesis: install autoassign[testing]"
    ) from exc

from autoassign.clock import skew_margin
from autoassign.model import AccountId, AgentId, ConversationId, InboxId
from autoassign.ports import RateLimitLedger, Reservations
from autoassign.testing import FakeClock

__all__ = ["RecordPath", "SkewSubject", "reservation_path", "skewed_workers_machine"]


class RecordPath(Protocol):
    """A way to record into the ledger, with the signature and the guarantee of
    :meth:`~autoassign.ports.RateLimitLedger.try_record` (which is one)."""

    def __call__(
        self,
        inbox: InboxId,
        agent: AgentId,
        conversation: ConversationId,
        *,
        now: datetime,
        window: timedelta,
        limit: int | None,
    ) -> bool: ...


INBOX: InboxId = 10
AGENTS: tuple[AgentId, ...] = ("ann", 2)
_MS = timedelta(milliseconds=1)


@attrs.frozen(kw_only=True)
class SkewSubject:
    """What the machine drives: a fresh, empty ledger and, optionally, more ways to
    record into it (each rule picks ``try_record`` or one of them)."""

    ledger: RateLimitLedger
    record_paths: Mapping[str, RecordPath] = attrs.field(factory=dict)


def reservation_path(reservations: Reservations, account: AccountId) -> RecordPath:
    """A :data:`RecordPath` through :meth:`Reservations.reserve` with the agent
    expected online (the caller makes every agent of :data:`AGENTS` online in
    ``account`` first), so the reservation reads presence and records in one step."""

    def record(
        inbox: InboxId,
        agent: AgentId,
        conversation: ConversationId,
        *,
        now: datetime,
        window: timedelta,
        limit: int | None,
    ) -> bool:
        done = reservations.reserve(
            account,
            inbox,
            agent,
            conversation,
            expect_online={agent: True},
            now=now,
            window=window,
            limit=limit,
        )
        assert done.presence_error is None, done.presence_error
        assert done.ledger_error is None, done.ledger_error
        assert done.confirmed, f"{agent!r} is not online: {dict(done.statuses)!r}"
        return done.recorded

    return record


@attrs.define
class _Entry:
    true: datetime
    """When it was recorded, in true time."""
    stamp: datetime
    """The recording worker's ``now``."""


def skewed_workers_machine(
    make_subject: Callable[[], SkewSubject],
    *,
    max_clock_skew: timedelta,
    workers: int = 3,
) -> type[RuleBasedStateMachine]:
    """A state machine class over ``make_subject()`` (called once per run), whose
    workers' clocks stay within ``max_clock_skew`` of true time. Give the ledger at
    least that tolerance; with less, the machine finds an overshoot."""
    skew_ms = max_clock_skew // _MS
    margin = skew_margin(max_clock_skew)
    offsets_ms = st.one_of(
        st.sampled_from(sorted({-skew_ms, 0, skew_ms})),
        st.integers(-skew_ms, skew_ms),
    )
    worker_ids = st.integers(0, workers - 1)

    class SkewedWorkers(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.clock = FakeClock()
            self.subject = make_subject()
            self.paths: dict[str, RecordPath] = {
                "try_record": self.subject.ledger.try_record,
                **self.subject.record_paths,
            }
            self.offsets = [timedelta(0)] * workers
            self.live: dict[AgentId, dict[ConversationId, _Entry]] = {
                agent: {} for agent in AGENTS
            }
            self.numbers = iter(range(1, 1_000_000))
            self.window = timedelta(seconds=10)
            self.limit = 2

        def _now(self, worker: int) -> datetime:
            return self.clock.now() + self.offsets[worker]

        @initialize(
            window_ms=st.sampled_from([1_000, 10_000, 60_000]),
            limit=st.integers(1, 3),
            offsets=st.lists(offsets_ms, min_size=workers, max_size=workers),
        )
        def setup(self, window_ms: int, limit: int, offsets: list[int]) -> None:
            self.window = window_ms * _MS
            self.limit = limit
            self.offsets = [value * _MS for value in offsets]

        @rule(ms=st.sampled_from([0, 1, 250, 999, 1_000, 1_500, 3_000, 7_000]))
        def advance(self, ms: int) -> None:
            self.clock.advance(ms * _MS)

        @rule(
            agent=st.sampled_from(AGENTS),
            newest=st.booleans(),
            shift_ms=st.integers(-4 * skew_ms - 1, 1),
        )
        def advance_to_expiry(
            self, agent: AgentId, newest: bool, shift_ms: int
        ) -> None:
            """Move to around where one of the agent's entries leaves the window in
            true time (up to twice the margin before it: where skew matters)."""
            entries = sorted(entry.true for entry in self.live[agent].values())
            if entries:
                base = entries[-1] if newest else entries[0]
                target = base + self.window + shift_ms * _MS
                if target > self.clock.now():
                    self.clock.set(target)

        @rule(worker=worker_ids, ms=offsets_ms)
        def set_offset(self, worker: int, ms: int) -> None:
            self.offsets[worker] = ms * _MS

        @rule(
            worker=worker_ids,
            agent=st.sampled_from(AGENTS),
            again=st.integers(0, 3),
            path=st.integers(0, 3),
        )
        def record(self, worker: int, agent: AgentId, again: int, path: int) -> None:
            """Record a new conversation, or (``again`` picks one) one of the agent's
            again, through one of the record paths (``path`` picks it)."""
            live = self.live[agent]
            if again and live:
                conversation = sorted(live, key=str)[(again - 1) % len(live)]
            else:
                conversation = f"c{next(self.numbers)}"
            now = self._now(worker)
            names = sorted(self.paths)
            record = self.paths[names[path % len(names)]]
            recorded = record(
                INBOX,
                agent,
                conversation,
                now=now,
                window=self.window,
                limit=self.limit,
            )
            if recorded:
                live[conversation] = _Entry(true=self.clock.now(), stamp=now)
                return
            counted = [
                entry
                for other, entry in live.items()
                if other != conversation and entry.stamp > now - self.window - margin
            ]
            assert len(counted) >= self.limit, (
                f"worker {worker} (clock {self.offsets[worker]} off) was refused for "
                f"{agent!r} with only {len(counted)} other entries stamped within the "
                f"window plus the margin (limit {self.limit})"
            )

        @rule(agent=st.sampled_from(AGENTS), pick=st.integers(0, 3))
        def discard(self, agent: AgentId, pick: int) -> None:
            live = self.live[agent]
            if live:
                conversation = sorted(live, key=str)[pick % len(live)]
                self.subject.ledger.discard(INBOX, agent, conversation)
                del live[conversation]

        @rule(worker=worker_ids)
        def read_usage(self, worker: int) -> None:
            now = self._now(worker)
            found = self.subject.ledger.usage(
                INBOX, AGENTS, now=now, window=self.window
            )
            true = self.clock.now()
            for agent in AGENTS:
                usage = found.get(agent)
                count = 0 if usage is None else usage.count
                entries = self.live[agent].values()
                at_least = sum(1 for e in entries if true - e.true < self.window)
                at_most = sum(
                    1 for e in entries if e.stamp > now - self.window - margin
                )
                assert at_least <= count <= at_most, (
                    f"usage of {agent!r} by worker {worker} is {count}: expected from "
                    f"{at_least} (the true window) to {at_most} (stamped within the "
                    "window plus the margin)"
                )

        @invariant()
        def no_true_window_exceeds_the_limit(self) -> None:
            for agent, entries in self.live.items():
                times = sorted(entry.true for entry in entries.values())
                first = 0
                for last, at in enumerate(times):
                    while at - times[first] >= self.window:
                        first += 1
                    assert last - first + 1 <= self.limit, (
                        f"{agent!r} has {last - first + 1} entries within "
                        f"{self.window} of true time (limit {self.limit}): "
                        f"{times[first : last + 1]}"
                    )

    SkewedWorkers.__name__ = SkewedWorkers.__qualname__ = "SkewedWorkers"
    return SkewedWorkers
