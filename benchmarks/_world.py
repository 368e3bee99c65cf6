"""Building the benchmark world: one account, inboxes with N online agents, a policy
with every filter on (fair distribution, capacity, an exclusion label rule)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from autoassign import AssignmentOrder, AssignmentPolicy
from autoassign.model import (
    MAX_FAIR_DISTRIBUTION_LIMIT,
    CapacityPolicy,
    ExclusionRules,
)
from autoassign.testing import InMemoryBackend

from ._common import ACCOUNT

CONVERSATIONS = 100
WINDOW = 3600
EXCLUDED_LABEL = "vip"


def seed(
    memory: InMemoryBackend,
    *,
    inboxes: Sequence[int],
    agents: Sequence[int],
    order: AssignmentOrder,
    limit: int = MAX_FAIR_DISTRIBUTION_LIMIT,
) -> None:
    """Account, inboxes, policy, capacity policy (generous limits, an exclusion label)."""
    memory.add_account(ACCOUNT)
    for inbox in inboxes:
        memory.add_inbox(inbox, account=ACCOUNT, members=agents)
    memory.add_policy(
        AssignmentPolicy(
            id=1,
            account=ACCOUNT,
            assignment_order=order,
            fair_distribution_limit=limit,
            fair_distribution_window=WINDOW,
        ),
        inboxes=inboxes,
    )
    memory.add_capacity_policy(
        CapacityPolicy(
            id=2,
            account=ACCOUNT,
            inbox_limits=dict.fromkeys(inboxes, 1_000_000),
            agents=frozenset(agents),
            exclusion_rules=ExclusionRules(excluded_labels=frozenset({EXCLUDED_LABEL})),
        )
    )


class Feeder:
    """Adds a fresh batch of conversations (plus a few excluded ones) before a pass,
    with ``labels`` and weights taken in turn from ``weights``."""

    def __init__(
        self,
        memory: InMemoryBackend,
        inbox: int,
        size: int,
        *,
        labels: Sequence[str] = (),
        weights: Sequence[float] = (1,),
    ) -> None:
        self.memory = memory
        self.inbox = inbox
        self.size = size
        self.serial = 0
        self.labels = labels
        self.weights = weights

    def __call__(self) -> Any:
        for _ in range(self.size):
            self.serial += 1
            self.memory.add_conversation(
                f"{self.inbox}-{self.serial}",
                inbox=self.inbox,
                labels=self.labels,
                weight=self.weights[self.serial % len(self.weights)],
            )
        for _ in range(max(1, self.size // 10)):
            self.serial += 1
            self.memory.add_conversation(
                f"{self.inbox}-{self.serial}", inbox=self.inbox, labels=[EXCLUDED_LABEL]
            )
