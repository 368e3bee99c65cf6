"""The per-inbox job (issue 2, behaviour 10): a deleted inbox returns early; the inbox
lease keeps two passes from overlapping; a trigger that arrives while a pass runs is never
lost; errors are logged with the inbox id and swallowed, or re-raised in strict mode."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from autoassign import AssigneeChanged, AssignmentJob, GateFailure

ACCOUNT, INBOX = 1, 10


def test_a_job_runs_a_pass(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.convs([1, 2])
    outcome = scenario.app.job.run(INBOX)
    assert outcome.inbox == INBOX
    assert outcome.assigned_count == 2
    assert len(outcome.results) == 1
    assert not outcome.handed_off
    assert outcome.error is None
    assert not scenario.backend.lease.is_held(INBOX)


def test_the_job_passes_its_limit_on(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.convs([1, 2, 3])
    outcome = scenario.app.job.run(INBOX, limit=2)
    # Each pass takes a page of 2; a full page drains on.
    assert [result.assigned_count for result in outcome.results] == [2, 1]


def test_lease_held_by_another_coalesces_without_a_pass(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.conv(1)
    holder = scenario.backend.lease.acquire(INBOX, ttl=timedelta(minutes=5))
    assert holder is not None

    outcome = scenario.app.job.run(INBOX)

    assert outcome.handed_off
    assert outcome.results == ()
    assert scenario.assignee(1) is None
    # The request is remembered for the holder.
    assert scenario.backend.lease.take_pending(INBOX)
    holder.release()


def _during_first_pass(scenario: Any, action: Any) -> None:
    fired: list[bool] = []

    def on_event(event: object) -> None:
        if isinstance(event, AssigneeChanged) and not fired:
            fired.append(True)
            action()

    scenario.backend.events.subscribe(on_event)


def test_a_job_arriving_during_a_pass_makes_the_holder_run_again(
    scenario: Any,
) -> None:
    """Simulated by running the job while the holder's pass holds the lease: it is
    coalesced, and the holder runs another pass that picks up the new conversation."""
    scenario.setup(members=["ann"])
    scenario.conv(1)
    inner = []

    def second_worker() -> None:
        scenario.conv(2)  # work that arrives mid-pass
        inner.append(scenario.app.job.run(INBOX))

    _during_first_pass(scenario, second_worker)
    outcome = scenario.app.job.run(INBOX)

    assert inner[0].handed_off
    assert inner[0].results == ()
    assert len(outcome.results) == 2
    assert scenario.assigned_to("ann") == [1, 2]
    assert outcome.assigned_count == 2


def test_a_trigger_during_a_pass_is_never_lost(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.conv(1)

    def trigger() -> None:
        record = scenario.conv(2)
        scenario.app.triggers.on_conversation_saved(None, record)

    _during_first_pass(scenario, trigger)
    outcome = scenario.app.job.run(INBOX)
    assert len(outcome.results) == 2
    assert scenario.assigned_to("ann") == [1, 2]


def test_without_a_new_request_the_job_runs_once(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.conv(1)
    scenario.app.triggers.request(INBOX)  # marked before the job starts
    outcome = scenario.app.job.run(INBOX)
    assert len(outcome.results) == 1


def test_two_passes_never_overlap(scenario: Any, wrap: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.convs([1, 2, 3])
    depth = []
    inside = []

    def unassigned_open(original: Any, *args: Any, **kw: Any) -> Any:
        depth.append(1)
        inside.append(len(depth))
        try:
            if len(depth) == 1:
                # A second worker tries to run the same inbox meanwhile.
                assert app.job.run(INBOX).handed_off
            return original(*args, **kw)
        finally:
            depth.pop()

    app = scenario.build(
        conversations=wrap(scenario.world, unassigned_open=unassigned_open)
    )
    app.job.run(INBOX)
    assert max(inside) == 1


def test_a_deleted_inbox_returns_early(scenario: Any) -> None:
    scenario.setup()
    scenario.world.remove_inbox(INBOX)
    scenario.app.triggers.request(INBOX)
    scenario.backend.jobs.pop()
    scenario.backend.lease.mark_pending(INBOX, ttl=timedelta(minutes=5))
    outcome = scenario.app.job.run(INBOX)
    assert [r.gate for r in outcome.results] == [GateFailure.INBOX_NOT_FOUND]
    assert outcome.error is None
    assert scenario.backend.jobs.queued == ()


def test_errors_are_logged_with_the_inbox_id_and_swallowed(
    scenario: Any, wrap: Any, boom: Any, caplog: pytest.LogCaptureFixture
) -> None:
    scenario.setup(members=["ann"])
    scenario.conv(1)

    def unassigned_open(original: Any, *args: Any, **kw: Any) -> Any:
        raise boom("database down")

    app = scenario.build(
        conversations=wrap(scenario.world, unassigned_open=unassigned_open),
        strict=False,
    )
    with caplog.at_level(logging.ERROR, logger="autoassign"):
        outcome = app.job.run(INBOX)
    assert outcome.error == "Boom: database down"
    assert outcome.results == ()
    records = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(records) == 1
    assert "inbox 10" in records[0].getMessage()
    assert records[0].autoassign_inbox == INBOX  # type: ignore[attr-defined]
    # The lease was released: the next run can go.
    assert not scenario.backend.lease.is_held(INBOX)
    assert scenario.build().job.run(INBOX).assigned_count == 1


def test_errors_are_reraised_in_strict_mode(
    scenario: Any, wrap: Any, boom: Any
) -> None:
    scenario.setup(members=["ann"])
    scenario.conv(1)

    def inbox(original: Any, *args: Any) -> Any:
        raise boom("directory down")

    app = scenario.build(directory=wrap(scenario.world, inbox=inbox), strict=True)
    with pytest.raises(boom):
        app.job.run(INBOX)
    assert not scenario.backend.lease.is_held(INBOX)


def test_an_error_with_a_request_pending_requeues(
    scenario: Any, wrap: Any, boom: Any
) -> None:
    scenario.setup(members=["ann"])

    def unassigned_open(original: Any, *args: Any, **kw: Any) -> Any:
        scenario.backend.lease.mark_pending(INBOX, ttl=timedelta(minutes=5))
        raise boom("database down")

    app = scenario.build(
        conversations=wrap(scenario.world, unassigned_open=unassigned_open),
        strict=False,
    )
    outcome = app.job.run(INBOX)
    assert outcome.error is not None
    assert scenario.backend.jobs.queued == (INBOX,)


def test_max_rounds_then_requeue(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.conv(1)
    app = scenario.app
    job = AssignmentJob(
        service=app.service,
        lease=scenario.backend.lease,
        jobs=scenario.backend.jobs,
        strict=True,
        max_rounds=3,
    )
    passes = []

    def on_result_pass(*args: Any, **kw: Any) -> None:
        passes.append(1)
        # Every pass sees a new request arrive.
        scenario.backend.lease.mark_pending(INBOX, ttl=timedelta(minutes=5))

    original = app.service.perform_bulk_assignment

    def perform(inbox: Any, *, limit: Any = None) -> Any:
        on_result_pass()
        return original(inbox, limit=limit)

    job.service = _ServiceProxy(app.service, perform)  # type: ignore[assignment]
    outcome = job.run(INBOX)
    assert len(outcome.results) == 3
    assert len(passes) == 3
    assert scenario.backend.jobs.queued == (INBOX,)


class _ServiceProxy:
    def __init__(self, service: Any, perform: Any) -> None:
        self._service = service
        self.perform_bulk_assignment = perform

    def __getattr__(self, name: str) -> Any:
        return getattr(self._service, name)


def test_an_expired_lease_can_be_taken_over(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.conv(1)
    stale = scenario.backend.lease.acquire(INBOX, ttl=timedelta(minutes=5))
    assert stale is not None
    scenario.clock.advance(5 * 60)
    assert scenario.app.job.run(INBOX).assigned_count == 1
    # The stale holder's release does not free someone else's lease.
    fresh = scenario.backend.lease.acquire(INBOX, ttl=timedelta(minutes=5))
    assert fresh is not None
    stale.release()
    assert scenario.backend.lease.is_held(INBOX)
    fresh.release()
