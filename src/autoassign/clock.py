"""Clocks. The core reads time only through the :class:`~autoassign.ports.Clock` port."""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["SystemClock"]


class SystemClock:
    """The real clock: aware UTC ``datetime.now``."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)
