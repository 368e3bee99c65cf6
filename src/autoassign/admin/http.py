"""The admin HTTP API as a WSGI application (standard library only).

Routes, JSON shapes and status codes follow the reference (all under
``/api/v1/accounts/{account_id}/``)::

    GET|POST              assignment_policies
    GET|PUT|PATCH|DELETE  assignment_policies/{id}
    GET                   assignment_policies/{id}/inboxes
    GET|POST|DELETE       inboxes/{inbox_id}/assignment_policy
    GET|POST              agent_capacity_policies
    GET|PUT|PATCH|DELETE  agent_capacity_policies/{id}
    GET|POST              agent_capacity_policies/{id}/users
    DELETE                agent_capacity_policies/{id}/users/{user_id}
    POST                  agent_capacity_policies/{id}/inbox_limits
    PUT|PATCH|DELETE      agent_capacity_policies/{id}/inbox_limits/{limit_id}

Order of checks: unknown route 404, wrong method 405, authentication/authorisation 401,
body (413 too large, 411 chunked, 415 content type, 400 malformed), then the service
(404, 422). Authentication is any callable ``(environ) -> Actor | None``.

Example::

    app = AdminApp(PolicyAdmin(store), ApiAccessTokenAuthenticator({"s3cret": actor}))
    wsgiref.simple_server.make_server("127.0.0.1", 3000, app).serve_forever()
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import attrs

from autoassign.admin.errors import (
    NOT_FOUND,
    NotFound,
    Unauthorized,
    ValidationFailed,
)
from autoassign.admin.service import (
    Actor,
    PolicyAdmin,
    agent_json,
    capacity_policy_json,
    coerce_id,
    id_problem,
    inbox_json,
    inbox_limit_json,
    policy_json,
)
from autoassign.errors import ConfigurationError
from autoassign.model import AccountId, Id
from autoassign.waits import NO_SUCH_CONVERSATION, WaitEstimate

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "ROUTES",
    "AdminApp",
    "ApiAccessTokenAuthenticator",
    "Authenticator",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
PREFIX = ("api", "v1", "accounts")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

Environ = Mapping[str, Any]
StartResponse = Callable[..., Any]


class Authenticator(Protocol):
    """Who is calling: an :class:`~autoassign.admin.Actor`, or ``None`` if nobody."""

    def __call__(self, environ: Environ) -> Actor | None: ...


class ApiAccessTokenAuthenticator:
    """Authenticates by the ``api_access_token`` request header (as the reference does),
    looking the token up in ``tokens`` with a constant-time comparison."""

    def __init__(self, tokens: Mapping[str, Actor]) -> None:
        self._tokens = [
            (token.encode("utf-8"), actor) for token, actor in tokens.items()
        ]

    def __call__(self, environ: Environ) -> Actor | None:
        raw = environ.get("HTTP_API_ACCESS_TOKEN")
        if not isinstance(raw, str) or not raw:
            return None
        given = raw.encode("latin-1", errors="replace")
        found: Actor | None = None
        for token, actor in self._tokens:
            if hmac.compare_digest(given, token):
                found = actor
        return found


@attrs.frozen
class _Response:
    status: int
    payload: object = None
    headers: tuple[tuple[str, str], ...] = ()


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_REASONS = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
}


@attrs.frozen
class _Request:
    actor: Actor
    account: Id
    params: dict[str, Id]
    body: object


Handler = Callable[["AdminApp", _Request], _Response]


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


_SURROGATE = re.compile("[\ud800-\udfff]")


def _surrogate_at(body: object) -> str | None:
    """The dotted path of the first string (key or value) in decoded JSON that holds
    a lone surrogate (``""`` for the body itself), or ``None``. Iterative, so any
    depth the JSON decoder accepted is walked."""
    stack: list[tuple[str, object]] = [("", body)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return path
        elif isinstance(value, dict):
            for key, item in reversed(list(value.items())):
                here = f"{path}.{key}" if path else key
                if _SURROGATE.search(key):
                    return here.encode("utf-8", "backslashreplace").decode("ascii")
                stack.append((here, item))
        elif isinstance(value, list):
            stack.extend(
                (f"{path}[{index}]", item)
                for index, item in reversed(list(enumerate(value)))
            )
    return None


def _wrapped(body: object, key: str) -> object:
    """The payload inside ``{key: {...}}``; every other top-level key is rejected."""
    if not isinstance(body, dict):
        raise ValidationFailed({"base": "must be a JSON object"})
    errors = {k: "is not a permitted field" for k in body if k != key}
    if key not in body:
        errors[key] = "is required"
    elif not isinstance(body[key], dict):
        errors[key] = "must be an object"
    if errors:
        raise ValidationFailed(errors)
    return body[key]


def _maybe_wrapped(body: object, key: str) -> object:
    """The payload, either top-level or inside ``{key: {...}}``."""
    if isinstance(body, dict) and list(body) == [key] and isinstance(body[key], dict):
        return body[key]
    return body


class AdminApp:
    """The admin API as a WSGI callable.

    Args:
        admin: the service that does the work.
        authenticate: ``(environ) -> Actor | None``.
        max_body_bytes: larger request bodies get 413 (default 1 MiB).
        waits: serves ``GET .../conversations/{conversation_id}/wait_estimate``
            (:func:`autoassign.waits.wait_estimator` over the app); without it that
            route answers 404.
    """

    def __init__(
        self,
        admin: PolicyAdmin,
        authenticate: Authenticator | Callable[[Environ], Actor | None],
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        waits: Callable[[AccountId, Id], WaitEstimate] | None = None,
    ) -> None:
        self.admin = admin
        self.authenticate = authenticate
        self.max_body_bytes = max_body_bytes
        self.waits = waits

    # -- WSGI ----------------------------------------------------------------------------

    def __call__(
        self, environ: Environ, start_response: StartResponse
    ) -> Iterable[bytes]:
        try:
            response = self._dispatch(environ)
        except Exception:  # a bug, never bad input: log it, answer 500
            log.exception("admin API request failed")
            response = _Response(500, {"error": "Internal server error"})
        return self._send(response, start_response)

    def _send(self, response: _Response, start_response: StartResponse) -> list[bytes]:
        status = f"{response.status} {_REASONS.get(response.status, 'Unknown')}"
        headers = list(response.headers)
        if response.status == 204 or response.payload is None:
            body = b""
        else:
            body = json.dumps(response.payload).encode("ascii")
            headers.append(("Content-Type", "application/json; charset=utf-8"))
        headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [body]

    def _dispatch(self, environ: Environ) -> _Response:
        raw_path = environ.get("PATH_INFO", "") or ""
        try:
            # bytes that are not UTF-8 become lone surrogates: an id holding one is
            # refused below, naming the parameter
            path = str(raw_path).encode("latin-1").decode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return _Response(404, {"error": NOT_FOUND})
        segments = path.strip("/").split("/")
        matched = self._match(segments)
        if matched is None:
            return _Response(404, {"error": NOT_FOUND})
        handlers, raw_params = matched
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        handler = handlers.get(method)
        if handler is None:
            allow = ", ".join(sorted(handlers))
            return _Response(
                405, {"error": f"Method not allowed; use {allow}"}, (("Allow", allow),)
            )
        params: dict[str, Id] = {}
        for name, value in raw_params.items():
            parsed = coerce_id(value)
            if parsed is None:
                problem = id_problem(value)
                reply = {"error": NOT_FOUND}
                if problem is not None:
                    reply["message"] = f"{name} {problem}"
                return _Response(404, reply)
            params[name] = parsed
        account = params.pop("account_id")
        actor = self.authenticate(environ)
        try:
            actor = self.admin.authorize(actor, account)
        except Unauthorized as exc:
            return _Response(401, {"error": exc.message})
        try:
            body = self._read_body(environ) if method in BODY_METHODS else None
        except _HttpError as exc:
            return _Response(exc.status, {"error": exc.message, "message": exc.message})
        request = _Request(actor=actor, account=account, params=params, body=body)
        try:
            return handler(self, request)
        except Unauthorized as exc:
            return _Response(401, {"error": exc.message})
        except NotFound as exc:
            return _Response(404, {"error": exc.message})
        except ValidationFailed as exc:
            if exc.error is not None:  # the reference renders just {"error": ...}
                return _Response(422, {"error": exc.error})
            return _Response(
                422,
                {
                    "message": exc.message,
                    "attributes": list(exc.errors),
                    "errors": exc.errors,
                },
            )
        except ConfigurationError as exc:
            field = exc.field or "base"
            return _Response(
                422,
                {
                    "message": str(exc),
                    "attributes": [field],
                    "errors": {field: str(exc)},
                },
            )

    def _match(
        self, segments: list[str]
    ) -> tuple[Mapping[str, Handler], dict[str, str]] | None:
        if len(segments) < 4 or tuple(segments[:3]) != PREFIX:
            return None
        rest = segments[4:]
        for pattern, handlers in _ROUTES:
            if len(pattern) != len(rest):
                continue
            params = {"account_id": segments[3]}
            for expected, actual in zip(pattern, rest, strict=True):
                if expected.startswith("{"):
                    if not actual:
                        break
                    params[expected[1:-1]] = actual
                elif expected != actual:
                    break
            else:
                return handlers, params
        return None

    def _read_body(self, environ: Environ) -> object:
        if "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower():
            raise _HttpError(
                411, "A Content-Length is required; chunked bodies are refused"
            )
        raw_length = str(environ.get("CONTENT_LENGTH", "") or "").strip()
        if not raw_length:
            return {}
        if not raw_length.isascii() or not raw_length.isdigit() or len(raw_length) > 18:
            raise _HttpError(400, "Content-Length is not a valid number")
        length = int(raw_length)
        if length > self.max_body_bytes:
            raise _HttpError(
                413, f"Request body too large (at most {self.max_body_bytes} bytes)"
            )
        if length == 0:
            return {}
        content_type = str(environ.get("CONTENT_TYPE", "") or "")
        media, _, params = content_type.partition(";")
        media = media.strip().lower()
        if media != "application/json" and not (
            media.startswith("application/") and media.endswith("+json")
        ):
            raise _HttpError(415, "Content-Type must be application/json")
        charset = params.strip().lower()
        if charset and charset.replace(" ", "") not in {
            "charset=utf-8",
            'charset="utf-8"',
        }:
            raise _HttpError(415, "Only the utf-8 charset is accepted")
        stream = environ.get("wsgi.input")
        data = stream.read(length) if stream is not None else b""
        if len(data) != length:
            raise _HttpError(400, "Request body is shorter than its Content-Length")
        # Bytes that are not UTF-8 become lone surrogates (surrogateescape), as do
        # "\ud800" escapes: either way the field holding one is named in the 400.
        text = data.decode("utf-8", "surrogateescape")
        try:
            body = json.loads(text, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            if _SURROGATE.search(text):
                raise _HttpError(400, "Request body is not valid UTF-8") from None
            raise _HttpError(400, f"Malformed JSON: {exc}") from None
        where = _surrogate_at(body)
        if where is not None:
            raise _HttpError(
                400,
                f"Request body is not valid UTF-8: {where or 'the body'} holds "
                "a byte sequence or escape that is not UTF-8 text",
            )
        return body

    # -- handlers ------------------------------------------------------------------------

    def list_policies(self, r: _Request) -> _Response:
        records = self.admin.list_policies(r.actor, r.account)
        return _Response(200, [policy_json(p) for p in records])

    def create_policy(self, r: _Request) -> _Response:
        data = _wrapped(r.body, "assignment_policy")
        return _Response(
            200, policy_json(self.admin.create_policy(r.actor, r.account, data))
        )

    def show_policy(self, r: _Request) -> _Response:
        record = self.admin.get_policy(r.actor, r.account, r.params["id"])
        return _Response(200, policy_json(record))

    def update_policy(self, r: _Request) -> _Response:
        self.admin.get_policy(r.actor, r.account, r.params["id"])
        data = _wrapped(r.body, "assignment_policy")
        record = self.admin.update_policy(r.actor, r.account, r.params["id"], data)
        return _Response(200, policy_json(record))

    def delete_policy(self, r: _Request) -> _Response:
        self.admin.delete_policy(r.actor, r.account, r.params["id"])
        return _Response(200)

    def policy_inboxes(self, r: _Request) -> _Response:
        inboxes = self.admin.policy_inboxes(r.actor, r.account, r.params["id"])
        return _Response(200, {"inboxes": [inbox_json(i) for i in inboxes]})

    def show_inbox_policy(self, r: _Request) -> _Response:
        record = self.admin.inbox_policy(r.actor, r.account, r.params["inbox_id"])
        return _Response(200, policy_json(record))

    def link_inbox_policy(self, r: _Request) -> _Response:
        record = self.admin.link_inbox(r.actor, r.account, r.params["inbox_id"], r.body)
        return _Response(200, policy_json(record))

    def unlink_inbox_policy(self, r: _Request) -> _Response:
        self.admin.unlink_inbox(r.actor, r.account, r.params["inbox_id"])
        return _Response(200)

    def list_capacity(self, r: _Request) -> _Response:
        records = self.admin.list_capacity_policies(r.actor, r.account)
        return _Response(200, [capacity_policy_json(p) for p in records])

    def create_capacity(self, r: _Request) -> _Response:
        data = _wrapped(r.body, "agent_capacity_policy")
        record = self.admin.create_capacity_policy(r.actor, r.account, data)
        return _Response(200, capacity_policy_json(record))

    def show_capacity(self, r: _Request) -> _Response:
        record = self.admin.get_capacity_policy(r.actor, r.account, r.params["id"])
        return _Response(200, capacity_policy_json(record))

    def update_capacity(self, r: _Request) -> _Response:
        self.admin.get_capacity_policy(r.actor, r.account, r.params["id"])
        data = _wrapped(r.body, "agent_capacity_policy")
        record = self.admin.update_capacity_policy(
            r.actor, r.account, r.params["id"], data
        )
        return _Response(200, capacity_policy_json(record))

    def delete_capacity(self, r: _Request) -> _Response:
        self.admin.delete_capacity_policy(r.actor, r.account, r.params["id"])
        return _Response(200)

    def list_users(self, r: _Request) -> _Response:
        agents = self.admin.capacity_policy_agents(r.actor, r.account, r.params["id"])
        return _Response(200, [agent_json(a) for a in agents])

    def add_user(self, r: _Request) -> _Response:
        info = self.admin.add_capacity_policy_agent(
            r.actor, r.account, r.params["id"], _maybe_wrapped(r.body, "user")
        )
        return _Response(200, agent_json(info))

    def remove_user(self, r: _Request) -> _Response:
        self.admin.remove_capacity_policy_agent(
            r.actor, r.account, r.params["id"], r.params["user_id"]
        )
        return _Response(200)

    def add_limit(self, r: _Request) -> _Response:
        record = self.admin.add_inbox_limit(
            r.actor, r.account, r.params["id"], _maybe_wrapped(r.body, "inbox_limit")
        )
        return _Response(200, inbox_limit_json(record))

    def update_limit(self, r: _Request) -> _Response:
        record = self.admin.update_inbox_limit(
            r.actor,
            r.account,
            r.params["id"],
            r.params["limit_id"],
            _maybe_wrapped(r.body, "inbox_limit"),
        )
        name = self.admin.inbox_name(r.account, record.inbox) or ""
        return _Response(200, inbox_limit_json(record, inbox_name=name))

    def wait_estimate(self, r: _Request) -> _Response:
        if self.waits is None:
            return _Response(404, {"error": NOT_FOUND})
        found = self.waits(r.account, r.params["conversation_id"])
        if found.reason == NO_SUCH_CONVERSATION:
            return _Response(404, {"error": "Conversation not found"})
        return _Response(200, found.to_dict())

    def delete_limit(self, r: _Request) -> _Response:
        self.admin.delete_inbox_limit(
            r.actor, r.account, r.params["id"], r.params["limit_id"]
        )
        return _Response(204)


_ROUTES: tuple[tuple[tuple[str, ...], Mapping[str, Handler]], ...] = (
    (
        ("assignment_policies",),
        {"GET": AdminApp.list_policies, "POST": AdminApp.create_policy},
    ),
    (
        ("assignment_policies", "{id}"),
        {
            "GET": AdminApp.show_policy,
            "PUT": AdminApp.update_policy,
            "PATCH": AdminApp.update_policy,
            "DELETE": AdminApp.delete_policy,
        },
    ),
    (("assignment_policies", "{id}", "inboxes"), {"GET": AdminApp.policy_inboxes}),
    (
        ("inboxes", "{inbox_id}", "assignment_policy"),
        {
            "GET": AdminApp.show_inbox_policy,
            "POST": AdminApp.link_inbox_policy,
            "DELETE": AdminApp.unlink_inbox_policy,
        },
    ),
    (
        ("agent_capacity_policies",),
        {"GET": AdminApp.list_capacity, "POST": AdminApp.create_capacity},
    ),
    (
        ("agent_capacity_policies", "{id}"),
        {
            "GET": AdminApp.show_capacity,
            "PUT": AdminApp.update_capacity,
            "PATCH": AdminApp.update_capacity,
            "DELETE": AdminApp.delete_capacity,
        },
    ),
    (
        ("agent_capacity_policies", "{id}", "users"),
        {"GET": AdminApp.list_users, "POST": AdminApp.add_user},
    ),
    (
        ("agent_capacity_policies", "{id}", "users", "{user_id}"),
        {"DELETE": AdminApp.remove_user},
    ),
    (("agent_capacity_policies", "{id}", "inbox_limits"), {"POST": AdminApp.add_limit}),
    (
        ("agent_capacity_policies", "{id}", "inbox_limits", "{limit_id}"),
        {
            "PUT": AdminApp.update_limit,
            "PATCH": AdminApp.update_limit,
            "DELETE": AdminApp.delete_limit,
        },
    ),
    (
        ("conversations", "{conversation_id}", "wait_estimate"),
        {"GET": AdminApp.wait_estimate},
    ),
)

ROUTES: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    ("/".join(("/api/v1/accounts/{account_id}", *pattern)), tuple(sorted(handlers)))
    for pattern, handlers in _ROUTES
)
"""Every route: ``(path template, methods)``."""
