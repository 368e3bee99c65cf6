"""Issue 14, item 6: no assignment event is lost. Stable event ids, the outbox, the
relay at pass start, a claim whose reply is lost (re-read, not forgotten) and the job
engines' task bodies (which must not drop ``unpublished_events``)."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoassign import (
    AssigneeChanged,
    AssignmentPolicy,
    BackendError,
    ConfigurationError,
    ConversationStatus,
    ConversationUpdated,
    Degradation,
    OutboxRecord,
    OutboxRelay,
    SkipReason,
)
from autoassign.adapters.memory import InMemoryEventOutbox
from autoassign.integrations._common import run_assignment
from autoassign.outbox import DEFAULT_OUTBOX_GRACE

INBOX = 10
LATER = DEFAULT_OUTBOX_GRACE + timedelta(seconds=1)


def _events(scenario: Any) -> list[Any]:
    return list(scenario.backend.events.events)


def _check_delivery(scenario: Any) -> None:
    """Every standing assignment has >= 1 AssigneeChanged and ConversationUpdated, each
    with one stable id; no event names a conversation that is not so assigned."""
    changed: dict[Any, set[str]] = defaultdict(set)
    updated: dict[Any, set[str]] = defaultdict(set)
    for event in _events(scenario):
        if isinstance(event, AssigneeChanged):
            changed[event.conversation].add(event.event_id)
            assert scenario.assignee(event.conversation) == event.agent
        elif isinstance(event, ConversationUpdated):
            updated[event.conversation].add(event.event_id)
    assigned = {c.id for c in scenario.world.conversations.values() if c.assignee}
    assert set(changed) == assigned
    assert set(updated) == assigned
    for conversation in assigned:
        assert len(changed[conversation]) == 1, changed[conversation]
        assert len(updated[conversation]) == 1
        (one,) = changed[conversation]
        (two,) = updated[conversation]
        assert one.removesuffix(":assignee.changed") == two.removesuffix(
            ":conversation.updated"
        )


class _Flaky:
    """Fails the calls whose (0-based) index is in ``failing``; ``after`` runs the real
    call first (a claim that commits and then loses its reply)."""

    def __init__(self, failing: set[int], *, after: bool = False) -> None:
        self.failing = failing
        self.after = after
        self.calls = 0

    def __call__(self, original: Any, *args: Any, **kwargs: Any) -> Any:
        index, self.calls = self.calls, self.calls + 1
        if index not in self.failing:
            return original(*args, **kwargs)
        if self.after:
            original(*args, **kwargs)
        raise BackendError(f"call {index} failed")


_FAULTS = st.tuples(
    st.sets(st.integers(0, 10), max_size=4),  # claims that commit, then raise
    st.sets(st.integers(0, 20), max_size=8),  # failing publishes
    st.sets(st.integers(0, 1), max_size=1),  # failing confirmations
)


@given(conversations=st.integers(min_value=1, max_value=8), faults=_FAULTS)
def test_every_assignment_is_delivered_once_the_backends_heal(
    make_scenario: Any,
    wrap: Any,
    conversations: int,
    faults: tuple[set[int], set[int], set[int]],
) -> None:
    """Claims that commit and lose their reply, a failing bus and failing
    confirmations in one pass; after the grace a healthy pass delivers every standing
    assignment's events, with one stable id each, and nothing else."""
    lost_replies, failing_publishes, failing_confirms = faults
    scenario = make_scenario()
    scenario.setup(members=["ann", "bob"])
    scenario.convs(range(1, conversations + 1))
    outbox = InMemoryEventOutbox()
    claims = wrap(scenario.world, claim=_Flaky(lost_replies, after=True))
    bus = wrap(scenario.backend.events, publish=_Flaky(failing_publishes))
    flaky_outbox = wrap(outbox, confirm=_Flaky(failing_confirms))
    first = scenario.build(
        conversations=claims, events=bus, outbox=flaky_outbox, strict=False
    ).service.perform_bulk_assignment(INBOX)

    # Every claim took effect, lost reply or not: each is counted once.
    assert first.assigned_count == conversations
    assert sorted(a.conversation for a in first.assignments) == list(
        range(1, conversations + 1)
    )
    scenario.clock.advance(LATER)
    healed = scenario.build(outbox=outbox)
    second = healed.service.perform_bulk_assignment(INBOX)
    assert second.assigned_count == 0
    assert outbox.records(INBOX) == []
    _check_delivery(scenario)


