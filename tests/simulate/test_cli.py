"""The ``autoassign`` command: subcommands, output and exit codes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import autoassign
from autoassign import cli
from autoassign.explain import GATE_ORDER
from autoassign.simulate import default_scenario_text

EXAMPLE = str(
    Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "default.toml"
)


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), stdout=out)
    return code, out.getvalue()


def test_simulate_json_is_deterministic() -> None:
    code, first = run("simulate", EXAMPLE, "--duration", "60", "--seed", "3", "--json")
    assert code == 0
    assert (
        first
        == run("simulate", EXAMPLE, "--duration", "60", "--seed", "3", "--json")[1]
    )
    report = json.loads(first)
    assert report["scenario"]["seed"] == 3
    assert report["invariants"]["total"] == 0


def test_simulate_tables() -> None:
    code, text = run("simulate", "--duration", "90")
    assert code == 0
    assert "Agents" in text
    assert "Inboxes" in text
    assert "Jain's index" in text
    assert "invariant violations: 0" in text


def test_simulate_compare_and_plot(tmp_path: Path) -> None:
    png = tmp_path / "load.png"
    code, text = run(
        "simulate",
        "--duration",
        "60",
        "--compare",
        "fair",
        "balanced",
        "--plot",
        str(png),
    )
    assert code == 0
    assert "fair" in text
    assert "balanced" in text
    assert "the same workload under 'fair' and 'balanced'" in text
    assert "fair: assigned / peak open" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, data = run(
        "simulate", "--duration", "30", "--compare", "fair", "strict", "--json"
    )
    assert code == 0
    assert json.loads(data)["compare"] == ["fair", "strict"]


def test_record_then_replay(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    code, original = run("simulate", "--duration", "45", "--record", str(log), "--json")
    assert code == 0
    code, replayed = run("replay", str(log), "--scenario", EXAMPLE, "--json")
    assert code == 0
    assert (
        json.loads(replayed)["totals"]["assigned"]
        == json.loads(original)["totals"]["assigned"]
    )
    code, text = run("replay", str(log))
    assert code == 0
    assert "Replay of" in text


def test_explain_inboxes_and_a_conversation() -> None:
    code, text = run("explain", "--at", "200")
    assert code == 0
    for gate in (
        "feature_flag",
        "agents_online",
        "rate_limits",
        "exclusions",
        "job_scheduled",
    ):
        assert gate in text
    code, data = run("explain", "--at", "200", "--inbox", "support", "--json")
    assert code == 0
    [inbox] = json.loads(data)
    assert inbox["gates"][0]["name"] == "feature_flag"
    assert tuple(gate["name"] for gate in inbox["gates"]) == GATE_ORDER
    assert inbox["inbox"] == "support"
    code, text = run("explain", "--at", "200", "--conversation", "1")
    assert code == 0
    assert "Conversation 1" in text
    assert "Scenario 'default', minute 200" in text
    code, data = run("explain", "--at", "200", "--conversation", "1", "--json")
    assert code == 0
    explanation = json.loads(data)
    # resolved by then, so archived: the simulator's own record says what happened
    assert (explanation["conversation"], explanation["found"]) == (1, False)
    history = explanation["history"]
    assert history["conversation"] == 1
    assert history["resolved"] is not None
    assert (
        f"(resolved at minute {history['resolved']} after being assigned to "
        f"{history['agent']} at minute {history['assigned']};"
    ) in " ".join(text.split())
    code, data = run("explain", "--at", "0.5", "--conversation", "999999", "--json")
    assert code == 0
    assert json.loads(data)["found"] is False


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["simulate", "missing.toml"], "cannot read scenario file"),
        (["simulate", "--compare", "fair", "nope"], "no policy named 'nope'"),
        (["simulate", "--duration", "0"], "--duration: must be >= 1"),
        (["explain", "--inbox", "fax"], "unknown inbox 'fax'"),
        (["explain", "--at", "99999"], "--at: must be between"),
        (["replay", "missing.jsonl"], "cannot read event log"),
    ],
)
def test_errors_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out = run(*argv)
    assert code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_invalid_scenario_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        default_scenario_text().replace('shift = "early"', 'shift = "brunch"', 1)
    )
    code, _out = run("simulate", str(bad))
    assert code == 2
    assert "agents[0].shift: unknown shift 'brunch'" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run()[0] == 2
    assert run("simulate", "--seed", "x")[0] == 2
    assert run("frobnicate")[0] == 2
    assert "usage:" in capsys.readouterr().err


def test_violations_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    real = cli.Simulation.report

    def broken(self: Any) -> dict[str, Any]:
        report = real(self)
        report["invariants"]["total"] = 1
        return report

    monkeypatch.setattr(cli.Simulation, "report", broken)
    code, _out = run("simulate", "--duration", "10", "--json")
    assert code == 1


def test_python_dash_m() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "autoassign", "simulate", "--duration", "20", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["scenario"]["name"] == "default"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"autoassign {autoassign.__version__}"
