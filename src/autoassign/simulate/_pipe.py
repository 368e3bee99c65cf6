"""Progress of a simulation on a stream that is not a terminal (a pipe, a CI log).

The CLI shows a rich progress bar on a terminal; elsewhere a long run would be silent
until its report. :class:`PipeProgress` writes a line per simulated hour, at most one
every few seconds of wall time (a short run prints none), and one summary line at the
end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO

__all__ = ["PipeProgress"]


class PipeProgress:
    """A ``progress(minute, total)`` callback writing plain lines to ``stream``.

    ``runs``: how many simulations report to it in turn (``--compare`` runs two; a
    minute lower than the last one starts the next run). ``every``: the least wall time,
    in seconds, between two hourly lines. ``timer``: the wall clock (seconds).
    """

    def __init__(
        self,
        stream: IO[str],
        *,
        runs: int = 1,
        every: float = 2.0,
        timer: Callable[[], float] = time.monotonic,
        prefix: str = "autoassign",
    ) -> None:
        self.stream = stream
        self.runs = runs
        self.every = every
        self.timer = timer
        self.prefix = prefix
        self.started = timer()
        self._last_line = self.started
        self._run = 1
        self._minute = -1.0
        self._hour = -1
        self._total = 0.0

    def __call__(self, minute: float, total: float) -> None:
        if minute < self._minute:
            self._run += 1
            self._hour = -1
        self._minute, self._total = minute, total
        hour = int(minute // 60)
        if hour <= self._hour:
            return
        self._hour = hour
        now = self.timer()
        if hour == 0 or now - self._last_line < self.every:
            return
        self._last_line = now
        run = f" (run {self._run} of {self.runs})" if self.runs > 1 else ""
        self._write(
            f"simulated {minute / 60:g} h of {total / 60:g} h{run}, "
            f"{now - self.started:.1f} s"
        )

    def close(self) -> None:
        """The summary line (nothing if no run reported progress)."""
        if self._minute < 0:
            return
        runs = f"{self.runs} runs of " if self.runs > 1 else ""
        self._write(
            f"simulated {runs}{self._total / 60:g} h in "
            f"{self.timer() - self.started:.1f} s"
        )

    def _write(self, text: str) -> None:
        self.stream.write(f"{self.prefix}: {text}\n")
        self.stream.flush()
