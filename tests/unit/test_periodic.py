"""The periodic cycle (issue 2, behaviour 9): flagged accounts in batches, their inboxes
with a linked policy in batches; one job per inbox that passes its gates."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from autoassign import AssignmentPolicy, PeriodicAssignmentJob

ACCOUNT, INBOX = 1, 10


def _inbox(
    scenario: Any,
    inbox: Any,
    account: Any,
    *,
    policy: Any = "p",
    enabled: bool = True,
    auto: bool = True,
) -> None:
    scenario.backend.add_inbox(
        inbox, account=account, members=["ann"], enable_auto_assignment=auto
    )
    if policy is not None:
        scenario.backend.add_policy(
            AssignmentPolicy(id=f"{policy}-{inbox}", account=account, enabled=enabled),
            inboxes=[inbox],
        )


def test_only_eligible_inboxes_of_flagged_accounts_are_enqueued(scenario: Any) -> None:
    b = scenario.backend
    b.add_account(1)
    b.add_account(2, features=())
    b.add_account(3, features=("advanced_assignment",))
    _inbox(scenario, "ok", 1)
    _inbox(scenario, "no-policy", 1, policy=None)
    _inbox(scenario, "disabled", 1, enabled=False)
    _inbox(scenario, "auto-off", 1, auto=False)
    _inbox(scenario, "unflagged", 2)
    _inbox(scenario, "other-flag", 3)

    outcome = scenario.app.periodic.run()

    assert outcome.enqueued == ("ok",)
    assert b.jobs.queued == ("ok",)
    assert outcome.failed_accounts == ()


def test_batches_are_respected(scenario: Any, wrap: Any) -> None:
    b = scenario.backend
    expected = []
    for account in range(1, 6):
        b.add_account(account)
        for number in range(4):
            inbox = account * 100 + number
            _inbox(scenario, inbox, account)
            expected.append(inbox)
    b.add_account(99, features=())
    batches: list[tuple[str, int]] = []

    def iter_accounts(original: Any, **kw: Any) -> Any:
        for batch in original(**kw):
            batches.append(("accounts", len(batch)))
            yield batch

    def iter_inboxes(original: Any, account: Any, **kw: Any) -> Any:
        for batch in original(account, **kw):
            batches.append(("inboxes", len(batch)))
            yield batch

    directory = wrap(
        scenario.world, iter_accounts=iter_accounts, iter_inboxes=iter_inboxes
    )
    job = PeriodicAssignmentJob(
        directory=directory, lease=b.lease, jobs=b.jobs, batch_size=3, strict=True
    )

    outcome = job.run()

    assert sorted(outcome.enqueued) == sorted(expected)
    assert all(size <= 3 for _, size in batches)
    assert [size for kind, size in batches if kind == "accounts"] == [3, 2]
    assert all(kw["batch_size"] == 3 for _, kw in directory.called("iter_accounts"))
    assert all(kw["batch_size"] == 3 for _, kw in directory.called("iter_inboxes"))
    assert all(
        kw["feature"] == "assignment_v2" for _, kw in directory.called("iter_accounts")
    )


def test_batch_size_option_reaches_the_cycle(scenario: Any) -> None:
    scenario.setup()
    assert scenario.build(periodic_batch_size=7).periodic.batch_size == 7


def test_an_account_error_is_logged_and_the_cycle_goes_on(
    scenario: Any, wrap: Any, boom: Any, caplog: pytest.LogCaptureFixture
) -> None:
    b = scenario.backend
    for account in (1, 2, 3):
        b.add_account(account)
        _inbox(scenario, account * 10, account)

    def iter_inboxes(original: Any, account: Any, **kw: Any) -> Any:
        if account == 2:
            raise boom("account 2 is broken")
        return original(account, **kw)

    directory = wrap(scenario.world, iter_inboxes=iter_inboxes)
    job = PeriodicAssignmentJob(directory=directory, lease=b.lease, jobs=b.jobs)
    with caplog.at_level(logging.ERROR, logger="autoassign"):
        outcome = job.run()
    assert outcome.enqueued == (10, 30)
    assert outcome.failed_accounts == (2,)
    assert "account 2" in caplog.text

    strict = PeriodicAssignmentJob(
        directory=directory, lease=b.lease, jobs=b.jobs, strict=True
    )
    with pytest.raises(boom):
        strict.run()


def test_inboxes_already_due_are_not_enqueued_twice(scenario: Any) -> None:
    scenario.setup()
    first = scenario.app.periodic.run()
    second = scenario.app.periodic.run()
    assert first.enqueued == (INBOX,)
    assert second.enqueued == ()
    assert second.already_due == (INBOX,)
    assert scenario.backend.jobs.queued == (INBOX,)


def test_periodic_then_jobs_assign_the_backlog(scenario: Any) -> None:
    scenario.setup(members=["ann", "bob"])
    scenario.convs([1, 2, 3, 4])
    scenario.app.periodic.run()
    ran = scenario.backend.jobs.drain(scenario.app.job.run)
    assert ran == 1
    assert scenario.assigned_to("ann") == [1, 3]
    assert scenario.assigned_to("bob") == [2, 4]
    # The next cycle enqueues again.
    assert scenario.app.periodic.run().enqueued == (INBOX,)


def test_the_cycle_itself_assigns_nothing(scenario: Any) -> None:
    scenario.setup()
    scenario.conv(1)
    scenario.app.periodic.run()
    assert scenario.assignee(1) is None
    assert scenario.backend.events.events == []
