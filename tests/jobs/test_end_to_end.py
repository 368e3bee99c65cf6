"""End to end on a real job engine: Celery and RQ workers as subprocesses, on real Redis
(db 14) as broker and shared state.

Each test runs two concurrent workers (Celery prefork with two children; two RQ workers,
one of which takes RQ's scheduler lock). A burst of saves through
``triggers.on_conversation_saved`` before any worker runs queues exactly one job per
inbox; the workers then assign them all; a second wave is saved while they run;
conversations saved without a trigger (in an inbox no trigger ever reaches) are picked
up by the periodic cycle the engine schedules (every 2 seconds here). Workers pass 3
conversations per pass, so each inbox's burst of 10 drains over several passes. Finally every
conversation is assigned exactly once: one successful claim, one ``AssigneeChanged``
event, and the stored assignee is that claim's agent.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import aa_jobs_world as world
import redis
from aa_jobs_support import Worker, wait_until
from celery import Celery
from rq import Queue

from autoassign.integrations.celery import CeleryJobQueue
from autoassign.integrations.rq import FACTORY_ENV, RQJobQueue, schedule_periodic
from autoassign.model import ConversationId
from autoassign.ports import JobQueue
from autoassign.triggers import TriggerOutcome
from autoassign.wiring import BULK_LIMIT_ENV, Autoassign

BIN = Path(sys.executable).parent
BURST = 10
SECOND_WAVE = 4
PERIODIC_ONLY = 5
PERIODIC_SECONDS = 2
ASSIGN_TIMEOUT = 25.0
PAGE = 3


def _save(
    bundle: Autoassign, conversation: ConversationId, inbox: object
) -> TriggerOutcome:
    record = world.new_conversation(conversation, inbox)  # type: ignore[arg-type]
    repository = bundle.service.conversations
    assert isinstance(repository, world.RedisConversations)
    repository.put_new(record)
    return bundle.triggers.on_conversation_saved(None, record)


def _run_scenario(
    *,
    connection: redis.Redis,
    prefix: str,
    jobs: JobQueue,
    queued: Callable[[], int],
    start: Callable[[], list[Worker]],
) -> None:
    bundle = world.build(jobs, key_prefix=prefix)
    repository = world.RedisConversations(connection, prefix)
    events = world.RedisEventLog(connection, prefix)
    world.set_everyone_online(connection, prefix)
    expected: list[str] = []

    # 1. A burst of saves with no worker running: one job per inbox, the rest coalesced.
    for inbox in world.TRIGGERED_INBOXES:
        outcomes = []
        for n in range(BURST):
            conversation = f"{inbox}-burst-{n}"
            expected.append(conversation)
            outcomes.append(_save(bundle, conversation, inbox))
        assert outcomes == [TriggerOutcome.ENQUEUED] + [TriggerOutcome.COALESCED] * (
            BURST - 1
        )
    assert queued() == len(world.TRIGGERED_INBOXES)

    # 2. Saved without a trigger, in an inbox only the periodic cycle reaches.
    for n in range(PERIODIC_ONLY):
        conversation = f"{world.PERIODIC_ONLY_INBOX}-untriggered-{n}"
        expected.append(conversation)
        repository.put_new(
            world.new_conversation(conversation, world.PERIODIC_ONLY_INBOX)
        )

    def assigned(ids: list[str]) -> Callable[[], bool]:
        def check() -> bool:
            done = {conversation for conversation, _agent in repository.claims()}
            return all(conversation in done for conversation in ids)

        return check

    workers = start()
    triggered = [c for c in expected if "-burst-" in c]
    wait_until(
        assigned(triggered),
        timeout=ASSIGN_TIMEOUT,
        workers=workers,
        what="the burst to be assigned",
    )

    # 3. A second wave while the worker runs: never a failed trigger.
    for inbox in world.TRIGGERED_INBOXES:
        for n in range(SECOND_WAVE):
            conversation = f"{inbox}-wave-{n}"
            expected.append(conversation)
            outcome = _save(bundle, conversation, inbox)
            assert outcome in {TriggerOutcome.ENQUEUED, TriggerOutcome.COALESCED}

    wait_until(
        assigned(expected),
        timeout=ASSIGN_TIMEOUT,
        workers=workers,
        what="every conversation (incl. the periodic-only inbox) to be assigned",
    )
    for worker in workers:
        worker.stop()

    # 4. Exactly once, everywhere.
    claims = repository.claims()
    claim_counts = Counter(conversation for conversation, _agent in claims)
    assert set(claim_counts) == set(expected)
    assert all(count == 1 for count in claim_counts.values()), claim_counts
    event_counts = Counter(conversation for conversation, _agent in events.assigned())
    assert event_counts == claim_counts
    for claimed, agent in claims:
        stored = repository.get(claimed)
        assert stored is not None
        assert stored.assignee == agent
        assert agent in world.AGENTS
    # Round robin spread the work over every online agent.
    assert {agent for _conversation, agent in claims} == set(world.AGENTS)


def _env(prefix: str) -> dict[str, str]:
    return {
        world.PREFIX_ENV: prefix,
        world.REDIS_URL_ENV: world.redis_url(),
        "AA_JOBS_PERIODIC_SECONDS": str(PERIODIC_SECONDS),
        # Pages smaller than the burst: one job drains it, several passes per run.
        BULK_LIMIT_ENV: str(PAGE),
    }


def test_celery_worker_end_to_end(
    jobs_redis: redis.Redis,
    prefix: str,
    start_worker: Callable[..., Worker],
    tmp_path: Path,
) -> None:
    assignment_queue = f"{prefix}-default"
    periodic_queue = f"{prefix}-scheduled_jobs"
    client_app = Celery("aa-jobs-client", broker=world.redis_url())
    client_app.conf.broker_connection_retry_on_startup = True
    jobs = CeleryJobQueue(client_app, queue=assignment_queue)
    argv = [
        str(BIN / "celery"),
        "-A",
        "aa_celery_worker",
        "worker",
        "--pool=prefork",
        "--concurrency=2",
        "--beat",
        f"--schedule={tmp_path / 'beat-schedule'}",
        "-Q",
        f"{assignment_queue},{periodic_queue}",
        "-n",
        f"{prefix}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel=INFO",
    ]
    try:
        _run_scenario(
            connection=jobs_redis,
            prefix=prefix,
            jobs=jobs,
            queued=lambda: int(jobs_redis.llen(assignment_queue)),
            start=lambda: [start_worker(argv, _env(prefix))],
        )
    finally:
        client_app.close()


def test_rq_worker_end_to_end(
    jobs_redis: redis.Redis,
    prefix: str,
    start_worker: Callable[..., Worker],
) -> None:
    assignment_queue = Queue(f"{prefix}-default", connection=jobs_redis)
    periodic_queue = Queue(f"{prefix}-scheduled_jobs", connection=jobs_redis)
    schedule_periodic(
        periodic_queue,
        every=timedelta(seconds=PERIODIC_SECONDS),
        name=f"{prefix}-periodic",
    )

    def argv(name: str) -> list[str]:
        return [
            str(BIN / "rq"),
            "worker",
            "--url",
            world.redis_url(),
            "--worker-class",
            "rq.SimpleWorker",
            "--with-scheduler",
            "--name",
            name,
            assignment_queue.name,
            periodic_queue.name,
        ]

    env = _env(prefix)
    env[FACTORY_ENV] = "aa_rq_worker:build"
    _run_scenario(
        connection=jobs_redis,
        prefix=prefix,
        jobs=RQJobQueue(assignment_queue),
        queued=lambda: int(assignment_queue.count),
        start=lambda: [start_worker(argv(f"{prefix}-rq-{n}"), env) for n in range(2)],
    )
