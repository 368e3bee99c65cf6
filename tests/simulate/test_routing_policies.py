"""The simulator's routing switches on a policy (issue 18), so that ``--compare`` runs
one day with a feature and without it: ``skill_routing`` and
``skill_relax_after_minutes`` (skills routing and its relaxation for the inboxes on
the policy), ``weighted_capacity`` (their conversations' weights) and
``global_capacity`` (capacity policies' ``total_limit`` there). Each switch turned off
gives exactly the decisions of the scenario without the feature."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest

from autoassign import cli
from autoassign.simulate import (
    Scenario,
    Simulation,
    generate_workload,
    load_scenario,
    simulate,
)
from autoassign.simulate.scenario import ScenarioError, parse_scenario_text

ROOT = Path(__file__).resolve().parents[2]

SCENARIO = """
[simulation]
seed = {seed}
duration_minutes = 300

[account]
id = "acme"
features = ["assignment_v2"]

[skills]
relax_after_minutes = 4

[[agents]]
id = "ann"
skills = {{ german = 1 }}

[[agents]]
id = "bob"

[[agents]]
id = "cy"

[policies.base]

[policies.strict]
skill_relax_after_minutes = 0

[policies.quick]
skill_relax_after_minutes = 1

[policies.no_skills]
skill_routing = false

[policies.counted]
weighted_capacity = false

[policies.uncapped]
global_capacity = false

[[inboxes]]
id = "chat"
policy = "base"
members = ["ann", "bob", "cy"]
arrivals_per_hour = 24
resolve = {{ distribution = "exponential", mean = 8 }}
labels = {{ "skill:german" = 0.25 }}

[[inboxes]]
id = "email"
policy = "base"
members = ["ann", "bob", "cy"]
arrivals_per_hour = 12
resolve = {{ distribution = "exponential", mean = 15 }}
weight = 0.5

[[capacity_policies]]
id = "cap"
agents = ["ann", "bob", "cy"]
inbox_limits = {{ chat = 2, email = 2 }}
total_limit = 2
"""


def _text(seed: int = 7) -> str:
    return SCENARIO.format(seed=seed)


def _decisions(scenario: Scenario, policy: str) -> list[dict[str, object]]:
    run = Simulation(scenario, generate_workload(scenario), policy=policy)
    run.run()
    assert run.report()["invariants"]["total"] == 0
    return run.decisions


def _skills(report: dict[str, Any], inbox: str = "chat") -> dict[str, Any]:
    rows = report["inboxes"]
    assert isinstance(rows, list)
    found = next(row["skills"] for row in rows if row["inbox"] == inbox)
    assert isinstance(found, dict)
    return found


def test_skill_relax_after_minutes_overrides_the_skills_table() -> None:
    """0: never relaxed, so German conversations go only to ann; 1 minute: sooner
    than the table's 4, so more go to agents without German, and they wait less."""
    scenario = parse_scenario_text(_text())
    strict, base, quick = (
        simulate(scenario, policy=name) for name in ("strict", "base", "quick")
    )
    assert _skills(strict)["to_agent_without_skills"] == 0
    assert _skills(base)["to_agent_without_skills"] > 0
    assert _skills(quick)["to_agent_without_skills"] > 0
    means = [_wait(_skills(report), "mean") for report in (strict, base, quick)]
    assert means[0] > means[1] > means[2]
    for report in (strict, base, quick):
        skills = _skills(report)
        assert skills["conversations"] > 20
        assert _skills(report, "email")["conversations"] == 0


def _wait(summary: dict[str, Any], key: str) -> float:
    waits = summary["wait_minutes"]
    assert isinstance(waits, dict)
    value = waits[key]
    assert isinstance(value, float)
    return value


def test_strict_is_the_skills_table_without_relaxation() -> None:
    scenario = parse_scenario_text(_text())
    never = parse_scenario_text(_text().replace("relax_after_minutes = 4\n", ""))
    assert _decisions(scenario, "strict") == _decisions(never, "base")


