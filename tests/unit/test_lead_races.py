"""Races between workers that the reserve-then-claim protocol must survive, and the job
when the lease store is down."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from autoassign import AssigneeChanged, AssignmentPolicy, SkipReason
from autoassign.errors import BackendUnavailable

ACCOUNT = 1
INBOX = 10


def _limited(limit: int) -> AssignmentPolicy:
    return AssignmentPolicy(id=1, account=ACCOUNT, fair_distribution_limit=limit)


def test_losing_to_a_worker_that_chose_the_same_agent_keeps_their_ledger_entry(
    scenario: Any, wrap: Any
) -> None:
    """Workers A and B both reserve (ann, conversation 1); A's claim wins. B's failed
    claim must not discard the entry, which is A's now: otherwise ann would be
    undercounted and could go over her limit."""
    scenario.setup(members=["ann"], policy=_limited(2))
    scenario.convs([1])

    def other_worker_wins(
        original: Any, conversation: Any, agent: Any, **kw: Any
    ) -> bool:
        assert original(conversation, agent, **kw)  # worker A assigns it to ann
        return False  # ... so worker B's claim fails

    repository = wrap(scenario.world, claim=other_worker_wins)
    result = scenario.build(conversations=repository).service.perform_bulk_assignment(
        INBOX
    )
    assert result.assigned_count == 0
    assert scenario.assignee(1) == "ann"
    assert set(scenario.snapshot()["ledger"][(INBOX, "ann")]) == {1}


def test_losing_to_a_worker_that_chose_another_agent_releases_the_reservation(
    scenario: Any, wrap: Any
) -> None:
    scenario.setup(members=["ann"], policy=_limited(2))
    scenario.convs([1])

    def bob_wins(original: Any, conversation: Any, agent: Any, **kw: Any) -> bool:
        assert original(conversation, "bob")
        return False

    repository = wrap(scenario.world, claim=bob_wins)
    scenario.build(conversations=repository).service.perform_bulk_assignment(INBOX)
    assert scenario.assignee(1) == "bob"
    assert (INBOX, "ann") not in scenario.snapshot()["ledger"]


def test_a_reservation_by_another_worker_mid_pass_is_never_overshot(
    scenario: Any,
) -> None:
    """The pass's snapshot says ann has room, but another worker's reservation lands
    in the ledger mid-pass: the pass's own reservation is checked against the limit
    atomically, so ann never goes over it."""
    scenario.setup(members=["ann"], policy=_limited(2))
    scenario.convs([1, 2, 3])
    window = timedelta(hours=1)  # the policy's default window
    ledger = scenario.backend.ledger
    landed = []

    def on_event(event: object) -> None:
        if isinstance(event, AssigneeChanged) and not landed:
            now = scenario.clock.now()
            landed.append(
                ledger.try_record(INBOX, "ann", 900, now=now, window=window, limit=2)
            )

    scenario.backend.events.subscribe(on_event)
    result = scenario.run()
    assert landed == [True]
    assert [a.conversation for a in result.assignments] == [1]
    assert [s.reason for s in result.skips] == [SkipReason.ALL_RATE_LIMITED] * 2
    usage = ledger.usage(INBOX, ["ann"], now=scenario.clock.now(), window=window)
    assert usage["ann"].count == 2


def test_a_job_runs_unleased_when_the_lease_store_is_down(
    scenario: Any, wrap: Any, caplog: pytest.LogCaptureFixture
) -> None:
    scenario.setup(members=["ann"])
    scenario.convs([1, 2])

    def down(original: Any, *args: Any, **kwargs: Any) -> Any:
        raise BackendUnavailable("lease store down")

    lease = wrap(
        scenario.backend.lease, acquire=down, mark_pending=down, take_pending=down
    )
    app = scenario.build(lease=lease, strict=False)
    with caplog.at_level(logging.WARNING, logger="autoassign"):
        outcome = app.job.run(INBOX)
    assert outcome.unleased
    assert outcome.error is None
    assert outcome.assigned_count == 2
    assert "lease unavailable" in caplog.text


def test_a_strict_job_raises_when_the_lease_store_is_down(
    scenario: Any, wrap: Any
) -> None:
    scenario.setup(members=["ann"])
    scenario.convs([1])

    def down(original: Any, *args: Any, **kwargs: Any) -> Any:
        raise BackendUnavailable("lease store down")

    app = scenario.build(lease=wrap(scenario.backend.lease, acquire=down))
    with pytest.raises(BackendUnavailable):
        app.job.run(INBOX)
    assert scenario.assignee(1) is None


def test_capacity_policies_are_read_once_per_pass(scenario: Any, wrap: Any) -> None:
    """Configuration is read once per pass (changes take effect on the next pass); only
    open counts are re-read per conversation."""
    scenario.setup(members=["ann", "bob"])
    scenario.convs([1, 2, 3])
    directory = wrap(scenario.world)
    result = scenario.build(directory=directory).service.perform_bulk_assignment(INBOX)
    assert result.assigned_count == 3
    assert len(directory.called("capacity_policies_for_inbox")) == 1
