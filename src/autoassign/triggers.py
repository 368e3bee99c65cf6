"""Real-time triggers: what a host calls from its conversation save hook and its presence
updates (the spec's ``AutoAssignmentHandler``), and the legacy fallback for accounts
without ``assignment_v2``."""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

import attrs

from autoassign._quietlog import degradations
from autoassign.jobs import DEFAULT_PENDING_TTL, request_assignment
from autoassign.model import (
    ASSIGNMENT_V2_FEATURE,
    ONLINE,
    AccountId,
    AgentId,
    Conversation,
    ConversationId,
    ConversationStatus,
    InboxId,
)
from autoassign.ports import (
    ConversationRepository,
    Directory,
    InboxLease,
    JobQueue,
    Presence,
    RotationStore,
)

__all__ = [
    "AssignmentTriggers",
    "LegacyAssigner",
    "Reassigner",
    "RoundRobinLegacyAssigner",
    "TriggerOutcome",
]

logger = logging.getLogger(__name__)

_CAPACITY_FREEING = (ConversationStatus.RESOLVED, ConversationStatus.SNOOZED)


class TriggerOutcome(str, enum.Enum):
    """What a save did."""

    IGNORED = "ignored"
    """Nothing about this save calls for assignment."""
    ENQUEUED = "enqueued"
    """The inbox's assignment job was enqueued."""
    COALESCED = "coalesced"
    """A job for the inbox was already due; it will cover this save."""
    LEGACY_ASSIGNED = "legacy_assigned"
    LEGACY_UNASSIGNED = "legacy_unassigned"
    """v2 is off: the legacy assigner ran and found nobody (or failed)."""
    FAILED = "failed"
    """The trigger itself failed (logged); the periodic cycle will cover it."""


class LegacyAssigner(Protocol):
    """**Port:** the synchronous assigner used when an account has no ``assignment_v2``.

    It gets a conversation that was saved open and either has no assignee or has one
    who is no longer a member of its inbox (the reference's v1 reassigns those)."""

    def assign(self, conversation: Conversation) -> AgentId | None:
        """Assign ``conversation`` now; returns the agent, or ``None`` if nobody."""
        ...


class Reassigner(Protocol):
    """**Port:** the legacy path's one reassigning write, for a conversation whose
    assignee left its inbox. The v2 engine never calls it (it never reassigns)."""

    def reassign(
        self, conversation: ConversationId, agent: AgentId, *, previous: AgentId
    ) -> bool:
        """Atomically: if ``conversation`` exists, is open and its assignee is exactly
        ``previous``, make ``agent`` its assignee and return ``True``; otherwise change
        nothing and return ``False`` (someone else changed it meanwhile)."""
        ...


@attrs.define
class RoundRobinLegacyAssigner:
    """The legacy path: a synchronous round robin over the inbox's online members (the
    conversation's team members only, if it has a team that allows auto-assignment; none
    if its team does not). No rate limit or capacity, as in the reference's v1.

    An unassigned conversation is taken with the repository's compare-and-set
    (``claim``). One whose assignee is no longer an inbox member is reassigned through
    ``reassigner`` (compare-and-set on that previous assignee), as the reference's v1
    does; without a ``reassigner`` it is left alone. An assignee who is still a member
    is never replaced."""

    directory: Directory
    presence: Presence
    rotation: RotationStore
    conversations: ConversationRepository
    reassigner: Reassigner | None = None

    def assign(self, conversation: Conversation) -> AgentId | None:
        members = self.directory.inbox_members(conversation.inbox)
        previous = conversation.assignee
        if previous is not None and (self.reassigner is None or previous in members):
            return None  # before the round robin moves anyone
        statuses = self.presence.statuses(conversation.account, members)
        allowed = [agent for agent in members if statuses.get(agent) == ONLINE]
        if conversation.team is not None:
            team = self.directory.team(conversation.team)
            if team is None or not team.allow_auto_assign:
                return None
            allowed = [agent for agent in allowed if agent in team.members]
        if not allowed:
            return None
        agent = self.rotation.select(
            conversation.inbox, members=members, eligible=allowed
        )
        if agent is None:
            return None
        if previous is None:
            claimed = self.conversations.claim(conversation.id, agent)
        else:
            assert self.reassigner is not None
            claimed = self.reassigner.reassign(
                conversation.id, agent, previous=previous
            )
        return agent if claimed else None


