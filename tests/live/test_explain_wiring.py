"""``autoassign explain --wiring module:factory`` (the host's own wiring, imported from the
current directory) and the command line's argument checks for live explains. No real
services: the host module here wires the in-memory adapters."""

from __future__ import annotations

import importlib
import io
import json
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.simulate._backend_state import backend_state

from autoassign import cli
from autoassign._live import id_candidates, redact_url

HOST_MODULE = textwrap.dedent(
    """
    from datetime import timedelta

    from autoassign import AssignmentPolicy
    from autoassign.errors import BackendUnavailable
    from autoassign.testing import FakeClock, InMemoryBackend, build_in_memory

    BACKEND = None
    APP = None
    NOT_AN_APP = 3


    def build():
        global BACKEND, APP
        if APP is None:
            BACKEND = InMemoryBackend(clock=FakeClock())
            BACKEND.add_account(1)
            BACKEND.add_inbox("support", account=1, members=["ann", "bob", "cho"])
            BACKEND.add_inbox(7, account=1, members=["ann"])
            BACKEND.add_policy(AssignmentPolicy(id=1, account=1), inboxes=["support", 7])
            BACKEND.set_status(1, "ann", "online")
            BACKEND.set_status(1, "bob", "busy")
            BACKEND.add_conversation(42, inbox="support")
            BACKEND.add_conversation("c-7", inbox="support", assignee="bob")
            BACKEND.lease.mark_pending("support", ttl=timedelta(minutes=15))
            APP = build_in_memory(BACKEND)
        return APP


    def service():
        return build().service


    def broken():
        raise RuntimeError("database is down")


    class _Down:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise BackendUnavailable("directory down")

            return fail


    def flaky():
        app = build()
        return type(app.service)(
            directory=_Down(),
            conversations=app.service.conversations,
            presence=app.service.presence,
            ledger=app.service.ledger,
            rotation=app.service.rotation,
            events=app.service.events,
            clock=app.service.clock,
        )
    """
)


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A host module in a fresh directory, which becomes the current one (the
    command line searches it first, as ``python -m`` would). Yields its name."""
    name = f"aa_host_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(HOST_MODULE)
    monkeypatch.chdir(tmp_path)
    importlib.invalidate_caches()
    try:
        yield name
    finally:
        sys.modules.pop(name, None)


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), stdout=out)
    return code, out.getvalue()


def test_explain_an_inbox_through_the_hosts_wiring(host: str) -> None:
    code, text = run("explain", "--wiring", f"{host}:build", "--inbox", "support")
    assert code == 0, text
    assert f"Live: wiring {host}:build (read-only)" in text
    assert "Inbox 'support'" in text
    module = sys.modules[host]
    before = backend_state(module.BACKEND)
    code, text = run(
        "explain", "--wiring", f"{host}:build", "--inbox", "support", "--json"
    )
    assert code == 0
    assert (
        backend_state(module.BACKEND) == before
    )  # the same app object: nothing was written
    [inbox] = json.loads(text)
    gates = {gate["name"]: gate for gate in inbox["gates"]}
    assert gates["agents_online"]["numbers"] == {"online": 1, "members": 3}
    assert gates["job_scheduled"]["status"] == "pass"
    assert gates["job_scheduled"]["numbers"] == {
        "queued": False,
        "pending": True,
        "lease_held": False,
    }
    assert inbox["would_assign"] is True
    # the caller's word on the periodic job
    code, text = run(
        "explain",
        "--wiring",
        f"{host}:build",
        "--inbox",
        "support",
        "--jobs-scheduled",
        "no",
        "--json",
    )
    [inbox] = json.loads(text)
    assert inbox["gates"][-1]["status"] == "FAIL"
    assert "is not scheduled" in inbox["gates"][-1]["detail"]


def test_ids_are_tried_as_int_then_as_text(host: str) -> None:
    code, text = run("explain", "--wiring", f"{host}:build", "--inbox", "7", "--json")
    assert code == 0
    assert json.loads(text)[0]["inbox"] == 7
    code, text = run(
        "explain", "--wiring", f"{host}:build", "--conversation", "42", "--json"
    )
    data = json.loads(text)
    assert (data["conversation"], data["outcome"], data["chosen"]) == (
        42,
        "would_assign",
        "ann",
    )
    code, text = run(
        "explain", "--wiring", f"{host}:build", "--conversation", "c-7", "--json"
    )
    data = json.loads(text)
    assert (data["conversation"], data["outcome"], data["assignee"]) == (
        "c-7",
        "not_assignable",
        "bob",
    )
    code, text = run("explain", "--wiring", f"{host}:build", "--conversation", "9")
    assert code == 0
    assert "Conversation 9: not found" in text


def test_a_factory_may_return_the_service(host: str) -> None:
    code, text = run(
        "explain", "--wiring", f"{host}:service", "--inbox", "support", "--json"
    )
    assert code == 0
    job = json.loads(text)[0]["gates"][-1]
    assert job["status"] == "n/a"  # a bare service has no lease to read
    assert job["numbers"] == {"queued": None, "pending": None, "lease_held": None}
    assert job["detail"].startswith("no lease or job queue to read")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{host}", "must look like 'package.module:factory'"),
        ("{host}:", "must look like 'package.module:factory'"),
        ("{host}:nope", "has no attribute 'nope'"),
        ("aa_no_such_module_x:build", "cannot import 'aa_no_such_module_x'"),
        ("{host}:NOT_AN_APP", "must be (or return) an autoassign.Autoassign"),
        ("{host}:broken", "{host}:broken() failed: RuntimeError: database is down"),
        ("{host}:flaky", "cannot explain on wiring {host}:flaky: directory down"),
    ],
)
def test_wiring_errors_exit_2(
    host: str, spec: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _text = run("explain", "--wiring", spec.format(host=host), "--inbox", "1")
    assert code == 2
    err = capsys.readouterr().err
    assert message.format(host=host) in err
    assert "Traceback" not in err
    assert str(Path.cwd()) not in sys.path  # the search path is put back


_URLS = ["--redis-url", "redis://x", "--sql-url", "sqlite:///x.db"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--redis-prefix", "x"], "--redis-prefix applies to a live explain"),
        (["--sql-ids", "str"], "--sql-ids applies to a live explain"),
        (["--no-heartbeat"], "--no-heartbeat applies to a live explain"),
        (
            ["--wiring", "m:f", "--at", "3", "--inbox", "1"],
            "--at applies to a simulated",
        ),
        (
            ["--wiring", "m:f", "--scenario", "s.toml", "--inbox", "1"],
            "--scenario applies to a simulated",
        ),
        (["--wiring", "m:f"], "exactly one of --inbox, --conversation"),
        (
            ["--wiring", "m:f", "--inbox", "1", "--conversation", "2"],
            "exactly one of --inbox, --conversation",
        ),
        (
            ["--wiring", "m:f", "--redis-url", "redis://x", "--inbox", "1"],
            "--redis-url cannot be combined with --wiring",
        ),
        (
            ["--wiring", "m:f", "--sql-schema", "s", "--inbox", "1"],
            "--sql-schema cannot be combined with --wiring",
        ),
        (
            ["--redis-url", "redis://127.0.0.1:1/0", "--inbox", "1"],
            "needs both --redis-url and --sql-url (--sql-url is missing)",
        ),
        (
            ["--sql-url", "sqlite:///x.db", "--inbox", "1"],
            "(--redis-url is missing)",
        ),
        (
            [*_URLS, "--presence-window", "0", "--inbox", "1"],
            "--presence-window must be > 0 seconds",
        ),
        (
            ["--redis-url", "http://x", "--sql-url", "sqlite:///x.db", "--inbox", "1"],
            "--redis-url http://x: Redis URL must specify",
        ),
        (
            ["--redis-url", "redis://x", "--sql-url", "nonsense", "--inbox", "1"],
            "--sql-url: not a database URL",
        ),
        (
            ["--redis-url", "redis://x", "--sql-url", "sqlite://", "--inbox", "1"],
            "an in-memory SQLite database is empty",
        ),
        (
            [*_URLS, "--redis-prefix", "a{b}", "--inbox", "1"],
            "--redis-prefix/--presence-window: prefix must not contain",
        ),
        (["--conversation", "x1"], "--conversation: scenario conversations are"),
        (["--inbox", "fax"], "unknown inbox 'fax'"),
    ],
)
def test_argument_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _text = run("explain", *argv)
    assert code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_a_missing_sqlite_file_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.db"
    code, _text = run(
        "explain",
        "--redis-url",
        "redis://127.0.0.1:1/0",
        "--sql-url",
        f"sqlite:///{missing}",
        "--inbox",
        "1",
    )
    assert code == 2
    assert "cannot reach redis://127.0.0.1:1/0" in capsys.readouterr().err
    assert not missing.exists()


def test_scenario_explain_takes_the_callers_word_on_the_job() -> None:
    code, text = run(
        "explain",
        "--at",
        "60",
        "--inbox",
        "support",
        "--jobs-scheduled",
        "no",
        "--json",
    )
    assert code == 0
    assert json.loads(text)[0]["gates"][-1]["status"] == "FAIL"


def test_id_candidates_and_redaction() -> None:
    assert id_candidates("42") == [42, "42"]
    assert id_candidates("0") == [0, "0"]
    assert id_candidates("042") == ["042"]
    assert id_candidates("-1") == ["-1"]
    assert id_candidates("c-7") == ["c-7"]
    assert id_candidates("\u0663") == ["\u0663"]  # a non-ASCII digit stays text
    assert redact_url("redis://:s3cret@h:6379/0") == "redis://:***@h:6379/0"
    assert redact_url("redis://user:s3cret@h/0") == "redis://user:***@h/0"
    assert redact_url("redis://h:6379/0") == "redis://h:6379/0"
