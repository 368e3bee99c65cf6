"""Urgency and due times in simulation scenarios (issue 18): ``[[inboxes]] urgency``
draws a level per conversation (only when set, so other runs are unchanged),
``due_after_minutes`` gives each one a due time, and the report breaks the waits
down by urgency."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoassign.simulate import generate_workload, replay, simulate
from autoassign.simulate.scenario import ScenarioError, parse_scenario_text
from autoassign.simulate.workload import write_event_log

SCENARIO = """
[simulation]
seed = 5
duration_minutes = 480

[account]
id = "acme"
features = ["assignment_v2"]

[[agents]]
id = "ann"

[[agents]]
id = "bob"

[policies.fifo]

[policies.urgent]
conversation_priority = "highest_urgency"

[policies.due]
conversation_priority = "earliest_due"

[[inboxes]]
id = "support"
policy = "fifo"
members = ["ann", "bob"]
arrivals_per_hour = 30
resolve = {{ distribution = "exponential", mean = 9 }}
{extra}

[[capacity_policies]]
id = "cap"
agents = ["ann", "bob"]
inbox_limits = {{ support = 2 }}
"""

URGENCY = 'urgency = { "3" = 0.1, "1" = 0.3 }'


def _report(extra: str, policy: str | None = None) -> dict[str, object]:
    scenario = parse_scenario_text(SCENARIO.format(extra=extra))
    return simulate(scenario, policy=policy)


def _waits(report: dict[str, object]) -> dict[str, dict[str, float | None]]:
    (inbox,) = report["inboxes"]  # type: ignore[misc]
    return inbox["wait_minutes_by_urgency"]  # type: ignore[no-any-return,index]


def test_urgent_conversations_wait_less_under_highest_urgency() -> None:
    """The same day of traffic (the team is overloaded): first come first served, an
    urgent conversation waits as long as any; under ``highest_urgency`` it waits
    far less, and those without an urgency wait longer."""
    fifo = _waits(_report(URGENCY))
    urgent = _waits(_report(URGENCY, policy="urgent"))
    assert list(fifo) == ["3", "1", "none"]
    assert urgent["3"]["p90"] is not None
    assert fifo["3"]["p90"] is not None
    assert urgent["3"]["p90"] < fifo["3"]["p90"] / 2
    assert urgent["3"]["mean"] < urgent["1"]["mean"] < urgent["none"]["mean"]  # type: ignore[operator]
    assert urgent["none"]["mean"] > fifo["none"]["mean"]  # type: ignore[operator]


def test_without_urgency_the_report_and_the_draws_are_unchanged() -> None:
    plain = _report("")
    (inbox,) = plain["inboxes"]  # type: ignore[misc]
    assert "wait_minutes_by_urgency" not in inbox
    base = generate_workload(parse_scenario_text(SCENARIO.format(extra="")))
    drawn = generate_workload(parse_scenario_text(SCENARIO.format(extra=URGENCY)))
    assert {a.urgency for a in base.arrivals} == {None}
    assert {a.urgency for a in drawn.arrivals} == {3, 1, None}


def test_due_times_order_earliest_due() -> None:
    """Every conversation is due 30 minutes after it arrives: ``earliest_due`` then
    orders as first come first served, except that urgency breaks no tie (due times
    differ), so the waits are those of ``fifo``."""
    extra = f"{URGENCY}\ndue_after_minutes = 30"
    assert _waits(_report(extra, policy="due")) == _waits(_report(extra))


def test_a_recorded_run_replays_with_its_urgencies(tmp_path: Path) -> None:
    """``--record`` writes each conversation's urgency (only when it has one); the
    replay of that log assigns exactly as the run did."""
    scenario = parse_scenario_text(SCENARIO.format(extra=URGENCY))
    events: list[dict[str, object]] = []
    report = simulate(scenario, policy="urgent", record=events)
    created = [e for e in events if e["event"] == "conversation_created"]
    assert {e.get("urgency") for e in created} == {3, 1, None}
    log = tmp_path / "day.jsonl"
    write_event_log(log, events)
    replayed = replay(scenario, str(log), policy="urgent")
    assert _waits(replayed) == _waits(report)


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ('urgency = { "x" = 0.1 }', "inboxes[0].urgency.x"),
        ('urgency = { "-1" = 0.1 }', "inboxes[0].urgency.-1"),
        ('urgency = { "3" = 0.7, "1" = 0.7 }', "inboxes[0].urgency"),
        ('urgency = { "3" = 1.5 }', "inboxes[0].urgency.3"),
        ("due_after_minutes = 0", "inboxes[0].due_after_minutes"),
        ('due_after_minutes = "soon"', "inboxes[0].due_after_minutes"),
    ],
)
def test_bad_urgency_settings_name_the_field(extra: str, where: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario_text(SCENARIO.format(extra=extra))
    assert where in str(caught.value)
