"""The shipped OpenAPI document (``autoassign/admin/openapi.json``) matches the app:
every route is documented, and every response a session produces (successes and
errors, on every route) validates against the document.

The validator is a minimal JSON Schema checker for the keywords the document uses; a
test makes sure the document uses no other keyword, so nothing is silently skipped."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from autoassign.admin import ROUTES, AdminApp, openapi_document

CHECKED = {
    "$ref",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "maxItems",
    "oneOf",
}
ANNOTATIONS = {"description", "default", "title", "examples"}
TYPES: dict[str, Callable[[object], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi_document()


def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        target: Any = doc
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def errors_of(
    doc: dict[str, Any], schema: dict[str, Any], value: object, at: str = "$"
) -> Iterator[str]:
    schema = resolve(doc, schema)
    if "oneOf" in schema:
        matches = [s for s in schema["oneOf"] if not list(errors_of(doc, s, value, at))]
        if len(matches) != 1:
            yield f"{at}: matches {len(matches)} of oneOf"
        return
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(TYPES[k](value) for k in kinds):
            yield f"{at}: {value!r} is not of type {kinds}"
            return
    if "enum" in schema and value not in schema["enum"]:
        yield f"{at}: {value!r} not in {schema['enum']}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            yield f"{at}: {value} < {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            yield f"{at}: {value} > {schema['maximum']}"
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            yield f"{at}: shorter than {schema['minLength']}"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            yield f"{at}: longer than {schema['maxLength']}"
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            yield f"{at}: more than {schema['maxItems']} items"
        if "items" in schema:
            for index, item in enumerate(value):
                yield from errors_of(doc, schema["items"], item, f"{at}[{index}]")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                yield f"{at}: missing {key!r}"
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                yield from errors_of(doc, properties[key], item, f"{at}.{key}")
            elif extra is False:
                yield f"{at}: unexpected {key!r}"
            elif isinstance(extra, dict):
                yield from errors_of(doc, extra, item, f"{at}.{key}")


def test_checker_catches_mistakes(doc: dict[str, Any]) -> None:
    policy = {"$ref": "#/components/schemas/AssignmentPolicy"}
    assert list(errors_of(doc, policy, {}))
    assert list(errors_of(doc, {"type": "integer"}, True))
    assert list(
        errors_of(doc, {"type": "object", "additionalProperties": False}, {"a": 1})
    )
    assert list(errors_of(doc, {"type": "integer", "maximum": 3}, 4))
    assert not list(errors_of(doc, {"type": ["integer", "null"]}, None))


def _keywords(node: object, inside_properties: bool = False) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if not inside_properties:
                yield key
            if key == "properties":
                for sub in value.values():
                    yield from _keywords(sub)
            elif key in {"items", "additionalProperties"}:
                yield from _keywords(value)
            elif key == "oneOf":
                for sub in value:
                    yield from _keywords(sub)


def test_document_uses_only_checked_keywords(doc: dict[str, Any]) -> None:
    assert doc["openapi"].startswith("3.1")
    used = {
        k for schema in doc["components"]["schemas"].values() for k in _keywords(schema)
    }
    assert used <= CHECKED | ANNOTATIONS, used - CHECKED - ANNOTATIONS


def test_every_route_is_documented_and_nothing_else(doc: dict[str, Any]) -> None:
    documented = {
        (path, method.upper())
        for path, item in doc["paths"].items()
        for method in item
        if method != "parameters"
    }
    served = {(path, method) for path, methods in ROUTES for method in methods}
    assert documented == served


def _session(call: Callable[..., Any]) -> Iterator[tuple[str, str, Any]]:
    """Drive every route with successes and errors; yield (template, method, reply)."""
    base = "/api/v1/accounts/{account_id}"
    pol = f"{base}/assignment_policies"
    cap = f"{base}/agent_capacity_policies"

    def go(
        template: str,
        method: str,
        params: dict[str, object],
        body: object = None,
        **kw: Any,
    ) -> Any:
        path = template.replace("{account_id}", "1")
        for name, value in params.items():
            path = path.replace("{" + name + "}", str(value))
        reply = call(method, path, body, **kw)
        return template, method, reply

    step = go(pol, "POST", {}, {"assignment_policy": {"name": "A"}})
    yield step
    pid = step[2].json["id"]
    yield go(pol, "POST", {}, {"assignment_policy": {"name": "A"}})  # 422 duplicate
    yield go(pol, "POST", {}, raw=b"{")  # 400
    yield go(pol, "POST", {}, raw=b"{}", content_type="text/plain")  # 415
    yield go(pol, "POST", {}, raw=b"[" * 5000)  # 413 (max 4096 in the fixture)
    yield go(
        pol, "POST", {}, raw=b"{}", headers={"HTTP_TRANSFER_ENCODING": "chunked"}
    )  # 411
    yield go(pol, "GET", {})
    yield go(pol, "GET", {}, token=None)  # 401
    yield go(pol, "DELETE", {})  # 405
    yield go(f"{pol}/{{id}}", "GET", {"id": pid})
    yield go(f"{pol}/{{id}}", "GET", {"id": 999})  # 404
    yield go(
        f"{pol}/{{id}}", "PUT", {"id": pid}, {"assignment_policy": {"enabled": False}}
    )
    yield go(
        f"{pol}/{{id}}",
        "PATCH",
        {"id": pid},
        {"assignment_policy": {"fair_distribution_limit": None}},
    )
    yield go(
        f"{pol}/{{id}}", "PATCH", {"id": pid}, {"assignment_policy": {"enabled": "x"}}
    )
    routing = {"sticky_window": 0, "skill_routing": False, "skill_relax_after": 60}
    yield go(f"{pol}/{{id}}", "PATCH", {"id": pid}, {"assignment_policy": routing})
    yield go(
        f"{pol}/{{id}}",
        "PATCH",
        {"id": pid},
        {"assignment_policy": {"sticky_window": -1, "skill_routing": "no"}},
    )  # 422
    link = f"{base}/inboxes/{{inbox_id}}/assignment_policy"
    yield go(link, "GET", {"inbox_id": 10})  # 404 not linked
    yield go(link, "POST", {"inbox_id": 10}, {"assignment_policy_id": pid})
    yield go(link, "POST", {"inbox_id": 10}, {"assignment_policy_id": "nope"})  # 404
    yield go(link, "POST", {"inbox_id": 10}, {})  # 422
    yield go(link, "GET", {"inbox_id": 10})
    yield go(f"{pol}/{{id}}/inboxes", "GET", {"id": pid})
    yield go(f"{pol}/{{id}}/inboxes", "GET", {"id": 999})
    yield go(link, "DELETE", {"inbox_id": 10})
    yield go(link, "DELETE", {"inbox_id": 10})  # 404
    step = go(
        cap,
        "POST",
        {},
        {
            "agent_capacity_policy": {
                "name": "C",
                "exclusion_rules": {"excluded_labels": ["x"]},
            }
        },
    )
    yield step
    cid = step[2].json["id"]
    yield go(cap, "POST", {}, {"agent_capacity_policy": {"exclusion_rules": 5}})  # 422
    yield go(cap, "GET", {})
    yield go(f"{cap}/{{id}}", "GET", {"id": cid})
    yield go(
        f"{cap}/{{id}}", "PUT", {"id": cid}, {"agent_capacity_policy": {"name": "D"}}
    )
    yield go(
        f"{cap}/{{id}}",
        "PATCH",
        {"id": cid},
        {"agent_capacity_policy": {"exclusion_rules": None}},
    )
    yield go(
        f"{cap}/{{id}}", "PATCH", {"id": 999}, {"agent_capacity_policy": {}}
    )  # 404
    limits = f"{cap}/{{id}}/inbox_limits"
    step = go(limits, "POST", {"id": cid}, {"inbox_id": 10, "conversation_limit": 1})
    yield step
    lid = step[2].json["id"]
    yield go(
        limits, "POST", {"id": cid}, {"inbox_id": 10, "conversation_limit": 1}
    )  # 422 dup
    yield go(
        limits, "POST", {"id": cid}, {"inbox_id": 99, "conversation_limit": 1}
    )  # 404
    yield go(
        f"{limits}/{{limit_id}}",
        "PUT",
        {"id": cid, "limit_id": lid},
        {"conversation_limit": 2},
    )
    yield go(  # an unlimited link (issue 16), then a policy that shows one
        f"{limits}/{{limit_id}}",
        "PUT",
        {"id": cid, "limit_id": lid},
        {"conversation_limit": None},
    )
    yield go(limits, "POST", {"id": cid}, {"inbox_id": 11, "conversation_limit": None})
    yield go(f"{cap}/{{id}}", "GET", {"id": cid})
    yield go(
        f"{limits}/{{limit_id}}",
        "PATCH",
        {"id": cid, "limit_id": lid},
        {"conversation_limit": -2},
    )
    yield go(
        f"{limits}/{{limit_id}}",
        "PATCH",
        {"id": cid, "limit_id": lid},
        {"inbox_limit": {"conversation_limit": 0}},
    )
    users = f"{cap}/{{id}}/users"
    yield go(users, "POST", {"id": cid}, {"user_id": "ann"})
    yield go(users, "POST", {"id": cid}, {"user_id": "ghost"})  # 404
    yield go(users, "GET", {"id": cid})
    yield go(f"{users}/{{user_id}}", "DELETE", {"id": cid, "user_id": "ann"})
    yield go(f"{users}/{{user_id}}", "DELETE", {"id": cid, "user_id": "ann"})  # 404
    yield go(f"{limits}/{{limit_id}}", "DELETE", {"id": cid, "limit_id": lid})
    yield go(f"{limits}/{{limit_id}}", "DELETE", {"id": cid, "limit_id": lid})  # 404
    yield go(f"{cap}/{{id}}", "DELETE", {"id": cid})
    yield go(f"{pol}/{{id}}", "DELETE", {"id": pid})
    yield go(f"{pol}/{{id}}", "DELETE", {"id": pid}, token="agent-token")  # 401
    wait = f"{base}/conversations/{{conversation_id}}/wait_estimate"
    yield go(wait, "GET", {"conversation_id": 500})  # no policy linked: unknown
    yield go(wait, "GET", {"conversation_id": 600})  # 404: another account's
    yield go(wait, "GET", {"conversation_id": 999})  # 404
    yield go(wait, "POST", {"conversation_id": 500})  # 405


def test_every_response_matches_the_document(
    doc: dict[str, Any], call: Callable[..., Any], app: AdminApp
) -> None:
    exercised: set[tuple[str, str, int]] = set()
    for template, method, reply in _session(call):
        item = doc["paths"][template]
        if method.lower() in item:
            responses = item[method.lower()]["responses"]
        else:  # a method the route does not serve: the shared 405 response
            responses = {"405": doc["components"]["responses"]["MethodNotAllowed"]}
        assert str(reply.status) in responses, (
            template,
            method,
            reply.status,
            reply.body,
        )
        response = resolve(doc, responses[str(reply.status)])
        content = response.get("content")
        if content is None:
            assert reply.body == b"", (template, method)
        else:
            assert reply.headers["Content-Type"].startswith("application/json")
            schema = content["application/json"]["schema"]
            problems = list(errors_of(doc, schema, json.loads(reply.body)))
            assert not problems, (template, method, reply.status, problems)
        exercised.add((template, method, reply.status))
    operations = {(path, method) for path, methods in ROUTES for method in methods}
    assert {(t, m) for t, m, s in exercised if s < 300} == operations
