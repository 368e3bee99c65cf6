"""Real-time triggers (issue 2, behaviour 8): the save hook and presence changes enqueue
the inbox's job (coalesced), and accounts without ``assignment_v2`` fall back to the
legacy assigner."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoassign import (
    AssignmentPolicy,
    Conversation,
    ConversationStatus,
    TriggerOutcome,
    request_assignment,
)
from autoassign.adapters.memory import InMemoryBackend, build_in_memory
from autoassign.jobs import DEFAULT_PENDING_TTL
from autoassign.testing import FakeClock

ACCOUNT, INBOX = 1, 10


def _saved(scenario: Any, before: Conversation | None, after: Conversation) -> Any:
    return scenario.app.triggers.on_conversation_saved(before, after)


def _created(scenario: Any, conversation: Any, **options: Any) -> Any:
    record = scenario.conv(conversation, **options)
    return _saved(scenario, None, record)


def _update(scenario: Any, conversation: Any, **changes: Any) -> Any:
    before, after = scenario.world.update_conversation(conversation, **changes)
    return _saved(scenario, before, after)


def test_created_open_unassigned_enqueues(scenario: Any) -> None:
    scenario.setup()
    assert _created(scenario, 1) is TriggerOutcome.ENQUEUED
    assert scenario.backend.jobs.queued == (INBOX,)
    # The trigger only enqueues: the job does the assigning.
    assert scenario.assignee(1) is None


@pytest.mark.parametrize("status", ["pending", "resolved", "snoozed"])
def test_becoming_open_unassigned_enqueues(scenario: Any, status: str) -> None:
    scenario.setup()
    scenario.conv(1, status=status)
    assert _update(scenario, 1, status="open") is TriggerOutcome.ENQUEUED
    assert scenario.backend.jobs.queued == (INBOX,)


def test_created_open_with_an_assignee_who_is_not_a_member_enqueues(
    scenario: Any,
) -> None:
    scenario.setup(members=["ann"])
    assert _created(scenario, 1, assignee="gone") is TriggerOutcome.ENQUEUED


def test_reopened_with_an_assignee_who_left_the_inbox_enqueues(
    scenario: Any,
) -> None:
    scenario.setup(members=["ann", "bob"])
    scenario.conv(1, status="resolved", assignee="bob")
    scenario.world.remove_member(INBOX, "bob")
    assert _update(scenario, 1, status="open") is TriggerOutcome.ENQUEUED
    # The job still never reassigns it.
    scenario.backend.jobs.drain(scenario.app.job.run)
    assert scenario.assignee(1) == "bob"


def test_created_or_reopened_with_a_member_assignee_is_ignored(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    assert _created(scenario, 1, assignee="ann") is TriggerOutcome.IGNORED
    scenario.conv(2, status="resolved", assignee="ann")
    assert _update(scenario, 2, status="open") is TriggerOutcome.IGNORED
    assert scenario.backend.jobs.queued == ()


def test_unassigning_an_open_conversation_enqueues(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.conv(1, assignee="ann")
    assert _update(scenario, 1, assignee=None) is TriggerOutcome.ENQUEUED


@pytest.mark.parametrize("status", ["resolved", "snoozed"])
def test_open_to_resolved_or_snoozed_enqueues_to_use_the_freed_capacity(
    scenario: Any, status: str
) -> None:
    scenario.setup(members=["ann"])
    scenario.conv(1, assignee="ann")
    assert _update(scenario, 1, status=status) is TriggerOutcome.ENQUEUED


@pytest.mark.parametrize(
    ("before", "changes"),
    [
        ({"status": "open"}, {"status": "pending"}),  # a bot takes it
        ({"status": "pending"}, {"labels": {"x"}}),
        ({"status": "pending"}, {"status": "resolved"}),
        ({"status": "resolved"}, {"status": "snoozed"}),
        ({"status": "open"}, {"labels": {"billing"}}),  # open stays open, unassigned
        ({"status": "open", "assignee": "ann"}, {"labels": {"x"}}),
        ({"status": "open", "assignee": "ann"}, {"assignee": "bob"}),
    ],
)
def test_other_saves_are_ignored(
    scenario: Any, before: dict[str, Any], changes: dict[str, Any]
) -> None:
    scenario.setup(members=["ann", "bob"])
    scenario.conv(1, **before)
    assert _update(scenario, 1, **changes) is TriggerOutcome.IGNORED
    assert scenario.backend.jobs.queued == ()


def test_created_pending_is_ignored(scenario: Any) -> None:
    scenario.setup()
    assert _created(scenario, 1, status="pending") is TriggerOutcome.IGNORED


def test_inbox_with_auto_assignment_off_is_ignored(scenario: Any) -> None:
    scenario.setup(members=["ann"], enable_auto_assignment=False)
    scenario.conv(2, assignee="ann")
    assert _created(scenario, 1) is TriggerOutcome.IGNORED
    assert _update(scenario, 2, status="resolved") is TriggerOutcome.IGNORED
    assert scenario.backend.jobs.queued == ()


def test_missing_inbox_is_ignored(scenario: Any) -> None:
    scenario.setup()
    record = scenario.conv(1)
    ghost = attrs.evolve(record, inbox=404)
    assert _saved(scenario, None, ghost) is TriggerOutcome.IGNORED


# -- coalescing ------------------------------------------------------------------------------


def test_a_burst_of_saves_enqueues_one_job(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    outcomes = [_created(scenario, n) for n in range(1, 6)]
    assert outcomes == [TriggerOutcome.ENQUEUED] + [TriggerOutcome.COALESCED] * 4
    assert scenario.backend.jobs.queued == (INBOX,)
    # The one job covers the whole burst.
    scenario.backend.jobs.drain(scenario.app.job.run)
    assert scenario.assigned_to("ann") == [1, 2, 3, 4, 5]
    # Once it ran, the next save enqueues again.
    assert _created(scenario, 6) is TriggerOutcome.ENQUEUED


def test_bursts_are_coalesced_per_inbox(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.backend.add_inbox(20, account=ACCOUNT, members=["ann"])
    scenario.world.link_policy(20, 1)
    _created(scenario, 1)
    _created(scenario, 2, inbox=20)
    _created(scenario, 3)
    assert scenario.backend.jobs.queued == (INBOX, 20)


def test_a_pending_mark_lapses_so_a_lost_job_cannot_block_triggers(
    scenario: Any,
) -> None:
    scenario.setup()
    _created(scenario, 1)
    scenario.backend.jobs.pop()  # the job is lost
    assert _created(scenario, 2) is TriggerOutcome.COALESCED
    scenario.clock.advance(DEFAULT_PENDING_TTL - timedelta(seconds=1))
    assert _created(scenario, 3) is TriggerOutcome.COALESCED
    scenario.clock.advance(1)
    assert _created(scenario, 4) is TriggerOutcome.ENQUEUED


def test_a_save_while_a_pass_runs_is_not_lost(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    _created(scenario, 1)
    fired = []

    def on_event(event: object) -> None:
        if not fired:
            fired.append(True)
            # A new conversation arrives while the pass holds the lease.
            assert _created(scenario, 2) is TriggerOutcome.ENQUEUED

    scenario.backend.events.subscribe(on_event)
    scenario.backend.jobs.drain(scenario.app.job.run)
    assert scenario.assigned_to("ann") == [1, 2]


def test_enqueue_failure_clears_the_mark_and_never_breaks_the_save(
    scenario: Any, wrap: Any, boom: Any, caplog: pytest.LogCaptureFixture
) -> None:
    scenario.setup()

    def enqueue(original: Any, inbox: Any) -> None:
        raise boom("queue down")

    jobs = wrap(scenario.backend.jobs, enqueue_assignment=enqueue)
    app = scenario.build(jobs=jobs, strict=False)
    record = scenario.conv(1)
    with caplog.at_level(logging.ERROR, logger="autoassign"):
        assert app.triggers.on_conversation_saved(None, record) is (
            TriggerOutcome.COALESCED
        )
    assert "inbox 10" in caplog.text
    # The mark was cleared: the next save tries again.
    app = scenario.build()
    assert app.triggers.on_conversation_saved(None, record) is TriggerOutcome.ENQUEUED


def test_enqueue_failure_is_raised_in_strict_mode(
    scenario: Any, wrap: Any, boom: Any
) -> None:
    scenario.setup()

    def enqueue(original: Any, inbox: Any) -> None:
        raise boom("queue down")

    jobs = wrap(scenario.backend.jobs, enqueue_assignment=enqueue)
    with pytest.raises(boom):
        request_assignment(INBOX, lease=scenario.backend.lease, jobs=jobs, strict=True)


def test_a_broken_lease_store_still_enqueues(
    scenario: Any, wrap: Any, boom: Any
) -> None:
    scenario.setup()

    def mark(original: Any, *args: Any, **kw: Any) -> bool:
        raise boom("redis down")

    lease = wrap(scenario.backend.lease, mark_pending=mark)
    assert request_assignment(INBOX, lease=lease, jobs=scenario.backend.jobs) is True
    assert scenario.backend.jobs.queued == (INBOX,)


# -- agents coming online ----------------------------------------------------------------------


def test_an_agent_coming_online_enqueues_their_inboxes(scenario: Any) -> None:
    scenario.setup(members=["ann", "bob"], online=[])
    scenario.backend.add_inbox(20, account=ACCOUNT, members=["ann"])
    scenario.backend.add_inbox(
        30, account=ACCOUNT, members=["ann"], enable_auto_assignment=False
    )
    scenario.backend.add_inbox(40, account=ACCOUNT, members=["bob"])
    scenario.backend.add_account(2)
    scenario.backend.add_inbox(50, account=2, members=["ann"])
    triggers = scenario.app.triggers

    requested = triggers.on_agent_status_changed(ACCOUNT, "ann", "offline", "online")

    assert sorted(requested) == [INBOX, 20]
    assert sorted(scenario.backend.jobs.queued) == [INBOX, 20]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (None, "online", True),
        ("busy", "online", True),
        ("offline", "online", True),
        ("online", "online", False),
        ("online", "busy", False),
        ("offline", "busy", False),
        ("offline", "Online", False),
    ],
)
def test_only_coming_online_enqueues(
    scenario: Any, before: str | None, after: str, expected: bool
) -> None:
    scenario.setup(members=["ann"], online=[])
    requested = scenario.app.triggers.on_agent_status_changed(
        ACCOUNT, "ann", before, after
    )
    assert (tuple(requested) == (INBOX,)) is expected
    assert (scenario.backend.jobs.queued == (INBOX,)) is expected


def test_coming_online_in_an_account_without_v2_enqueues_nothing(
    scenario: Any,
) -> None:
    scenario.setup(members=["ann"], features=())
    assert (
        scenario.app.triggers.on_agent_status_changed(
            ACCOUNT, "ann", "offline", "online"
        )
        == ()
    )
    assert scenario.backend.jobs.queued == ()


def test_the_backlog_is_assigned_once_the_agent_is_online(scenario: Any) -> None:
    scenario.setup(members=["ann"], online=[])
    scenario.convs([1, 2])
    previous = scenario.backend.set_status(ACCOUNT, "ann", "online")
    scenario.app.triggers.on_agent_status_changed(ACCOUNT, "ann", previous, "online")
    scenario.backend.jobs.drain(scenario.app.job.run)
    assert scenario.assigned_to("ann") == [1, 2]


# -- legacy fallback ---------------------------------------------------------------------------


def _legacy(scenario: Any, **options: Any) -> None:
    scenario.setup(features=(), **options)


def test_without_v2_the_legacy_path_assigns_synchronously(scenario: Any) -> None:
    _legacy(scenario, members=["ann", "bob"])
    assert _created(scenario, 1) is TriggerOutcome.LEGACY_ASSIGNED
    assert _created(scenario, 2) is TriggerOutcome.LEGACY_ASSIGNED
    assert scenario.assignee(1) == "ann"
    assert scenario.assignee(2) == "bob"  # round robin
    assert scenario.backend.jobs.queued == ()


def test_legacy_uses_only_online_members(scenario: Any) -> None:
    _legacy(scenario, members=["ann", "bob"], online=["bob"])
    scenario.set_status("outsider", "online")
    _created(scenario, 1)
    _created(scenario, 2)
    assert scenario.assigned_to("bob") == [1, 2]


def test_legacy_with_nobody_online_leaves_it_unassigned(scenario: Any) -> None:
    _legacy(scenario, members=["ann"], online=[])
    assert _created(scenario, 1) is TriggerOutcome.LEGACY_UNASSIGNED
    assert scenario.assignee(1) is None


def test_legacy_respects_teams(scenario: Any) -> None:
    _legacy(scenario, members=["ann", "bob"])
    scenario.backend.add_team(5, account=ACCOUNT, members=["bob"])
    scenario.backend.add_team(
        6, account=ACCOUNT, members=["ann"], allow_auto_assign=False
    )
    assert _created(scenario, 1, team=5) is TriggerOutcome.LEGACY_ASSIGNED
    assert scenario.assignee(1) == "bob"
    assert _created(scenario, 2, team=6) is TriggerOutcome.LEGACY_UNASSIGNED
    assert _created(scenario, 3, team=404) is TriggerOutcome.LEGACY_UNASSIGNED


def test_legacy_without_a_reassigner_leaves_a_departed_assignee(
    scenario: Any,
) -> None:
    _legacy(scenario, members=["ann", "bob"])
    assert _created(scenario, 1, assignee="gone") is TriggerOutcome.LEGACY_UNASSIGNED
    assert scenario.assignee(1) == "gone"
    assert _created(scenario, 2) is TriggerOutcome.LEGACY_ASSIGNED
    assert scenario.assignee(2) == "ann"  # the round robin did not move for 1
    scenario.conv(3, assignee="ann")
    assert _update(scenario, 3, status="resolved") is TriggerOutcome.IGNORED


def test_legacy_reassigns_a_conversation_whose_assignee_left_the_inbox(
    scenario: Any,
) -> None:
    """As the reference's v1 (``AgentAssignmentService``) does; the v2 job never does."""
    _legacy(scenario, members=["ann", "bob"])
    scenario.build(reassigner=scenario.backend.conversations)
    assert _created(scenario, 1, assignee="gone") is TriggerOutcome.LEGACY_ASSIGNED
    assert scenario.assignee(1) == "ann"
    scenario.conv(2, status="resolved", assignee="bob")
    scenario.world.remove_member(INBOX, "bob")
    assert _update(scenario, 2, status="open") is TriggerOutcome.LEGACY_ASSIGNED
    assert scenario.assignee(2) == "ann"  # bob is no longer a member
    scenario.conv(3, status="resolved", assignee="ann")
    assert _update(scenario, 3, status="open") is TriggerOutcome.IGNORED  # a member
    assert scenario.assignee(3) == "ann"
    assert scenario.backend.jobs.queued == ()


