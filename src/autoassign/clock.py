"""Clocks. The core reads time only through the :class:`~autoassign.ports.Clock` port.

Also the bound on clock skew that a fair-distribution ledger tolerates
(``max_clock_skew``, see :class:`~autoassign.ports.RateLimitLedger`): every worker's
clock is assumed to be within that much of true time, so any two workers' clocks are
within twice that of each other.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from autoassign.errors import ConfigurationError

__all__ = [
    "MAX_CLOCK_SKEW_ALLOWED",
    "SystemClock",
    "check_max_clock_skew",
    "ledger_skew_margin",
    "skew_margin",
]

MAX_CLOCK_SKEW_ALLOWED = timedelta(minutes=5)
"""The largest ``max_clock_skew`` a ledger accepts. Clocks further apart than this are
not synchronised at all (Kerberos refuses the same five minutes); fix them (NTP) rather
than widen every window by it."""


class SystemClock:
    """The real clock: aware UTC ``datetime.now``."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


def check_max_clock_skew(value: object, *, field: str = "max_clock_skew") -> timedelta:
    """Validate a ledger's ``max_clock_skew``: a :class:`~datetime.timedelta` from zero
    to :data:`MAX_CLOCK_SKEW_ALLOWED`.

    Returns:
        ``value``, unchanged.

    Raises:
        ConfigurationError: anything else (``field`` names the argument).
    """
    if not isinstance(value, timedelta):
        raise ConfigurationError(
            f"{field} must be a datetime.timedelta, got {value!r}", field=field
        )
    if value < timedelta(0):
        raise ConfigurationError(
            f"{field} must not be negative, got {value.total_seconds()} s",
            field=field,
        )
    if value > MAX_CLOCK_SKEW_ALLOWED:
        raise ConfigurationError(
            f"{field} must be at most {MAX_CLOCK_SKEW_ALLOWED.total_seconds():g} s "
            "(clocks further apart are not synchronised: fix them), got "
            f"{value.total_seconds()} s",
            field=field,
        )
    return value


def skew_margin(max_clock_skew: timedelta) -> timedelta:
    """How much longer than its window a ledger that tolerates ``max_clock_skew`` keeps
    counting an entry, on the reader's clock: ``2 * max_clock_skew``, the most two
    workers' clocks can differ (each within ``max_clock_skew`` of true time). See
    ``docs/concepts.md`` (*Clock skew and the rate limit*) for why that is enough and
    what it costs."""
    return 2 * max_clock_skew


def ledger_skew_margin(ledger: object) -> timedelta:
    """The margin ``ledger`` counts entries past their window:
    :func:`skew_margin` of its optional ``max_clock_skew`` attribute (see
    :class:`~autoassign.ports.RateLimitLedger`), zero for a ledger without one. A pass
    uses it to know until when the usage it read stays exact."""
    skew = getattr(ledger, "max_clock_skew", None)
    return skew_margin(skew) if isinstance(skew, timedelta) else timedelta(0)