@attrs.define
class AssignmentTriggers:
    """Turns saves and presence changes into assignment jobs.

    * :meth:`on_conversation_saved`: a conversation that becomes open without an
      assignee, or becomes open with an assignee who is no longer an inbox member, or
      goes from open to resolved/snoozed (capacity freed) enqueues its inbox's job.
    * :meth:`on_agent_status_changed`: an agent coming online enqueues the jobs of their
      inboxes, so a backlog does not wait for the periodic cycle.

    Requests are coalesced through the :class:`~autoassign.ports.InboxLease` (one job per
    burst, never a lost request). Inboxes with ``enable_auto_assignment`` off are left
    alone. Accounts without ``assignment_v2`` go to ``legacy`` (if given) synchronously.
    """

    directory: Directory
    lease: InboxLease
    jobs: JobQueue
    legacy: LegacyAssigner | None = None
    pending_ttl: timedelta = DEFAULT_PENDING_TTL
    strict: bool = False

    def request(self, inbox: InboxId) -> TriggerOutcome:
        """Ask for a pass over ``inbox`` (coalesced)."""
        enqueued = request_assignment(
            inbox,
            lease=self.lease,
            jobs=self.jobs,
            pending_ttl=self.pending_ttl,
            strict=self.strict,
        )
        return TriggerOutcome.ENQUEUED if enqueued else TriggerOutcome.COALESCED

    def on_conversation_saved(
        self, before: Conversation | None, after: Conversation
    ) -> TriggerOutcome:
        """Call after every conversation save with its state before (``None`` when it
        was created) and after.

        Never raises into the host's save (unless ``strict``): a failure is logged with
        the inbox id and reported as :attr:`TriggerOutcome.FAILED`; the periodic cycle
        picks the conversation up later.
        """
        try:
            outcome = self._on_saved(before, after)
        except Exception:
            degradations.failed(
                logger,
                "trigger",
                "auto-assignment trigger failed for conversation %s",
                after.id,
                extra={"autoassign_inbox": after.inbox},
                level=logging.ERROR,
            )
            if self.strict:
                raise
            return TriggerOutcome.FAILED
        degradations.recovered(logger, "trigger")
        return outcome

    def _on_saved(
        self, before: Conversation | None, after: Conversation
    ) -> TriggerOutcome:
        became_open = after.status is ConversationStatus.OPEN and (
            before is None or before.status is not ConversationStatus.OPEN
        )
        lost_assignee = (
            after.status is ConversationStatus.OPEN
            and after.assignee is None
            and before is not None
            and before.assignee is not None
        )
        freed = (
            before is not None
            and before.status is ConversationStatus.OPEN
            and after.status in _CAPACITY_FREEING
        )
        if not (became_open or lost_assignee or freed):
            return TriggerOutcome.IGNORED
        inbox = self.directory.inbox(after.inbox)
        if inbox is None or not inbox.enable_auto_assignment:
            return TriggerOutcome.IGNORED
        needs_agent = after.assignee is None or (
            became_open
            and after.assignee not in self.directory.inbox_members(after.inbox)
        )
        if not (needs_agent or freed):
            return TriggerOutcome.IGNORED
        account = self.directory.account(after.account)
        if account is None or not account.has_feature(ASSIGNMENT_V2_FEATURE):
            if freed or self.legacy is None:
                return TriggerOutcome.IGNORED
            return self._legacy(after)
        return self.request(after.inbox)

    def on_agent_status_changed(
        self, account: AccountId, agent: AgentId, before: str | None, after: str
    ) -> Sequence[InboxId]:
        """Call when an agent's status changes. Coming online requests a pass over each
        of their inboxes (with auto-assignment on); returns those inboxes.

        Like :meth:`on_conversation_saved`, never raises (unless ``strict``): a failure
        is logged and nothing is returned; the periodic cycle covers it.
        """
        if after != ONLINE or before == ONLINE:
            return ()
        try:
            assigned = self._came_online(account, agent)
        except Exception:
            degradations.failed(
                logger,
                "trigger",
                "auto-assignment trigger failed for agent %s coming online",
                agent,
                extra={"autoassign_account": account, "autoassign_agent": agent},
                level=logging.ERROR,
            )
            if self.strict:
                raise
            return ()
        degradations.recovered(logger, "trigger")
        return assigned

    def _came_online(self, account: AccountId, agent: AgentId) -> Sequence[InboxId]:
        record = self.directory.account(account)
        if record is None or not record.has_feature(ASSIGNMENT_V2_FEATURE):
            return ()
        requested: list[InboxId] = []
        for inbox_id in self.directory.inboxes_of_agent(account, agent):
            inbox = self.directory.inbox(inbox_id)
            if inbox is not None and inbox.enable_auto_assignment:
                self.request(inbox_id)
                requested.append(inbox_id)
        return tuple(requested)

    def _legacy(self, conversation: Conversation) -> TriggerOutcome:
        assert self.legacy is not None
        try:
            agent = self.legacy.assign(conversation)
        except Exception:
            degradations.failed(
                logger,
                "legacy assignment",
                "legacy assignment failed for conversation %s",
                conversation.id,
                extra={"autoassign_inbox": conversation.inbox},
                level=logging.ERROR,
            )
            if self.strict:
                raise
            return TriggerOutcome.LEGACY_UNASSIGNED
        if agent is None:
            return TriggerOutcome.LEGACY_UNASSIGNED
        return TriggerOutcome.LEGACY_ASSIGNED