def test_legacy_reassignment_loses_to_a_change_made_meanwhile(scenario: Any) -> None:
    _legacy(scenario, members=["ann"])
    scenario.build(reassigner=scenario.backend.conversations)
    stale = scenario.conv(1, assignee="gone")
    scenario.world.update_conversation(1, assignee="ann")  # a human assigned ann
    assert _saved(scenario, None, stale) is TriggerOutcome.LEGACY_UNASSIGNED
    assert scenario.assignee(1) == "ann"


def test_build_in_memory_wires_the_reassigner() -> None:
    backend = InMemoryBackend(clock=FakeClock())
    backend.add_account(ACCOUNT, features=())
    backend.add_inbox(INBOX, account=ACCOUNT, members=["ann"])
    backend.set_status(ACCOUNT, "ann", "online")
    app = build_in_memory(backend)
    conversation = backend.add_conversation(1, inbox=INBOX, assignee="gone")
    outcome = app.triggers.on_conversation_saved(None, conversation)
    assert outcome is TriggerOutcome.LEGACY_ASSIGNED
    assert backend.world.get(1).assignee == "ann"


def test_legacy_with_auto_assignment_off_is_ignored(scenario: Any) -> None:
    _legacy(scenario, members=["ann"], enable_auto_assignment=False)
    assert _created(scenario, 1) is TriggerOutcome.IGNORED
    assert scenario.assignee(1) is None


