"""The default :class:`~autoassign.ports.Reservations`: a presence read, then the
ledger's ``try_record``, through the two ports themselves."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import attrs

from autoassign.model import (
    AccountId,
    AgentId,
    ConversationId,
    InboxId,
    Reservation,
    presence_matches,
)
from autoassign.ports import Presence, RateLimitLedger

__all__ = ["SequentialReservations"]


@attrs.frozen
class SequentialReservations:
    """:class:`~autoassign.ports.Reservations` over any :class:`Presence` and
    :class:`RateLimitLedger`: two calls, the ledger only once presence is confirmed
    (so nothing is ever recorded speculatively). :func:`autoassign.build_autoassign`
    uses it unless given another."""

    presence: Presence
    ledger: RateLimitLedger

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
        statuses: dict[AgentId, str] = {}
        if expect_online:
            try:
                statuses = dict(self.presence.statuses(account, list(expect_online)))
            except Exception as exc:
                return Reservation(presence_error=exc)
            if not presence_matches(expect_online, statuses):
                return Reservation(statuses=statuses)
        if not record:
            return Reservation(statuses=statuses, confirmed=True)
        try:
            taken = self.ledger.try_record(
                inbox, agent, conversation, now=now, window=window, limit=limit
            )
        except Exception as exc:
            return Reservation(statuses=statuses, confirmed=True, ledger_error=exc)
        return Reservation(
            statuses=statuses, confirmed=True, recorded=taken, refused=not taken
        )
