"""Degradation (issue 2, behaviour 11): a claim or repository error on one conversation is
logged and skipped; the ledger unavailable: rate limiting skipped for the pass, with a
warning; presence unavailable: nobody online, 0 assignments; the inbox deleted or the
policy disabled mid-pass: the pass stops; an event bus failure never undoes an
assignment."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from autoassign import (
    AssigneeChanged,
    AssignmentPolicy,
    BackendError,
    ConfigurationError,
    ConversationUpdated,
    Degradation,
    SkipReason,
)

ACCOUNT, INBOX = 1, 10


def _raise(boom: type[Exception]) -> Any:
    def hook(original: Any, *args: Any, **kwargs: Any) -> Any:
        raise boom("down")

    return hook


def _limited(limit: int = 1) -> AssignmentPolicy:
    return AssignmentPolicy(id=1, account=ACCOUNT, fair_distribution_limit=limit)


def test_presence_unavailable_means_nobody_online(
    scenario: Any, wrap: Any, boom: Any, caplog: pytest.LogCaptureFixture
) -> None:
    scenario.setup(members=["ann"])
    scenario.convs([1, 2])
    presence = wrap(scenario.backend.presence, statuses=_raise(boom))
    before = scenario.snapshot()
    with caplog.at_level(logging.WARNING, logger="autoassign"):
        result = scenario.build(presence=presence).service.perform_bulk_assignment(
            INBOX
        )
    assert result.assigned_count == 0
    assert result.degraded == {Degradation.PRESENCE_UNAVAILABLE}
    assert {s.reason for s in result.skips} == {SkipReason.NO_AGENT_ONLINE}
    assert scenario.snapshot() == before
    assert "presence unavailable" in caplog.text


def test_presence_failing_mid_pass_stops_assigning(
    scenario: Any, wrap: Any, boom: Any
) -> None:
    scenario.setup(members=["ann"])
    scenario.convs([1, 2, 3])
    calls = []

    def statuses(original: Any, *args: Any) -> Any:
        calls.append(1)
        if len(calls) > 1:
            raise boom("down")
        return original(*args)

    presence = wrap(scenario.backend.presence, statuses=statuses)
    result = scenario.build(presence=presence).service.perform_bulk_assignment(INBOX)
    assert result.assigned_count == 1
    assert Degradation.PRESENCE_UNAVAILABLE in result.degraded
    assert [s.reason for s in result.skips] == [SkipReason.NO_AGENT_ONLINE] * 2


@pytest.mark.parametrize("method", ["usage", "try_record"])
def test_ledger_unavailable_skips_rate_limiting_and_assignments_go_on(
    scenario: Any,
    wrap: Any,
    boom: Any,
    caplog: pytest.LogCaptureFixture,
    method: str,
) -> None:
    scenario.setup(members=["ann"], policy=_limited(1))
    scenario.convs([1, 2, 3])
    ledger = wrap(scenario.backend.ledger, **{method: _raise(boom)})
    with caplog.at_level(logging.WARNING, logger="autoassign"):
        result = scenario.build(ledger=ledger).service.perform_bulk_assignment(INBOX)
    assert result.assigned_count == 3  # over the limit of 1: rate limiting skipped
    assert result.degraded == {Degradation.RATE_LIMIT_SKIPPED}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("rate limit" in r.getMessage() for r in warnings)
    assert all(r.autoassign_inbox == INBOX for r in warnings)  # type: ignore[attr-defined]
    # One warning per pass, not per conversation.
    assert len(warnings) == 1


def test_ledger_back_again_rate_limits_the_next_pass(
    scenario: Any, wrap: Any, boom: Any
) -> None:
    scenario.setup(members=["ann"], policy=_limited(1))
    scenario.convs([1, 2])
    broken = wrap(scenario.backend.ledger, usage=_raise(boom))
    scenario.build(ledger=broken).service.perform_bulk_assignment(INBOX)
    scenario.build()
    scenario.convs([3, 4])
    # Nothing was recorded while the ledger was down, so ann has one slot again.
    assert scenario.run().assigned_count == 1


def test_a_claim_error_on_one_conversation_is_skipped_and_the_pass_goes_on(
    scenario: Any, wrap: Any, boom: Any, caplog: pytest.LogCaptureFixture
) -> None:
    scenario.setup(members=["ann"], policy=_limited(5))
    scenario.convs([1, 2, 3])

    def claim(original: Any, conversation: Any, agent: Any, **kw: Any) -> bool:
        if conversation == 2:
            raise BackendError("constraint violation")
        return bool(original(conversation, agent, **kw))

    repository = wrap(scenario.world, claim=claim)
    with caplog.at_level(logging.WARNING, logger="autoassign"):
        result = scenario.build(
            conversations=repository
        ).service.perform_bulk_assignment(INBOX)
    assert [a.conversation for a in result.assignments] == [1, 3]
    assert [(s.conversation, s.reason, s.detail) for s in result.skips] == [
        (2, SkipReason.BACKEND_ERROR, "BackendError")
    ]
    assert result.assigned_count == 2
    assert scenario.assignee(2) is None
    assert "conversation 2" in caplog.text
    # A claim that raised may or may not have happened, so its ledger reservation is
    # kept: the agent looks busier until the window ends, but can never overshoot.
    assert set(scenario.snapshot()["ledger"][(INBOX, "ann")]) == {1, 2, 3}


@pytest.mark.parametrize("method", ["get"])
def test_a_repository_read_error_on_one_conversation_is_skipped(
    scenario: Any, wrap: Any, boom: Any, method: str
) -> None:
    scenario.setup(
        members=["ann"],
        policy=AssignmentPolicy(id=1, account=ACCOUNT, assignment_order="balanced"),
    )
    scenario.convs([1, 2, 3])
    seen = []

    def flaky(original: Any, *args: Any, **kw: Any) -> Any:
        seen.append(1)
        if len(seen) == 2:
            raise boom("timeout")
        return original(*args, **kw)

    repository = wrap(scenario.world, **{method: flaky})
    result = scenario.build(conversations=repository).service.perform_bulk_assignment(
        INBOX
    )
    assert result.assigned_count == 2
    assert [s.reason for s in result.skips] == [SkipReason.BACKEND_ERROR]


def test_an_open_counts_error_skips_the_pass_with_backend_error(
    scenario: Any, wrap: Any, boom: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Open counts are read once per pass (balanced needs them to rank): if that read
    fails, every conversation is skipped with backend_error and nothing is written."""
    scenario.setup(
        members=["ann"],
        policy=AssignmentPolicy(id=1, account=ACCOUNT, assignment_order="balanced"),
    )
    scenario.convs([1, 2, 3])
    repository = wrap(scenario.world, open_counts=_raise(boom))
    with caplog.at_level(logging.WARNING, logger="autoassign"):
        result = scenario.build(
            conversations=repository
        ).service.perform_bulk_assignment(INBOX)
    assert result.assigned_count == 0
    assert [(s.reason, s.detail) for s in result.skips] == [
        (SkipReason.BACKEND_ERROR, boom.__name__)
    ] * 3
    assert scenario.snapshot()["ledger"] == {}
    assert "could not rank" in caplog.text
    # The next pass, with the repository back, assigns them.
    assert scenario.build().service.perform_bulk_assignment(INBOX).assigned_count == 3