def test_events_carry_stable_ids_derived_from_the_assignment(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.convs([1, 2])
    result = scenario.build(outbox=InMemoryEventOutbox()).service
    result.perform_bulk_assignment(INBOX)
    events = _events(scenario)
    assert [type(e) for e in events] == [AssigneeChanged, ConversationUpdated] * 2
    ids = [e.event_id for e in events]
    assert len(set(ids)) == 4
    assert ids[0].split(":")[0] == ids[1].split(":")[0] != ids[2].split(":")[0]
    record = OutboxRecord(
        id="abc",
        inbox=INBOX,
        conversation=1,
        agent="ann",
        policy=1,
        selector="round_robin",
        occurred_at=scenario.clock.now(),
    )
    assert record.events() == record.events()
    assert [e.event_id for e in record.events()] == [
        "abc:assignee.changed",
        "abc:conversation.updated",
    ]


def test_a_published_assignment_leaves_nothing_in_the_outbox(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.convs([1, 2, 3])
    outbox = InMemoryEventOutbox()
    assert (
        scenario.build(outbox=outbox)
        .service.perform_bulk_assignment(INBOX)
        .assigned_count
        == 3
    )
    assert outbox.records(INBOX) == []


def test_a_failed_publish_stays_in_the_outbox_until_a_pass_after_the_grace(
    scenario: Any, wrap: Any, boom: Any
) -> None:
    scenario.setup(members=["ann"])
    scenario.convs([1])
    outbox = InMemoryEventOutbox()

    def down(original: Any, event: Any) -> None:
        raise boom("bus down")

    broken = wrap(scenario.backend.events, publish=down)
    first = scenario.build(events=broken, outbox=outbox).service
    result = first.perform_bulk_assignment(INBOX)
    assert Degradation.EVENTS_UNPUBLISHED in result.degraded
    (record,) = outbox.records(INBOX)
    assert [e.event_id for e in result.unpublished_events] == [
        e.event_id for e in record.events()
    ]
    service = scenario.build(outbox=outbox).service
    scenario.clock.advance(DEFAULT_OUTBOX_GRACE - timedelta(seconds=1))
    service.perform_bulk_assignment(INBOX)
    assert _events(scenario) == []  # younger than the grace: maybe a running pass's
    scenario.clock.advance(timedelta(seconds=2))
    service.perform_bulk_assignment(INBOX)
    assert _events(scenario) == list(record.events())
    assert outbox.records(INBOX) == []


def test_a_claim_whose_reply_is_lost_is_re_read_and_counted_without_an_outbox(
    scenario: Any, wrap: Any
) -> None:
    scenario.setup(members=["ann"])
    scenario.convs([1, 2])
    claims = wrap(scenario.world, claim=_Flaky({0}, after=True))
    result = scenario.build(conversations=claims).service.perform_bulk_assignment(INBOX)
    assert [a.conversation for a in result.assignments] == [1, 2]
    assert result.skips == ()
    _check_delivery(scenario)


def test_a_claim_that_raised_without_effect_is_skipped_and_its_record_dropped(
    scenario: Any, wrap: Any
) -> None:
    scenario.setup(members=["ann"])
    scenario.convs([1])
    outbox = InMemoryEventOutbox()
    claims = wrap(scenario.world, claim=_Flaky({0}))  # raises before committing
    result = scenario.build(
        conversations=claims, outbox=outbox, strict=False
    ).service.perform_bulk_assignment(INBOX)
    assert [(s.conversation, s.reason) for s in result.skips] == [
        (1, SkipReason.BACKEND_ERROR)
    ]
    assert len(outbox.records(INBOX)) == 1  # staged: the outcome was unknown
    scenario.clock.advance(LATER)
    outcome = scenario.build(outbox=outbox).service.perform_bulk_assignment(INBOX)
    assert outcome.assigned_count == 1  # the next pass assigns it, afresh
    assert outbox.records(INBOX) == []
    _check_delivery(scenario)


def test_when_the_re_read_fails_too_the_record_stays_for_the_relay(
    scenario: Any, wrap: Any, boom: Any
) -> None:
    scenario.setup(members=["ann"])
    scenario.convs([1])
    outbox = InMemoryEventOutbox()
    reads = {"n": 0}

    def get(original: Any, conversation: Any) -> Any:
        reads["n"] += 1
        if reads["n"] > 1:  # the pass's own read works, the re-read fails
            raise boom("repository down")
        return original(conversation)

    claims = wrap(scenario.world, claim=_Flaky({0}, after=True), get=get)
    result = scenario.build(
        conversations=claims, outbox=outbox, strict=False
    ).service.perform_bulk_assignment(INBOX)
    assert result.assigned_count == 0
    assert [s.reason for s in result.skips] == [SkipReason.BACKEND_ERROR]
    assert scenario.assignee(1) == "ann"  # it took effect, unknown to the pass
    assert _events(scenario) == []
    scenario.clock.advance(LATER)
    scenario.build(outbox=outbox).service.perform_bulk_assignment(INBOX)
    _check_delivery(scenario)
    assert outbox.records(INBOX) == []


def test_the_relay_publishes_a_resolved_assignment_and_drops_the_others(
    scenario: Any,
) -> None:
    scenario.setup(members=["ann", "bob"])
    for conversation in (1, 2, 3, 4):
        scenario.conv(conversation)
    now = scenario.clock.now()
    outbox = InMemoryEventOutbox()

    def record(conversation: Any, agent: Any, id: str) -> OutboxRecord:
        return OutboxRecord(
            id=id,
            inbox=INBOX,
            conversation=conversation,
            agent=agent,
            policy=1,
            selector="round_robin",
            occurred_at=now,
        )

    world = scenario.world
    world.update_conversation(1, status=ConversationStatus.RESOLVED, assignee="ann")
    world.update_conversation(2, assignee="bob")  # someone else's: not ours
    world.remove_conversation(4)
    for each in (
        record(1, "ann", "r1"),
        record(2, "ann", "r2"),
        record(3, "ann", "r3"),  # never claimed: still unassigned
        record(4, "ann", "r4"),
    ):
        outbox.stage(each)
    relay = OutboxRelay(
        outbox=outbox,
        conversations=world,
        events=scenario.backend.events,
        grace=timedelta(seconds=5),
    )
    assert relay.run(INBOX, now=now, limit=10).republished == ()  # grace
    report = relay.run(INBOX, now=now + timedelta(seconds=6), limit=10)
    assert [r.id for r in report.republished] == ["r1"]
    assert sorted(r.id for r in report.dropped) == ["r2", "r3", "r4"]
    assert [e.event_id for e in _events(scenario)] == [
        "r1:assignee.changed",
        "r1:conversation.updated",
    ]
    assert outbox.records(INBOX) == []


def test_the_relay_publishes_the_newest_standing_record_of_a_conversation(
    scenario: Any,
) -> None:
    """A record staged for a claim that never ran, then the conversation claimed for
    the same agent again: only the claim that took effect is reported."""
    scenario.setup(members=["ann"])
    scenario.conv(1, assignee="ann")
    outbox = InMemoryEventOutbox()
    start = scenario.clock.now()
    stale, real = (
        OutboxRecord(
            id=name,
            inbox=INBOX,
            conversation=1,
            agent="ann",
            policy=1,
            selector="round_robin",
            occurred_at=start + timedelta(seconds=at),
        )
        for name, at in (("stale", 0), ("real", 1))
    )
    outbox.stage(stale)
    outbox.stage(real)
    report = OutboxRelay(
        outbox=outbox, conversations=scenario.world, events=scenario.backend.events
    ).run(INBOX, now=start + LATER + timedelta(seconds=1), limit=10)
    assert report.republished == (real,)
    assert [e.event_id.split(":")[0] for e in _events(scenario)] == ["real", "real"]
    assert outbox.records(INBOX) == []


def test_a_failing_outbox_read_does_not_stop_the_pass(
    scenario: Any, wrap: Any, boom: Any, caplog: pytest.LogCaptureFixture
) -> None:
    scenario.setup(members=["ann"])
    scenario.convs([1])

    def down(original: Any, *args: Any, **kwargs: Any) -> Any:
        raise boom("outbox down")

    outbox = wrap(InMemoryEventOutbox(), due=down)
    with caplog.at_level(logging.WARNING, logger="autoassign"):
        result = scenario.build(outbox=outbox).service.perform_bulk_assignment(INBOX)
    assert result.assigned_count == 1
    assert "outbox relay stopped" in caplog.text


def test_a_failing_stage_means_no_claim(scenario: Any, wrap: Any, boom: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.convs([1])

    def down(original: Any, *args: Any, **kwargs: Any) -> Any:
        raise boom("outbox down")

    outbox = InMemoryEventOutbox()
    outbox.stage = lambda record: down(None)  # type: ignore[method-assign]
    result = scenario.build(
        outbox=outbox, strict=False
    ).service.perform_bulk_assignment(INBOX)
    assert result.assigned_count == 0
    assert scenario.assignee(1) is None
    assert _events(scenario) == []


def test_outbox_grace_must_be_positive(scenario: Any) -> None:
    scenario.setup()
    with pytest.raises(ConfigurationError, match="outbox_grace"):
        scenario.build(outbox_grace=timedelta(0))


def test_build_in_memory_wires_the_backends_outbox(scenario: Any) -> None:
    from autoassign.testing import build_in_memory  # noqa: PLC0415

    assert build_in_memory(scenario.backend).service.outbox is scenario.backend.outbox
    assert build_in_memory(scenario.backend, outbox=None).service.outbox is None


def _bus_down(scenario: Any, wrap: Any, boom: Any) -> Any:
    def down(original: Any, event: Any) -> None:
        raise boom("bus down")

    return wrap(scenario.backend.events, publish=down)


def test_the_task_body_logs_every_unpublished_event_without_an_outbox(
    scenario: Any, wrap: Any, boom: Any, caplog: pytest.LogCaptureFixture
) -> None:
    scenario.setup(members=["ann"], policy=AssignmentPolicy(id=1, account=1))
    scenario.convs([1])
    app = scenario.build(events=_bus_down(scenario, wrap, boom), strict=False)
    with caplog.at_level(logging.WARNING, logger="autoassign.integrations"):
        run_assignment(lambda: app, INBOX)
    lost = [r for r in caplog.records if "is lost (no outbox)" in r.getMessage()]
    assert len(lost) == 2
    assert all(":" in str(r.args[1]) for r in lost)  # each names its event id


def test_the_task_body_leaves_unpublished_events_to_the_outbox(
    scenario: Any, wrap: Any, boom: Any, caplog: pytest.LogCaptureFixture
) -> None:
    scenario.setup(members=["ann"])
    scenario.convs([1])
    outbox = InMemoryEventOutbox()
    app = scenario.build(
        events=_bus_down(scenario, wrap, boom), outbox=outbox, strict=False
    )
    with caplog.at_level(logging.WARNING, logger="autoassign.integrations"):
        run_assignment(lambda: app, INBOX)
    assert "is lost" not in caplog.text
    assert len(outbox.records(INBOX)) == 1
