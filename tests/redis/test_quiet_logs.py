"""Quiet logs (issue 20): with Redis down, one pass, one job and one periodic cycle log one
line per degradation, without tracebacks; tracebacks only at DEBUG; one line when each
degradation ends; every record keeps the ``autoassign_*`` fields.

Redis is fakeredis with its server switched off (``FakeServer.connected = False``): every
command raises ``ConnectionError`` exactly as a refused connection does, and switching it
back on is the recovery.
"""

from __future__ import annotations

import logging
import socket
from datetime import timedelta

import attrs
import fakeredis
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from autoassign import AssignmentPolicy, build_autoassign
from autoassign._quietlog import DegradationLog, degradations
from autoassign.adapters.redis import RedisBackend
from autoassign.testing import FakeClock, InMemoryBackend

ACCOUNT = 1
INBOXES = (10, 11, 12)


@attrs.define
class World:
    server: fakeredis.FakeServer
    memory: InMemoryBackend
    redis: RedisBackend
    clock: FakeClock

    def build(self) -> object:
        return build_autoassign(
            directory=self.memory.directory,
            conversations=self.memory.conversations,
            presence=self.redis.presence,
            ledger=self.redis.ledger,
            rotation=self.redis.rotation,
            lease=self.redis.lease,
            events=self.memory.events,
            jobs=self.memory.jobs,
            clock=self.clock,
            reservations=self.redis.reservations,
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def world(clock: FakeClock) -> World:
    server = fakeredis.FakeServer()
    client = fakeredis.FakeRedis(server=server)
    return _world(server, client, clock)


@pytest.fixture(params=["fakeredis-off", "refused-port"])
def down(request: pytest.FixtureRequest, world: World) -> World:
    """Redis down two ways: fakeredis switched off, and a real redis-py client whose
    connections are refused (nothing listens on its port)."""
    if request.param == "fakeredis-off":
        world.server.connected = False
        return world
    client = redis.Redis(
        port=_free_port(), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    dead = RedisBackend(client, prefix="quiet", clock=world.clock)
    return attrs.evolve(world, redis=dead)


def _world(
    server: fakeredis.FakeServer, client: fakeredis.FakeRedis, clock: FakeClock
) -> World:
    memory = InMemoryBackend(clock=clock)
    memory.add_account(ACCOUNT)
    for inbox in INBOXES:
        memory.add_inbox(inbox, account=ACCOUNT, members=["ann", "bob"])
        memory.add_policy(
            AssignmentPolicy(id=inbox, account=ACCOUNT, fair_distribution_limit=10),
            inboxes=[inbox],
        )
        for n in range(5):
            memory.add_conversation(inbox * 100 + n, inbox=inbox)
    backend = RedisBackend(client, prefix="quiet", clock=clock)
    for agent in ("ann", "bob"):
        backend.presence.set_status(ACCOUNT, agent, "online")
        backend.presence.heartbeat(ACCOUNT, agent)
    return World(server=server, memory=memory, redis=backend, clock=clock)


def _outage(world: World) -> None:
    """One pass, one job and one periodic cycle, as the issue counts them."""
    app = world.build()
    app.service.perform_bulk_assignment(INBOXES[0])  # type: ignore[attr-defined]
    app.job.run(INBOXES[1])  # type: ignore[attr-defined]
    app.periodic.run()  # type: ignore[attr-defined]


def _records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= level]


def test_an_outage_logs_one_line_per_degradation_without_tracebacks(
    down: World, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="autoassign"):
        _outage(down)
    warnings = _records(caplog, logging.WARNING)
    kinds = [getattr(r, "autoassign_degradation", None) for r in warnings]
    # one line per kind of degradation (presence, lease), never one per call
    assert sorted(kinds) == sorted(set(kinds)), kinds
    assert None not in kinds
    assert 1 <= len(warnings) <= 4, [r.getMessage() for r in warnings]
    assert all(r.exc_info is None for r in caplog.records)
    assert "Traceback" not in caplog.text
    for record in warnings:
        assert "ConnectionError" in record.getMessage() or "Unavailable" in (
            record.getMessage()
        )
        assert "repeats are logged at DEBUG" in record.getMessage()
        # the caller's fields stay beside the kind
        assert any(
            name.startswith("autoassign_") and name != "autoassign_degradation"
            for name in vars(record)
        )
    # the whole outage, INFO included, stays a handful of lines
    assert len(caplog.records) <= 12, caplog.text


def test_the_same_outage_at_debug_keeps_the_tracebacks(
    down: World, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="autoassign"):
        _outage(down)
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG and r.exc_info]
    assert debug, "tracebacks are logged at DEBUG"
    assert all(hasattr(r, "autoassign_degradation") for r in debug)
    warnings = _records(caplog, logging.WARNING)
    # the repeats are there, at DEBUG, far more than the WARNING lines
    assert len(debug) > len(warnings)


def test_recovery_logs_one_line_per_kind_with_the_count(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.server.connected = False
    with caplog.at_level(logging.WARNING, logger="autoassign"):
        _outage(world)
        started = {r.autoassign_degradation for r in caplog.records}  # type: ignore[attr-defined]
        assert degradations.failing()
        caplog.clear()
        world.clock.advance(timedelta(seconds=5))
        world.server.connected = True
        _outage(world)
        _outage(world)
    recovered = [r for r in caplog.records if "recovered after" in r.getMessage()]
    assert {r.autoassign_degradation for r in recovered} == started  # type: ignore[attr-defined]
    assert len(recovered) == len(started)
    assert all(r.autoassign_failures >= 1 for r in recovered)  # type: ignore[attr-defined]
    assert not degradations.failing()
    # nothing else is logged once everything works again
    assert len(caplog.records) == len(recovered), caplog.text
    # and the engine assigns again
    assert world.build().service.perform_bulk_assignment(12).assigned_count == 5  # type: ignore[attr-defined]


def test_a_degradation_log_counts_an_episode() -> None:
    now = [100.0]
    log = DegradationLog(monotonic=lambda: now[0])
    logger = logging.getLogger("autoassign.test_quiet")
    handler = _ListHandler()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        for _ in range(3):
            try:
                raise OSError("refused\nsecond line")
            except OSError:
                log.failed(
                    logger,
                    "thing",
                    "thing %s failed",
                    "x",
                    extra={"autoassign_inbox": 1},
                )
        now[0] = 112.5
        assert log.recovered(logger, "thing")
        assert not log.recovered(logger, "thing")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    lines = [(r.levelno, r.getMessage()) for r in handler.records]
    assert lines[0] == (
        logging.WARNING,
        "thing x failed [OSError: refused] (repeats are logged at DEBUG until it recovers)",
    )
    assert [level for level, _ in lines[1:4]] == [logging.DEBUG] * 3
    assert all(r.exc_info for r in handler.records[1:4])
    assert lines[-1] == (
        logging.WARNING,
        "thing recovered after 3 failures over 12.5 s",
    )
    assert handler.records[-1].autoassign_failures == 3  # type: ignore[attr-defined]
    assert all(r.autoassign_degradation == "thing" for r in handler.records)  # type: ignore[attr-defined]
    assert all(r.autoassign_inbox == 1 for r in handler.records[:4])  # type: ignore[attr-defined]


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
