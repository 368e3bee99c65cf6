"""Scenario files: the default, validation errors that name the field."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from autoassign.simulate import (
    ScenarioError,
    default_scenario,
    default_scenario_text,
    generate_workload,
    load_scenario,
    parse_scenario,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def base() -> dict[str, Any]:
    return tomllib.loads(default_scenario_text())


def test_example_file_is_the_built_in_default() -> None:
    example = ROOT / "examples" / "scenarios" / "default.toml"
    assert example.read_text(encoding="utf-8") == default_scenario_text()
    assert load_scenario(example) == parse_scenario(base(), name="default")


def test_default_is_a_day_of_20_agents_in_3_inboxes_with_5000_conversations() -> None:
    scenario = default_scenario()
    assert len(scenario.agents) == 20
    assert len(scenario.inboxes) == 3
    assert scenario.duration_minutes == 1440
    workload = generate_workload(scenario)
    assert len(workload.arrivals) >= 5000
    assert generate_workload(scenario) == workload


def test_minimal_scenario_gets_defaults() -> None:
    scenario = parse_scenario(
        {
            "agents": [{"id": "ann"}],
            "policies": {"p": {}},
            "inboxes": [
                {
                    "id": "i",
                    "policy": "p",
                    "members": ["ann"],
                    "arrivals_per_hour": 10,
                    "resolve": {"distribution": "fixed", "minutes": 5},
                }
            ],
        }
    )
    assert scenario.seed == 1
    assert scenario.periodic_interval_minutes == 30
    assert scenario.inboxes[0].arrivals_per_hour == (10.0,) * 24
    assert scenario.policies[0].fair_distribution_window == 3600


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value


DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "field", "problem"),
    [
        (("simulation", "seed"), "x", "simulation.seed", "must be an integer"),
        (("simulation", "duration_minutes"), 0, "simulation.duration_minutes", ">= 1"),
        (("simulation", "colour"), 1, "simulation.colour", "unknown field"),
        (("simulation", "start"), "noon", "simulation.start", "ISO date-time"),
        (("shifts", "early", "start"), "6am", "shifts.early.start", "HH:MM"),
        (("agents", 0, "shift"), "lunch", "agents[0].shift", "unknown shift 'lunch'"),
        (("agents", 1, "id"), "ana", "agents[1].id", "duplicate agent id"),
        (
            ("policies", "fair", "assignment_order"),
            "random",
            "policies.fair.assignment_order",
            "must be one of",
        ),
        (
            ("policies", "fair", "fair_distribution_window"),
            0,
            "policies.fair.fair_distribution_window",
            ">= 1",
        ),
        (
            ("inboxes", 0, "policy"),
            "nope",
            "inboxes[0].policy",
            "unknown policy 'nope'",
        ),
        (
            ("inboxes", 0, "members", 0),
            "zed",
            "inboxes[0].members[0]",
            "unknown agent 'zed'",
        ),
        (
            ("inboxes", 1, "arrivals_per_hour"),
            [1, 2, 3],
            "inboxes[1].arrivals_per_hour",
            "list of 24",
        ),
        (
            ("inboxes", 1, "arrivals_per_hour", 5),
            -1,
            "inboxes[1].arrivals_per_hour[5]",
            ">= 0",
        ),
        (
            ("inboxes", 2, "resolve", "distribution"),
            "gamma",
            "inboxes[2].resolve.distribution",
            "must be one of",
        ),
        (
            ("inboxes", 2, "resolve", "sigma"),
            DELETE,
            "inboxes[2].resolve.sigma",
            "is required",
        ),
        (("inboxes", 0, "labels", "VIP"), 1.5, "inboxes[0].labels.VIP", "<= 1.0"),
        (
            ("inboxes", 2, "teams"),
            {"ghosts": 0.1},
            "inboxes[2].teams.ghosts",
            "unknown team",
        ),
        (
            ("capacity_policies", 0, "inbox_limits", "fax"),
            3,
            "capacity_policies[0].inbox_limits.fax",
            "unknown inbox 'fax'",
        ),
        (
            ("capacity_policies", 0, "inbox_limits", "support"),
            "lots",
            "capacity_policies[0].inbox_limits.support",
            "must be an integer >= 0 or 'unlimited'",
        ),
        (
            ("capacity_policies", 0, "inbox_limits", "support"),
            -1,
            "capacity_policies[0].inbox_limits.support",
            ">= 0",
        ),
        (
            ("capacity_policies", 1, "agents"),
            ["ana", "ben"],
            "capacity_policies[1].agents",
            "already has capacity policy",
        ),
        (("presence", "flap_statuses"), ["online"], "presence", "must not be 'online'"),
        (("agents",), [], "agents", "at least one agent"),
        (("inboxes",), "support", "inboxes", "array of tables"),
    ],
)
def test_errors_name_the_field(
    path: tuple[Any, ...], value: Any, field: str, problem: str
) -> None:
    data = base()
    _set(data, path, value)
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(data)
    assert caught.value.path == field
    assert problem in str(caught.value)
    assert str(caught.value).startswith(field + ":")


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[simulation\nseed = 1\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="cannot read scenario file"):
        load_scenario(tmp_path / "missing.toml")


def test_overnight_shift_intervals() -> None:
    scenario = default_scenario()
    night = scenario.shift("night")
    assert night.intervals(0, 1440) == [(0.0, 360.0), (1320.0, 1440.0)]
    assert scenario.shift("day").intervals(0, 1440) == [(540.0, 1020.0)]
