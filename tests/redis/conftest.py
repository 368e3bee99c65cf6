"""Redis fixtures.

* ``fake_redis``: fakeredis with a fresh ``FakeServer`` per test (required: a script
  that fails on a FakeServer poisons every later script on it).
* ``real_redis``: ``AUTOASSIGN_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``);
  skipped without a server, required with ``CI=true``.
* ``redis_cluster``: ``AUTOASSIGN_TEST_REDIS_CLUSTER_NODES`` (``host:port,...``) through
  ``RedisCluster``; skipped when unset or unreachable, required with ``CI=true``.
* ``any_redis``: each of the above.

Each comes with ``decode_responses`` off and on, and yields a :class:`Target`: the client
(which records every command it sends and every key it touches), a unique key prefix and
a ``new_client()`` factory. Real servers are cleaned by deleting exactly the keys the
test touched: no FLUSHALL, no FLUSHDB, no KEYS or SCAN.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import fakeredis
import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster

REDIS_URL = os.environ.get("AUTOASSIGN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CLUSTER_NODES_ENV = "AUTOASSIGN_TEST_REDIS_CLUSTER_NODES"
DECODE = [pytest.param(False, id="bytes"), pytest.param(True, id="str")]


class Recorder:
    """Counts round trips (one per command; a pipeline's ``execute`` is one) and keeps
    every key under ``prefix`` that a command names."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.commands: list[str] = []
        self.keys: set[str] = set()
        self.paused = False

    def note_keys(self, args: tuple[Any, ...]) -> None:
        for arg in args[1:]:
            text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else arg
            if isinstance(text, str) and text.startswith(self.prefix):
                self.keys.add(text)

    def round_trip(self, name: object) -> None:
        if not self.paused:
            text = name.decode() if isinstance(name, bytes) else str(name)
            self.commands.append(text.upper())

    @property
    def count(self) -> int:
        return len(self.commands)

    def reset(self) -> None:
        self.commands.clear()


class _RecordingMixin:
    recorder: Recorder | None = None  # set right after construction

    def execute_command(self, *args: Any, **options: Any) -> Any:
        if self.recorder is not None:
            self.recorder.note_keys(args)
            self.recorder.round_trip(args[0])
        return super().execute_command(*args, **options)  # type: ignore[misc]

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        pipe = super().pipeline(*args, **kwargs)  # type: ignore[misc]
        recorder = self.recorder
        if recorder is None:
            return pipe
        queue = pipe.execute_command
        run = pipe.execute

        def execute_command(*cargs: Any, **ckwargs: Any) -> Any:
            recorder.note_keys(cargs)
            return queue(*cargs, **ckwargs)

        def execute(*eargs: Any, **ekwargs: Any) -> Any:
            recorder.round_trip("PIPELINE")
            return run(*eargs, **ekwargs)

        pipe.execute_command = execute_command
        pipe.execute = execute
        return pipe


class RecordingRedis(_RecordingMixin, redis.Redis):
    pass


class RecordingFakeRedis(_RecordingMixin, fakeredis.FakeRedis):
    pass


class RecordingCluster(_RecordingMixin, RedisCluster):
    pass


@attrs.define
class Target:
    kind: str  # "fake", "real" or "cluster"
    decode: bool
    prefix: str
    recorder: Recorder
    client: Any
    new_client: Callable[[], Any]
    """Another client on the same server (same recorder), e.g. for other threads."""


def _unique_prefix() -> str:
    return f"aa-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session", autouse=True)
def _fakeredis_has_lua() -> None:
    """Fail loudly (never skip) when fakeredis cannot run Lua (lupa missing)."""
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    try:
        assert client.eval("return 1", 0) == 1
    except Exception as exc:  # pragma: no cover - environment problem
        pytest.fail(f"fakeredis cannot run EVAL (install fakeredis[lua]): {exc!r}")


def _make_fake(decode: bool) -> Iterator[Target]:
    server = fakeredis.FakeServer()
    prefix = _unique_prefix()
    recorder = Recorder(prefix)

    def new_client() -> Any:
        client = RecordingFakeRedis(server=server, decode_responses=decode)
        client.recorder = recorder
        return client

    yield Target("fake", decode, prefix, recorder, new_client(), new_client)


_REACHABLE: dict[str, str | None] = {}


def _probe(key: str, connect: Callable[[], Any]) -> str | None:
    """``None`` if the server answers PING, else why not (cached per session)."""
    if key not in _REACHABLE:
        try:
            client = connect()
            try:
                client.ping()
            finally:
                client.close()
            _REACHABLE[key] = None
        except Exception as exc:
            _REACHABLE[key] = f"{type(exc).__name__}: {exc}"
    return _REACHABLE[key]


