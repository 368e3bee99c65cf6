"""The one place Redis key names are built.

Every key that one inbox decision touches carries the hash tag ``{i:<inbox>}``, so a
script's keys always map to one cluster slot (but ``lease_mark_pending_many``'s, which is
sent to standalone servers only); presence is per account and carries
``{a:<account>}``. See ``docs/redis.md`` for the full key table.
"""

from __future__ import annotations

from autoassign.errors import ConfigurationError
from autoassign.model import AccountId, AgentId, Id, InboxId

__all__ = ["KeySchema", "id_text"]

_BRACES = frozenset("{}")


def id_text(value: Id) -> str:
    """An id as Redis stores it: ``str(id)`` (ints in decimal)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigurationError(
            f"ids must be int or str, got {type(value).__name__}", field="id"
        )
    return str(value)


def _tag_id(kind: str, value: Id) -> str:
    text = id_text(value)
    if _BRACES.intersection(text):
        # A brace inside a hash tag would move the slot boundary (redis/crc.py uses
        # the first "{" and the next "}").
        raise ConfigurationError(
            f"{kind} ids used in Redis keys must not contain '{{' or '}}': {text!r}",
            field=kind,
        )
    return text


class KeySchema:
    """Key names under ``prefix``.

    ``prefix`` must be a non-empty string without ``{`` or ``}`` (the first ``{...}`` of
    a key decides its cluster slot, so braces in the prefix would break the per-inbox
    hash tags).
    """

    __slots__ = ("prefix",)

    def __init__(self, prefix: str = "autoassign") -> None:
        if not prefix:
            raise ConfigurationError(
                "prefix must be a non-empty string", field="prefix"
            )
        if _BRACES.intersection(prefix):
            raise ConfigurationError(
                f"prefix must not contain '{{' or '}}' (hash tags are added per inbox "
                f"and per account), got {prefix!r}",
                field="prefix",
            )
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"KeySchema({self.prefix!r})"

    def inbox_tag(self, inbox: InboxId) -> str:
        """``<prefix>:{i:<inbox>}``: the part every per-inbox key starts with."""
        return f"{self.prefix}:{{i:{_tag_id('inbox', inbox)}}}"

    def account_tag(self, account: AccountId) -> str:
        """``<prefix>:{a:<account>}``: the part every per-account key starts with."""
        return f"{self.prefix}:{{a:{_tag_id('account', account)}}}"

    def rotation(self, inbox: InboxId) -> str:
        """List: the inbox's round-robin queue (agent id texts, front first)."""
        return f"{self.inbox_tag(inbox)}:rr"

    def rotation_members(self, inbox: InboxId) -> str:
        """String: a digest of the membership the :meth:`rotation` queue was last
        reconciled with (``rotation.lua`` writes it), so ``advance`` can send only the
        moves while the membership is unchanged."""
        return f"{self.inbox_tag(inbox)}:rrmembers"

    def rotation_version(self, inbox: InboxId) -> str:
        """String: a counter ``rotation.lua`` increments on every call that may write
        the :meth:`rotation` queue, so a store can tell its own copy is current."""
        return f"{self.inbox_tag(inbox)}:rrversion"

    def rotation_tags(self, inbox: InboxId) -> str:
        """Hash: weighted round robin's tag of each agent in the inbox (agent id text
        to ticks; ``rotation_weighted.lua`` writes it)."""
        return f"{self.inbox_tag(inbox)}:rrtags"

    def rotation_clock(self, inbox: InboxId) -> str:
        """String: weighted round robin's clock of the inbox (ticks)."""
        return f"{self.inbox_tag(inbox)}:rrclock"

    def fair(self, inbox: InboxId, agent: AgentId) -> str:
        """Sorted set: the agent's fair-distribution ledger in the inbox."""
        return f"{self.inbox_tag(inbox)}:fair:{id_text(agent)}"

    def fair_last(self, inbox: InboxId) -> str:
        """Sorted set: the index of the inbox's ledger, member = agent id text, score =
        the time of the agent's newest entry in its :meth:`fair` key (epoch
        microseconds). The ledger scripts keep it in step with the agents' keys (same
        hash tag, so one script touches both); ``last_assigned`` reads it alone."""
        return f"{self.inbox_tag(inbox)}:fairlast"

    def lease(self, inbox: InboxId) -> str:
        """String (redis-py ``Lock``): the inbox's pass lease."""
        return f"{self.inbox_tag(inbox)}:lease"

    def pending(self, inbox: InboxId) -> str:
        """String: the inbox's "a pass is due" mark."""
        return f"{self.inbox_tag(inbox)}:pending"

    def outbox(self, inbox: InboxId) -> str:
        """Hash: the inbox's event outbox, field = ``"<conversation id as JSON>\\0
        <occurred_at micros, 20 digits>\\0<event id>"``, value = the record as JSON."""
        return f"{self.inbox_tag(inbox)}:outbox"

    def outbox_due(self, inbox: InboxId) -> str:
        """Sorted set: the outbox's index by age, member = the hash field, score =
        the record's ``occurred_at`` (epoch microseconds)."""
        return f"{self.inbox_tag(inbox)}:outboxdue"

    def outbox_conversations(self, inbox: InboxId) -> str:
        """Sorted set: the outbox's index by conversation, member = the hash field,
        score 0 (lexical order: by conversation, then time)."""
        return f"{self.inbox_tag(inbox)}:outboxconv"

    def status(self, account: AccountId) -> str:
        """Hash: agent id text -> status, for the account."""
        return f"{self.account_tag(account)}:status"

    def presence(self, account: AccountId) -> str:
        """Sorted set: agent id text -> last heartbeat (epoch seconds)."""
        return f"{self.account_tag(account)}:presence"

    def online(self, account: AccountId) -> str:
        """Sorted set, the presence index: agent id text -> last heartbeat (epoch
        seconds; ``-inf`` before the first), for exactly the agents whose status is
        ``online``. The presence scripts keep it in step with :meth:`status` and
        :meth:`presence` (same hash tag)."""
        return f"{self.account_tag(account)}:online"
