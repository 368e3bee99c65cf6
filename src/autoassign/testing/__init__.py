"""The shipped testing kit: fakes, contract suites, strategies and a state machine.

``autoassign.testing`` itself needs nothing beyond the core. The hypothesis strategies
(:mod:`autoassign.testing.strategies`) and the state machine
(:mod:`autoassign.testing.stateful`) need the ``autoassign[testing]`` extra.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from autoassign.adapters.memory import (
    InMemoryBackend,
    InMemoryEventBus,
    build_in_memory,
)

__all__ = [
    "EPOCH",
    "FakeClock",
    "InMemoryBackend",
    "RecordingEventBus",
    "build_in_memory",
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
