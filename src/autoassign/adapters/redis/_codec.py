"""Reply normalisation: the only code that looks at raw redis-py replies.

Replies may be ``bytes`` or ``str`` (``decode_responses``), RESP2 or RESP3; these helpers
turn them into precise types so the adapters type-check on every supported redis-py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from autoassign.errors import ContractViolation
from autoassign.model import Id

from ._keys import id_text

__all__ = [
    "IdMap",
    "IdMapCache",
    "agent_times",
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


def agent_times(ids: IdMap, reply: list[Any]) -> dict[Id, datetime]:
    """A flat ``id, score, id, score, ...`` reply as ``{id: aware datetime}`` for the
    ids ``ids`` knows (others are dropped), in reply order. Hot: one pass may decode
    every member of a large inbox, so the common case (integer-text scores) takes
    the short path."""
    get = ids.getter(reply[0] if reply else "")
    out: dict[Id, datetime] = {}
    pairs = iter(reply)
    epoch, delta = _EPOCH, timedelta
    for text, score in zip(pairs, pairs, strict=False):
        agent = get(text)
        if agent is None:
            continue
        try:
            out[agent] = epoch + delta(0, 0, int(score))
        except (TypeError, ValueError):
            out[agent] = datetime_from_score(score)
    return out


def window_micros(window: timedelta) -> int:
    return window // _MICRO


def ttl_millis(ttl: timedelta) -> int:
    """A TTL in whole milliseconds, rounded up and at least 1 (for ``PX``/``PEXPIRE``)."""
    return max(1, -(-ttl // _MILLI))


class IdMap:
    """Maps the text Redis stores back to the exact id objects the caller passed."""

    __slots__ = ("_by_bytes", "_by_text", "_digest", "texts")

    def __init__(self, ids: Iterable[Id]) -> None:
        values = list(ids)
        if all(type(value) is int for value in values):
            self.texts: list[str] = list(map(str, values))  # the common case, fast
        else:
            self.texts = [id_text(value) for value in values]
        # The first id with a given text wins (reversed, so earlier ones overwrite).
        self._by_text: dict[str, Id] = dict(
            zip(reversed(self.texts), reversed(values), strict=True)
        )
        self._by_bytes: dict[bytes, Id] | None = None
        self._digest: str | None = None

    def __len__(self) -> int:
        """The number of distinct id texts."""
        return len(self._by_text)

    def digest(self) -> str:
        """A digest of the id texts in order (computed once): equal lists, equal
        digests."""
        if self._digest is None:
            joined = "\0".join(self.texts)
            if joined.count("\0") != max(len(self.texts) - 1, 0):
                joined = json.dumps(self.texts)  # a text holds NUL: unambiguous form
            data = f"{len(self.texts)}\0{joined}".encode()
            self._digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        return self._digest

    def get(self, text: Any) -> Id | None:
        return self._by_text.get(as_text(text))

    def getter(self, sample: Any) -> Callable[[Any], Id | None]:
        """A fast ``get`` for replies whose items have ``sample``'s type (``bytes``
        or ``str``): one dictionary lookup, no decoding."""
        if isinstance(sample, bytes):
            if self._by_bytes is None:
                self._by_bytes = {
                    text.encode(): value for text, value in self._by_text.items()
                }
            return self._by_bytes.get
        if isinstance(sample, str):
            return self._by_text.get
        return self.get


class IdMapCache:
    """The :class:`IdMap` of the last few id lists seen (:attr:`SIZE`), rebuilt only
    for a list that differs from each of them.

    A pass reads the same members again and again (every pass of an inbox, until its
    membership changes), and a worker serves several inboxes in turn; comparing a list
    is several times cheaper than mapping it. Safe to share between threads: the
    cached tuple is replaced, never mutated.
    """

    __slots__ = ("_last",)

    SIZE = 8

    def __init__(self) -> None:
        self._last: tuple[tuple[tuple[Id, ...], IdMap], ...] = ()

    def get(self, ids: Iterable[Id]) -> IdMap:
        key = tuple(ids)
        last = self._last
        for at, (seen, mapped) in enumerate(last):
            if seen == key:
                if at:
                    self._last = ((seen, mapped), *last[:at], *last[at + 1 :])
                return mapped
        mapped = IdMap(key)
        self._last = ((key, mapped), *last[: self.SIZE - 1])
        return mapped
