"""Without an extra's dependency, autoassign says which extra to install (one line, no
``ModuleNotFoundError`` traceback), and the ``autoassign`` command works without ``rich``.

Each check runs in a subprocess where the dependency's import is blocked
(``sys.modules[name] = None``)."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autoassign.simulate._plain import Console, Table, Text

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.mark.parametrize(
    ("module", "blocked", "extra"),
    [
        ("autoassign.adapters.sql", "sqlalchemy", "autoassign[sql]"),
        ("autoassign.adapters.sql.migrations", "alembic", "autoassign[sql]"),
        ("autoassign.adapters.redis", "redis", "autoassign[redis]"),
        ("autoassign.aio.redis", "redis", "autoassign[redis]"),
        ("autoassign.aio.asgi", "a2wsgi", "autoassign[asgi]"),
        ("autoassign.aio.sql", "sqlalchemy", "autoassign[sql]"),
        ("autoassign.integrations.rq", "rq", "autoassign[rq]"),
        ("autoassign.integrations.celery", "celery", "autoassign[celery]"),
        (
            "autoassign.integrations.prometheus",
            "prometheus_client",
            "autoassign[prometheus]",
        ),
        ("autoassign.integrations.otel", "opentelemetry", "autoassign[otel]"),
        ("autoassign.testing.strategies", "hypothesis", "autoassign[testing]"),
    ],
)
def test_a_missing_extra_names_itself(module: str, blocked: str, extra: str) -> None:
    completed = _run(
        f"""
        import sys
        sys.modules[{blocked!r}] = None
        try:
            import {module}
        except ImportError as exc:
            assert not isinstance(exc, ModuleNotFoundError), type(exc)
            print(exc)
        else:
            raise AssertionError("imported without {blocked}")
        """
    )
    assert completed.returncode == 0, completed.stderr
    assert f"install {extra}" in completed.stdout


def test_the_cli_prints_plain_tables_without_rich() -> None:
    completed = _run(
        """
        import io, sys
        sys.modules["rich"] = None
        from autoassign import cli
        for argv in (
            ["simulate", "--duration", "30"],
            ["simulate", "--duration", "30", "--compare", "fair", "balanced"],
            ["explain", "--scenario", "examples/scenarios/troubleshooting.toml",
             "--at", "120", "--inbox", "tight"],
            ["explain", "--at", "20", "--conversation", "1"],
        ):
            out = io.StringIO()
            assert cli.main(argv, stdout=out) == 0, argv
            print(out.getvalue())
        assert sys.modules["rich"] is None
        """
    )
    assert completed.returncode == 0, completed.stderr
    # stderr holds only the progress summary lines of a piped run (no traceback)
    assert all(
        line.startswith("autoassign: simulated")
        for line in completed.stderr.splitlines()
    ), completed.stderr
    out = completed.stdout
    assert "Agents" in out
    assert "held back:" in out
    assert "6   rate_limits             FAIL" in out  # a gate row, columns aligned
    assert "Conversation 1" in out


def test_plain_tables_align_columns_and_stack_headers() -> None:
    table = Table(title="T", box=None)
    table.add_column("name")
    table.add_column("held back:\nrate", justify="right")
    table.add_row("ann", "3")
    table.add_row("bartholomew", Text("12", style="bold"))
    out = io.StringIO()
    Console(out).print(table)
    assert out.getvalue().splitlines() == [
        "T",
        "                held back:",
        "  name                rate",
        "  -----------   ----------",
        "  ann                    3",
        "  bartholomew           12",
    ]
