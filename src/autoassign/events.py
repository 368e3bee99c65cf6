"""Domain events (past tense), published on the :class:`~autoassign.ports.EventBus`.

They carry ids, a policy snapshot and ``occurred_at`` (from the Clock) only, so they can be
serialised and sent anywhere.
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
    ``performed_by``); ``selector`` the strategy that chose the agent.
    """

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
    """The conversation changed (the spec's ``conversation.updated``)."""

    conversation: ConversationId
    inbox: InboxId
    changed_attributes: tuple[str, ...]
    occurred_at: datetime

    name = "conversation.updated"


Event = AssigneeChanged | ConversationUpdated
