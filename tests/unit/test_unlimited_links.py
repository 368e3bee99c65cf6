"""An inbox link with no limit (issue 16): ``CapacityPolicy.inbox_limits[inbox] is
None`` never removes an agent by capacity there, and the policy's exclusion rules still
apply there; properties over random policies and end-to-end passes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoassign import (
    AssignmentPolicy,
    CapacityPolicy,
    ConfigurationError,
    ExclusionRules,
)
from autoassign.decisions import (
    capacity_limits,
    exclusions_for_inbox,
    unlimited_agents,
    unusable_exclusion_rules,
)
from autoassign.testing import FakeClock, InMemoryBackend, build_in_memory
from autoassign.testing.strategies import capacity_policies

AGENTS = ["ann", "bob", "cy", 4]
INBOXES = [10, 11]
LABELS = ["vip", "spam", "legal", "billing"]


def test_the_model_validates_a_link() -> None:
    policy = CapacityPolicy(id=1, account=1, inbox_limits={10: None, 11: 0})
    assert policy.links(10)
    assert policy.limit_for(10) is None
    assert policy.links(11)
    assert policy.limit_for(11) == 0
    assert not policy.links(12)
    assert policy.limit_for(12) is None
    for bad in (-1, 1.5, "3", True):
        with pytest.raises(ConfigurationError) as info:
            CapacityPolicy(id=1, account=1, inbox_limits={10: bad})
        assert info.value.field == "conversation_limit"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        capacity_policies(account=1, inboxes=INBOXES, agents=AGENTS, id=st.integers()),
        max_size=4,
    ),
    st.sampled_from(INBOXES),
)
def test_only_numbers_limit_and_every_link_excludes(
    policies: list[CapacityPolicy], inbox: int
) -> None:
    limits = capacity_limits(policies, inbox)
    numbered = [p for p in policies if p.limit_for(inbox) is not None]
    # capacity: exactly the agents of a policy with a number for the inbox, at the
    # smallest such number; an unlimited link limits nobody
    assert set(limits) == {agent for p in numbered for agent in p.agents}
    for agent, limit in limits.items():
        assert limit == min(
            p.inbox_limits[inbox] or 0 for p in numbered if agent in p.agents
        )
    free = unlimited_agents(policies, inbox)
    assert not free & set(limits)
    assert free == {
        agent
        for p in policies
        if p.links(inbox) and p.limit_for(inbox) is None
        for agent in p.agents
    } - set(limits)
    # exclusions: every linked policy's rules, limited or unlimited
    linked = [p for p in policies if p.links(inbox)]
    assert exclusions_for_inbox(policies, inbox) == ExclusionRules.combine(
        p.exclusion_rules for p in linked
    )
    assert unusable_exclusion_rules(policies, inbox) == []


@settings(max_examples=60, deadline=None)
@given(
    conversations=st.lists(
        st.tuples(
            st.frozensets(st.sampled_from(LABELS), max_size=2), st.integers(0, 10)
        ),
        max_size=20,
    ),
    excluded=st.frozensets(st.sampled_from(LABELS), max_size=2),
    hours=st.none() | st.integers(1, 8),
    online=st.lists(st.sampled_from(AGENTS), min_size=1, unique=True),
)
def test_a_pass_assigns_everything_not_excluded_and_nothing_excluded(
    conversations: list[tuple[frozenset[str], int]],
    excluded: frozenset[str],
    hours: int | None,
    online: list[object],
) -> None:
    """Every agent is on an unlimited link only: no rate limit, so a pass assigns each
    conversation its rules leave, and none they exclude."""
    clock = FakeClock()
    backend = InMemoryBackend(clock=clock)
    backend.add_account(1, features=("assignment_v2",))
    backend.add_inbox(10, account=1, members=AGENTS)
    backend.add_policy(AssignmentPolicy(id=7, account=1), inboxes=[10])
    rules = ExclusionRules(excluded_labels=excluded, exclude_older_than_hours=hours)
    backend.add_capacity_policy(
        CapacityPolicy(
            id=3,
            account=1,
            inbox_limits={10: None},
            agents=AGENTS,
            exclusion_rules=rules,
        )
    )
    for agent in online:
        backend.set_status(1, agent, "online")
    now = clock.now()
    made = []
    for number, (labels, age) in enumerate(conversations, start=1):
        made.append(
            backend.add_conversation(
                number,
                inbox=10,
                labels=labels,
                created_at=now - timedelta(hours=age, minutes=30),
            )
        )
    app = build_in_memory(backend, strict=True, bulk_limit=100, environ={})
    result = app.service.perform_bulk_assignment(10)
    eligible = {c.id for c in made if not rules.excludes(c, now)}
    assigned = {a.conversation for a in result.assignments}
    assert assigned == eligible
    for conversation in made:
        stored = backend.world.get(conversation.id)
        assert stored is not None
        assert (stored.assignee is not None) == (conversation.id in eligible)
        if stored.assignee is not None:
            assert stored.assignee in online


def test_a_limit_beside_an_unlimited_link_still_caps_its_agent() -> None:
    """An agent on a limited policy is capped there even if another policy links the
    inbox without a limit (the stricter one wins); the rules of both apply."""
    clock = FakeClock()
    backend = InMemoryBackend(clock=clock)
    backend.add_account(1, features=("assignment_v2",))
    backend.add_inbox(10, account=1, members=["ann", "bob"])
    backend.add_policy(AssignmentPolicy(id=7, account=1), inboxes=[10])
    backend.add_capacity_policy(
        CapacityPolicy(
            id=1,
            account=1,
            inbox_limits={10: None},
            agents={"bob"},
            exclusion_rules=ExclusionRules(excluded_labels={"vip"}),
        )
    )
    backend.add_capacity_policy(
        CapacityPolicy(
            id=2,
            account=1,
            inbox_limits={10: 1},
            agents={"ann"},
            exclusion_rules=ExclusionRules(excluded_labels={"spam"}),
        )
    )
    for agent in ("ann", "bob"):
        backend.set_status(1, agent, "online")
    backend.add_conversation(1, inbox=10, labels={"vip"})
    backend.add_conversation(2, inbox=10, labels={"spam"})
    for number in range(3, 9):
        backend.add_conversation(number, inbox=10)
    app = build_in_memory(backend, strict=True, environ={})
    result = app.service.perform_bulk_assignment(10)
    by_agent: dict[object, int] = {}
    for assignment in result.assignments:
        by_agent[assignment.agent] = by_agent.get(assignment.agent, 0) + 1
    assert by_agent == {"ann": 1, "bob": 5}
    assert {a.conversation for a in result.assignments} == set(range(3, 9))
