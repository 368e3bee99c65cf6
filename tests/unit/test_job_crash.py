"""A crashed worker does not stall its inbox (issue 14, item 3): once the dead holder's
lease expires, the inbox is served by the next trigger, by the periodic cycle, or, with
a delay-capable queue and no trigger at all, by the re-run the handed-off job asked for.
Memory backend and FakeClock: the logic; tests/reliability has the real processes."""

from __future__ import annotations

import warnings
from collections import deque
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoassign import AssignmentPolicy, TriggerOutcome
from autoassign.adapters.memory import build_in_memory
from autoassign.jobs import DEFAULT_RERUN_SLACK
from autoassign.testing import FakeClock, InMemoryBackend

ACCOUNT, INBOX = 1, 10
LEASE_TTL = timedelta(seconds=12)


class PlainQueue:
    """A host's JobQueue without the delayed-run capability."""

    def __init__(self) -> None:
        self.queue: deque[Any] = deque()

    def enqueue_assignment(self, inbox: Any) -> None:
        self.queue.append(inbox)

    def drain(self, run: Any) -> int:
        ran = 0
        while self.queue:
            run(self.queue.popleft())
            ran += 1
        return ran


def _build(scenario: Any, **options: Any) -> Any:
    scenario.setup(members=["ann"])
    return scenario.build(lease_ttl=LEASE_TTL, **options)


def _crashed_holder(scenario: Any) -> Any:
    """A worker took the lease for its pass and died: it never releases it."""
    dead = scenario.backend.lease.acquire(INBOX, ttl=LEASE_TTL)
    assert dead is not None
    return dead


def _handed_off_to_a_dead_holder(scenario: Any, queue: PlainQueue) -> Any:
    """A worker died holding the lease; a save then enqueues a job, which hands off."""
    app = _build(scenario, jobs=queue)
    _crashed_holder(scenario)
    scenario.conv(1)
    assert app.triggers.request(INBOX) is TriggerOutcome.ENQUEUED
    outcomes = [app.job.run(inbox) for inbox in list(queue.queue)]
    queue.queue.clear()
    assert [o.handed_off for o in outcomes] == [True]
    return app, outcomes[0]


def test_later_triggers_serve_the_inbox_once_the_dead_lease_expires(
    scenario: Any,
) -> None:
    queue = PlainQueue()
    app, outcome = _handed_off_to_a_dead_holder(scenario, queue)
    assert outcome.rerun_after is None  # the plain queue cannot delay
    # While the (dead) holder's lease lasts, requests are coalesced onto it.
    scenario.clock.advance(LEASE_TTL - timedelta(seconds=1))
    assert app.triggers.request(INBOX) is TriggerOutcome.COALESCED
    scenario.clock.advance(timedelta(seconds=1))
    # The lease has expired: the next trigger enqueues at once (it used to wait for
    # the 15-minute mark).
    assert app.triggers.request(INBOX) is TriggerOutcome.ENQUEUED
    queue.drain(app.job.run)
    assert scenario.assignee(1) == "ann"


def test_the_periodic_cycle_serves_the_inbox_once_the_dead_lease_expires(
    scenario: Any,
) -> None:
    queue = PlainQueue()
    app, _outcome = _handed_off_to_a_dead_holder(scenario, queue)
    assert scenario.assignee(1) is None
    assert app.periodic.run().already_due == (INBOX,)  # the holder's lease lasts
    scenario.clock.advance(LEASE_TTL)
    assert app.periodic.run().enqueued == (INBOX,)
    queue.drain(app.job.run)
    assert scenario.assignee(1) == "ann"


def test_a_delay_capable_queue_reruns_at_the_lease_expiry_without_any_trigger(
    scenario: Any,
) -> None:
    app = _build(scenario)
    jobs = scenario.backend.jobs
    _crashed_holder(scenario)
    scenario.clock.advance(timedelta(seconds=2))
    scenario.conv(1)
    app.triggers.request(INBOX)
    [outcome] = [app.job.run(jobs.pop())]
    assert outcome.handed_off
    assert outcome.rerun_after == timedelta(seconds=10) + DEFAULT_RERUN_SLACK
    assert [due for due, _ in jobs.delayed] == [
        scenario.clock.now() + outcome.rerun_after
    ]
    # Nothing is due before the dead lease expires; no trigger comes.
    scenario.clock.advance(timedelta(seconds=10))
    assert jobs.drain(app.job.run) == 0
    scenario.clock.advance(DEFAULT_RERUN_SLACK)
    assert jobs.drain(app.job.run) == 1
    assert scenario.assignee(1) == "ann"


def test_one_rerun_per_holder_however_many_jobs_hand_off(scenario: Any) -> None:
    app = _build(scenario)
    jobs = scenario.backend.jobs
    _crashed_holder(scenario)
    for _ in range(5):
        # Jobs that did not come through a fresh mark (requeues, retries, the
        # periodic cycle racing a trigger) all hand off to the same holder.
        assert app.job.run(INBOX).handed_off
    assert len(jobs.delayed) == 1


