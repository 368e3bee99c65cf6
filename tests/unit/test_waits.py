"""Queue position and wait estimate (issue 19): autoassign.waits.estimate_wait."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoassign import (
    AssignmentPolicy,
    CapacityPolicy,
    ConversationPriority,
    ExclusionRules,
)
from autoassign.admin import (
    Actor,
    AdminApp,
    ApiAccessTokenAuthenticator,
    InMemoryPolicyStore,
    PolicyAdmin,
)
from autoassign.waits import WaitStatus, estimate_wait, wait_estimator

from .conftest import ACCOUNT, INBOX, POLICY


def _queue(scenario: Any, priority: ConversationPriority) -> list[Any]:
    """The inbox's queue as a pass orders it (open, unassigned, not excluded)."""
    waiting = [
        c
        for c in scenario.world.conversations.values()
        if c.inbox == INBOX and c.is_assignable
    ]
    return [c.id for c in sorted(waiting, key=lambda c: c.priority_key(priority))]


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    count=st.integers(min_value=1, max_value=30),
    priority=st.sampled_from(list(ConversationPriority)),
)
def test_position_is_the_place_in_the_pass_order(
    make_scenario: Any, data: st.DataObject, count: int, priority: ConversationPriority
) -> None:
    scenario = make_scenario().setup(
        online=[],
        policy=AssignmentPolicy(
            id=POLICY, account=ACCOUNT, conversation_priority=priority
        ),
    )
    for number in range(count):
        scenario.conv(
            number,
            ago=data.draw(st.integers(0, 50), label="ago"),
            activity_ago=data.draw(st.integers(0, 50), label="activity"),
            status=data.draw(
                st.sampled_from(["open", "open", "pending"]), label="status"
            ),
            assignee=data.draw(st.sampled_from([None, None, "ann"]), label="assignee"),
        )
    queue = _queue(scenario, priority)
    for number in range(count):
        found = estimate_wait(scenario.app, number)
        if number in queue:
            assert found.position == queue.index(number) + 1
            assert found.position_exact
            assert found.status is WaitStatus.UNKNOWN  # nobody online
            assert found.reason == "nobody in the inbox is online"
        else:
            assert found.status is WaitStatus.NOT_WAITING
            assert found.position is None


@settings(max_examples=30, deadline=None)
@given(
    conversations=st.integers(min_value=1, max_value=12),
    agents=st.integers(min_value=1, max_value=4),
    limit=st.integers(min_value=1, max_value=3),
    rate=st.none() | st.integers(min_value=1, max_value=3),
)
def test_now_means_the_next_pass_assigns_it(
    make_scenario: Any, conversations: int, agents: int, limit: int, rate: int | None
) -> None:
    """``now`` exactly for the conversations the next pass takes (capacity ``limit``
    per agent, a rate limit of ``rate`` per agent)."""
    members = [f"agent{n}" for n in range(agents)]
    policy = AssignmentPolicy(id=POLICY, account=ACCOUNT, fair_distribution_limit=rate)
    scenario = make_scenario().setup(members=members, policy=policy)
    scenario.backend.add_capacity_policy(
        CapacityPolicy(
            id=1, account=ACCOUNT, inbox_limits={INBOX: limit}, agents=members
        )
    )
    scenario.convs(range(conversations))
    before = {c: estimate_wait(scenario.app, c) for c in range(conversations)}
    scenario.run()
    for conversation, estimate in before.items():
        assert estimate.free_agents == agents
        assert estimate.free_slots == agents * min(limit, rate or limit)
        assigned = scenario.assignee(conversation) is not None
        assert assigned == (estimate.status is WaitStatus.NOW), estimate


def test_an_estimate_from_the_recent_rate_is_a_range(scenario: Any) -> None:
    scenario.setup(members=["ann", "bob"])
    scenario.backend.add_capacity_policy(
        CapacityPolicy(
            id=1, account=ACCOUNT, inbox_limits={INBOX: 1}, agents=["ann", "bob"]
        )
    )
    # six assignments in the last hour (the policy's window), then everyone is busy
    for round_ in range(3):
        scenario.conv(f"old{round_}a")
        scenario.conv(f"old{round_}b")
        scenario.run()
        for conversation in (f"old{round_}a", f"old{round_}b"):
            scenario.world.update_conversation(conversation, status="resolved")
        scenario.clock.advance(60)
    scenario.convs(["busy-a", "busy-b"])
    scenario.run()  # ann and bob are at capacity now
    scenario.convs(range(10))
    estimates = [estimate_wait(scenario.app, c) for c in range(10)]
    for position, estimate in enumerate(estimates, start=1):
        assert estimate.status is WaitStatus.ESTIMATED, estimate
        assert estimate.position == position
        assert estimate.free_agents == 0
        assert estimate.online_agents == 2
        assert estimate.recent_assignments == 8
        assert estimate.window == timedelta(hours=1)
        assert estimate.expected == timedelta(hours=1) * position / 8
        assert estimate.low is not None
        assert estimate.low < estimate.expected
        assert estimate.high is not None
        assert estimate.high > estimate.expected
    expected = [e.expected for e in estimates]
    assert expected == sorted(expected)  # further back, longer wait
    payload = estimates[0].to_dict()
    assert payload["status"] == "estimated"
    assert payload["expected_seconds"] == 450.0


