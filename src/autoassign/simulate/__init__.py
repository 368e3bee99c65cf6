"""``autoassign simulate``: try policies on a virtual clock before switching them on.

A discrete-event simulation that drives the real core (service, jobs, triggers) through
the in-memory adapters. See ``docs/simulate.md``. Needs nothing beyond the core (``rich``
is only used by the CLI, ``matplotlib`` only by ``--plot``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from autoassign.simulate.engine import INVARIANTS, Simulation, jain_index, percentile
from autoassign.simulate.scenario import (
    Scenario,
    ScenarioError,
    default_scenario,
    default_scenario_text,
    load_scenario,
    parse_scenario,
    parse_scenario_text,
)
from autoassign.simulate.workload import (
    Workload,
    generate_workload,
    read_event_log,
    write_event_log,
)

__all__ = [
    "INVARIANTS",
    "Scenario",
    "ScenarioError",
    "Simulation",
    "Workload",
    "compare",
    "default_scenario",
    "default_scenario_text",
    "generate_workload",
    "jain_index",
    "load_scenario",
    "parse_scenario",
    "parse_scenario_text",
    "percentile",
    "read_event_log",
    "replay",
    "report_json",
    "simulate",
    "write_event_log",
]

Progress = Callable[[float, float], None]


def simulate(
    scenario: Scenario,
    *,
    policy: str | None = None,
    record: list[dict[str, object]] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the scenario's seeded workload to the end and return the report."""
    run = Simulation(
        scenario,
        generate_workload(scenario),
        policy=policy,
        record=record,
        progress=progress,
    )
    run.run()
    return run.report()


def compare(
    scenario: Scenario,
    policy_a: str,
    policy_b: str,
    *,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the same seeded workload twice, every inbox on ``policy_a`` then on
    ``policy_b``; returns ``{"compare": [policy_a, policy_b], "runs": {name: report}}``."""
    workload = generate_workload(scenario)
    runs: dict[str, Any] = {}
    for name in (policy_a, policy_b):
        run = Simulation(scenario, workload, policy=name, progress=progress)
        run.run()
        runs[name] = run.report()
    return {"compare": [policy_a, policy_b], "runs": runs}


def replay(
    scenario: Scenario,
    log: str,
    *,
    policy: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Feed a recorded JSONL event log through the scenario's configuration (or every
    inbox on ``policy``) and report what the core would have done, with every
    assignment decision under ``"assignments"``. The run lasts until just after the
    log's last event (at least a minute), whatever the scenario's duration."""
    workload = read_event_log(log, scenario)
    last = max(
        [a.minute for a in workload.arrivals]
        + [s.minute for s in workload.status_changes]
        + [p.minute for p in workload.presence]
        + [0.0]
    )
    scenario = scenario.with_changes(duration_minutes=max(1, int(last) + 1))
    run = Simulation(scenario, workload, policy=policy, progress=progress)
    run.run()
    report = run.report()
    report["assignments"] = run.decisions
    return report


def report_json(report: dict[str, Any]) -> str:
    """The canonical JSON text of a report (same seed, same bytes)."""
    return json.dumps(report, indent=2, sort_keys=False, ensure_ascii=True) + "\n"
