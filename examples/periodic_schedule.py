"""The periodic cycle and the assignment job on a 30-minute schedule, standard library only.

A host normally runs ``app.periodic.run()`` from its scheduler (cron, Celery beat, ...) and
``app.job.run(inbox)`` from its job workers. This example wires both to one
:class:`sched.scheduler`: the scheduler is also the job queue (enqueueing an assignment
job schedules it for "now"), and the periodic cycle schedules itself again every 30 minutes.

``sched`` takes its time and delay functions as arguments, so the same wiring runs

* in fast mode (the default): time comes from a :class:`~autoassign.testing.FakeClock`
  and "sleeping" moves that clock forward. Two simulated hours (five cycles, an agent
  coming online, conversations arriving) take a fraction of a second;
* in real time (``--real``): wall-clock time and ``time.sleep``, until interrupted.

Run::

    .venv/bin/python examples/periodic_schedule.py          # fast: prints what it did
    .venv/bin/python examples/periodic_schedule.py --real   # real time, Ctrl-C to stop
"""

from __future__ import annotations

import argparse
import sched
import time
from collections.abc import Callable
from datetime import timedelta

from autoassign import (
    AssignmentPolicy,
    Autoassign,
    JobOutcome,
    SystemClock,
    build_autoassign,
)
from autoassign.adapters.memory import InMemoryBackend
from autoassign.model import InboxId
from autoassign.ports import Clock
from autoassign.testing import FakeClock

CYCLE = timedelta(minutes=30)
PERIODIC_PRIORITY = 1  # at the same instant, the cycle runs before the jobs it enqueues
JOB_PRIORITY = 2
EVENT_PRIORITY = 0  # simulated world changes (fast mode) run first


class SchedJobQueue:
    """A :class:`~autoassign.ports.JobQueue` over a :class:`sched.scheduler`: enqueueing
    an inbox's assignment job schedules ``run_job(inbox)`` for now."""

    def __init__(self, scheduler: sched.scheduler) -> None:
        self.scheduler = scheduler
        self.run_job: Callable[[InboxId], object] | None = None

    def enqueue_assignment(self, inbox: InboxId) -> None:
        if self.run_job is None:
            raise RuntimeError("wire SchedJobQueue.run_job before enqueueing")
        self.scheduler.enter(0, JOB_PRIORITY, self.run_job, (inbox,))


class FakeTime:
    """``sched``'s time and delay functions over a :class:`FakeClock`."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def time(self) -> float:
        return self.clock.now().timestamp()

    def sleep(self, seconds: float) -> None:
        self.clock.advance(max(seconds, 0.0))


def build_world(clock: Clock) -> InMemoryBackend:
    """One inbox, two agents, a fair-distribution limit of 3 per hour, a backlog of 8."""
    backend = InMemoryBackend(clock=clock)
    backend.add_account("acme")  # with assignment_v2
    backend.add_inbox("support", account="acme", members=["ann", "bob"])
    backend.add_policy(
        AssignmentPolicy(
            id="fair",
            account="acme",
            fair_distribution_limit=3,
            fair_distribution_window=3600,
        ),
        inboxes=["support"],
    )
    backend.set_status("acme", "ann", "online")
    backend.set_status("acme", "bob", "offline")
    for number in range(1, 9):
        backend.add_conversation(
            number, inbox="support", created_at=clock.now() - timedelta(hours=1)
        )
    return backend


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--real", action="store_true", help="wall-clock time, run until interrupted"
    )
    parser.add_argument(
        "--cycles", type=int, default=5, help="periodic cycles in fast mode (default 5)"
    )
    args = parser.parse_args(argv)

    clock: Clock
    if args.real:
        clock = SystemClock()
        scheduler = sched.scheduler(time.time, time.sleep)
    else:
        fake = FakeClock()
        clock = fake
        fake_time = FakeTime(fake)
        scheduler = sched.scheduler(fake_time.time, fake_time.sleep)

    backend = build_world(clock)
    jobs = SchedJobQueue(scheduler)
    app = build_autoassign(  # the in-memory ports, with the scheduler as the job queue
        directory=backend.directory,
        conversations=backend.conversations,
        presence=backend.presence,
        ledger=backend.ledger,
        rotation=backend.rotation,
        lease=backend.lease,
        events=backend.events,
        jobs=jobs,
        clock=clock,
    )
    start = clock.now()

    def stamp() -> str:
        minutes = int((clock.now() - start).total_seconds() // 60)
        return f"[+{minutes // 60}:{minutes % 60:02d}]"

    def run_job(inbox: InboxId) -> JobOutcome:
        outcome = app.job.run(inbox)
        for result in outcome.results:
            who = ", ".join(f"{a.conversation}->{a.agent}" for a in result.assignments)
            reasons = sorted({skip.reason.value for skip in result.skips})
            print(
                f"{stamp()} job {inbox}: fetched {result.fetched}, "
                f"assigned {result.assigned_count} ({who or '-'})"
                + (f", skipped: {', '.join(reasons)}" if reasons else "")
            )
        if outcome.handed_off:
            print(f"{stamp()} job {inbox}: another pass holds the lease; it will rerun")
        return outcome

    jobs.run_job = run_job
    cycles_left = None if args.real else args.cycles

    def periodic() -> None:
        nonlocal cycles_left
        outcome = app.periodic.run()
        print(
            f"{stamp()} periodic cycle: enqueued {list(outcome.enqueued)}, "
            f"already due {list(outcome.already_due)}"
        )
        if cycles_left is not None:
            cycles_left -= 1
            if cycles_left <= 0:
                return
        scheduler.enter(CYCLE.total_seconds(), PERIODIC_PRIORITY, periodic)

    scheduler.enter(0, PERIODIC_PRIORITY, periodic)
    if not args.real:
        schedule_world_changes(scheduler, backend, app, stamp)

    try:
        scheduler.run()
    except KeyboardInterrupt:
        print("stopped")
        return 0

    waiting = [c.id for c in backend.world.conversations.values() if c.is_assignable]
    per_agent: dict[str, int] = {}
    for conversation in backend.world.conversations.values():
        if conversation.assignee is not None:
            key = str(conversation.assignee)
            per_agent[key] = per_agent.get(key, 0) + 1
    print()
    print(f"Simulated {clock.now() - start} in fast mode.")
    print(f"Assigned per agent: {per_agent}; still waiting: {waiting}")
    return 0


def schedule_world_changes(
    scheduler: sched.scheduler,
    backend: InMemoryBackend,
    app: Autoassign,
    stamp: Callable[[], str],
) -> None:
    """What happens between the cycles in fast mode: Bob comes online at +0:10 (his
    inbox's job is enqueued at once, not 30 minutes later) and new conversations arrive
    at +0:40 through the save hook."""

    def bob_online() -> None:
        previous = backend.set_status("acme", "bob", "online")
        inboxes = app.triggers.on_agent_status_changed(
            "acme", "bob", previous, "online"
        )
        print(f"{stamp()} bob comes online -> passes requested for {list(inboxes)}")

    def new_conversations() -> None:
        for number in (9, 10):
            created = backend.add_conversation(number, inbox="support")
            outcome = app.triggers.on_conversation_saved(None, created)
            print(f"{stamp()} conversation {number} created -> {outcome.value}")

    scheduler.enter(600, EVENT_PRIORITY, bob_online)
    scheduler.enter(2400, EVENT_PRIORITY, new_conversations)


if __name__ == "__main__":
    raise SystemExit(main())
