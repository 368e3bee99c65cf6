""":class:`RedisReservations`: presence confirmed and the ledger slot taken in one round
trip."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from autoassign._quietlog import degradations
from autoassign.errors import AutoassignError, ConfigurationError
from autoassign.model import (
    AccountId,
    AgentId,
    ConversationId,
    InboxId,
    Reservation,
    presence_matches,
)
from autoassign.reservations import SequentialReservations

from . import _scripts
from ._errors import backend_error
from ._ledger import RedisRateLimitLedger
from ._presence import RedisPresence

__all__ = ["RedisReservations"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


class RedisReservations:
    """:class:`~autoassign.ports.Reservations` over a :class:`RedisPresence` and a
    :class:`RedisRateLimitLedger` on one client (``RedisBackend.reservations``).

    A reservation that both reads presence and records is **one round trip**: a
    non-transactional pipeline of the presence script and the try-record script (raw
    ``EVALSHA``s; a script answered ``NOSCRIPT``, on a cold or failed-over server, is
    loaded and run once more, alone). On a ``RedisCluster`` client the presence keys
    (``{a:<account>}``) and the ledger keys (``{i:<inbox>}``) may live on different
    nodes: redis-py's cluster pipeline writes each node its command, then reads both
    replies, still one pipeline. Every other reservation (no presence to read, or
    nothing to record) is what :class:`~autoassign.reservations.SequentialReservations`
    does: one command, or none.

    The record is **speculative**: it is made before presence is known. When presence
    fails or is not as expected, the entry is taken back at once (a second round trip,
    only then): removed, or put back at its earlier time when the same conversation
    already had an entry in the window. Until then a concurrent reservation of the same
    agent counts it (and may be refused at the limit). Taking back is best effort: if
    it fails, a warning is logged and the entry stays; a leftover entry only makes the
    agent look busier (one more assignment in its count) until the window passes it.

    Failures are reported on the :class:`~autoassign.model.Reservation` as
    :class:`~autoassign.errors.BackendError` /
    :class:`~autoassign.errors.BackendUnavailable` (the driver's error as
    ``__cause__``), never raised: a failing pipeline as a whole, or a failing
    presence script, is ``presence_error``; a failing try-record script after presence
    was confirmed is ``ledger_error``.
    """

    def __init__(self, presence: RedisPresence, ledger: RedisRateLimitLedger) -> None:
        if presence._client is not ledger._client:
            raise ConfigurationError(
                "RedisReservations needs presence and ledger on one client (one "
                "pipeline); use autoassign.reservations.SequentialReservations for "
                "stores on different clients",
                field="presence",
            )
        self.presence = presence
        self.ledger = ledger
        self._client: Any = ledger._client
        self._sequential = SequentialReservations(presence, ledger)

    def __repr__(self) -> str:
        return f"RedisReservations(prefix={self.ledger.keys.prefix!r})"

    def reserve(
        self,
        account: AccountId,
        inbox: InboxId,
        agent: AgentId,
        conversation: ConversationId,
        *,
        expect_online: Mapping[AgentId, bool],
        now: datetime,
        window: timedelta,
        limit: int | None,
        record: bool = True,
    ) -> Reservation:
        if not (expect_online and record):
            # One command (or none) either way: nothing to pipeline.
            return self._sequential.reserve(
                account,
                inbox,
                agent,
                conversation,
                expect_online=expect_online,
                now=now,
                window=window,
                limit=limit,
                record=record,
            )
        wanted = list(expect_online)
        read = self.presence._statuses_call(account, wanted)
        write = self.ledger._try_record_call(
            inbox, agent, conversation, now=now, window=window, limit=limit
        )
        try:
            presence_reply, record_reply = _scripts.run_together(
                self._client, [read, write]
            )
        except Exception as exc:
            # Whether the record ran is unknown (the connection may have died after
            # sending it): take it back, to be sure (removing it: what it replaced, if
            # anything, is unknown too).
            self._take_back(inbox, agent, conversation, previous=None)
            return Reservation(presence_error=_reported("reservations.reserve", exc))

        taken = _outcome(record_reply, self.ledger._read_try_record)
        recorded, previous = (False, None) if isinstance(taken, Exception) else taken
        statuses = _outcome(
            presence_reply, lambda reply: self.presence._read_statuses(wanted, reply)
        )
        if isinstance(statuses, Exception):
            if recorded:
                self._take_back(inbox, agent, conversation, previous=previous)
            return Reservation(presence_error=_reported("presence.statuses", statuses))
        if not presence_matches(expect_online, statuses):
            if recorded:
                self._take_back(inbox, agent, conversation, previous=previous)
            return Reservation(statuses=statuses)
        if isinstance(taken, Exception):
            return Reservation(
                statuses=statuses,
                confirmed=True,
                ledger_error=_reported("ledger.try_record", taken),
            )
        return Reservation(
            statuses=statuses, confirmed=True, recorded=recorded, refused=not recorded
        )

    def _take_back(
        self,
        inbox: InboxId,
        agent: AgentId,
        conversation: ConversationId,
        *,
        previous: str | None,
    ) -> None:
        """Undo the speculative record, best effort (a failure is logged)."""
        try:
            self.ledger._undo(inbox, agent, conversation, previous=previous)
        except Exception:
            degradations.failed(
                logger,
                "rate-limit ledger",
                "could not take back a speculative ledger entry; the agent counts one "
                "assignment more until the window passes it",
                extra={
                    "autoassign_inbox": inbox,
                    "autoassign_agent": agent,
                    "autoassign_conversation": conversation,
                },
            )


def _outcome(reply: Any, read: Callable[[Any], _T]) -> _T | Exception:
    """A pipeline reply read by ``read``, or the error it is (or that reading it
    raised)."""
    if isinstance(reply, Exception):
        return reply
    try:
        return read(reply)
    except Exception as exc:
        return exc


def _reported(operation: str, error: Exception) -> Exception:
    """What a :class:`Reservation` reports for ``error``: autoassign's own errors as
    they are, driver (and any other) errors translated like every adapter call."""
    if isinstance(error, AutoassignError):
        return error
    return backend_error(operation, error)
