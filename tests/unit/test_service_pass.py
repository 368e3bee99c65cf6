"""One bulk pass end to end: basic assignment, the result, the events, the re-check of
each conversation mid-pass, and the rule that nothing is ever reassigned."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from autoassign import (
    AssigneeChanged,
    AssignmentPolicy,
    ConversationStatus,
    ConversationUpdated,
    SkipReason,
)

ACCOUNT, INBOX = 1, 10


def test_key_scenario_basic_assignment(scenario: Any) -> None:
    """Key test scenario 1: an open, unassigned conversation and an online agent."""
    scenario.setup(members=["ann"])
    scenario.conv(100)

    result = scenario.run()

    assert result.assigned_count == 1
    assert scenario.assignee(100) == "ann"
    assert result.assignments[0].conversation == 100
    assert result.assignments[0].agent == "ann"
    assert result.skips == ()


def test_only_open_unassigned_conversations_are_fetched(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.conv(1, status="resolved")
    scenario.conv(2, status="pending")
    scenario.conv(3, status="snoozed")
    scenario.conv(4, assignee="bob")
    scenario.conv(5)
    scenario.backend.add_inbox(20, account=ACCOUNT, members=["ann"])
    scenario.conv(6, inbox=20)

    result = scenario.run()

    assert result.fetched == 1
    assert [a.conversation for a in result.assignments] == [5]
    assert [scenario.assignee(n) for n in (1, 2, 3, 4, 6)] == [
        None,
        None,
        None,
        "bob",
        None,
    ]


def test_no_conversations_means_an_empty_result_and_no_reads(
    scenario: Any, wrap: Any
) -> None:
    scenario.setup()
    presence = wrap(scenario.backend.presence)
    app = scenario.build(presence=presence)
    before = scenario.snapshot()
    result = app.service.perform_bulk_assignment(INBOX)
    assert result.fetched == 0
    assert result.assigned_count == 0
    assert result.gate is None
    assert presence.calls == []
    assert scenario.snapshot() == before


def test_key_scenario_zero_assignments(scenario: Any) -> None:
    """Key test scenario 7: policy disabled → 0; all agents offline → 0."""
    scenario.setup(policy=AssignmentPolicy(id=1, account=ACCOUNT, enabled=False))
    scenario.convs([1, 2])
    assert scenario.run().assigned_count == 0

    scenario.world.put_policy(AssignmentPolicy(id=1, account=ACCOUNT))
    scenario.set_status("ann", "offline")
    scenario.set_status("bob", "offline")
    result = scenario.run()
    assert result.assigned_count == 0
    assert [s.reason for s in result.skips] == [SkipReason.NO_AGENT_ONLINE] * 2
    assert scenario.assignee(1) is None


def test_nobody_online_returns_at_once_touching_nothing(
    scenario: Any, wrap: Any
) -> None:
    scenario.setup(online=[])
    scenario.convs([1, 2, 3])
    ledger = wrap(scenario.backend.ledger)
    rotation = wrap(scenario.backend.rotation)
    conversations = wrap(scenario.backend.conversations)
    app = scenario.build(ledger=ledger, rotation=rotation, conversations=conversations)
    before = scenario.snapshot()

    result = app.service.perform_bulk_assignment(INBOX)

    assert result.assigned_count == 0
    assert result.fetched == 3
    assert {s.reason for s in result.skips} == {SkipReason.NO_AGENT_ONLINE}
    assert scenario.snapshot() == before
    assert ledger.calls == []
    assert rotation.calls == []
    assert [name for name, _, _ in conversations.calls] == ["unassigned_open"]


# -- events --------------------------------------------------------------------------------


def test_each_assignment_publishes_exactly_one_of_each_event(scenario: Any) -> None:
    scenario.setup(members=["ann", "bob"], online=["ann", "bob"])
    scenario.convs([1, 2, 3])
    scenario.clock.advance(42)
    now = scenario.clock.now()

    result = scenario.run()

    events = scenario.backend.events
    changed = events.of_type(AssigneeChanged)
    updated = events.of_type(ConversationUpdated)
    assert len(events.events) == 6
    assert [(e.conversation, e.agent) for e in changed] == [
        (a.conversation, a.agent) for a in result.assignments
    ]
    for event in changed:
        assert event.previous_agent is None
        assert event.inbox == INBOX
        assert event.policy == 1
        assert event.selector == "round_robin"
        assert event.occurred_at == now
    assert [e.conversation for e in updated] == [1, 2, 3]
    for event in updated:
        assert event.inbox == INBOX
        assert event.changed_attributes == ("assignee",)
        assert event.occurred_at == now
    assert all(a.occurred_at == now for a in result.assignments)


def test_each_assignment_events_come_in_order_with_the_assignment(
    scenario: Any,
) -> None:
    scenario.setup(members=["ann"])
    scenario.convs([1, 2])
    seen: list[tuple[str, Any, Any]] = []

    def on_event(event: object) -> None:
        # When the event is published the conversation is already assigned.
        assert isinstance(event, AssigneeChanged | ConversationUpdated)
        seen.append((type(event).__name__, event.conversation, scenario.assignee(1)))

    scenario.backend.events.subscribe(on_event)
    scenario.run()
    assert seen == [
        ("AssigneeChanged", 1, "ann"),
        ("ConversationUpdated", 1, "ann"),
        ("AssigneeChanged", 2, "ann"),
        ("ConversationUpdated", 2, "ann"),
    ]


def test_skipped_conversations_publish_nothing(scenario: Any) -> None:
    scenario.setup(
        members=["ann"],
        policy=AssignmentPolicy(id=1, account=ACCOUNT, fair_distribution_limit=1),
    )
    scenario.convs([1, 2, 3])
    result = scenario.run()
    assert result.assigned_count == 1
    assert [
        e.conversation for e in scenario.backend.events.of_type(AssigneeChanged)
    ] == [1]
    assert len(scenario.backend.events.events) == 2


def test_occurred_at_follows_the_clock_between_passes(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.conv(1)
    scenario.run()
    scenario.clock.advance(timedelta(minutes=7))
    scenario.conv(2)
    scenario.run()
    times = [e.occurred_at for e in scenario.backend.events.of_type(AssigneeChanged)]
    assert times[1] - times[0] == timedelta(minutes=7)


# -- the result ----------------------------------------------------------------------------


def test_result_accounts_for_every_fetched_conversation(scenario: Any) -> None:
    scenario.setup(members=["ann", "bob"], online=["ann"])
    scenario.backend.add_team(5, account=ACCOUNT, members=["bob"])
    scenario.backend.add_team(6, account=ACCOUNT, allow_auto_assign=False)
    scenario.conv(1, ago=50)
    scenario.conv(2, ago=40, team=5)
    scenario.conv(3, ago=30, team=6)
    scenario.conv(4, ago=20, team=404)
    scenario.conv(5, ago=10)

    result = scenario.run()

    assert result.fetched == 5
    assert result.assigned_count == 2
    assert [a.conversation for a in result.assignments] == [1, 5]
    assert {s.conversation: s.reason for s in result.skips} == {
        2: SkipReason.NO_TEAM_MEMBER_ONLINE,
        3: SkipReason.TEAM_NOT_AUTO_ASSIGNABLE,
        4: SkipReason.TEAM_NOT_FOUND,
    }
    assert result.stopped is None
    assert result.degraded == frozenset()


def test_assigned_count_counts_successful_claims_only(scenario: Any, wrap: Any) -> None:
    """A claim that loses (someone assigned it between selection and claim) is a skip,
    not an assignment."""
    scenario.setup(members=["ann"])
    scenario.convs([1, 2, 3])

    def claim(original: Any, conversation: Any, agent: Any, **kwargs: Any) -> bool:
        if conversation == 2:
            scenario.world.update_conversation(2, assignee="manual")
        return bool(original(conversation, agent, **kwargs))

    app = scenario.build(conversations=wrap(scenario.world, claim=claim))
    result = app.service.perform_bulk_assignment(INBOX)

    assert result.assigned_count == 2
    assert [a.conversation for a in result.assignments] == [1, 3]
    assert [(s.conversation, s.reason) for s in result.skips] == [
        (2, SkipReason.CLAIM_LOST)
    ]
    assert scenario.assignee(2) == "manual"
    # The lost claim's ledger reservation is gone: only two entries count for ann.
    usage = scenario.backend.ledger.usage(
        INBOX, ["ann"], now=scenario.clock.now(), window=timedelta(hours=1)
    )
    assert usage["ann"].count == 2
    assert len(scenario.backend.events.of_type(AssigneeChanged)) == 2


# -- re-checking each conversation when its turn comes ----------------------------------------


def _mutate_when_claiming(scenario: Any, wrap: Any, trigger: Any, change: Any) -> Any:
    """A repository that runs ``change()`` right after ``trigger`` is claimed: between
    the pass's fetch and the turn of the conversations after it."""

    def claim(original: Any, conversation: Any, agent: Any, **kwargs: Any) -> bool:
        claimed = bool(original(conversation, agent, **kwargs))
        if conversation == trigger:
            change()
        return claimed

    return scenario.build(conversations=wrap(scenario.world, claim=claim))


