"""examples/admin_server.py builds a working app (it serves forever, so the shared
example runner skips it; this drives its app in-process)."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path
from typing import Any

PATH = Path(__file__).resolve().parents[2] / "examples" / "admin_server.py"


def _request(app: Any, method: str, path: str, token: str, body: object = None) -> Any:
    data = b"" if body is None else json.dumps(body).encode()
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "CONTENT_LENGTH": str(len(data)),
        "CONTENT_TYPE": "application/json",
        "wsgi.input": io.BytesIO(data),
        "HTTP_API_ACCESS_TOKEN": token,
    }
    seen: list[str] = []
    out = b"".join(app(environ, lambda status, headers: seen.append(status)))
    return int(seen[0].split()[0]), json.loads(out) if out else None


def test_demo_tokens_and_a_pass() -> None:
    spec = importlib.util.spec_from_file_location("admin_server_example", PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app, backend = module.build_app()
    base = "/api/v1/accounts/1"
    status, _ = _request(app, "GET", f"{base}/assignment_policies", module.AGENT_TOKEN)
    assert status == 401
    status, policy = _request(
        app,
        "POST",
        f"{base}/assignment_policies",
        module.ADMIN_TOKEN,
        {"assignment_policy": {"name": "Demo"}},
    )
    assert status == 200
    status, _ = _request(
        app,
        "POST",
        f"{base}/inboxes/1/assignment_policy",
        module.ADMIN_TOKEN,
        {"assignment_policy_id": policy["id"]},
    )
    assert status == 200
    assert backend.world.policy_links == {1: policy["id"]}