@attrs.define
class RecordingLegacy:
    answer: Any = "host-agent"
    seen: list[Conversation] = attrs.field(factory=list)

    def assign(self, conversation: Conversation) -> Any:
        self.seen.append(conversation)
        return self.answer


def test_the_legacy_assigner_is_replaceable(scenario: Any) -> None:
    _legacy(scenario, members=["ann"])
    legacy = RecordingLegacy()
    scenario.build(legacy=legacy)
    assert _created(scenario, 1) is TriggerOutcome.LEGACY_ASSIGNED
    assert [c.id for c in legacy.seen] == [1]
    assert scenario.assignee(1) is None  # the host's assigner did its own thing
    legacy.answer = None
    assert _created(scenario, 2) is TriggerOutcome.LEGACY_UNASSIGNED


def test_legacy_fallback_can_be_turned_off(scenario: Any) -> None:
    _legacy(scenario, members=["ann"])
    scenario.build(legacy_fallback=False)
    assert _created(scenario, 1) is TriggerOutcome.IGNORED
    assert scenario.assignee(1) is None


def test_a_failing_legacy_assigner_is_logged_or_raised(
    scenario: Any, boom: Any, caplog: pytest.LogCaptureFixture
) -> None:
    @attrs.define
    class Broken:
        def assign(self, conversation: Conversation) -> Any:
            raise boom("legacy down")

    _legacy(scenario, members=["ann"])
    scenario.build(legacy=Broken(), strict=False)
    with caplog.at_level(logging.ERROR, logger="autoassign"):
        assert _created(scenario, 1) is TriggerOutcome.LEGACY_UNASSIGNED
    assert "legacy assignment failed" in caplog.text
    scenario.build(legacy=Broken(), strict=True)
    with pytest.raises(boom):
        _created(scenario, 2)


