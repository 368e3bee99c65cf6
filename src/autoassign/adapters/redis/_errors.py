"""Driver errors -> autoassign errors, in one place (httpx's ``map_exceptions`` style)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis import exceptions as rx

from autoassign.errors import BackendError, BackendUnavailable

__all__ = ["backend_error", "translate_errors"]

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    rx.ConnectionError,  # includes AuthenticationError, BusyLoadingError, ...
    rx.TimeoutError,
    rx.ClusterDownError,
    rx.SlotNotCoveredError,
    rx.ClusterError,  # "TTL exhausted": no node answered
)
_OTHER: tuple[type[BaseException], ...] = (rx.RedisError, rx.RedisClusterException)
_ANY = _UNAVAILABLE + _OTHER


def backend_error(operation: str, error: BaseException) -> BackendError:
    """The autoassign error for ``error`` (raised by, or found in a pipeline reply of,
    ``operation``), with ``error`` as ``__cause__``: connection and timeout failures
    become :class:`~autoassign.errors.BackendUnavailable`, anything else
    :class:`~autoassign.errors.BackendError`."""
    translated: BackendError
    if isinstance(error, _UNAVAILABLE):
        translated = BackendUnavailable(
            f"Redis unavailable during {operation}: {error}"
        )
    else:
        translated = BackendError(f"Redis error during {operation}: {error}")
    translated.__cause__ = error
    return translated


@contextmanager
def translate_errors(operation: str) -> Iterator[None]:
    """Run a Redis call; every redis-py error it raises becomes the autoassign error
    :func:`backend_error` gives."""
    try:
        yield
    except _ANY as exc:
        raise backend_error(operation, exc) from exc