def _cleanup(client: Any, recorder: Recorder) -> None:
    recorder.paused = True
    for key in sorted(recorder.keys):
        client.delete(key)  # one key per call: safe in cluster mode


def _make_served(
    kind: str, decode: bool, connect: Callable[..., Any]
) -> Iterator[Target]:
    """A :class:`Target` on a real server; its clients are closed and exactly the keys
    the test touched are deleted afterwards."""
    prefix = _unique_prefix()
    recorder = Recorder(prefix)
    clients: list[Any] = []

    def new_client() -> Any:
        client = connect(decode_responses=decode, socket_timeout=10)
        client.recorder = recorder
        clients.append(client)
        return client

    target = Target(kind, decode, prefix, recorder, new_client(), new_client)
    try:
        yield target
    finally:
        _cleanup(clients[0], recorder)
        for client in clients:
            client.close()


def _make_real(decode: bool, require_service: Callable[..., None]) -> Iterator[Target]:
    problem = _probe(
        REDIS_URL,
        lambda: redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2),
    )
    require_service("Redis", problem is None, f"{REDIS_URL}: {problem}")
    yield from _make_served(
        "real", decode, lambda **kw: RecordingRedis.from_url(REDIS_URL, **kw)
    )


def cluster_nodes() -> list[ClusterNode]:
    raw = os.environ.get(CLUSTER_NODES_ENV, "")
    nodes = []
    for part in raw.split(","):
        if part.strip():
            host, _, port = part.strip().rpartition(":")
            nodes.append(ClusterNode(host or "127.0.0.1", int(port)))
    return nodes


def _make_cluster(
    decode: bool, require_service: Callable[..., None]
) -> Iterator[Target]:
    nodes = cluster_nodes()
    if not nodes:
        require_service("Redis Cluster", False, f"{CLUSTER_NODES_ENV} is not set")
    problem = _probe(
        f"cluster:{nodes}",
        lambda: RedisCluster(startup_nodes=nodes, socket_connect_timeout=2),
    )
    require_service("Redis Cluster", problem is None, f"{nodes}: {problem}")
    yield from _make_served(
        "cluster", decode, lambda **kw: RecordingCluster(startup_nodes=nodes, **kw)
    )


def _make(
    kind: str, decode: bool, require_service: Callable[..., None]
) -> Iterator[Target]:
    if kind == "fake":
        return _make_fake(decode)
    if kind == "real":
        return _make_real(decode, require_service)
    return _make_cluster(decode, require_service)


@pytest.fixture(params=DECODE)
def fake_redis(request: pytest.FixtureRequest) -> Iterator[Target]:
    yield from _make_fake(request.param)


@pytest.fixture(params=DECODE)
def real_redis(
    request: pytest.FixtureRequest, require_service: Callable[..., None]
) -> Iterator[Target]:
    request.applymarker(pytest.mark.redis)
    yield from _make_real(request.param, require_service)


@pytest.fixture(params=DECODE)
def redis_cluster(
    request: pytest.FixtureRequest, require_service: Callable[..., None]
) -> Iterator[Target]:
    request.applymarker(pytest.mark.redis_cluster)
    yield from _make_cluster(request.param, require_service)


@pytest.fixture(
    params=[
        pytest.param(("fake", False), id="fake-bytes"),
        pytest.param(("fake", True), id="fake-str"),
        pytest.param(("real", False), id="real-bytes", marks=pytest.mark.redis),
        pytest.param(("real", True), id="real-str", marks=pytest.mark.redis),
        pytest.param(
            ("cluster", False), id="cluster-bytes", marks=pytest.mark.redis_cluster
        ),
        pytest.param(
            ("cluster", True), id="cluster-str", marks=pytest.mark.redis_cluster
        ),
    ]
)
def any_redis(
    request: pytest.FixtureRequest, require_service: Callable[..., None]
) -> Iterator[Target]:
    kind, decode = request.param
    yield from _make(kind, decode, require_service)


@pytest.fixture(
    params=[
        pytest.param(("fake", False), id="fake"),
        pytest.param(("real", False), id="real", marks=pytest.mark.redis),
    ]
)
def fake_or_real(
    request: pytest.FixtureRequest, require_service: Callable[..., None]
) -> Iterator[Target]:
    kind, decode = request.param
    yield from _make(kind, decode, require_service)