def test_an_event_bus_failure_never_undoes_an_assignment(
    scenario: Any, wrap: Any, boom: Any, caplog: pytest.LogCaptureFixture
) -> None:
    scenario.setup(members=["ann"])
    scenario.convs([1, 2])
    events = wrap(scenario.backend.events, publish=_raise(boom))
    with caplog.at_level(logging.WARNING, logger="autoassign"):
        result = scenario.build(events=events).service.perform_bulk_assignment(INBOX)
    assert result.assigned_count == 2
    assert scenario.assignee(1) == "ann"
    assert scenario.assignee(2) == "ann"
    assert result.degraded == {Degradation.EVENTS_UNPUBLISHED}
    kinds = [type(e) for e in result.unpublished_events]
    assert kinds == [AssigneeChanged, ConversationUpdated] * 2
    assert [e.conversation for e in result.unpublished_events] == [1, 1, 2, 2]
    assert "event bus failed" in caplog.text


def test_one_failing_event_keeps_only_that_event(
    scenario: Any, wrap: Any, boom: Any
) -> None:
    scenario.setup(members=["ann"])
    scenario.conv(1)

    def publish(original: Any, event: object) -> None:
        if isinstance(event, ConversationUpdated):
            raise boom("down")
        original(event)

    events = wrap(scenario.backend.events, publish=publish)
    result = scenario.build(events=events).service.perform_bulk_assignment(INBOX)
    assert [type(e) for e in result.unpublished_events] == [ConversationUpdated]
    assert [type(e) for e in scenario.backend.events.events] == [AssigneeChanged]


