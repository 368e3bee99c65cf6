"""Skills in simulation scenarios (issue 18): ``[skills]`` turns skills routing on,
``[[agents]].skills`` fills the book, and labels drawn per conversation carry the
requirements."""

from __future__ import annotations

import pytest

from autoassign.simulate import Simulation, generate_workload, simulate
from autoassign.simulate.scenario import ScenarioError, parse_scenario_text

SCENARIO = """
[simulation]
seed = 4
duration_minutes = 240

[account]
id = "acme"
features = ["assignment_v2"]

[skills]
{skills}

[[agents]]
id = "ann"
skills = {{ german = 2 }}

[[agents]]
id = "bob"

[[agents]]
id = "cy"
skills = {{ german = 1 }}

[policies.rr]

[[inboxes]]
id = "support"
policy = "rr"
members = ["ann", "bob", "cy"]
arrivals_per_hour = 30
resolve = {{ distribution = "exponential", mean = 5 }}
labels = {{ "skill:german:2" = 0.3 }}
"""


def _run(skills: str = "") -> Simulation:
    scenario = parse_scenario_text(SCENARIO.format(skills=skills))
    run = Simulation(scenario, generate_workload(scenario))
    run.run()
    return run


def test_german_conversations_go_only_to_the_agent_at_level_two() -> None:
    run = _run()
    german = [
        c for c in run._conversations.values() if "skill:german:2" in c.arrival.labels
    ]
    assert german, "the workload drew no german conversation"
    assert {c.agent for c in german if c.agent is not None} == {"ann"}
    others = {c.agent for c in run._conversations.values() if c not in german}
    assert {"bob", "cy"} <= others  # the rest still goes round


def test_nobody_at_the_level_waits_then_relaxes() -> None:
    """Nobody holds german at level 3: without relaxation those conversations are
    never assigned; with ``relax_after_minutes = 1`` anyone takes them."""

    def run(skills: str) -> list[str | None]:
        text = SCENARIO.format(skills=skills).replace(
            "skill:german:2", "skill:german:3"
        )
        scenario = parse_scenario_text(text)
        simulation = Simulation(scenario, generate_workload(scenario))
        simulation.run()
        return [
            c.agent
            for c in simulation._conversations.values()
            if "skill:german:3" in c.arrival.labels
        ]

    strict = run("")
    assert strict
    assert set(strict) == {None}
    relaxed = run("relax_after_minutes = 1")
    assert None not in relaxed
    assert set(relaxed) - {"ann", "cy"}, "bob (no german at all) took some too"


def test_without_a_skills_table_labels_mean_nothing() -> None:
    text = SCENARIO.format(skills="").replace("[skills]\n", "")
    text = text.replace("skills = { german = 2 }\n", "").replace(
        "skills = { german = 1 }\n", ""
    )
    report = simulate(parse_scenario_text(text))
    assert report["invariants"]["total"] == 0
    assert report["totals"]["assigned"] == report["totals"]["conversations"]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (("[skills]\n", ""), "agents[0].skills"),
        (("german = 2", "german = 0"), "agents[0].skills.german"),
        (("[skills]\n", '[skills]\nlabel_prefix = ""\n'), "skills.label_prefix"),
        (("[skills]\n", "[skills]\nrelax_after_minutes = 0\n"), "skills.relax_after"),
        (("[skills]\n", "[skills]\nwho = 1\n"), "skills"),
    ],
)
def test_bad_skills_settings_name_the_field(
    change: tuple[str, str], where: str
) -> None:
    text = SCENARIO.format(skills="").replace(*change, 1)
    with pytest.raises(ScenarioError) as caught:
        parse_scenario_text(text)
    assert where in str(caught.value)