def test_conversation_resolved_mid_pass_is_skipped(scenario: Any, wrap: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.convs([1, 2, 3])
    app = _mutate_when_claiming(
        scenario,
        wrap,
        1,
        lambda: scenario.world.update_conversation(2, status="resolved"),
    )
    result = app.service.perform_bulk_assignment(INBOX)
    assert [a.conversation for a in result.assignments] == [1, 3]
    assert [(s.conversation, s.reason) for s in result.skips] == [
        (2, SkipReason.NOT_ASSIGNABLE)
    ]
    assert scenario.assignee(2) is None
    assert scenario.world.get(2).status is ConversationStatus.RESOLVED


def test_conversation_assigned_manually_mid_pass_is_skipped(
    scenario: Any, wrap: Any
) -> None:
    scenario.setup(members=["ann", "bob"])
    scenario.convs([1, 2, 3])
    app = _mutate_when_claiming(
        scenario,
        wrap,
        1,
        lambda: scenario.world.update_conversation(2, assignee="carol"),
    )
    result = app.service.perform_bulk_assignment(INBOX)
    assert [a.conversation for a in result.assignments] == [1, 3]
    assert [(s.conversation, s.reason) for s in result.skips] == [
        (2, SkipReason.NOT_ASSIGNABLE)
    ]
    assert scenario.assignee(2) == "carol"


def test_conversation_deleted_or_moved_mid_pass_is_skipped(
    scenario: Any, wrap: Any
) -> None:
    scenario.backend.add_inbox(20, account=ACCOUNT)
    scenario.setup(members=["ann"])
    scenario.convs([1, 2, 3])

    def change() -> None:
        scenario.world.remove_conversation(2)
        scenario.world.update_conversation(3, inbox=20)

    app = _mutate_when_claiming(scenario, wrap, 1, change)
    result = app.service.perform_bulk_assignment(INBOX)
    assert [a.conversation for a in result.assignments] == [1]
    assert {s.conversation: s.reason for s in result.skips} == {
        2: SkipReason.NOT_ASSIGNABLE,
        3: SkipReason.NOT_ASSIGNABLE,
    }
    assert scenario.assignee(3) is None


# -- never reassigns -------------------------------------------------------------------------


def test_never_reassigns_even_when_the_assignee_is_gone(scenario: Any) -> None:
    scenario.setup(members=["ann", "bob"])
    scenario.conv(1, assignee="ann")
    scenario.conv(2, assignee="zed")  # not a member at all
    scenario.set_status("ann", "offline")
    scenario.world.remove_member(INBOX, "ann")
    result = scenario.run()
    assert result.fetched == 0
    assert scenario.assignee(1) == "ann"
    assert scenario.assignee(2) == "zed"
    assert scenario.backend.events.events == []


def test_claim_never_overwrites_an_assignee(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.conv(1, assignee="bob")
    scenario.conv(2, status="resolved")
    assert scenario.world.claim(1, "ann") is False
    assert scenario.world.claim(2, "ann") is False
    assert scenario.world.claim(404, "ann") is False
    assert scenario.assignee(1) == "bob"
    assert scenario.assignee(2) is None


steps = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(1, 4)),
        st.tuples(st.just("pass"), st.integers(1, 5)),
        st.tuples(st.just("status"), st.sampled_from(["ann", "bob", "cho"])),
        st.tuples(st.just("manual"), st.integers(0, 30)),
        st.tuples(st.just("advance"), st.integers(0, 900)),
    ),
    max_size=15,
)


