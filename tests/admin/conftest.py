"""Fixtures for the admin tests: a seeded world (accounts 1 and 2), the store, the
service, the WSGI app, an in-process caller and a real loopback HTTP server."""

from __future__ import annotations

import http.client
import io
import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import attrs
import pytest

from autoassign.admin import (
    Actor,
    AdminApp,
    ApiAccessTokenAuthenticator,
    InMemoryPolicyStore,
    PolicyAdmin,
)
from autoassign.testing import FakeClock, InMemoryBackend, build_in_memory
from autoassign.waits import wait_estimator

ADMIN = Actor(account=1, user="root", role="administrator")
AGENT = Actor(account=1, user="ann", role="agent")
OTHER_ADMIN = Actor(account=2, user="boss", role="administrator")
TOKENS = {"admin-token": ADMIN, "agent-token": AGENT, "other-token": OTHER_ADMIN}


@attrs.frozen
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


Caller = Callable[..., Reply]


@pytest.fixture
def world_backend(clock: FakeClock) -> InMemoryBackend:
    backend = InMemoryBackend(clock=clock)
    backend.add_account(1)
    backend.add_account(2)
    backend.add_inbox(10, account=1, members=["ann", "bob"])
    backend.add_inbox(11, account=1, members=["ann", "bob"])
    backend.add_inbox(20, account=2, members=["zed"])
    backend.add_conversation(500, inbox=11)  # for the wait-estimate route
    backend.add_conversation(600, inbox=20)
    return backend


@pytest.fixture
def store(world_backend: InMemoryBackend, clock: FakeClock) -> InMemoryPolicyStore:
    store = InMemoryPolicyStore(world_backend.world, clock)
    store.add_user(1, "ann", name="Ann", email="ann@example.com")
    store.add_user(1, "bob", name="Bob")
    store.add_user(1, "root", name="Root", role="administrator")
    store.add_user(2, "zed", name="Zed")
    store.set_inbox_name(10, "Support")
    return store


@pytest.fixture
def admin(store: InMemoryPolicyStore) -> PolicyAdmin:
    return PolicyAdmin(store)


@pytest.fixture
def app(admin: PolicyAdmin, world_backend: InMemoryBackend) -> AdminApp:
    return AdminApp(
        admin,
        ApiAccessTokenAuthenticator(TOKENS),
        max_body_bytes=4096,
        waits=wait_estimator(build_in_memory(world_backend)),
    )


def call_wsgi(
    app: Callable[..., Any],
    method: str,
    path: str,
    body: object = None,
    *,
    token: str | None = "admin-token",
    raw: bytes | None = None,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> Reply:
    """Call the WSGI app in-process."""
    data = (
        raw if raw is not None else b"" if body is None else json.dumps(body).encode()
    )
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "CONTENT_LENGTH": str(len(data)),
        "CONTENT_TYPE": content_type,
        "wsgi.input": io.BytesIO(data),
        "SERVER_NAME": "test",
        "SERVER_PORT": "80",
    }
    if token is not None:
        environ["HTTP_API_ACCESS_TOKEN"] = token
    for key, value in (headers or {}).items():
        environ[key] = value
    seen: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        seen["status"] = int(status.split(maxsplit=1)[0])
        seen["headers"] = dict(response_headers)

    out = b"".join(app(environ, start_response))
    return Reply(seen["status"], seen["headers"], out)


@pytest.fixture
def call(app: AdminApp) -> Caller:
    def caller(method: str, path: str, body: object = None, **kw: Any) -> Reply:
        return call_wsgi(app, method, path, body, **kw)

    return caller


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Slot:
    """The app the shared server currently serves (swapped per test)."""

    app: Callable[..., Any] | None = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        assert self.app is not None
        return self.app(environ, start_response)


@pytest.fixture(scope="session")
def _server() -> Iterator[tuple[str, _Slot]]:
    slot = _Slot()
    server: WSGIServer = make_server("127.0.0.1", 0, slot, handler_class=_QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", slot
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def base_url(_server: tuple[str, _Slot], app: AdminApp) -> Iterator[str]:
    """The loopback URL of a real HTTP server serving this test's ``app``."""
    url, slot = _server
    slot.app = app
    yield url
    slot.app = None


def call_http(
    base_url: str,
    method: str,
    path: str,
    body: object = None,
    *,
    token: str | None = "admin-token",
    raw: bytes | None = None,
    content_type: str = "application/json",
) -> Reply:
    """One real HTTP request with http.client (new connection each time)."""
    data = (
        raw if raw is not None else None if body is None else json.dumps(body).encode()
    )
    parsed = urllib.parse.urlsplit(base_url)
    connection = http.client.HTTPConnection(
        parsed.hostname or "127.0.0.1", parsed.port, timeout=10
    )
    headers = {"Content-Type": content_type} if data is not None else {}
    if token is not None:
        headers["api_access_token"] = token
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        return Reply(response.status, dict(response.getheaders()), response.read())
    finally:
        connection.close()


@pytest.fixture
def http_call(base_url: str) -> Caller:
    def caller(method: str, path: str, body: object = None, **kw: Any) -> Reply:
        return call_http(base_url, method, path, body, **kw)

    return caller
