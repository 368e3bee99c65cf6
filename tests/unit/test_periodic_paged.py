"""The periodic cycle's batched paths (issue 17): a directory that reads inboxes with
their policies a page at a time (``PagedPolicyDirectory``) and a lease that marks a page
pending in one call (``BatchPendingLease``), used when the port's class has them, with
the same outcome as the per-account, per-inbox calls they replace."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from autoassign import AssignmentPolicy, PeriodicAssignmentJob
from autoassign.jobs import DEFAULT_PENDING_TTL
from autoassign.ports import BatchPendingLease, PagedPolicyDirectory


class Forwarding:
    """A proxy that records calls and forwards them through ``__getattr__`` (so its
    class declares no optional capability); ``hooks[name]`` replaces a call with
    ``hook(original, *args, **kwargs)``."""

    def __init__(self, target: Any, **hooks: Callable[..., Any]) -> None:
        self._target = target
        self._hooks = hooks
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr
        hook = self._hooks.get(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return (
                attr(*args, **kwargs) if hook is None else hook(attr, *args, **kwargs)
            )

        return call

    def count(self, name: str) -> int:
        return self.calls.count(name)


class PagedDirectory(Forwarding):
    """Declares ``PagedPolicyDirectory`` on its class."""

    def iter_inboxes_with_policies(self, *args: Any, **kwargs: Any) -> Any:
        return self.__getattr__("iter_inboxes_with_policies")(*args, **kwargs)


class BatchLease(Forwarding):
    """Declares ``BatchPendingLease`` on its class."""

    def mark_pending_many(self, *args: Any, **kwargs: Any) -> Any:
        return self.__getattr__("mark_pending_many")(*args, **kwargs)


def _world(scenario: Any) -> list[Any]:
    """Six accounts (one unflagged) with eligible and ineligible inboxes; returns the
    eligible inboxes in cycle order."""
    b = scenario.backend
    eligible = []
    for account in range(1, 7):
        b.add_account(account, features=() if account == 4 else ("assignment_v2",))
        for number in range(5):
            inbox = account * 100 + number
            b.add_inbox(
                inbox,
                account=account,
                members=["ann"],
                enable_auto_assignment=number != 3,
            )
            if number == 4:
                continue  # no policy linked
            policy = AssignmentPolicy(
                id=f"p{inbox}", account=account, enabled=number != 2
            )
            b.add_policy(policy, inboxes=[inbox])
            if account != 4 and number in (0, 1):
                eligible.append(inbox)
    return eligible


def _job(scenario: Any, directory: Any, lease: Any = None, **options: Any) -> Any:
    b = scenario.backend
    return PeriodicAssignmentJob(
        directory=directory,
        lease=b.lease if lease is None else lease,
        jobs=options.pop("jobs", b.jobs),
        batch_size=options.pop("batch_size", 3),
        **options,
    )


def test_the_shipped_memory_adapters_declare_the_capabilities(scenario: Any) -> None:
    assert isinstance(scenario.backend.world, PagedPolicyDirectory)
    assert isinstance(scenario.backend.lease, BatchPendingLease)


def test_paged_and_per_inbox_paths_give_the_same_outcome(
    make_scenario: Callable[[], Any],
) -> None:
    paged_scenario, plain_scenario = make_scenario(), make_scenario()
    expected = _world(paged_scenario)
    assert _world(plain_scenario) == expected
    paged = PagedDirectory(paged_scenario.world)
    batch_lease = BatchLease(paged_scenario.backend.lease)
    plain = Forwarding(plain_scenario.world)
    plain_lease = Forwarding(plain_scenario.backend.lease)

    for _cycle in range(2):
        fast = _job(paged_scenario, paged, batch_lease, strict=True).run()
        slow = _job(plain_scenario, plain, plain_lease, strict=True).run()
        assert fast == slow
    assert slow.already_due == tuple(expected)
    assert paged_scenario.backend.jobs.queued == tuple(expected)
    assert plain_scenario.backend.jobs.queued == tuple(expected)

    # the batched path: one read per page of inboxes, one mark call per page
    assert paged.count("iter_inboxes") == paged.count("policy_for_inbox") == 0
    accounts_pages = 2  # 5 flagged accounts in pages of 3
    assert paged.count("iter_inboxes_with_policies") == 2 * accounts_pages
    assert batch_lease.count("mark_pending") == 0
    assert 0 < batch_lease.count("mark_pending_many") <= 2 * 8  # pages of <= 3 pairs
    # the fallback: the per-account and per-inbox calls
    assert plain.count("iter_inboxes_with_policies") == 0
    assert plain.count("iter_inboxes") == 2 * 5
    assert plain.count("policy_for_inbox") == 2 * 5 * 4
    assert plain_lease.count("mark_pending_many") == 0
    assert plain_lease.count("mark_pending") == 2 * len(expected)


def test_a_failed_paged_read_falls_back_account_by_account(
    scenario: Any, boom: Any, caplog: pytest.LogCaptureFixture
) -> None:
    b = scenario.backend
    for account in (1, 2, 3):
        b.add_account(account)
        for inbox in (account * 10, account * 10 + 1):
            b.add_inbox(inbox, account=account, members=["ann"])
            b.add_policy(AssignmentPolicy(id=inbox, account=account), inboxes=[inbox])

    def paged_read(original: Any, accounts: Any, **kw: Any) -> Any:
        pages = original(accounts, **kw)
        yield next(pages)  # account 1's two inboxes
        raise boom("the join is broken")

    def per_account(original: Any, account: Any, **kw: Any) -> Any:
        if account == 2:
            raise boom("account 2 is broken")
        return original(account, **kw)

    directory = PagedDirectory(
        scenario.world,
        iter_inboxes_with_policies=paged_read,
        iter_inboxes=per_account,
    )
    with caplog.at_level(logging.WARNING, logger="autoassign"):
        outcome = _job(scenario, directory, batch_size=2).run()
    assert outcome.enqueued == (10, 11, 30, 31)
    assert outcome.already_due == ()
    assert outcome.failed_accounts == (2,)
    assert "account by account" in caplog.text
    assert "account 2" in caplog.text
    assert b.jobs.queued == (10, 11, 30, 31)

    with pytest.raises(boom, match="join"):
        _job(scenario, directory, batch_size=2, strict=True).run()


def test_a_batch_lease_marks_each_page_in_one_call(scenario: Any) -> None:
    b = scenario.backend
    b.add_account(1)
    for inbox in range(10, 17):
        b.add_inbox(inbox, account=1, members=["ann"])
        b.add_policy(AssignmentPolicy(id=inbox, account=1), inboxes=[inbox])
    assert b.lease.mark_pending(12, ttl=DEFAULT_PENDING_TTL)
    lease = BatchLease(b.lease)

    outcome = _job(scenario, b.world, lease).run()

    assert outcome.enqueued == (10, 11, 13, 14, 15, 16)
    assert outcome.already_due == (12,)
    assert lease.count("mark_pending_many") == 3  # 7 inboxes in pages of 3
    assert lease.count("mark_pending") == 0
    assert all(b.lease.is_pending(inbox) for inbox in range(10, 17))


def test_a_failed_batch_mark_enqueues_every_inbox_anyway(
    scenario: Any, boom: Any, caplog: pytest.LogCaptureFixture
) -> None:
    scenario.setup()

    def broken(original: Any, *args: Any, **kw: Any) -> Any:
        raise boom("redis is down")

    lease = BatchLease(scenario.backend.lease, mark_pending_many=broken)
    with caplog.at_level(logging.WARNING, logger="autoassign"):
        outcome = _job(scenario, scenario.world, lease).run()
    assert outcome.enqueued == (scenario.INBOX,)
    assert scenario.backend.jobs.queued == (scenario.INBOX,)
    assert "enqueueing anyway" in caplog.text
    assert lease.count("mark_pending") == 0


def test_a_batch_mark_with_the_wrong_number_of_answers_enqueues_anyway(
    scenario: Any, caplog: pytest.LogCaptureFixture
) -> None:
    scenario.setup()

    def short(original: Any, inboxes: Any, **kw: Any) -> Any:
        return list(original(inboxes, **kw))[:-1]

    lease = BatchLease(scenario.backend.lease, mark_pending_many=short)
    with caplog.at_level(logging.WARNING, logger="autoassign"):
        outcome = _job(scenario, scenario.world, lease).run()
    assert outcome.enqueued == (scenario.INBOX,)
    assert "answered 0 marks for 1 inboxes" in caplog.text


def _three_inboxes(scenario: Any) -> Any:
    """Account 1 with inboxes 10, 11 and 12, each with its own policy; the backend."""
    b = scenario.backend
    b.add_account(1)
    for inbox in (10, 11, 12):
        b.add_inbox(inbox, account=1, members=["ann"])
        b.add_policy(AssignmentPolicy(id=inbox, account=1), inboxes=[inbox])
    return b


def test_a_failed_enqueue_clears_its_mark_in_the_batched_path(
    scenario: Any, boom: Any
) -> None:
    b = _three_inboxes(scenario)

    def enqueue(original: Any, inbox: Any) -> Any:
        if inbox == 11:
            raise boom("queue refused 11")
        return original(inbox)

    jobs = Forwarding(b.jobs, enqueue_assignment=enqueue)
    outcome = _job(scenario, b.world, jobs=jobs).run()
    assert outcome.enqueued == (10, 12)
    assert outcome.already_due == (11,)  # as request_assignment reports it
    assert b.lease.is_pending(11) is False  # the next request tries again
    assert b.lease.is_pending(10)
    assert b.lease.is_pending(12)

    b.lease.take_pending(11)
    with pytest.raises(boom):
        _job(scenario, b.world, jobs=jobs, strict=True).run()


def test_per_account_path_requests_the_inboxes_read_before_a_failure(
    scenario: Any, boom: Any
) -> None:
    _three_inboxes(scenario)

    def policy(original: Any, inbox: Any) -> Any:
        if inbox == 11:
            raise boom("policy row unreadable")
        return original(inbox)

    directory = Forwarding(scenario.world, policy_for_inbox=policy)
    outcome = _job(scenario, directory).run()
    assert outcome.enqueued == (10,)
    assert outcome.failed_accounts == (1,)
