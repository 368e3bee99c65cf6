"""Reply normalisation: the only code that looks at raw redis-py replies.

Replies may be ``bytes`` or ``str`` (``decode_responses``), RESP2 or RESP3; these helpers
turn them into precise types so the adapters type-check on every supported redis-py.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from autoassign.errors import ContractViolation
from autoassign.model import Id

from ._keys import id_text

__all__ = [
    "IdMap",
    "as_int",
    "as_optional_text",
    "as_text",
    "datetime_from_score",
    "score_from_datetime",
    "ttl_millis",
    "window_micros",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICRO = timedelta(microseconds=1)
_MILLI = timedelta(milliseconds=1)


def as_text(value: Any) -> str:
    """``bytes`` (UTF-8) or ``str`` -> ``str``; numbers -> their decimal text."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ContractViolation(f"unexpected Redis reply {value!r}")


def as_optional_text(value: Any) -> str | None:
    return None if value is None else as_text(value)


def as_int(value: Any) -> int:
    """An integer reply (also accepts its text form, and ``None`` as 0)."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, bytes | str):
        return int(as_text(value))
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ContractViolation(f"expected an integer Redis reply, got {value!r}")


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    raise ContractViolation(f"expected an array Redis reply, got {value!r}")


def score_from_datetime(when: datetime) -> int:
    """An aware datetime as integer microseconds since the epoch (exact: datetimes
    have microsecond resolution, and such integers fit a double's 53 bits)."""
    if when.tzinfo is None:
        raise ValueError("autoassign needs timezone-aware datetimes")
    return (when - _EPOCH) // _MICRO


def datetime_from_score(score: Any) -> datetime:
    """The inverse of :func:`score_from_datetime` (aware UTC)."""
    if isinstance(score, bytes | str):
        try:
            micros = int(score)  # integer text: exact, and the common case
        except ValueError:
            micros = int(float(as_text(score)))
    elif isinstance(score, int | float) and not isinstance(score, bool):
        micros = int(score)
    else:
        raise ContractViolation(f"unexpected sorted-set score {score!r}")
    return _EPOCH + timedelta(0, 0, micros)


def window_micros(window: timedelta) -> int:
    return window // _MICRO


def ttl_millis(ttl: timedelta) -> int:
    """A TTL in whole milliseconds, rounded up and at least 1 (for ``PX``/``PEXPIRE``)."""
    return max(1, -(-ttl // _MILLI))


class IdMap:
    """Maps the text Redis stores back to the exact id objects the caller passed."""

    __slots__ = ("_by_text", "texts")

    def __init__(self, ids: Iterable[Id]) -> None:
        self._by_text: dict[str, Id] = {}
        self.texts: list[str] = []
        for value in ids:
            text = id_text(value)
            self.texts.append(text)
            self._by_text.setdefault(text, value)

    def get(self, text: Any) -> Id | None:
        return self._by_text.get(as_text(text))
