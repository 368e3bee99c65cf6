"""The simulate command's edges: arguments checked before a run, tables that fit 80
columns, and plain progress lines when stderr is not a terminal."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from autoassign import cli
from autoassign.simulate import Scenario, compare, simulate
from autoassign.simulate._pipe import PipeProgress
from autoassign.simulate.render import render_compare, render_report


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return cli.main(list(argv), stdout=out), out.getvalue()


@pytest.fixture
def no_simulation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if a simulation starts: the arguments must be refused first."""

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the simulation ran before the arguments were checked")

    for name in ("simulate", "compare", "replay"):
        monkeypatch.setattr(cli, name, refuse)


@pytest.mark.usefixtures("no_simulation")
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--duration", "86401"], "--duration: must be <= 86400 (60 days), got 86401"),
        (["--duration", "0"], "--duration: must be >= 1, got 0"),
        (["--plot", "day.txt"], "--plot: 'day.txt' must end in one of"),
        (["--plot", "{missing}/day.png"], "--plot: no directory"),
        (["--plot", "{tmp}/dir.png"], "is a directory"),
        (["--record", "day.json"], "--record: 'day.json' must end in .jsonl"),
        (["--record", "{missing}/day.jsonl"], "--record: no directory"),
        (
            ["--record", "day.jsonl", "--compare", "fair", "strict"],
            "--record records one run; it cannot go with --compare",
        ),
        (["--compare", "fair", "strict", "--plot", "x.bmp"], "--plot: 'x.bmp'"),
    ],
)
def test_bad_outputs_are_refused_before_the_run(
    argv: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "dir.png").mkdir()
    argv = [arg.format(missing=tmp_path / "missing", tmp=tmp_path) for arg in argv]
    code, out = run("simulate", *argv)
    assert (code, out) == (2, "")
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


@pytest.mark.usefixtures("no_simulation")
def test_replay_checks_its_plot_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "day.jsonl"
    log.write_text("")
    assert run("replay", str(log), "--plot", "day.gif.txt")[0] == 2
    assert "--plot: 'day.gif.txt' must end in one of" in capsys.readouterr().err


def test_the_longest_duration_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    def fake(scenario: Scenario, **_kwargs: Any) -> dict[str, Any]:
        seen.append(scenario.duration_minutes)
        raise SystemExit(0)

    monkeypatch.setattr(cli, "simulate", fake)
    with pytest.raises(SystemExit):
        run("simulate", "--duration", "86400", "--json")
    assert seen == [86400]


def _widest(render: Any, report: dict[str, Any]) -> int:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    render(console, report)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "…" not in text
    return max(len(line.rstrip()) for line in text.splitlines())


def test_tables_fit_an_80_column_terminal(short: Scenario) -> None:
    brief = short.with_changes(duration_minutes=60)
    assert _widest(render_report, simulate(brief)) <= 80
    assert _widest(render_compare, compare(brief, "fair", "balanced")) <= 80


@given(
    steps=st.lists(st.floats(min_value=0.0, max_value=10.0), min_size=1, max_size=80),
    every=st.sampled_from([0.0, 2.0, 5.0]),
)
def test_pipe_progress_lines(steps: list[float], every: float) -> None:
    """At most a line per simulated hour, none sooner than ``every`` seconds after the
    last, and always a summary."""
    clock = {"now": 100.0}
    out = io.StringIO()
    lines = PipeProgress(
        out, every=every, timer=lambda: clock["now"], prefix="autoassign"
    )
    stamps: list[float] = []
    for sample, pause in enumerate(steps):
        clock["now"] += pause
        before = out.getvalue().count("\n")
        lines(sample * 30.0, 1440.0)
        if out.getvalue().count("\n") > before:
            stamps.append(clock["now"])
    lines.close()
    text = out.getvalue().splitlines()
    assert text[-1].startswith("autoassign: simulated 24 h in ")
    hourly = text[:-1]
    assert len(hourly) == len(stamps) <= (len(steps) - 1) * 30 // 60
    assert all(b - a >= every for a, b in zip([100.0, *stamps], stamps, strict=False))
    hours = [float(line.split()[2]) for line in hourly]
    assert hours == sorted(set(hours))


def test_a_piped_run_is_not_silent(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run("simulate", "--duration", "120", "--json")
    assert code == 0
    assert out.startswith("{")
    err = capsys.readouterr().err
    assert "autoassign: simulated 2 h in " in err
