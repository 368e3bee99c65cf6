"""A burst bigger than the bulk limit drains (issue 14, item 1): a job whose pass
assigned a full page runs another, up to ``max_rounds`` passes per run, then re-enqueues
itself, so other inboxes' jobs run in between. A pass that assigns less than a page, or
that stops because nobody can take more, ends the drain."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from autoassign import AssignmentJob, AssignmentPolicy, SkipReason, TriggerOutcome
from autoassign.adapters.memory import build_in_memory
from autoassign.testing import FakeClock, InMemoryBackend

ACCOUNT, INBOX, OTHER, POLICY = 1, 10, 20, 5
AGENTS = [f"agent-{n}" for n in range(10)]


def _world(
    backend: InMemoryBackend,
    bursts: dict[int, int],
    *,
    agents: list[str] = AGENTS,
    policy: AssignmentPolicy | None = None,
) -> None:
    backend.add_account(ACCOUNT)
    for inbox in bursts:
        backend.add_inbox(inbox, account=ACCOUNT, members=agents)
    backend.add_policy(
        policy or AssignmentPolicy(id=POLICY, account=ACCOUNT), inboxes=list(bursts)
    )
    for agent in agents:
        backend.set_status(ACCOUNT, agent, "online")
    for inbox, size in bursts.items():
        for n in range(size):
            backend.add_conversation(f"{inbox}-{n}", inbox=inbox)


def _unassigned(backend: InMemoryBackend, inbox: int) -> int:
    return sum(
        1
        for c in backend.world.conversations.values()
        if c.inbox == inbox and c.assignee is None
    )


def test_one_trigger_drains_a_burst_of_3000_through_the_queue(scenario: Any) -> None:
    backend = scenario.backend
    _world(backend, {INBOX: 3000})
    app = scenario.build()
    assert app.service.bulk_limit == 100

    assert app.triggers.request(INBOX) is TriggerOutcome.ENQUEUED
    outcomes: list[Any] = []
    ran = backend.jobs.drain(lambda inbox: outcomes.append(app.job.run(inbox)))

    assert _unassigned(backend, INBOX) == 0
    # 30 full pages and the pass that finds nothing left: 31 passes, 5 per run.
    assert [len(o.results) for o in outcomes] == [5, 5, 5, 5, 5, 5, 1]
    assert ran == 7
    assert [o.requeued for o in outcomes] == [True] * 6 + [False]
    assert sum(o.assigned_count for o in outcomes) == 3000
    assert backend.jobs.queued == ()
    assert not backend.lease.is_pending(INBOX)


def test_the_periodic_cycle_drains_a_burst_through_the_same_job(scenario: Any) -> None:
    backend = scenario.backend
    _world(backend, {INBOX: 3000})
    app = scenario.build()

    assert app.periodic.run().enqueued == (INBOX,)
    backend.jobs.drain(app.job.run)

    assert _unassigned(backend, INBOX) == 0


def test_two_inboxes_bursts_interleave(scenario: Any) -> None:
    """Neither inbox waits for the other's whole burst: their job runs alternate."""
    backend = scenario.backend
    _world(backend, {INBOX: 3000, OTHER: 1200})
    app = scenario.build()
    app.triggers.request(INBOX)
    app.triggers.request(OTHER)

    order: list[int] = []
    left_when_other_started: list[int] = []

    def run(inbox: int) -> None:
        if inbox == OTHER and not order.count(OTHER):
            left_when_other_started.append(_unassigned(backend, INBOX))
        order.append(inbox)
        app.job.run(inbox)

    backend.jobs.drain(run)

    assert _unassigned(backend, INBOX) == _unassigned(backend, OTHER) == 0
    # Each run does at most 5 pages; the other inbox's job is queued in between.
    assert order[:6] == [INBOX, OTHER, INBOX, OTHER, INBOX, OTHER]
    assert left_when_other_started == [2500]
    assert order.count(OTHER) == 3  # 12 full pages + the empty one = 13 passes
    assert order.count(INBOX) == 7


def test_nobody_able_to_take_more_ends_the_drain(scenario: Any) -> None:
    """10 agents rate-limited at 2 each: two full pages of 10, then a pass that
    assigns nobody (everyone is at the limit) ends the drain; nothing is requeued."""
    backend = scenario.backend
    policy = AssignmentPolicy(id=POLICY, account=ACCOUNT, fair_distribution_limit=2)
    _world(backend, {INBOX: 100}, policy=policy)
    app = scenario.build()

    outcome = app.job.run(INBOX, limit=10)

    assert [r.assigned_count for r in outcome.results] == [10, 10, 0]
    assert {s.reason for s in outcome.results[-1].skips} == {
        SkipReason.ALL_RATE_LIMITED
    }
    assert not outcome.requeued
    assert backend.jobs.queued == ()
    assert _unassigned(backend, INBOX) == 80


def test_a_short_page_ends_the_drain(scenario: Any) -> None:
    backend = scenario.backend
    _world(backend, {INBOX: 25})
    outcome = scenario.build().job.run(INBOX, limit=10)
    assert [r.assigned_count for r in outcome.results] == [10, 10, 5]
    assert not outcome.requeued
    assert backend.jobs.queued == ()


def test_nobody_online_runs_one_pass(scenario: Any) -> None:
    backend = scenario.backend
    _world(backend, {INBOX: 500})
    for agent in AGENTS:
        backend.set_status(ACCOUNT, agent, "offline")
    outcome = scenario.build().job.run(INBOX)
    assert [r.assigned_count for r in outcome.results] == [0]
    assert backend.jobs.queued == ()


@given(
    size=st.integers(0, 400),
    page=st.integers(1, 60),
    max_rounds=st.integers(1, 4),
    agents=st.integers(1, 5),
)
def test_any_burst_drains_in_bounded_runs(
    size: int, page: int, max_rounds: int, agents: int
) -> None:
    """Whatever the sizes: everything is assigned, each run makes at most
    ``max_rounds`` passes, and the number of passes and runs is exactly what a page at a
    time needs (a last full page costs one more, empty, pass)."""
    backend = InMemoryBackend(clock=FakeClock())
    _world(backend, {INBOX: size}, agents=AGENTS[:agents])
    app = build_in_memory(backend, bulk_limit=page, environ={}, strict=True)
    job = AssignmentJob(
        service=app.service,
        lease=backend.lease,
        jobs=backend.jobs,
        strict=True,
        max_rounds=max_rounds,
    )
    app.triggers.request(INBOX)
    outcomes: list[Any] = []
    backend.jobs.drain(lambda inbox: outcomes.append(job.run(inbox)))

    assert _unassigned(backend, INBOX) == 0
    passes = size // page + 1
    assert sum(len(o.results) for o in outcomes) == passes
    assert all(1 <= len(o.results) <= max_rounds for o in outcomes)
    assert len(outcomes) == math.ceil(passes / max_rounds)
    assert backend.jobs.queued == ()