def test_no_recent_assignments_is_unknown(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.backend.add_capacity_policy(
        CapacityPolicy(id=1, account=ACCOUNT, inbox_limits={INBOX: 0}, agents=["ann"])
    )
    scenario.conv(1)
    found = estimate_wait(scenario.app, 1)
    assert found.status is WaitStatus.UNKNOWN
    assert "no rate to estimate from" in found.reason
    assert found.expected is None
    assert found.low is None


def test_a_lower_bound_only_when_the_rate_could_be_zero(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.conv("first")
    scenario.run()  # one assignment in the window: its 95% interval reaches 0
    scenario.backend.add_capacity_policy(
        CapacityPolicy(id=1, account=ACCOUNT, inbox_limits={INBOX: 1}, agents=["ann"])
    )
    scenario.conv(1)
    found = estimate_wait(scenario.app, 1)
    assert found.status is WaitStatus.ESTIMATED
    assert found.low is not None
    assert found.high is None


def test_not_waiting_excluded_and_gates(scenario: Any) -> None:
    scenario.setup(members=["ann"], online=[])
    scenario.backend.add_capacity_policy(
        CapacityPolicy(
            id=1,
            account=ACCOUNT,
            inbox_limits={INBOX: None},
            exclusion_rules=ExclusionRules(excluded_labels=frozenset({"vip"})),
        )
    )
    scenario.conv("vip", labels=["vip"])
    scenario.conv("mine", assignee="ann")
    scenario.conv("later", status="pending")
    assert estimate_wait(scenario.app, "vip").status is WaitStatus.EXCLUDED
    assert estimate_wait(scenario.app, "mine").reason == "it is assigned"
    assert estimate_wait(scenario.app, "later").reason == "it is pending"
    assert estimate_wait(scenario.app, "ghost").reason == "no such conversation"
    scenario.world.unlink_policy(INBOX)
    scenario.conv("queued")
    found = estimate_wait(scenario.app, "queued")
    assert found.status is WaitStatus.UNKNOWN
    assert found.reason == "the inbox does not auto-assign: no_policy"


def test_a_team_that_disallows_auto_assignment_is_unknown(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.backend.add_team(
        7, account=ACCOUNT, members=["ann"], allow_auto_assign=False
    )
    scenario.conv(1, team=7)
    found = estimate_wait(scenario.app, 1)
    assert found.status is WaitStatus.UNKNOWN
    assert found.reason == "its team does not allow auto-assignment"


def test_the_scan_limit_makes_the_position_a_floor(scenario: Any) -> None:
    scenario.setup(members=["ann"], online=[])
    scenario.convs(range(20))
    found = estimate_wait(scenario.app, 19, scan_limit=5)
    assert found.position == 6
    assert not found.position_exact
    assert estimate_wait(scenario.app, 3, scan_limit=5).position == 4
    with pytest.raises(ValueError, match="scan_limit"):
        estimate_wait(scenario.app, 1, scan_limit=0)


def test_the_http_route_serves_the_estimate(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.conv(1)
    store = InMemoryPolicyStore(scenario.world, scenario.clock)
    tokens = {"t": Actor(account=ACCOUNT, user="root", role="administrator")}
    app = AdminApp(
        PolicyAdmin(store),
        ApiAccessTokenAuthenticator(tokens),
        waits=wait_estimator(scenario.app),
    )

    def get(path: str) -> tuple[str, Any]:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "HTTP_API_ACCESS_TOKEN": "t",
        }
        setup_testing_defaults(environ)
        status: list[str] = []
        body = b"".join(app(environ, lambda s, h: status.append(s)))
        return status[0], json.loads(body)

    status, body = get(f"/api/v1/accounts/{ACCOUNT}/conversations/1/wait_estimate")
    assert status.startswith("200")
    assert body["status"] == "now"
    assert body["position"] == 1
    assert body["free_slots"] == 100  # no capacity limit: one pass (bulk_limit)
    status, body = get(f"/api/v1/accounts/{ACCOUNT}/conversations/2/wait_estimate")
    assert status.startswith("404")
    assert body == {"error": "Conversation not found"}
    without = AdminApp(PolicyAdmin(store), ApiAccessTokenAuthenticator(tokens))
    app = without
    status, _ = get(f"/api/v1/accounts/{ACCOUNT}/conversations/1/wait_estimate")
    assert status.startswith("404")
