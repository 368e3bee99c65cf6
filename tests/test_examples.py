"""Every example runs to completion: ``examples/*.py`` in a subprocess, exit code 0.

Examples that serve forever (they contain ``serve_forever``) are left out here; each has
its own test that serves it on a loopback port and stops it. The host
repository of ``examples/host_wiring.py`` also runs the shipped contract suite.
"""

from __future__ import annotations

import importlib.util
import io
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest

from autoassign import Conversation, cli
from autoassign.ports import ConversationRepository
from autoassign.testing.contracts import ConversationRepositoryContract

ROOT = Path(__file__).resolve().parent.parent
ALL_EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
EXAMPLES = [
    path
    for path in ALL_EXAMPLES
    if "serve_forever" not in path.read_text(encoding="utf-8")
]
TIMEOUT = 60


def test_examples_exist() -> None:
    assert EXAMPLES, "no examples found"


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs(path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, (
        f"{path.name} exited with {completed.returncode}\n"
        f"--- stdout ---\n{completed.stdout}\n--- stderr ---\n{completed.stderr}"
    )


def _load_example(name: str) -> ModuleType:
    path = ROOT / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"examples_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestHostWiringRepository(ConversationRepositoryContract):
    """The sqlite3 repository of ``examples/host_wiring.py`` keeps the port's contract:
    the same suite a host runs on its own adapter (docs/writing-adapters.md). Its
    table has no urgency, due time or weight, and it counts no totals across inboxes."""

    no_urgency = True
    no_due_at = True
    no_total_capacity = True
    no_weights = True

    def make_repository(
        self, conversations: Sequence[Conversation]
    ) -> ConversationRepository:
        example = _load_example("host_wiring")
        repository = example.SqliteConversations(example.connect())
        for conversation in conversations:
            repository.put(conversation)
        return repository  # type: ignore[no-any-return]


_TRANSCRIPT = re.compile(r"```console\n\$ (autoassign explain [^\n]*)\n(.*?)```", re.S)
SIMULATED_TRANSCRIPTS = [
    (command, output)
    for command, output in _TRANSCRIPT.findall(
        (ROOT / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
    )
    if "--redis-url" not in command and "--wiring" not in command
]


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip().splitlines()]


def test_the_troubleshooting_guide_shows_every_example_scenario() -> None:
    shown = " ".join(command for command, _output in SIMULATED_TRANSCRIPTS)
    for scenario in sorted((ROOT / "examples" / "scenarios").glob("*.toml")):
        if scenario.name != "default.toml":  # the built-in one, used without --scenario
            assert f"examples/scenarios/{scenario.name}" in shown, scenario.name
    assert len(SIMULATED_TRANSCRIPTS) >= 9  # one per checklist gate, and conversations


@pytest.mark.parametrize(
    ("command", "output"),
    SIMULATED_TRANSCRIPTS,
    ids=[command for command, _output in SIMULATED_TRANSCRIPTS],
)
def test_troubleshooting_transcripts_are_what_explain_prints(
    command: str, output: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/troubleshooting.md shows real output: each simulated ``autoassign explain``
    transcript there is what the command prints now (trailing spaces aside)."""
    pytest.importorskip("rich")
    monkeypatch.chdir(ROOT)  # the transcripts name the scenarios from the root
    out = io.StringIO()
    code = cli.main(shlex.split(command)[1:], stdout=out)
    assert code == 0
    assert _lines(out.getvalue()) == _lines(output)


_SIMULATE = re.compile(
    r"```console\n\$ (autoassign simulate examples/[^\n]*)\n(.*?)```", re.S
)
SIMULATE_TRANSCRIPTS = _SIMULATE.findall(
    (ROOT / "docs" / "simulate.md").read_text(encoding="utf-8")
)


def test_the_simulate_guide_shows_every_simulate_example() -> None:
    shown = " ".join(command for command, _output in SIMULATE_TRANSCRIPTS)
    for scenario in sorted((ROOT / "examples" / "simulate").glob("*.toml")):
        assert f"examples/simulate/{scenario.name}" in shown, scenario.name


@pytest.mark.parametrize(
    ("command", "output"),
    SIMULATE_TRANSCRIPTS,
    ids=[command for command, _output in SIMULATE_TRANSCRIPTS],
)
def test_simulate_transcripts_are_what_simulate_prints(
    command: str, output: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/simulate.md's comparisons of example scenarios are real output."""
    pytest.importorskip("rich")
    monkeypatch.chdir(ROOT)
    out = io.StringIO()
    code = cli.main(shlex.split(command)[1:], stdout=out)
    assert code == 0
    assert _lines(out.getvalue()) == _lines(output)
