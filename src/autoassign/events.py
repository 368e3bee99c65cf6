"""Domain events (past tense), published on the :class:`~autoassign.ports.EventBus`.

They carry ids, a policy snapshot and ``occurred_at`` (from the Clock) only, so they can be
serialised and sent anywhere. Every event has a stable ``event_id``: an event published
again (after a failed publish, a lost reply or a killed worker; see "Delivery guarantee"
in ``docs/concepts.md``) carries the same id, so hosts deduplicate on it.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from autoassign.model import AgentId, ConversationId, InboxId, PolicyId

__all__ = ["AssigneeChanged", "ConversationUpdated", "Event"]


@attrs.frozen(kw_only=True)
class AssigneeChanged:
    """A conversation was auto-assigned (the spec's ``ASSIGNEE_CHANGED``).

    Published exactly once per assignment (the reference publishes two copies).
    ``policy`` names the assignment policy that made the decision (the reference's
    ``performed_by``); ``selector`` the strategy that chose the agent. ``event_id`` is
    the same on every publication of the same assignment (at-least-once delivery:
    deduplicate on it).
    """

    event_id: str
    conversation: ConversationId
    agent: AgentId
    previous_agent: AgentId | None
    inbox: InboxId
    policy: PolicyId | None
    selector: str
    occurred_at: datetime

    name = "assignee.changed"


@attrs.frozen(kw_only=True)
class ConversationUpdated:
    """The conversation changed (the spec's ``conversation.updated``). ``event_id`` is
    stable across re-publications, as :attr:`AssigneeChanged.event_id`."""

    event_id: str
    conversation: ConversationId
    inbox: InboxId
    changed_attributes: tuple[str, ...]
    occurred_at: datetime

    name = "conversation.updated"


Event = AssigneeChanged | ConversationUpdated
