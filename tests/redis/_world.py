"""Shared setup for the pass-level Redis tests: an in-memory directory and repository
with Redis presence, ledger, rotation and lease."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Any

from autoassign import AssignmentOrder, AssignmentPolicy, Autoassign, build_autoassign
from autoassign.adapters.memory import InMemoryEventBus, InMemoryJobQueue
from autoassign.adapters.redis import RedisBackend
from autoassign.model import AgentId, CapacityPolicy, InboxId
from autoassign.ports import Clock, ConversationRepository
from autoassign.testing import InMemoryBackend

ACCOUNT = 1


def seed(
    memory: InMemoryBackend,
    *,
    inboxes: Sequence[InboxId],
    agents: Sequence[AgentId],
    conversations: int,
    limit: int | None = None,
    window: int = 3600,
    order: AssignmentOrder = AssignmentOrder.ROUND_ROBIN,
    capacity: int | None = None,
    add_conversations: bool = True,
) -> None:
    memory.add_account(ACCOUNT)
    for inbox in inboxes:
        memory.add_inbox(inbox, account=ACCOUNT, members=agents)
    memory.add_policy(
        AssignmentPolicy(
            id=1,
            account=ACCOUNT,
            assignment_order=order,
            fair_distribution_limit=limit,
            fair_distribution_window=window,
        ),
        inboxes=inboxes,
    )
    if capacity is not None:
        memory.add_capacity_policy(
            CapacityPolicy(
                id=2,
                account=ACCOUNT,
                inbox_limits=dict.fromkeys(inboxes, capacity),
                agents=frozenset(agents),
            )
        )
    if add_conversations:
        for inbox in inboxes:
            for n in range(conversations):
                memory.add_conversation(f"{inbox}-{n}", inbox=inbox)


def go_online(backend: RedisBackend, agents: Iterable[AgentId]) -> None:
    for agent in agents:
        backend.presence.set_status(ACCOUNT, agent, "online")
        backend.presence.heartbeat(ACCOUNT, agent)


def wire(
    backend: RedisBackend,
    memory: InMemoryBackend,
    clock: Clock,
    *,
    conversations: ConversationRepository | None = None,
    **options: Any,
) -> Autoassign:
    return build_autoassign(
        directory=memory.world,
        conversations=conversations or memory.world,
        presence=backend.presence,
        ledger=backend.ledger,
        reservations=backend.reservations,
        rotation=backend.rotation,
        lease=backend.lease,
        events=InMemoryEventBus(),
        jobs=InMemoryJobQueue(),
        clock=clock,
        bulk_limit=1000,
        **options,
    )


def passes_until_idle(
    app: Autoassign, inboxes: Sequence[InboxId], rng: random.Random
) -> list[tuple[str, str, InboxId]]:
    """Run passes (5 conversations each) over ``inboxes`` in a random order until two
    rounds in a row assign nothing; returns ``(conversation, agent, inbox)`` for each
    assignment made."""
    made: list[tuple[str, str, InboxId]] = []
    idle = 0
    while idle < 2:
        shuffled = list(inboxes)
        rng.shuffle(shuffled)
        assigned = 0
        for inbox in shuffled:
            result = app.service.perform_bulk_assignment(inbox, limit=5)
            made.extend(
                (str(a.conversation), str(a.agent), inbox) for a in result.assignments
            )
            assigned += result.assigned_count
        idle = idle + 1 if assigned == 0 else 0
    return made
