"""The benchmark scripts run (``--smoke``: tiny, in-memory only) and write the JSON the
docs describe, so ``benchmarks/`` cannot rot unnoticed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_smoke_run_writes_results(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["mode"] == "smoke"
    assert {"nproc", "cpu_model", "memory", "python", "redis_py"} <= set(
        results["machine"]
    )
    rows = results["memory_pass"]
    assert {(r["agents"], r["order"]) for r in rows} == {
        (10, "round_robin"),
        (10, "balanced"),
        (20, "round_robin"),
        (20, "balanced"),
    }
    for row in rows:
        assert row["assigned"] == 100
        assert row["assignments_per_second"] > 0
    names = {t["name"]: t["status"] for t in results["targets"]}
    assert set(names) == {
        "redis_round_trips_per_assignment",
        "redis_agent_scaling",
        "ledger_size_ratio",
        "speedup_vs_reference",
        "memory_agent_scaling",
        "memory_vs_tight_loop",
        "routing_vs_plain",
        "observability_off_overhead",
        "memory_ledger_size_ratio",
        "simulation_peak_memory",
        "simulation_day_seconds",
        "simulation_default_seconds",
        "sql_round_trips_per_assignment",
        "sql_vs_floor",
        "sql_rows_flat",
        "sql_members_flat",
    }
    assert set(names.values()) <= {"PASS", "FAIL", "SKIP"}
    assert names["memory_agent_scaling"] in {"PASS", "FAIL"}
    assert names["memory_vs_tight_loop"] in {"PASS", "FAIL"}
    assert names["observability_off_overhead"] in {"PASS", "FAIL"}
    assert {r["observed"] for r in results["memory_observed"]} == {
        "null",
        "prometheus",
        "otel",
    }
    assert results["memory_floor"][0]["assigned"] == 100
    assert names["routing_vs_plain"] in {"PASS", "FAIL"}
    assert [(r["agents"], r["assigned"]) for r in results["memory_routed"]] == [
        (20, 100)
    ]
    assert names["simulation_day_seconds"] in {"PASS", "FAIL"}
    assert names["simulation_default_seconds"] == "SKIP"  # quick and full run it
    assert names["sql_vs_floor"] == "SKIP"  # quick and full run the SQL host path
    assert results["simulation"]["totals"]["conversations"] > 0
    assert names["memory_ledger_size_ratio"] in {"PASS", "FAIL"}
    assert [r["ledger_entries"] for r in results["memory_ledger"]] == [0, 1000]
    markdown = (tmp_path / "results.md").read_text()
    assert "| target | status | detail |" in markdown
