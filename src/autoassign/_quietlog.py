"""Quiet degradation logs: one line when a degradation starts, one when it ends.

A dependency that is down (Redis, the database, the event bus) fails on every call of every
pass. Logging each failure with its chained traceback turns one outage into hundreds of
lines. :data:`degradations` keeps one *episode* per (logger, kind) in this process:

- the first failure of an episode logs one line at its level (WARNING by default), naming
  the exception's type and the first line of its message, without a traceback;
- repeats, and every traceback, are logged at DEBUG only;
- the first success afterwards logs one WARNING line, "<kind> recovered after N failures
  over T s".

Every record carries ``autoassign_degradation`` (the kind) beside the caller's
``autoassign_*`` fields, and the recovery line carries ``autoassign_failures``. Durations
come from a monotonic clock: they describe the log, not a decision, so the Clock port is not
involved.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping

import attrs

__all__ = ["DegradationLog", "degradations"]

_REPEATS = "(repeats are logged at DEBUG until it recovers)"


@attrs.define
class _Episode:
    started: float
    failures: int = 0


def _summary(error: BaseException | None) -> str:
    if error is None:
        return ""
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    name = type(error).__name__
    return f" [{name}: {first}]" if first else f" [{name}]"


@attrs.define
class DegradationLog:
    """Per-process episodes of failing dependencies, keyed by logger name and kind."""

    monotonic: Callable[[], float] = time.monotonic
    _episodes: dict[tuple[str, str], _Episode] = attrs.field(factory=dict, init=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False)

    def failed(
        self,
        logger: logging.Logger,
        kind: str,
        message: str,
        *args: object,
        level: int = logging.WARNING,
        error: BaseException | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> bool:
        """Record one failure of ``kind``; returns True if it started an episode.

        ``error`` defaults to the exception being handled. ``message`` and ``args`` are
        the usual %-style logging arguments."""
        if error is None:
            error = sys.exc_info()[1]
        key = (logger.name, kind)
        with self._lock:
            episode = self._episodes.get(key)
            first = episode is None
            if episode is None:
                episode = self._episodes[key] = _Episode(started=self.monotonic())
            episode.failures += 1
        fields = {**(extra or {}), "autoassign_degradation": kind}
        summary = _summary(error).replace("%", "%%")
        if first:
            logger.log(level, f"{message}{summary} {_REPEATS}", *args, extra=fields)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(f"{message}{summary}", *args, exc_info=error, extra=fields)
        return first

    def recovered(
        self,
        logger: logging.Logger,
        kind: str,
        *,
        extra: Mapping[str, object] | None = None,
    ) -> bool:
        """Close the episode of ``kind``, if one is open; returns True if one was."""
        key = (logger.name, kind)
        if key not in self._episodes:  # the common case: nothing to do, no lock
            return False
        with self._lock:
            episode = self._episodes.pop(key, None)
        if episode is None:
            return False
        elapsed = max(0.0, self.monotonic() - episode.started)
        logger.warning(
            "%s recovered after %d failure%s over %.1f s",
            kind,
            episode.failures,
            "" if episode.failures == 1 else "s",
            elapsed,
            extra={
                **(extra or {}),
                "autoassign_degradation": kind,
                "autoassign_failures": episode.failures,
            },
        )
        return True

    def failing(self) -> dict[str, int]:
        """The open episodes: ``"<logger>:<kind>"`` to the failures counted so far."""
        with self._lock:
            return {
                f"{name}:{kind}": e.failures
                for (name, kind), e in self._episodes.items()
            }

    def reset(self) -> None:
        """Forget every open episode (tests; a host after reconfiguring)."""
        with self._lock:
            self._episodes.clear()


#: The process-wide log every autoassign module reports its degradations to.
degradations = DegradationLog()
