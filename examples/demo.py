"""A small team and a backlog in memory: one pass, who got what and why the rest waited.

Run with ``make demo``.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from autoassign import AssignmentPolicy, CapacityPolicy, ExclusionRules
from autoassign.testing import FakeClock, InMemoryBackend, build_in_memory


def main() -> None:
    clock = FakeClock()
    backend = InMemoryBackend(clock=clock)
    backend.add_account("acme")
    agents = ["ann", "bob", "cho", "dev", "eve"]
    backend.add_inbox("support", account="acme", members=agents)
    backend.add_policy(
        AssignmentPolicy(
            id="fair",
            account="acme",
            name="Fair support",
            fair_distribution_limit=4,
            fair_distribution_window=3600,
        ),
        inboxes=["support"],
    )
    backend.add_capacity_policy(
        CapacityPolicy(
            id="cap",
            account="acme",
            inbox_limits={"support": 3},
            agents=["bob"],
            exclusion_rules=ExclusionRules(excluded_labels={"VIP"}),
        )
    )
    for agent, status in zip(
        agents, ["online", "online", "busy", "online", "offline"], strict=True
    ):
        backend.set_status("acme", agent, status)

    start = clock.now()
    for number in range(1, 21):
        backend.add_conversation(
            number,
            inbox="support",
            labels={"VIP"} if number % 7 == 0 else set(),
            created_at=start - timedelta(minutes=60 - number),
        )
    app = build_in_memory(backend)
    result = app.service.perform_bulk_assignment("support")

    print(f"Fetched {result.fetched} conversations, assigned {result.assigned_count}.")
    print()
    for assignment in result.assignments:
        print(f"  conversation {assignment.conversation:>3} -> {assignment.agent}")
    print()
    print("Per agent:", dict(Counter(a.agent for a in result.assignments)))
    print("Skipped:")
    for skip in result.skips:
        print(f"  conversation {skip.conversation:>3}: {skip.reason.value}")
    excluded = [c for c in range(1, 21) if c % 7 == 0]
    print(f"Excluded by label 'VIP' (never fetched): {excluded}")


if __name__ == "__main__":
    main()
