"""Real-time triggers: what a host calls from its conversation save hook and its presence
updates (the spec's ``AutoAssignmentHandler``), and the legacy fallback for accounts
without ``assignment_v2``."""

from __future__ import annotations

import enum
import logging
from collections.abc import Collection, Sequence
from datetime import timedelta
from typing import Protocol

import attrs

from autoassign import _program
from autoassign._program import Program, call
from autoassign._quietlog import degradations
from autoassign.jobs import DEFAULT_PENDING_TTL, request_assignment_program
from autoassign.model import (
    ASSIGNMENT_V2_FEATURE,
    ONLINE,
    Account,
    AccountId,
    AgentId,
    Conversation,
    ConversationId,
    ConversationStatus,
    Inbox,
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
    "TriggerOptions",
    "TriggerOutcome",
    "request_program",
    "saved_program",
    "status_program",
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

    The rules are the programs :func:`saved_program` and :func:`status_program`;
    :class:`autoassign.aio.AsyncAssignmentTriggers` runs the same ones over async ports.
    """

    directory: Directory
    lease: InboxLease
    jobs: JobQueue
    legacy: LegacyAssigner | None = None
    pending_ttl: timedelta = DEFAULT_PENDING_TTL
    strict: bool = False

    def _ports(self) -> dict[str, object]:
        return {
            "directory": self.directory,
            "lease": self.lease,
            "jobs": self.jobs,
            "legacy": self.legacy,
        }

    def request(self, inbox: InboxId) -> TriggerOutcome:
        """Ask for a pass over ``inbox`` (coalesced)."""
        return _program.run(request_program(inbox, self.options()), self._ports())

    def options(self) -> TriggerOptions:
        """This trigger's settings, as the programs take them."""
        return TriggerOptions(
            pending_ttl=self.pending_ttl,
            strict=self.strict,
            legacy=self.legacy is not None,
        )

    def on_conversation_saved(
        self, before: Conversation | None, after: Conversation
    ) -> TriggerOutcome:
        """Call after every conversation save with its state before (``None`` when it
        was created) and after.

        Never raises into the host's save (unless ``strict``): a failure is logged with
        the inbox id and reported as :attr:`TriggerOutcome.FAILED`; the periodic cycle
        picks the conversation up later.
        """
        program = saved_program(before, after, self.options())
        return _program.run(program, self._ports())

    def on_agent_status_changed(
        self, account: AccountId, agent: AgentId, before: str | None, after: str
    ) -> Sequence[InboxId]:
        """Call when an agent's status changes. Coming online requests a pass over each
        of their inboxes (with auto-assignment on); returns those inboxes.

        Like :meth:`on_conversation_saved`, never raises (unless ``strict``): a failure
        is logged and nothing is returned; the periodic cycle covers it.
        """
        program = status_program(account, agent, before, after, self.options())
        return _program.run(program, self._ports())


@attrs.frozen(kw_only=True)
class TriggerOptions:
    """The settings the trigger programs take (see :class:`AssignmentTriggers`)."""

    pending_ttl: timedelta = DEFAULT_PENDING_TTL
    strict: bool = False
    legacy: bool = False
    """Whether a ``legacy`` port (a :class:`LegacyAssigner`) is given."""


def request_program(inbox: InboxId, options: TriggerOptions) -> Program[TriggerOutcome]:
    """:meth:`AssignmentTriggers.request` as a program (ports ``lease``, ``jobs``)."""
    enqueued = yield from request_assignment_program(
        inbox, pending_ttl=options.pending_ttl, strict=options.strict
    )
    return TriggerOutcome.ENQUEUED if enqueued else TriggerOutcome.COALESCED


def saved_program(
    before: Conversation | None, after: Conversation, options: TriggerOptions
) -> Program[TriggerOutcome]:
    """:meth:`AssignmentTriggers.on_conversation_saved` as a program over the ports
    ``directory``, ``lease``, ``jobs`` and (with ``options.legacy``) ``legacy``."""
    try:
        outcome = yield from _saved(before, after, options)
    except Exception:
        degradations.failed(
            logger,
            "trigger",
            "auto-assignment trigger failed for conversation %s",
            after.id,
            extra={"autoassign_inbox": after.inbox},
            level=logging.ERROR,
        )
        if options.strict:
            raise
        return TriggerOutcome.FAILED
    degradations.recovered(logger, "trigger")
    return outcome


def _saved(
    before: Conversation | None, after: Conversation, options: TriggerOptions
) -> Program[TriggerOutcome]:
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
    inbox: Inbox | None = yield from call("directory", "inbox", after.inbox)
    if inbox is None or not inbox.enable_auto_assignment:
        return TriggerOutcome.IGNORED
    needs_agent = after.assignee is None
    if not needs_agent and became_open:
        members: Collection[AgentId] = yield from call(
            "directory", "inbox_members", after.inbox
        )
        needs_agent = after.assignee not in members
    if not (needs_agent or freed):
        return TriggerOutcome.IGNORED
    account: Account | None = yield from call("directory", "account", after.account)
    if account is None or not account.has_feature(ASSIGNMENT_V2_FEATURE):
        if freed or not options.legacy:
            return TriggerOutcome.IGNORED
        return (yield from _legacy(after, options))
    return (yield from request_program(after.inbox, options))


def status_program(
    account: AccountId,
    agent: AgentId,
    before: str | None,
    after: str,
    options: TriggerOptions,
) -> Program[Sequence[InboxId]]:
    """:meth:`AssignmentTriggers.on_agent_status_changed` as a program over the ports
    ``directory``, ``lease`` and ``jobs``."""
    if after != ONLINE or before == ONLINE:
        return ()
    try:
        assigned = yield from _came_online(account, agent, options)
    except Exception:
        degradations.failed(
            logger,
            "trigger",
            "auto-assignment trigger failed for agent %s coming online",
            agent,
            extra={"autoassign_account": account, "autoassign_agent": agent},
            level=logging.ERROR,
        )
        if options.strict:
            raise
        return ()
    degradations.recovered(logger, "trigger")
    return assigned


def _came_online(
    account: AccountId, agent: AgentId, options: TriggerOptions
) -> Program[Sequence[InboxId]]:
    record: Account | None = yield from call("directory", "account", account)
    if record is None or not record.has_feature(ASSIGNMENT_V2_FEATURE):
        return ()
    requested: list[InboxId] = []
    inboxes: Collection[InboxId] = yield from call(
        "directory", "inboxes_of_agent", account, agent
    )
    for inbox_id in inboxes:
        inbox: Inbox | None = yield from call("directory", "inbox", inbox_id)
        if inbox is not None and inbox.enable_auto_assignment:
            yield from request_program(inbox_id, options)
            requested.append(inbox_id)
    return tuple(requested)


def _legacy(
    conversation: Conversation, options: TriggerOptions
) -> Program[TriggerOutcome]:
    try:
        agent: AgentId | None = yield from call("legacy", "assign", conversation)
    except Exception:
        degradations.failed(
            logger,
            "legacy assignment",
            "legacy assignment failed for conversation %s",
            conversation.id,
            extra={"autoassign_inbox": conversation.inbox},
            level=logging.ERROR,
        )
        if options.strict:
            raise
        return TriggerOutcome.LEGACY_UNASSIGNED
    if agent is None:
        return TriggerOutcome.LEGACY_UNASSIGNED
    return TriggerOutcome.LEGACY_ASSIGNED
