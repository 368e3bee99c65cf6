"""Global capacity in simulation scenarios (issue 18): ``[[capacity_policies]]``
takes ``total_limit``, the most open conversations each of its agents holds across
every inbox; the simulator counts an overshoot as a capacity violation and the agents
held back by it."""

from __future__ import annotations

import pytest

from autoassign.simulate import simulate
from autoassign.simulate.scenario import ScenarioError, parse_scenario_text

SCENARIO = """
[simulation]
seed = 11
duration_minutes = 240

[account]
id = "acme"
features = ["assignment_v2"]

[[agents]]
id = "ann"

[[agents]]
id = "bob"

[policies.rr]

[[inboxes]]
id = "chat"
policy = "rr"
members = ["ann", "bob"]
arrivals_per_hour = 40
resolve = {{ distribution = "exponential", mean = 20 }}

[[inboxes]]
id = "email"
policy = "rr"
members = ["ann", "bob"]
arrivals_per_hour = 40
resolve = {{ distribution = "exponential", mean = 20 }}

[[capacity_policies]]
id = "cap"
agents = ["ann", "bob"]
inbox_limits = {{ chat = 3, email = 3 }}
{total}
"""


def _agents(total: str) -> tuple[dict[str, dict[str, object]], int]:
    """Each agent's row of the report, and the number of invariant violations."""
    report = simulate(parse_scenario_text(SCENARIO.format(total=total)))
    rows = {str(row["agent"]): row for row in report["agents"]}
    return rows, int(report["invariants"]["total"])


def test_a_total_limit_caps_the_open_conversations_across_inboxes() -> None:
    """3 per inbox lets an agent hold 6 at once under this load; a total of 4 caps
    the sum, with no violation (the simulator checks every assignment against it),
    and fewer conversations are assigned in the same day."""
    free, free_violations = _agents("")
    capped, violations = _agents("total_limit = 4")
    assert free_violations == violations == 0
    assert max(_number(free[a]["peak_open"]) for a in ("ann", "bob")) > 4
    assert max(_number(capped[a]["peak_open"]) for a in ("ann", "bob")) == 4
    for agent in ("ann", "bob"):
        assert _number(capped[agent]["mean_open"]) <= 4
        assert _number(capped[agent]["held_back_capacity"]) > 0
    assert sum(_number(r["assignments"]) for r in capped.values()) < sum(
        _number(r["assignments"]) for r in free.values()
    )


def _number(value: object) -> float:
    assert isinstance(value, int | float)
    return float(value)


@pytest.mark.parametrize("value", ["-1", "2.5", '"4"', "2147483648"])
def test_a_bad_total_limit_names_the_field(value: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario_text(SCENARIO.format(total=f"total_limit = {value}"))
    assert "capacity_policies[0].total_limit" in str(caught.value)
