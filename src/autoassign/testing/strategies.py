"""Hypothesis strategies for autoassign's domain values and whole seeded worlds.

Needs the ``autoassign[testing]`` extra (hypothesis)::

    from hypothesis import given
    from autoassign.testing import FakeClock, InMemoryBackend
    from autoassign.testing.strategies import load_world, worlds

    @given(worlds())
    def test_a_pass_never_assigns_an_offline_agent(world):
        backend = InMemoryBackend(clock=FakeClock(world.now))
        world.seed(backend)          # or load_world(backend, world)
        ...

Every strategy builds valid values (the model's validators never reject them), with
small sizes so that examples shrink well. Ids mix ``int`` and ``str`` unless told
otherwise; within one world, no two ids of a kind have the same text (``1`` and ``"1"``
never both appear), so worlds also fit adapters that store ids as text.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "autoassign.testing.strategies needs hypothesis: install autoassign[testing]"
    ) from exc

from autoassign.adapters.memory import InMemoryBackend
from autoassign.model import (
    ASSIGNMENT_V2_FEATURE,
    Account,
    AccountId,
    AgentId,
    AssignmentOrder,
    AssignmentPolicy,
    CapacityPolicy,
    Conversation,
    ConversationId,
    ConversationPriority,
    ConversationStatus,
    ExclusionRules,
    Id,
    Inbox,
    InboxId,
    PolicyId,
    Team,
    TeamId,
)
from autoassign.testing import EPOCH, seed_directory

__all__ = [
    "STATUSES",
    "World",
    "assignment_policies",
    "capacity_policies",
    "conversations",
    "exclusion_rules",
    "ids",
    "labels",
    "load_world",
    "statuses",
    "worlds",
]

STATUSES: tuple[str, ...] = ("online", "busy", "offline")
"""The presence statuses :func:`statuses` draws from (``online`` is the only one that
makes an agent eligible)."""

_LABEL_ALPHABET = string.ascii_letters + string.digits + "-_"
_ID_ALPHABET = string.ascii_lowercase + string.digits + "-_"


def ids() -> st.SearchStrategy[Id]:
    """Opaque ids: positive ``int`` or a short ``str``."""
    return st.one_of(
        st.integers(min_value=1, max_value=2**31 - 1),
        st.text(alphabet=_ID_ALPHABET, min_size=1, max_size=12),
    )


def labels() -> st.SearchStrategy[str]:
    """Conversation labels (case matters: ``VIP`` and ``vip`` differ)."""
    return st.sampled_from(["vip", "VIP", "spam", "billing", "urgent"]) | st.text(
        alphabet=_LABEL_ALPHABET, min_size=1, max_size=8
    )


def statuses() -> st.SearchStrategy[str]:
    """Presence statuses, mostly the real ones, sometimes an odd spelling."""
    return st.one_of(
        st.just("online"),
        st.sampled_from(STATUSES),
        st.sampled_from(["Online", "away", ""]),
    )


def _unique_ids(min_size: int, max_size: int) -> st.SearchStrategy[list[Id]]:
    return st.lists(ids(), min_size=min_size, max_size=max_size, unique_by=str)


def exclusion_rules(
    *, label: st.SearchStrategy[str] | None = None
) -> st.SearchStrategy[ExclusionRules]:
    """Exclusion rules: up to three excluded labels (drawn from ``label``, default
    :func:`labels`), maybe an age threshold."""
    return st.builds(
        ExclusionRules,
        excluded_labels=st.frozensets(
            label if label is not None else labels(), max_size=3
        ),
        exclude_older_than_hours=st.none() | st.integers(min_value=1, max_value=72),
    )


@st.composite
def assignment_policies(
    draw: st.DrawFn,
    *,
    account: AccountId | st.SearchStrategy[AccountId] | None = None,
    id: PolicyId | st.SearchStrategy[PolicyId] | None = None,
) -> AssignmentPolicy:
    """Assignment policies over every field: order, priority, an optional fair
    distribution limit (``None``, ``0`` or small), a window and ``enabled``."""
    return AssignmentPolicy(
        id=_value(draw, id),
        account=_value(draw, account),
        name=draw(st.text(alphabet=_LABEL_ALPHABET, min_size=1, max_size=20)),
        assignment_order=draw(st.sampled_from(AssignmentOrder)),
        conversation_priority=draw(st.sampled_from(ConversationPriority)),
        fair_distribution_limit=draw(
            st.none() | st.just(0) | st.integers(min_value=1, max_value=10)
        ),
        fair_distribution_window=draw(
            st.sampled_from([60, 300, 3600]) | st.integers(1, 86_400)
        ),
        enabled=draw(st.booleans()),
    )


@st.composite
def capacity_policies(
    draw: st.DrawFn,
    *,
    account: AccountId | st.SearchStrategy[AccountId] | None = None,
    inboxes: Sequence[InboxId] = (),
    agents: Sequence[AgentId] = (),
    id: PolicyId | st.SearchStrategy[PolicyId] | None = None,
) -> CapacityPolicy:
    """Capacity policies: a link for some of ``inboxes`` (a limit ``0``..``5``, or
    ``None``: unlimited), some of ``agents``, and exclusion rules."""
    limited = draw(st.lists(st.sampled_from(inboxes), unique=True)) if inboxes else []
    return CapacityPolicy(
        id=_value(draw, id),
        account=_value(draw, account),
        inbox_limits={inbox: draw(st.none() | st.integers(0, 5)) for inbox in limited},
        agents=frozenset(
            draw(st.lists(st.sampled_from(agents), unique=True)) if agents else ()
        ),
        exclusion_rules=draw(exclusion_rules()),
    )


_WEIGHTS = st.sampled_from([1, 1, 1, 1, 0.5, 0.25, 0.1, 0.001, 1.5, 2])


@st.composite
def conversations(
    draw: st.DrawFn,
    *,
    inbox: InboxId | st.SearchStrategy[InboxId] | None = None,
    account: AccountId | st.SearchStrategy[AccountId] | None = None,
    id: ConversationId | st.SearchStrategy[ConversationId] | None = None,
    now: datetime = EPOCH,
    teams: Sequence[TeamId] = (),
    assignees: Sequence[AgentId] = (),
    max_age: timedelta = timedelta(hours=72),
) -> Conversation:
    """Conversations created up to ``max_age`` before ``now`` (last activity between
    creation and ``now``), mostly open, sometimes assigned to one of ``assignees`` or
    in one of ``teams``, sometimes with an urgency (0 to 4) or a due time (from an
    hour before ``now`` to a day after), and mostly of weight 1, sometimes lighter or
    heavier (0.001 to 2)."""
    age = draw(st.integers(0, int(max_age.total_seconds())))
    created = now - timedelta(seconds=age)
    activity = created + timedelta(seconds=draw(st.integers(0, age)))
    status = draw(
        st.sampled_from(ConversationStatus)
        | st.just(ConversationStatus.OPEN)
        | st.just(ConversationStatus.OPEN)
    )
    return Conversation(
        id=_value(draw, id),
        inbox=_value(draw, inbox),
        account=_value(draw, account),
        status=status,
        assignee=draw(st.none() | st.sampled_from(assignees)) if assignees else None,
        team=draw(st.none() | st.sampled_from(teams)) if teams else None,
        labels=draw(st.frozensets(labels(), max_size=3)),
        created_at=created,
        last_activity_at=activity,
        urgency=draw(st.none() | st.integers(0, 4)),
        due_at=draw(
            st.none()
            | st.integers(-3600, 86_400).map(lambda s: now + timedelta(seconds=s))
        ),
        weight=draw(_WEIGHTS),
    )


def _value(draw: st.DrawFn, value: Any) -> Any:
    if value is None:
        return draw(ids())
    if isinstance(value, st.SearchStrategy):
        return draw(value)
    return value


@attrs.frozen(kw_only=True)
class World:
    """A whole scenario: configuration, presence and conversations.

    :meth:`seed` loads it into an :class:`~autoassign.adapters.memory.InMemoryBackend`
    (whose clock should start at :attr:`now`).
    """

    now: datetime
    accounts: tuple[Account, ...]
    inboxes: tuple[Inbox, ...]
    members: Mapping[InboxId, tuple[AgentId, ...]]
    teams: tuple[Team, ...]
    policies: tuple[AssignmentPolicy, ...]
    links: Mapping[InboxId, PolicyId]
    capacity_policies: tuple[CapacityPolicy, ...]
    presence: Mapping[tuple[AccountId, AgentId], str]
    conversations: tuple[Conversation, ...]

    @property
    def agents(self) -> tuple[AgentId, ...]:
        """Every agent that is a member of some inbox, each once."""
        seen: dict[AgentId, None] = {}
        for members in self.members.values():
            seen.update(dict.fromkeys(members))
        return tuple(seen)

    def seed(self, backend: InMemoryBackend) -> None:
        """Load the world into ``backend``."""
        seed_directory(
            backend.world,
            accounts=self.accounts,
            inboxes=self.inboxes,
            members=self.members,
            teams=self.teams,
            policies=self.policies,
            links=self.links,
            capacity_policies=self.capacity_policies,
        )
        for (account_id, agent), status in self.presence.items():
            backend.set_status(account_id, agent, status)
        for conversation in self.conversations:
            backend.world.put_conversation(conversation)


def load_world(backend: InMemoryBackend, world: World) -> None:
    """Load ``world`` into ``backend`` (the same as ``world.seed(backend)``)."""
    world.seed(backend)


@st.composite
def worlds(
    draw: st.DrawFn,
    *,
    now: datetime = EPOCH,
    max_accounts: int = 2,
    max_inboxes: int = 3,
    max_agents: int = 5,
    max_conversations: int = 12,
) -> World:
    """A whole seeded scenario: accounts (mostly with ``assignment_v2``), their inboxes
    (members, mostly a linked policy), teams, capacity policies, presence for every
    agent and conversations. Conversations and inboxes belong to existing accounts;
    teams and assignees are existing agents."""
    account_ids = draw(_unique_ids(1, max_accounts))
    accounts = tuple(
        Account(
            id=account_id,
            features=frozenset(
                [ASSIGNMENT_V2_FEATURE] if draw(st.integers(0, 4)) else []
            ),
        )
        for account_id in account_ids
    )
    inbox_ids = draw(_unique_ids(1, max_inboxes))
    agent_ids = draw(_unique_ids(0, max_agents))
    inboxes: list[Inbox] = []
    members: dict[InboxId, tuple[AgentId, ...]] = {}
    for inbox_id in inbox_ids:
        inboxes.append(
            Inbox(
                id=inbox_id,
                account=draw(st.sampled_from(account_ids)),
                enable_auto_assignment=draw(st.integers(0, 4)) > 0,
            )
        )
        chosen = (
            draw(st.lists(st.sampled_from(agent_ids), unique=True)) if agent_ids else []
        )
        members[inbox_id] = tuple(chosen)

    teams: list[Team] = []
    for team_id in draw(_unique_ids(0, 2)):
        teams.append(
            Team(
                id=team_id,
                account=draw(st.sampled_from(account_ids)),
                allow_auto_assign=draw(st.integers(0, 3)) > 0,
                members=frozenset(
                    draw(st.lists(st.sampled_from(agent_ids), unique=True))
                    if agent_ids
                    else ()
                ),
            )
        )

    policies: list[AssignmentPolicy] = []
    links: dict[InboxId, PolicyId] = {}
    policy_ids = draw(_unique_ids(len(inboxes), 2 * len(inboxes)))
    for inbox, policy_id in zip(inboxes, policy_ids, strict=False):
        policy = draw(assignment_policies(account=inbox.account, id=policy_id))
        policies.append(attrs.evolve(policy, enabled=draw(st.integers(0, 4)) > 0))
        if draw(st.integers(0, 4)):
            links[inbox.id] = policy_id

    capacity: list[CapacityPolicy] = []
    for account_id, policy_id in zip(
        account_ids, draw(_unique_ids(0, len(accounts))), strict=False
    ):
        own = [inbox.id for inbox in inboxes if inbox.account == account_id]
        capacity.append(
            draw(
                capacity_policies(
                    account=account_id, inboxes=own, agents=agent_ids, id=policy_id
                )
            )
        )

    presence: dict[tuple[AccountId, AgentId], str] = {}
    for account_id in account_ids:
        for agent in agent_ids:
            presence[(account_id, agent)] = draw(statuses())

    conversation_ids = draw(_unique_ids(0, max_conversations))
    items: list[Conversation] = []
    for conversation_id in conversation_ids:
        inbox = draw(st.sampled_from(inboxes))
        team_ids = [team.id for team in teams if team.account == inbox.account]
        items.append(
            draw(
                conversations(
                    inbox=inbox.id,
                    account=inbox.account,
                    id=conversation_id,
                    now=now,
                    teams=team_ids,
                    assignees=agent_ids,
                )
            )
        )

    return World(
        now=now,
        accounts=accounts,
        inboxes=tuple(inboxes),
        members=members,
        teams=tuple(teams),
        policies=tuple(policies),
        links=links,
        capacity_policies=tuple(capacity),
        presence=presence,
        conversations=tuple(items),
    )
