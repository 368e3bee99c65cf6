"""Serve the admin API over an in-memory world, with two demo tokens.

    .venv/bin/python examples/admin_server.py            # http://127.0.0.1:3000
    .venv/bin/python examples/admin_server.py --port 8080

Account 1 has inboxes 1 ("Support") and 2 ("Sales"), agents ann and bob (both online),
and two open conversations in inbox 1. Tokens (header ``api_access_token``):

* ``admin-demo-token``: an administrator of account 1 (may do everything);
* ``agent-demo-token``: an agent of account 1 (gets 401 everywhere).

After each successful write the server runs one assignment pass over every inbox with
a policy and prints who got what, so you can see admin changes take effect. See
docs/admin.md for a curl session.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any
from wsgiref.simple_server import make_server

from autoassign import SystemClock
from autoassign.admin import (
    Actor,
    AdminApp,
    ApiAccessTokenAuthenticator,
    InMemoryPolicyStore,
    PolicyAdmin,
)
from autoassign.testing import InMemoryBackend, build_in_memory

ADMIN_TOKEN = "admin-demo-token"
AGENT_TOKEN = "agent-demo-token"


def build_app() -> tuple[AdminApp, InMemoryBackend]:
    clock = SystemClock()
    backend = InMemoryBackend(clock=clock)
    backend.add_account(1)
    backend.add_inbox(1, account=1, members=["ann", "bob"])
    backend.add_inbox(2, account=1, members=["bob"])
    for agent in ("ann", "bob"):
        backend.set_status(1, agent, "online")
    backend.add_conversation(100, inbox=1)
    backend.add_conversation(101, inbox=1, labels=["vip"])
    store = InMemoryPolicyStore(backend.world, clock)
    store.set_inbox_name(1, "Support")
    store.set_inbox_name(2, "Sales")
    store.add_user(1, "ann", name="Ann", email="ann@example.com")
    store.add_user(1, "bob", name="Bob", email="bob@example.com")
    tokens = {
        ADMIN_TOKEN: Actor(account=1, user="root", role="administrator"),
        AGENT_TOKEN: Actor(account=1, user="ann", role="agent"),
    }
    return AdminApp(PolicyAdmin(store), ApiAccessTokenAuthenticator(tokens)), backend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    args = parser.parse_args()
    app, backend = build_app()
    engine = build_in_memory(backend)

    def with_pass(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        status: list[str] = []

        def capture(line: str, headers: Any, *rest: Any) -> Any:
            status.append(line)
            return start_response(line, headers, *rest)

        body = app(environ, capture)
        if environ["REQUEST_METHOD"] != "GET" and status and status[0][0] == "2":
            for inbox in sorted(backend.world.policy_links, key=str):
                result = engine.service.perform_bulk_assignment(inbox)
                for assignment in result.assignments:
                    print(
                        f"  pass: conversation {assignment.conversation} "
                        f"-> {assignment.agent} (inbox {inbox})"
                    )
        return body

    with make_server(args.host, args.port, with_pass) as server:
        print(
            f"admin API on http://{args.host}:{server.server_port}/api/v1/accounts/1/"
        )
        print(f"  admin token: {ADMIN_TOKEN}\n  agent token: {AGENT_TOKEN}")
        server.serve_forever()


if __name__ == "__main__":
    main()