@given(steps=steps, limit=st.sampled_from([None, 1, 2]))
@settings(max_examples=50)
def test_no_conversation_is_ever_claimed_twice_or_reassigned(
    make_scenario: Any, steps: list[tuple[str, int | str]], limit: int | None
) -> None:
    scenario = make_scenario()
    scenario.setup(
        members=["ann", "bob", "cho"],
        policy=AssignmentPolicy(
            id=1,
            account=ACCOUNT,
            fair_distribution_limit=limit,
            fair_distribution_window=600,
        ),
    )
    next_id = 1
    owner: dict[int, Any] = {}
    claimed: list[Any] = []
    for kind, value in steps:
        if kind == "add":
            for _ in range(int(value)):
                scenario.conv(next_id)
                next_id += 1
        elif kind == "pass":
            result = scenario.run(limit=int(value))
            claimed.extend(a.conversation for a in result.assignments)
            assert result.assigned_count == len(result.assignments)
            assert result.fetched == len(result.assignments) + len(result.skips)
            events = scenario.backend.events.of_type(AssigneeChanged)
            assert len(events) == len(claimed)
        elif kind == "status":
            current = scenario.backend.presence.statuses(ACCOUNT, [value]).get(value)
            scenario.set_status(value, "offline" if current == "online" else "online")
        elif kind == "manual" and value in scenario.world.conversations:
            if scenario.assignee(value) is None:
                scenario.world.update_conversation(value, assignee="manual")
        elif kind == "advance":
            scenario.clock.advance(int(value))
        for conversation, record in scenario.world.conversations.items():
            if conversation in owner:
                assert record.assignee == owner[conversation]
            elif record.assignee is not None:
                owner[conversation] = record.assignee
    assert len(claimed) == len(set(claimed))


def test_a_team_is_read_once_until_the_next_refresh(scenario: Any, wrap: Any) -> None:
    """No directory read per conversation: a team is read when the pass first meets
    it, then again only after ``recheck_interval`` (the gates' bounded delay)."""
    scenario.setup(members=["ann", "bob"])
    scenario.backend.add_team(5, account=ACCOUNT, members=["ann", "bob"])
    scenario.convs([1, 2, 3, 4], team=5)
    directory = wrap(scenario.backend.directory)
    app = scenario.build(directory=directory)

    result = app.service.perform_bulk_assignment(INBOX)
    assert result.assigned_count == 4
    assert len(directory.called("team")) == 1

    def claim(original: Any, conversation: Any, agent: Any, **kwargs: Any) -> bool:
        scenario.clock.advance(2)  # past the 1 s recheck_interval before the next one
        return bool(original(conversation, agent, **kwargs))

    scenario.convs([5, 6, 7], team=5)
    directory.calls.clear()
    app = scenario.build(
        directory=directory,
        conversations=wrap(scenario.world, claim=claim),
    )
    assert app.service.perform_bulk_assignment(INBOX).assigned_count == 3
    assert len(directory.called("team")) == 3
