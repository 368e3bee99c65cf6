"""Measurement 6: the in-memory rate-limit ledger's calls against the size of one
agent's log (issue 17: flat from 0 to 1,000,000 entries).

One agent holds N entries, all inside the window (the worst case: every one counts).
A timed round is ``CALLS`` rounds of the four calls a pass makes on the ledger, each on
that agent: ``try_record`` of a new conversation (with a limit above N, so it counts
and records), ``usage``, ``last_assigned`` and ``discard`` of the conversation just
recorded (the log keeps its size). The sizes are timed in turns.
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta
from typing import Any

from autoassign.adapters.memory import InMemoryRateLimitLedger
from autoassign.testing import EPOCH

INBOX = 10
AGENT = "ann"
CALLS = 2_000
WINDOW = timedelta(hours=1)


class LedgerRuns:
    """Timed rounds of ledger calls on one agent with ``entries`` entries."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self.ledger = InMemoryRateLimitLedger(max_clock_skew=timedelta(seconds=1))
        self.now = EPOCH + WINDOW / 2
        spacing = (WINDOW / 2) / max(entries, 1)
        start = self.now - WINDOW / 2
        for n in range(entries):
            self.ledger.try_record(
                INBOX, AGENT, n, now=start + n * spacing, window=WINDOW, limit=None
            )
        self.limit = entries + CALLS + 1
        self.times: list[float] = []
        self._next = entries

    def once(self, *, timed: bool = True) -> None:
        ledger, now, limit, agents = self.ledger, self.now, self.limit, [AGENT]
        first = self._next
        self._next += CALLS
        start = time.perf_counter()
        for conversation in range(first, first + CALLS):
            ledger.try_record(
                INBOX, AGENT, conversation, now=now, window=WINDOW, limit=limit
            )
            ledger.usage(INBOX, agents, now=now, window=WINDOW)
            ledger.last_assigned(INBOX, agents, now=now, window=WINDOW)
            ledger.discard(INBOX, AGENT, conversation)
        if timed:
            self.times.append(time.perf_counter() - start)

    def result(self) -> dict[str, Any]:
        found = self.ledger.usage(INBOX, [AGENT], now=self.now, window=WINDOW)
        count = found[AGENT].count if AGENT in found else 0
        if count != self.entries:
            raise RuntimeError(f"expected {self.entries} entries, found {count}")
        seconds = statistics.median(self.times)
        return {
            "ledger_entries": self.entries,
            "calls_per_round": 4 * CALLS,
            "round_seconds": seconds,
            "per_call_us": seconds / (4 * CALLS) * 1e6,
            "runs_seconds": list(self.times),
        }
