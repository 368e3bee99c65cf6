"""What the simulator decides is pinned: a seeded day of the benchmark scenario and a
recorded slice of the default one give these totals and these bytes (measured before
the simulator's own overhead was cut, issue 17). Any change in a decision, a record
entry or the report fails here; the default scenario's own pin is in
``test_bookkeeping.py``."""

from __future__ import annotations

import hashlib
import json

from benchmarks.sim_memory import scenario_text

from autoassign.simulate import (
    Scenario,
    Simulation,
    generate_workload,
    parse_scenario_text,
    report_json,
)

BENCH_TOTALS = {
    "conversations": 3008,
    "assigned": 2985,
    "resolved": 2967,
    "reopened": 0,
    "unassigned_at_end": 23,
    "excluded_at_end": 23,
    "jobs": 6327,
    "passes": 6327,
    "ignored_events": 0,
    "skips": {},
}
BENCH_REPORT_SHA256 = "a17231465ff31997c34a438e0c5f31d1463e9ac970e698d5d53e3b18df3d348d"
BENCH_DECISIONS_SHA256 = (
    "9bbd8762af59201babad82f3e8118753e013defc6228e5dee2b8bbdf05839ddf"
)
SHORT_RECORD_ENTRIES = 1735
SHORT_RECORD_SHA256 = "d9ff7c9588a974057d8dcb8d71498ede00a93787999b622d4758cc7cad1096c9"
SHORT_REPORT_SHA256 = "a51b53a861995c210fa0266013f5edc3a3acb5a967e1ee088ce7eec1bc9f60e7"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_a_seeded_benchmark_day_is_pinned() -> None:
    # benchmarks/sim_memory.py's scenario (seed 7): 3,000 arrivals, 40 agents, 4 inboxes
    scenario = parse_scenario_text(scenario_text(3000, 40))
    run = Simulation(scenario, generate_workload(scenario))
    run.run()
    report = run.report()
    assert report["totals"] == BENCH_TOTALS
    assert report["invariants"]["total"] == 0
    assert _sha256(json.dumps(run.decisions)) == BENCH_DECISIONS_SHA256
    assert _sha256(report_json(report)) == BENCH_REPORT_SHA256


def test_a_recorded_run_is_pinned(short: Scenario) -> None:
    record: list[dict[str, object]] = []
    run = Simulation(short, generate_workload(short), record=record)
    run.run()
    assert len(record) == SHORT_RECORD_ENTRIES
    assert _sha256(json.dumps(record, default=str)) == SHORT_RECORD_SHA256
    assert _sha256(report_json(run.report())) == SHORT_REPORT_SHA256
