"""Agent weights in simulation scenarios (issue 18, weighted round robin):
``[[agents]] rotation_weight`` wires ``build_autoassign(agent_weights=...)`` with an
``InMemoryAgentWeights``, and the report shows each agent's weight and share."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoassign.simulate import Scenario, Simulation, generate_workload, simulate
from autoassign.simulate.scenario import ScenarioError, parse_scenario_text

AGENTS = ("ann", "bob", "cy", "dee")

SCENARIO = """
[simulation]
seed = {seed}
duration_minutes = 240

[account]
id = "acme"
features = ["assignment_v2"]

{agents}

[policies.rr]
assignment_order = "round_robin"

[policies.weighted]
assignment_order = "weighted_round_robin"

[[inboxes]]
id = "support"
policy = "weighted"
members = ["ann", "bob", "cy", "dee"]
arrivals_per_hour = 40
resolve = {{ distribution = "exponential", mean = 10 }}
"""


def _scenario(weights: dict[str, int | None], *, seed: int = 5) -> Scenario:
    agents = "\n".join(
        f'[[agents]]\nid = "{agent}"\n'
        + (
            ""
            if weights.get(agent) is None
            else f"rotation_weight = {weights[agent]}\n"
        )
        for agent in AGENTS
    )
    return parse_scenario_text(SCENARIO.format(agents=agents, seed=seed))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    weights=st.lists(st.integers(min_value=1, max_value=6), min_size=4, max_size=4),
    seed=st.integers(min_value=0, max_value=1000),
)
def test_shares_follow_the_weights(weights: list[int], seed: int) -> None:
    """Everyone on duty all day and no capacity limit: everyone is eligible for
    every conversation, so after N assignments an agent of weight w in a team of
    total weight W has N * w / W of them, give or take less than 2 * w + 1 (the
    library's bound), and the report's shares say so."""
    scenario = _scenario(dict(zip(AGENTS, weights, strict=True)), seed=seed)
    report = simulate(scenario)
    rows = {row["agent"]: row for row in report["agents"]}
    assigned = report["totals"]["assigned"]
    assert assigned > 100
    total = sum(weights)
    for agent, weight in zip(AGENTS, weights, strict=True):
        row = rows[agent]
        assert row["rotation_weight"] == weight
        assert abs(row["assignments"] - assigned * weight / total) < 2 * weight + 1
        assert row["share"] == round(row["assignments"] / assigned, 3)


def test_weights_of_one_are_round_robin() -> None:
    """Every rotation weight 1: weighted round robin gives exactly round robin's
    decisions, and so does a scenario without rotation weights."""
    ones = _scenario(dict.fromkeys(AGENTS, 1))
    plain = _scenario({})
    runs = []
    for scenario, policy in ((ones, "weighted"), (ones, "rr"), (plain, "weighted")):
        run = Simulation(scenario, generate_workload(scenario), policy=policy)
        run.run()
        runs.append(run.decisions)
    assert runs[0] == runs[1] == runs[2]


def test_round_robin_ignores_the_weights() -> None:
    scenario = _scenario({"ann": 5})
    weighted = simulate(scenario, policy="weighted")
    plain = simulate(scenario, policy="rr")
    shares = {row["agent"]: row["share"] for row in plain["agents"]}
    assert max(shares.values()) - min(shares.values()) < 0.03
    ann = next(row for row in weighted["agents"] if row["agent"] == "ann")
    assert ann["share"] > 0.55  # 5 of 8


def test_without_rotation_weights_the_report_has_no_shares() -> None:
    report = simulate(_scenario({}))
    assert not any(
        "share" in row or "rotation_weight" in row for row in report["agents"]
    )
    rows = simulate(_scenario({"bob": 2}))["agents"]
    assert [row["rotation_weight"] for row in rows] == [1, 2, 1, 1]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("0", "must be >= 1, got 0"),
        ("101", "must be <= 100, got 101"),
        ("1.5", "must be an integer, got 1.5"),
        ('"2"', "must be an integer, got '2'"),
    ],
)
def test_a_bad_rotation_weight_names_the_field(value: str, problem: str) -> None:
    text = SCENARIO.format(
        agents=f'[[agents]]\nid = "ann"\nrotation_weight = {value}\n', seed=1
    ).replace('members = ["ann", "bob", "cy", "dee"]', 'members = ["ann"]')
    with pytest.raises(ScenarioError) as caught:
        parse_scenario_text(text)
    assert caught.value.path == "agents[0].rotation_weight"
    assert caught.value.problem == problem