def test_skill_routing_false_is_the_scenario_without_skills() -> None:
    scenario = parse_scenario_text(_text())
    without = re.sub(r"\[skills\]\nrelax_after_minutes = 4\n", "", _text())
    without = without.replace("skills = { german = 1 }\n", "")
    without = re.sub(r"\[policies\.(strict|quick|no_skills)\]\n[^\n]*\n", "", without)
    plain = parse_scenario_text(without)
    assert _decisions(scenario, "no_skills") == _decisions(plain, "base")
    report = simulate(scenario, policy="no_skills")
    assert _skills(report)["to_agent_without_skills"] > 0  # by their labels


def test_weighted_capacity_false_counts_every_conversation_one() -> None:
    scenario = parse_scenario_text(_text())
    unweighted = parse_scenario_text(_text().replace("weight = 0.5\n", ""))
    assert _decisions(scenario, "counted") == _decisions(unweighted, "base")
    assert _decisions(scenario, "base") != _decisions(unweighted, "base")
    counted = simulate(scenario, policy="counted")
    assert all(row["peak_load"] == row["peak_open"] for row in counted["agents"])


def test_global_capacity_false_is_the_scenario_without_a_total_limit() -> None:
    scenario = parse_scenario_text(_text())
    free = parse_scenario_text(_text().replace("total_limit = 2\n", ""))
    assert _decisions(scenario, "uncapped") == _decisions(free, "base")
    assert _decisions(scenario, "base") != _decisions(free, "base")


def test_global_capacity_false_on_one_inbox_only() -> None:
    """The total limit is checked in the inboxes whose policy keeps it: an agent's
    emails count toward it in chat, but email itself is capped by its own limit."""
    text = _text().replace(
        'id = "email"\npolicy = "base"', 'id = "email"\npolicy = "uncapped"'
    )
    scenario = parse_scenario_text(text)
    run = Simulation(scenario, generate_workload(scenario))
    run.run()
    report = run.report()
    assert report["invariants"]["total"] == 0
    assert run._totals == {"chat": {"ann": 2, "bob": 2, "cy": 2}, "email": {}}
    policies = {str(p.id) for p in run.backend.world.capacity_policies.values()}
    assert policies == {"cap", "cap without total_limit"}
    assert max(row["peak_load"] for row in report["agents"]) > 2


@pytest.mark.parametrize(
    ("change", "where", "problem"),
    [
        (
            ("skill_relax_after_minutes = 0", "skill_relax_after_minutes = -1"),
            "policies.strict.skill_relax_after_minutes",
            "must be >= 0, got -1",
        ),
        (
            ("skill_relax_after_minutes = 0", "skill_relax_after_minutes = 86401"),
            "policies.strict.skill_relax_after_minutes",
            "must be <= 86400, got 86401",
        ),
        (
            ("skill_routing = false", 'skill_routing = "no"'),
            "policies.no_skills.skill_routing",
            "must be true or false, got 'no'",
        ),
        (
            ("weighted_capacity = false", "weighted_capacity = 0"),
            "policies.counted.weighted_capacity",
            "must be true or false, got 0",
        ),
        (
            ("global_capacity = false", "global_capacity = 1"),
            "policies.uncapped.global_capacity",
            "must be true or false, got 1",
        ),
    ],
)
def test_a_bad_switch_names_the_field(
    change: tuple[str, str], where: str, problem: str
) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario_text(_text().replace(*change))
    assert caught.value.path == where
    assert caught.value.problem == problem


@pytest.mark.parametrize(
    ("policy", "key"),
    [
        ("skill_routing = true", "skill_routing"),
        ("skill_relax_after_minutes = 5", "skill_relax_after_minutes"),
    ],
)
def test_skill_switches_need_a_skills_table(policy: str, key: str) -> None:
    text = re.sub(r"\[skills\]\nrelax_after_minutes = 4\n", "", _text())
    text = text.replace("skills = { german = 1 }\n", "")
    text = re.sub(r"\[policies\.(strict|quick|no_skills)\]\n[^\n]*\n", "", text)
    text = text.replace("[policies.base]\n", f"[policies.base]\n{policy}\n")
    with pytest.raises(ScenarioError) as caught:
        parse_scenario_text(text)
    assert caught.value.path == f"policies.base.{key}"
    assert caught.value.problem == "needs a [skills] table (skills routing)"