def test_a_live_holder_takes_a_handed_off_request_after_its_pass(
    scenario: Any,
) -> None:
    """No request is lost: the job that hands off leaves the mark for the holder,
    which runs again once its pass ends (simulated holder: acquire, then the job's own
    loop after release)."""
    app = _build(scenario)
    holder = scenario.backend.lease.acquire(INBOX, ttl=LEASE_TTL)
    assert holder is not None
    scenario.conv(1)
    app.triggers.request(INBOX)
    assert app.job.run(scenario.backend.jobs.pop()).handed_off
    holder.release()
    assert scenario.backend.lease.take_pending(INBOX)  # what the holder does next


def test_coalesced_is_a_deprecated_alias_of_handed_off(scenario: Any) -> None:
    app = _build(scenario)
    _crashed_holder(scenario)
    outcome = app.job.run(INBOX)
    with pytest.warns(DeprecationWarning, match="handed_off"):
        assert outcome.coalesced is True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert outcome.handed_off is True


# -- a property: requests are never lost, duplicates are bounded ---------------------

_OPS = st.lists(
    st.one_of(
        st.just(("trigger",)),
        st.just(("job",)),
        st.just(("holder",)),
        st.just(("finish",)),
        st.just(("die",)),
        st.tuples(st.just("advance"), st.integers(1, 15)),
    ),
    max_size=30,
)


@settings(max_examples=150)
@given(ops=_OPS, delayed=st.booleans())
def test_no_request_is_lost_and_jobs_stay_bounded(
    ops: list[tuple[Any, ...]], delayed: bool
) -> None:
    """Random interleavings of triggers (each with a new conversation), queued jobs,
    another worker's pass (which may finish or die), and time. Afterwards, with one
    trigger (or none at all with a delay-capable queue) once every lease has expired,
    every conversation is assigned; and the jobs enqueued stay within one per trigger
    plus one delayed re-run per lease taken."""
    clock = FakeClock()
    backend = InMemoryBackend(clock=clock)
    backend.add_account(ACCOUNT)
    backend.add_inbox(INBOX, account=ACCOUNT, members=["ann"])

    backend.add_policy(AssignmentPolicy(id=1, account=ACCOUNT), inboxes=[INBOX])
    backend.set_status(ACCOUNT, "ann", "online")
    plain = PlainQueue()
    counts = {"immediate": 0, "delayed": 0, "leases": 0, "triggers": 0}

    class Counting:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def enqueue_assignment(self, inbox: Any) -> None:
            counts["immediate"] += 1
            self.inner.enqueue_assignment(inbox)

    class CountingDelayed(Counting):
        def enqueue_assignment_after(self, inbox: Any, *, delay: timedelta) -> None:
            counts["delayed"] += 1
            self.inner.enqueue_assignment_after(inbox, delay=delay)

    jobs = CountingDelayed(backend.jobs) if delayed else Counting(plain)
    lease = backend.lease
    original_acquire = lease.acquire

    def acquire(inbox: Any, *, ttl: timedelta) -> Any:
        got = original_acquire(inbox, ttl=ttl)
        counts["leases"] += got is not None
        return got

    lease.acquire = acquire  # type: ignore[method-assign]
    memory_jobs = backend.jobs
    backend.jobs = jobs  # type: ignore[assignment]
    app = build_in_memory(backend, environ={}, strict=True, lease_ttl=LEASE_TTL)
    queue: Any = memory_jobs if delayed else plain
    holder: list[Any] = []
    made = 0

    def next_job() -> Any:
        return (
            queue.pop() if delayed else (plain.queue.popleft() if plain.queue else None)
        )

    for op in ops:
        kind = op[0]
        if kind == "trigger":
            backend.add_conversation(made, inbox=INBOX)
            made += 1
            counts["triggers"] += 1
            app.triggers.request(INBOX)
        elif kind == "job":
            inbox = next_job()
            if inbox is not None:
                app.job.run(inbox)
        elif kind == "holder" and not holder:
            got = lease.acquire(INBOX, ttl=LEASE_TTL)
            if got is not None:
                lease.take_pending(INBOX)  # the holder's pass starts
                holder.append(got)
        elif kind == "finish" and holder:
            holder.pop().release()
            if lease.take_pending(INBOX):  # the holder's job loop goes on
                app.job.run(INBOX)
        elif kind == "die" and holder:
            holder.pop()  # never released
        elif kind == "advance":
            clock.advance(op[1])
    holder.clear()  # any remaining holder dies
    clock.advance(LEASE_TTL + DEFAULT_RERUN_SLACK)
    if not delayed:
        app.triggers.request(INBOX)
    for _ in range(100):
        inbox = next_job()
        if inbox is None:
            break
        app.job.run(inbox)
        clock.advance(LEASE_TTL + DEFAULT_RERUN_SLACK)
    unassigned = [
        c.id for c in backend.world.conversations.values() if c.assignee is None
    ]
    assert unassigned == []
    assert counts["immediate"] <= counts["triggers"] + (0 if delayed else 1)
    assert counts["delayed"] <= counts["leases"]
