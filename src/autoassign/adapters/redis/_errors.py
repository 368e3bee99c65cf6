"""Driver errors -> autoassign errors, in one place (httpx's ``map_exceptions`` style)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis import exceptions as rx

from autoassign.errors import BackendError, BackendUnavailable

__all__ = ["translate_errors"]

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    rx.ConnectionError,  # includes AuthenticationError, BusyLoadingError, ...
    rx.TimeoutError,
    rx.ClusterDownError,
    rx.SlotNotCoveredError,
    rx.ClusterError,  # "TTL exhausted": no node answered
)
_OTHER: tuple[type[BaseException], ...] = (rx.RedisError, rx.RedisClusterException)


@contextmanager
def translate_errors(operation: str) -> Iterator[None]:
    """Run a Redis call; connection and timeout failures become
    :class:`~autoassign.errors.BackendUnavailable`, every other redis-py error
    :class:`~autoassign.errors.BackendError`, with the driver's error as ``__cause__``."""
    try:
        yield
    except _UNAVAILABLE as exc:
        raise BackendUnavailable(
            f"Redis unavailable during {operation}: {exc}"
        ) from exc
    except _OTHER as exc:
        raise BackendError(f"Redis error during {operation}: {exc}") from exc