def test_without_skill_switches_the_report_has_no_skills_rows() -> None:
    text = re.sub(r"\[policies\.(strict|quick|no_skills)\]\n[^\n]*\n", "", _text())
    report = simulate(parse_scenario_text(text))
    assert not any("skills" in row for row in report["inboxes"])


def test_the_text_reports_show_the_new_figures(tmp_path: Path) -> None:
    """A single run's tables gain rotation weights and shares, loads in weight and a
    table of the conversations needing skills; ``--compare`` their rows."""
    pytest.importorskip("rich")
    text = _text().replace('id = "bob"\n', 'id = "bob"\nrotation_weight = 3\n')
    path = tmp_path / "day.toml"
    path.write_text(text, encoding="utf-8")
    out = io.StringIO()
    assert cli.main(["simulate", str(path)], stdout=out) == 0
    single = out.getvalue()
    for heading in ("rotation", "share", "load", "Conversations needing skills"):
        assert heading in single
    out = io.StringIO()
    assert (
        cli.main(["simulate", str(path), "--compare", "base", "strict"], stdout=out)
        == 0
    )
    both = out.getvalue()
    for row in (
        "chat: needing skills: assigned",
        "chat: needing skills: to an agent without them",
        "chat: needing skills: wait p50/p90/p99/max",
        "peak load (max agent)",
        "assigned (share) / peak open / peak load",
    ):
        assert row in both
    assert "email: needing skills" not in both  # no email needs a skill


def test_the_example_shows_what_each_feature_changes() -> None:
    """examples/simulate/routing.toml (docs/simulate.md): each policy is ``base`` with
    one change, on the same day, and each moves its figure the way the guide says."""
    scenario = load_scenario(ROOT / "examples" / "simulate" / "routing.toml")
    workload = generate_workload(scenario)
    reports: dict[str, dict[str, Any]] = {}
    for spec in scenario.policies:
        run = Simulation(scenario, workload, policy=spec.name)
        run.run()
        reports[spec.name] = run.report()
        assert reports[spec.name]["invariants"]["total"] == 0
    base = reports["base"]

    def inbox(name: str, which: str) -> dict[str, Any]:
        rows = reports[name]["inboxes"]
        return next(row for row in rows if row["inbox"] == which)

    def agents(name: str) -> dict[str, dict[str, Any]]:
        return {row["agent"]: row for row in reports[name]["agents"]}

    def held_back(name: str) -> int:
        return sum(row["held_back_capacity"] for row in reports[name]["agents"])

    # skills: never relaxed, German chats wait for the one German speaker
    strict, relaxed = inbox("strict", "chat")["skills"], inbox("base", "chat")["skills"]
    assert strict["to_agent_without_skills"] == 0 < relaxed["to_agent_without_skills"]
    assert strict["wait_minutes"]["p90"] > 3 * relaxed["wait_minutes"]["p90"]
    # weighted capacity: emails counting 1 fill the agents sooner
    for which in ("chat", "email"):
        assert (
            inbox("counted", which)["wait_minutes"]["p90"]
            > inbox("base", which)["wait_minutes"]["p90"]
        )
    assert held_back("counted") > 1.5 * held_back("base")
    # global capacity: without the total, more room, shorter waits
    assert held_back("uncapped") < held_back("base") / 2
    assert max(r["peak_load"] for r in reports["uncapped"]["agents"]) > max(
        r["peak_load"] for r in base["agents"]
    )
    # most available: the seniors' room is used
    for name in ("most_available", "weighted"):
        seniors = sum(agents(name)[a]["assignments"] for a in ("sen1", "sen2"))
        assert seniors > sum(agents("base")[a]["assignments"] for a in ("sen1", "sen2"))
    # weighted round robin: shares near the weights (2/8 and 1/8)
    for agent, row in agents("weighted").items():
        assert abs(row["share"] - row["rotation_weight"] / 8) < 0.03, agent
    # urgency first: urgent chats wait less
    urgent = inbox("urgent", "chat")["wait_minutes_by_urgency"]["3"]
    assert urgent["p90"] < inbox("base", "chat")["wait_minutes_by_urgency"]["3"]["p90"]
    # sticky agents: returning emails back to their previous agent
    assert inbox("sticky", "email")["returning"]["share_to_previous_agent"] > 0.7
    assert inbox("base", "email")["returning"]["share_to_previous_agent"] < 0.3