def _stop_after_first(scenario: Any, change: Any) -> None:
    def on_event(event: object) -> None:
        if isinstance(event, ConversationUpdated) and event.conversation == 1:
            change()
            scenario.clock.advance(1)  # seen within recheck_interval (1 s)

    scenario.backend.events.subscribe(on_event)


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (lambda s: s.world.remove_inbox(INBOX), "inbox_not_found"),
        (
            lambda s: s.world.put_policy(
                AssignmentPolicy(id=1, account=ACCOUNT, enabled=False)
            ),
            "policy_disabled",
        ),
        (lambda s: s.world.unlink_policy(INBOX), "no_policy"),
        (lambda s: s.backend.add_account(ACCOUNT, features=()), "feature_disabled"),
    ],
)
def test_a_gate_closing_mid_pass_stops_it(
    scenario: Any, change: Any, detail: str
) -> None:
    scenario.setup(members=["ann", "bob"])
    scenario.convs([1, 2, 3])
    _stop_after_first(scenario, lambda: change(scenario))
    result = scenario.run()
    assert result.assigned_count == 1
    assert result.stopped is SkipReason.PASS_STOPPED
    assert [(s.conversation, s.reason, s.detail) for s in result.skips] == [
        (2, SkipReason.PASS_STOPPED, detail),
        (3, SkipReason.PASS_STOPPED, detail),
    ]
    assert scenario.assignee(2) is None
    assert scenario.assignee(3) is None


@pytest.mark.parametrize(
    ("interval", "assigned", "reads"), [(0, 1, 2), (1, 1, 2), (2, 2, 2), (10, 3, 1)]
)
def test_a_closing_gate_is_seen_within_the_recheck_interval(
    scenario: Any, wrap: Any, interval: float, assigned: int, reads: int
) -> None:
    """The gates and the membership are re-read once ``recheck_interval`` has passed
    (each claim takes 1 s here): 0 or 1 s re-read before conversation 2 and stop; 2 s
    sees the policy disabled after conversation 1 from conversation 3 on; 10 s not in
    this pass (the next pass sees it)."""
    scenario.setup(members=["ann", "bob"])
    scenario.convs([1, 2, 3])

    def claim(original: Any, *args: Any, **kwargs: Any) -> Any:
        scenario.clock.advance(1)
        return original(*args, **kwargs)

    def on_event(event: object) -> None:
        if isinstance(event, ConversationUpdated) and event.conversation == 1:
            scenario.world.put_policy(
                AssignmentPolicy(id=1, account=ACCOUNT, enabled=False)
            )

    scenario.backend.events.subscribe(on_event)
    directory = wrap(scenario.backend.directory)
    scenario.build(
        conversations=wrap(scenario.backend.conversations, claim=claim),
        directory=directory,
        recheck_interval=timedelta(seconds=interval),
    )
    result = scenario.run()
    assert result.assigned_count == assigned
    assert len(directory.called("policy_for_inbox")) == reads


@pytest.mark.parametrize("bad", [timedelta(seconds=-1), timedelta(hours=2), 1, None])
def test_the_recheck_interval_is_validated(scenario: Any, bad: Any) -> None:
    scenario.setup()
    with pytest.raises(ConfigurationError, match="recheck_interval"):
        scenario.build(recheck_interval=bad)