def test_v2_accounts_never_use_the_legacy_assigner(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    legacy = RecordingLegacy()
    scenario.build(legacy=legacy)
    assert _created(scenario, 1) is TriggerOutcome.ENQUEUED
    assert legacy.seen == []


def test_trigger_then_job_end_to_end(scenario: Any) -> None:
    scenario.setup(
        members=["ann", "bob"],
        policy=AssignmentPolicy(id=1, account=ACCOUNT, assignment_order="balanced"),
    )
    scenario.conv(100, assignee="ann")
    _created(scenario, 1)
    scenario.backend.jobs.drain(scenario.app.job.run)
    assert scenario.assignee(1) == "bob"
    assert scenario.world.get(1).status is ConversationStatus.OPEN


@given(
    members=st.lists(st.sampled_from(["ann", "bob", "cho"]), unique=True),
    online=st.sets(st.sampled_from(["ann", "bob", "cho", "gone"])),
    assignee=st.sampled_from([None, "ann", "bob", "cho", "gone"]),
)
def test_legacy_takes_only_unassigned_or_departed_conversations(
    members: list[str], online: set[str], assignee: str | None
) -> None:
    """Without v2, a saved open conversation ends with an online member as assignee if
    it had none or one who left the inbox (and a member is online); a member's
    conversation is never touched."""
    backend = InMemoryBackend(clock=FakeClock())
    backend.add_account(ACCOUNT, features=())
    backend.add_inbox(INBOX, account=ACCOUNT, members=members)
    for agent in online:
        backend.set_status(ACCOUNT, agent, "online")
    app = build_in_memory(backend, strict=True)
    conversation = backend.add_conversation(1, inbox=INBOX, assignee=assignee)
    app.triggers.on_conversation_saved(None, conversation)
    after = backend.world.get(1)
    assert after is not None
    available = [agent for agent in members if agent in online]
    if assignee in members:
        assert after.assignee == assignee
    elif available:
        assert after.assignee in available
    else:
        assert after.assignee == assignee
