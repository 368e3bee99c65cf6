"""Sticky agents (issue 18): a returning contact's conversation goes first to the agent
who had their previous conversation, if that agent is eligible now; otherwise the
policy chooses, as always.

Opt-in: ``build_autoassign(sticky=StickyRouting(history, window=...))``. With no
:class:`StickyRouting`, or for a conversation whose contact has no earlier one within
the window, every behaviour of Assignment v2 is unchanged.

* **Who had the contact before** comes from a :class:`~autoassign.ports.ContactHistory`
  (a port: one query on the host's own tables, or :class:`InMemoryContactHistory`),
  asked once per page of conversations: for each, the assignee of the same contact's
  most recent other conversation created within :attr:`StickyRouting.window`.
* **The preference** changes only the order in which a pass walks the agents: the
  previous agent is judged first, by the same filter chain (online, team, skills, rate
  limit, capacity). If the chain keeps them, they get the conversation; if it removes
  them, the walk goes on in the policy's order. Nobody ineligible ever gets a
  conversation, and the round-robin queue moves as for any assignment.
* **A failing history**: the pass assigns by the policy (no preference) and logs it;
  nothing is skipped for it.

``explain_conversation`` shows the previous agent (``sticky_agent``) and, when they
are eligible, names them as the agent a pass would choose.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from autoassign.errors import ConfigurationError
from autoassign.model import (
    MAX_ROUTING_SECONDS,
    AccountId,
    AgentId,
    Conversation,
    ConversationId,
    Id,
    id_sort_key,
)
from autoassign.ports import ContactHistory

__all__ = ["ContactHistory", "InMemoryContactHistory", "StickyRouting"]

MAX_STICKY_WINDOW = timedelta(seconds=MAX_ROUTING_SECONDS)
"""The longest :attr:`StickyRouting.window` (365 days, as for a policy's
:attr:`~autoassign.model.AssignmentPolicy.sticky_window`)."""


def _window(value: object) -> timedelta:
    if not isinstance(value, timedelta) or not (
        timedelta(seconds=1) <= value <= MAX_STICKY_WINDOW
    ):
        raise ConfigurationError(
            f"window must be a timedelta from 1 second to 365 days, got {value!r}",
            field="window",
        )
    return value


def _history(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, ContactHistory):
        raise ConfigurationError(
            "history must have previous_agents(account, conversations, *, since) "
            f"(ports.ContactHistory), got {type(value).__name__}",
            field="history",
        )


@attrs.frozen(kw_only=True)
class StickyRouting:
    """Sticky agents for :func:`~autoassign.wiring.build_autoassign`.

    ``history``: where the contact's previous agent comes from. ``window``: how far
    back a previous conversation counts (from its creation), 1 second to 365 days.
    """

    history: ContactHistory = attrs.field(validator=_history)
    window: timedelta = attrs.field(converter=_window)

    def since(self, now: datetime) -> datetime:
        """The earliest creation time of a previous conversation that counts."""
        return now - self.window

    def previous_agents(
        self, account: AccountId, conversations: Sequence[Conversation], now: datetime
    ) -> Mapping[ConversationId, AgentId]:
        """The history's previous agents of ``conversations`` within the window
        ending at ``now`` (what a pass and ``explain`` read)."""
        return self.history.previous_agents(
            account, conversations, since=self.since(now)
        )


class InMemoryContactHistory:
    """:class:`~autoassign.ports.ContactHistory` in memory: the host says whose each
    conversation is (:meth:`set_contact`); the conversations themselves are read
    through ``lookup`` (``InMemoryWorld.get``), so their assignees are current."""

    def __init__(self, lookup: Callable[[ConversationId], Conversation | None]) -> None:
        self._lookup = lookup
        self._lock = threading.Lock()
        self._contact: dict[ConversationId, tuple[AccountId, Id]] = {}
        self._by_contact: dict[tuple[AccountId, Id], list[ConversationId]] = {}

    def set_contact(
        self, account: AccountId, conversation: ConversationId, contact: Id
    ) -> None:
        """``conversation`` (of ``account``) is ``contact``'s."""
        key = (account, contact)
        with self._lock:
            old = self._contact.get(conversation)
            if old == key:
                return
            if old is not None:
                self._by_contact[old].remove(conversation)
            self._contact[conversation] = key
            self._by_contact.setdefault(key, []).append(conversation)

    def previous_agents(
        self,
        account: AccountId,
        conversations: Sequence[Conversation],
        *,
        since: datetime,
    ) -> Mapping[ConversationId, AgentId]:
        out: dict[ConversationId, AgentId] = {}
        with self._lock:
            for conversation in conversations:
                key = self._contact.get(conversation.id)
                if key is None or key[0] != account:
                    continue
                best: Conversation | None = None
                for other in self._by_contact[key]:
                    if other == conversation.id:
                        continue
                    found = self._lookup(other)
                    if (
                        found is None
                        or found.assignee is None
                        or found.created_at < since
                    ):
                        continue
                    if best is None or (found.created_at, id_sort_key(found.id)) > (
                        best.created_at,
                        id_sort_key(best.id),
                    ):
                        best = found
                if best is not None and best.assignee is not None:
                    out[conversation.id] = best.assignee
        return out
