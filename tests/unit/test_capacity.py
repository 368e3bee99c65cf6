"""Capacity (issue 2, behaviour 5): per-inbox ``conversation_limit``s; the count is the
agent's open conversations in that inbox, whoever assigned them; no policy or no limit for
the inbox: unlimited; a limit of 0: never."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoassign import AssignmentPolicy, CapacityPolicy, SkipReason
from autoassign.decisions import capacity_limits

ACCOUNT, INBOX = 1, 10


def _capacity(
    scenario: Any, limits: dict[Any, int], agents: list[str], pid: int = 1
) -> None:
    scenario.backend.add_capacity_policy(
        CapacityPolicy(id=pid, account=ACCOUNT, inbox_limits=limits, agents=agents)
    )


def _held(
    scenario: Any, agent: str, inbox: Any, count: int, start: int, **kw: Any
) -> None:
    for number in range(start, start + count):
        scenario.conv(number, inbox=inbox, assignee=agent, **kw)


def test_spec_example_inbox_1_limit_10_inbox_2_limit_20(scenario: Any) -> None:
    scenario.setup(members=["A"])  # inbox 10 is "Inbox 1 (Support)"
    scenario.backend.add_inbox(20, account=ACCOUNT, members=["A"])  # "Sales"
    scenario.world.link_policy(20, 1)
    _capacity(scenario, {INBOX: 10, 20: 20}, ["A"])
    _held(scenario, "A", INBOX, 10, start=1000)
    _held(scenario, "A", 20, 5, start=2000)
    scenario.conv(1)
    scenario.conv(2, inbox=20)

    support = scenario.run(INBOX)
    sales = scenario.run(20)

    assert support.assigned_count == 0
    assert support.skips[0].reason is SkipReason.ALL_AT_CAPACITY
    assert sales.assigned_count == 1
    assert scenario.assignee(2) == "A"


def test_key_scenario_capacity(scenario: Any) -> None:
    """Key test scenario 3: limit 5, 5 open conversations → filtered out."""
    scenario.setup(members=["ann", "bob"])
    _capacity(scenario, {INBOX: 5}, ["ann"])
    _held(scenario, "ann", INBOX, 5, start=100)
    scenario.convs([1, 2, 3])
    scenario.run()
    assert scenario.assigned_to("bob") == [1, 2, 3]
    assert len(scenario.assigned_to("ann")) == 5


def test_capacity_fills_up_within_a_pass(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    _capacity(scenario, {INBOX: 2}, ["ann"])
    scenario.convs(range(1, 6))
    result = scenario.run()
    assert result.assigned_count == 2
    assert [s.reason for s in result.skips] == [SkipReason.ALL_AT_CAPACITY] * 3


@pytest.mark.parametrize("status", ["resolved", "pending", "snoozed"])
def test_only_open_conversations_count(scenario: Any, status: str) -> None:
    scenario.setup(members=["ann"])
    _capacity(scenario, {INBOX: 3}, ["ann"])
    _held(scenario, "ann", INBOX, 10, start=100, status=status)
    _held(scenario, "ann", INBOX, 2, start=200)
    scenario.convs([1, 2])
    assert scenario.run().assigned_count == 1


def test_other_inboxes_do_not_count(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.backend.add_inbox(20, account=ACCOUNT, members=["ann"])
    _capacity(scenario, {INBOX: 2}, ["ann"])
    _held(scenario, "ann", 20, 10, start=100)
    scenario.convs([1, 2, 3])
    assert scenario.run().assigned_count == 2


def test_manual_over_capacity_still_filters(scenario: Any) -> None:
    scenario.setup(members=["ann", "bob"])
    _capacity(scenario, {INBOX: 3}, ["ann"])
    _held(scenario, "ann", INBOX, 7, start=100)  # assigned by hand, over the limit
    scenario.conv(1)
    scenario.run()
    assert scenario.assignee(1) == "bob"


def test_resolving_frees_capacity(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    _capacity(scenario, {INBOX: 1}, ["ann"])
    scenario.convs([1, 2])
    assert scenario.run().assigned_count == 1
    assert scenario.run().assigned_count == 0
    scenario.world.update_conversation(1, status="resolved")
    assert scenario.run().assigned_count == 1
    assert scenario.assignee(2) == "ann"


def test_no_capacity_policy_means_unlimited(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    _capacity(scenario, {INBOX: 1}, ["somebody-else"])
    _held(scenario, "ann", INBOX, 50, start=100)
    scenario.convs(range(1, 11))
    assert scenario.run().assigned_count == 10


def test_no_limit_for_this_inbox_means_unlimited(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.backend.add_inbox(20, account=ACCOUNT)
    _capacity(scenario, {20: 1}, ["ann"])
    _held(scenario, "ann", INBOX, 50, start=100)
    scenario.convs(range(1, 11))
    assert scenario.run().assigned_count == 10


def test_a_limit_of_zero_means_never(scenario: Any) -> None:
    scenario.setup(members=["ann", "bob"])
    _capacity(scenario, {INBOX: 0}, ["ann"])
    scenario.convs(range(1, 7))
    result = scenario.run()
    assert scenario.assigned_to("ann") == []
    assert result.assigned_count == 6

    scenario.set_status("bob", "offline")
    scenario.conv(7)
    result = scenario.run()
    assert result.assigned_count == 0
    assert result.skips[0].reason is SkipReason.ALL_AT_CAPACITY


def test_capacity_policy_of_another_account_is_ignored(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.backend.add_capacity_policy(
        CapacityPolicy(id=9, account=2, inbox_limits={INBOX: 0}, agents=["ann"])
    )
    scenario.conv(1)
    assert scenario.run().assigned_count == 1


def test_capacity_limits_two_policies_the_stricter_wins() -> None:
    policies = [
        CapacityPolicy(
            id=1, account=ACCOUNT, inbox_limits={INBOX: 5}, agents=["a", "b"]
        ),
        CapacityPolicy(id=2, account=ACCOUNT, inbox_limits={INBOX: 2}, agents=["b"]),
        CapacityPolicy(id=3, account=ACCOUNT, inbox_limits={20: 1}, agents=["c"]),
    ]
    assert capacity_limits(policies, INBOX) == {"a": 5, "b": 2}


def test_a_claim_refused_for_capacity_goes_to_the_next_agent(
    scenario: Any, wrap: Any
) -> None:
    """Reserve, then claim: the pass saw ann with room, but by the claim another worker
    had filled her. The repository refuses; the conversation goes to bob."""
    scenario.setup(members=["ann", "bob"])
    _capacity(scenario, {INBOX: 1}, ["ann"])
    scenario.conv(1)
    done = []

    def claim(original: Any, conversation: Any, agent: Any, **kw: Any) -> bool:
        if agent == "ann" and not done:
            done.append(True)
            scenario.conv(500, assignee="ann")  # someone else's assignment lands
        return bool(original(conversation, agent, **kw))

    repository = wrap(scenario.world, claim=claim)
    result = scenario.build(conversations=repository).service.perform_bulk_assignment(
        INBOX
    )

    assert result.assigned_count == 1
    assert scenario.assignee(1) == "bob"
    assert scenario.assigned_to("ann") == [500]
    claims = repository.called("claim")
    assert claims[0][1] == {"capacity_limit": 1}
    assert claims[1][1] == {"capacity_limit": None}
    # ann's ledger reservation for conversation 1 was given back.
    usage = scenario.backend.ledger.usage(
        INBOX, ["ann", "bob"], now=scenario.clock.now(), window=timedelta(hours=1)
    )
    assert list(usage) == ["bob"]


@given(
    agents=st.dictionaries(
        st.sampled_from(["ann", "bob", "cho"]),
        st.tuples(
            st.one_of(st.none(), st.integers(0, 4)),  # limit (None: unlimited)
            st.integers(0, 5),  # open conversations held beforehand
            st.integers(0, 3),  # resolved conversations held beforehand
        ),
        min_size=1,
    ),
    backlog=st.integers(0, 12),
    balanced=st.booleans(),
)
@settings(max_examples=80)
def test_capacity_is_never_exceeded(
    make_scenario: Any,
    agents: dict[str, tuple[int | None, int, int]],
    backlog: int,
    balanced: bool,
) -> None:
    scenario = make_scenario()
    scenario.setup(
        members=list(agents),
        policy=AssignmentPolicy(
            id=1,
            account=ACCOUNT,
            assignment_order="balanced" if balanced else "round_robin",
        ),
    )
    next_id = 1000
    for pid, (agent, (limit, held, resolved)) in enumerate(agents.items(), start=1):
        if limit is not None:
            _capacity(scenario, {INBOX: limit}, [agent], pid=pid)
        _held(scenario, agent, INBOX, held, start=next_id)
        _held(scenario, agent, INBOX, resolved, start=next_id + 100, status="resolved")
        next_id += 1000
    scenario.convs(range(1, backlog + 1))

    result = scenario.run()

    room = 0
    unlimited = False
    for agent, (limit, held, _resolved) in agents.items():
        got = sum(1 for a in result.assignments if a.agent == agent)
        if limit is None:
            unlimited = True
        else:
            assert got <= max(0, limit - held)
            room += max(0, limit - held)
    # Liveness: nothing is left while someone has room.
    expected = backlog if unlimited else min(backlog, room)
    assert result.assigned_count == expected
