""":class:`RedisEventOutbox`: the event outbox in a hash and a sorted set under the
inbox's hash tag."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from autoassign.errors import ContractViolation
from autoassign.model import InboxId
from autoassign.outbox import OutboxRecord, StagedClaims

from . import _scripts
from ._codec import as_list, as_text, datetime_from_score, score_from_datetime
from ._errors import translate_errors
from ._keys import KeySchema, id_text

if TYPE_CHECKING:
    from ._types import RedisClient

__all__ = ["RedisEventOutbox"]


def _conversation_prefix(record: OutboxRecord) -> str:
    # JSON keeps int 1 and str "1" apart, and never holds a NUL: "\0" ends the prefix
    # below anything a JSON text can continue with.
    return json.dumps(record.conversation) + "\0"


def _time(record: OutboxRecord) -> str:
    return f"{score_from_datetime(record.occurred_at):020d}"


def _field(record: OutboxRecord) -> str:
    return f"{_conversation_prefix(record)}{_time(record)}\0{record.id}"


def _encode(record: OutboxRecord) -> str:
    return json.dumps(
        {
            "id": record.id,
            "inbox": record.inbox,
            "conversation": record.conversation,
            "agent": record.agent,
            "policy": record.policy,
            "selector": record.selector,
            "at": score_from_datetime(record.occurred_at),
        },
        separators=(",", ":"),
    )


def _decode(value: Any) -> OutboxRecord:
    text = as_text(value)
    try:
        data = json.loads(text)
        return OutboxRecord(
            id=data["id"],
            inbox=data["inbox"],
            conversation=data["conversation"],
            agent=data["agent"],
            policy=data["policy"],
            selector=data["selector"],
            occurred_at=datetime_from_score(data["at"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ContractViolation(f"unreadable outbox record {text!r}") from exc


class RedisEventOutbox(StagedClaims):
    """:class:`~autoassign.ports.EventOutbox` in Redis (``RedisBackend.outbox``).

    Per inbox, under its hash tag (one cluster slot, every key in ``KEYS``): the hash
    ``<prefix>:{i:<inbox>}:outbox`` (field = ``"<conversation JSON>\\0<time>\\0<event
    id>"``, value = the record as JSON) and two sorted sets of the same fields:
    ``...:outboxdue`` by ``occurred_at`` and ``...:outboxconv`` in lexical order (by
    conversation, then time). A claim stages its record first (one script,
    ``outbox_stage.lua``: one round trip more per assignment), then claims through the
    host's repository (:func:`autoassign.outbox.stage_then_claim`); ``confirm`` and
    ``discard`` are one script each (``outbox_remove.lua``), called once per pass, and
    ``due`` one read-only script (``outbox_due.lua``). Records carry no TTL: they stay
    until confirmed or discarded.
    """

    def __init__(
        self, client: RedisClient, *, prefix: str | KeySchema = "autoassign"
    ) -> None:
        self._client: Any = client
        self.keys = prefix if isinstance(prefix, KeySchema) else KeySchema(prefix)
        self._stage = _scripts.register(self._client, "outbox_stage")
        self._remove = _scripts.register(self._client, "outbox_remove")
        self._due = _scripts.register(self._client, "outbox_due")

    def __repr__(self) -> str:
        return f"RedisEventOutbox(prefix={self.keys.prefix!r})"

    def _keys(self, inbox: InboxId) -> list[str]:
        return [
            self.keys.outbox(inbox),
            self.keys.outbox_due(inbox),
            self.keys.outbox_conversations(inbox),
        ]

    def stage(self, record: OutboxRecord) -> None:
        id_text(record.conversation)  # an id Redis can store, or ConfigurationError
        args = [
            _field(record),
            _encode(record),
            str(score_from_datetime(record.occurred_at)),
        ]
        with translate_errors("outbox.stage"):
            self._stage(keys=self._keys(record.inbox), args=args)

    def due(
        self, inbox: InboxId, *, staged_before: datetime, limit: int
    ) -> Sequence[OutboxRecord]:
        if limit <= 0:
            return ()
        args = [f"({score_from_datetime(staged_before)}", str(limit)]
        with translate_errors("outbox.due"):
            reply = as_list(self._due(keys=self._keys(inbox), args=args))
        return tuple(_decode(value) for value in reply)

    def confirm(self, inbox: InboxId, records: Sequence[OutboxRecord]) -> None:
        if not records:
            return
        args = ["upto"]
        for record in records:
            prefix = _conversation_prefix(record)
            args += [f"[{prefix}", f"({prefix}{_time(record)}\1"]
        with translate_errors("outbox.confirm"):
            self._remove(keys=self._keys(inbox), args=args)

    def discard(self, inbox: InboxId, records: Sequence[OutboxRecord]) -> None:
        if not records:
            return
        args = ["exact", *(_field(record) for record in records)]
        with translate_errors("outbox.discard"):
            self._remove(keys=self._keys(inbox), args=args)
