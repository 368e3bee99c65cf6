"""Global capacity (issue 18): a capacity policy's ``total_limit`` caps an agent's open
conversations across all the account's inboxes, whoever assigned them, besides each
inbox's own limit; the claim re-checks it atomically; a repository that cannot count
across inboxes never has the limit ignored."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoassign import CapacityPolicy, ConfigurationError, SkipReason
from autoassign.decisions import AgentFilter, total_limits
from autoassign.explain import explain_conversation
from autoassign.model import AgentId, ConversationId, InboxId
from autoassign.ports import TotalCapacity
from autoassign.testing import FakeClock, InMemoryBackend

from .conftest import Scenario

ACCOUNT, INBOX, SALES = 1, 10, 20


def _world(
    scenario: Scenario, *, total: int | None, inbox_limit: int | None = None
) -> None:
    scenario.setup(members=["ann", "bob"])
    scenario.backend.add_inbox(SALES, account=ACCOUNT, members=["ann", "bob"])
    scenario.world.link_policy(SALES, scenario.POLICY)
    limits: dict[InboxId, int | None] = {INBOX: inbox_limit, SALES: inbox_limit}
    scenario.backend.add_capacity_policy(
        CapacityPolicy(
            id=1,
            account=ACCOUNT,
            inbox_limits=limits,
            agents=["ann"],
            total_limit=total,
        )
    )


def test_the_total_counts_every_inbox_and_leaves_the_inbox_limit(
    scenario: Scenario,
) -> None:
    """ann holds 2 in Sales; with a total of 3 she takes one more in Support (her
    inbox limit there, 5, is far off), then bob takes the rest."""
    _world(scenario, total=3, inbox_limit=5)
    for number in range(2):
        scenario.conv(f"held-{number}", inbox=SALES, assignee="ann")
    scenario.convs([1, 2, 3, 4])
    result = scenario.run(INBOX)
    assert result.assigned_count == 4
    assert [scenario.assignee(c) for c in (1, 2, 3, 4)].count("ann") == 1


def test_everyone_at_their_total_is_at_capacity(scenario: Scenario) -> None:
    _world(scenario, total=1)
    scenario.set_status("bob", "offline")
    scenario.conv("held", inbox=SALES, assignee="ann")
    scenario.convs([1])
    result = scenario.run(INBOX)
    assert result.assigned_count == 0
    assert result.skips[0].reason is SkipReason.ALL_AT_CAPACITY
    explained = explain_conversation(scenario.app, 1)
    (ann,) = [a for a in explained.agents if a.agent == "ann"]
    assert ann.removed_by == AgentFilter.AT_CAPACITY.value
    assert (ann.total_open_conversations, ann.total_limit) == (1, 1)
    assert ann.to_dict()["total_limit"] == 1
    (bob,) = [a for a in explained.agents if a.agent == "bob"]
    assert "total_limit" not in bob.to_dict()  # no total limit: the keys are left out


def test_a_total_of_zero_assigns_nothing_and_none_is_no_limit(
    scenario: Scenario,
) -> None:
    _world(scenario, total=0)
    scenario.set_status("bob", "offline")
    scenario.convs([1])
    assert scenario.run(INBOX).assigned_count == 0
    scenario.backend.add_capacity_policy(
        CapacityPolicy(
            id=1, account=ACCOUNT, inbox_limits={INBOX: None}, agents=["ann"]
        )
    )
    assert scenario.run(INBOX).assigned_count == 1


class _NoTotals:
    """The in-memory repository without :class:`TotalCapacity` (a host's own)."""

    def __init__(self, backend: InMemoryBackend) -> None:
        self._world = backend.world

    def get(self, conversation: ConversationId) -> Any:
        return self._world.get(conversation)

    def unassigned_open(self, inbox: InboxId, **options: Any) -> Any:
        return self._world.unassigned_open(inbox, **options)

    def open_counts(
        self, inbox: InboxId, agents: Collection[AgentId]
    ) -> Mapping[AgentId, int]:
        return self._world.open_counts(inbox, agents)

    def claim(
        self,
        conversation: ConversationId,
        agent: AgentId,
        *,
        capacity_limit: int | None = None,
    ) -> bool:
        return self._world.claim(conversation, agent, capacity_limit=capacity_limit)


def test_a_repository_that_cannot_count_totals_never_ignores_the_limit(
    scenario: Scenario,
) -> None:
    _world(scenario, total=5)
    scenario.convs([1, 2])
    repository = _NoTotals(scenario.backend)
    assert not isinstance(repository, TotalCapacity)
    app = scenario.build(conversations=repository)
    result = app.service.perform_bulk_assignment(INBOX)
    assert result.assigned_count == 0
    assert {(s.reason, s.detail) for s in result.skips} == {
        (SkipReason.BACKEND_ERROR, "total_limit")
    }
    # without a total limit the same repository assigns as before
    scenario.backend.add_capacity_policy(
        CapacityPolicy(id=1, account=ACCOUNT, inbox_limits={INBOX: 5}, agents=["ann"])
    )
    assert app.service.perform_bulk_assignment(INBOX).assigned_count == 2


@pytest.mark.parametrize("value", [-1, 2**31, True, 1.0, "3"])
def test_a_total_limit_is_checked(value: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        CapacityPolicy(id=1, account=ACCOUNT, total_limit=value)
    assert info.value.field == "total_limit"


def test_the_stricter_total_wins() -> None:
    policies = [
        CapacityPolicy(id=1, account=ACCOUNT, agents=["ann", "bob"], total_limit=4),
        CapacityPolicy(id=2, account=ACCOUNT, agents=["ann"], total_limit=2),
        CapacityPolicy(id=3, account=ACCOUNT, agents=["cy"]),
    ]
    assert total_limits(policies) == {"ann": 2, "bob": 4}


@settings(max_examples=60, deadline=None)
@given(
    total=st.integers(0, 4),
    inbox_limit=st.none() | st.integers(0, 4),
    arrivals=st.lists(st.sampled_from([INBOX, SALES]), max_size=12),
    resolved=st.lists(st.integers(0, 11), max_size=4),
)
def test_no_pass_takes_an_agent_past_the_total(
    total: int, inbox_limit: int | None, arrivals: list[InboxId], resolved: list[int]
) -> None:
    """Whatever arrives in either inbox, resolutions between passes included, ann
    never holds more than her total across the two, and a conversation waits only
    when she is at a limit (bob is offline)."""
    clock = FakeClock()
    scenario = Scenario(InMemoryBackend(clock=clock), clock)
    _world(scenario, total=total, inbox_limit=inbox_limit)
    scenario.set_status("bob", "offline")
    for number, inbox in enumerate(arrivals):
        scenario.conv(number, inbox=inbox)
        if number in resolved:
            held = [
                c.id
                for c in scenario.world.conversations.values()
                if c.assignee == "ann" and c.status.value == "open"
            ]
            if held:
                scenario.world.update_conversation(held[0], status="resolved")
        for each in (INBOX, SALES):
            scenario.run(each)
        open_held = [
            c
            for c in scenario.world.conversations.values()
            if c.assignee == "ann" and c.status.value == "open"
        ]
        assert len(open_held) <= total
        waiting = [c for c in scenario.world.conversations.values() if c.is_assignable]
        if waiting:
            per_inbox = {
                inbox: sum(1 for c in open_held if c.inbox == inbox)
                for inbox in (INBOX, SALES)
            }
            assert len(open_held) == total or all(
                inbox_limit is not None and per_inbox[c.inbox] >= inbox_limit
                for c in waiting
            )
