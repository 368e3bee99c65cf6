"""The simulation: determinism, invariants, compare and replay."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from autoassign.results import Assignment
from autoassign.simulate import (
    INVARIANTS,
    Scenario,
    ScenarioError,
    Simulation,
    compare,
    generate_workload,
    jain_index,
    parse_scenario,
    percentile,
    replay,
    report_json,
    simulate,
    write_event_log,
)
from autoassign.simulate.workload import Arrival, Workload


def test_same_seed_gives_byte_identical_json(short: Scenario) -> None:
    first = report_json(simulate(short))
    second = report_json(simulate(short))
    assert first == second
    other = report_json(simulate(short.with_changes(seed=short.seed + 1)))
    assert other != first


def test_invariants_hold_and_the_report_is_complete(short: Scenario) -> None:
    report = simulate(short)
    assert report["invariants"]["total"] == 0
    assert all(report["invariants"][name] == 0 for name in INVARIANTS)
    totals = report["totals"]
    assert totals["conversations"] > 500
    assert totals["assigned"] > 0.9 * totals["conversations"]
    assert {row["agent"] for row in report["agents"]} == {a.id for a in short.agents}
    assert sum(row["assignments"] for row in report["agents"]) == totals["assigned"]
    for inbox in report["inboxes"]:
        wait = inbox["wait_minutes"]
        assert 0 <= wait["p50"] <= wait["p90"] <= wait["p99"] <= wait["max"]
        assert (
            len(inbox["backlog"])
            == short.duration_minutes // short.sample_interval_minutes
        )
    assert 0 < report["fairness"]["jain_index"] <= 1
    json.loads(report_json(report))


def test_held_back_counts_appear_under_pressure(short: Scenario) -> None:
    busy = simulate(short)
    assert sum(a["held_back_capacity"] for a in busy["agents"]) > 0
    tight = short.with_changes(
        duration_minutes=30,
        policies=tuple(
            attrs.evolve(p, fair_distribution_limit=3) for p in short.policies
        ),
    )
    report = simulate(tight)
    assert report["invariants"]["total"] == 0
    assert sum(a["held_back_rate_limit"] for a in report["agents"]) > 0
    assert report["totals"]["skips"]["all_rate_limited"] > 0


def test_compare_runs_both_policies_on_the_same_workload(short: Scenario) -> None:
    result = compare(short.with_changes(duration_minutes=45), "fair", "strict")
    assert result["compare"] == ["fair", "strict"]
    fair, strict = result["runs"]["fair"], result["runs"]["strict"]
    assert fair["totals"]["conversations"] == strict["totals"]["conversations"]
    assert {i["policy"] for i in fair["inboxes"]} == {"fair"}
    assert {i["policy"] for i in strict["inboxes"]} == {"strict"}
    assert fair["invariants"]["total"] == strict["invariants"]["total"] == 0
    # the strict limit (10/h) holds agents back more than the fair one (30/h)
    held = [sum(a["held_back_rate_limit"] for a in r["agents"]) for r in (fair, strict)]
    assert held[1] > held[0]


def test_unknown_compare_policy(short: Scenario) -> None:
    with pytest.raises(ScenarioError, match="no policy named 'nope'"):
        compare(short, "fair", "nope")


def test_replay_of_a_recorded_run_reproduces_its_assignments(
    short: Scenario, tmp_path: Path
) -> None:
    short = short.with_changes(duration_minutes=60)
    record: list[dict[str, object]] = []
    run = Simulation(short, generate_workload(short), record=record)
    run.run()
    log = tmp_path / "events.jsonl"
    write_event_log(log, record)
    kinds = {json.loads(line)["event"] for line in log.read_text().splitlines()}
    assert kinds == {"conversation_created", "status_changed", "agent_status_changed"}
    replayed = replay(short, str(log))
    assert replayed["assignments"] == run.decisions
    assert replayed["invariants"]["total"] == 0
    other = replay(short, str(log), policy="strict")
    assert other["assignments"] != run.decisions


def test_replay_log_errors_name_the_line(short: Scenario, tmp_path: Path) -> None:
    log = tmp_path / "bad.jsonl"
    log.write_text(
        '{"event": "agent_status_changed", "minute": 0, "agent": "ana", "status": "online"}\n'
        '{"event": "conversation_created", "minute": 1, "conversation": 1, "inbox": "fax"}\n'
    )
    with pytest.raises(ScenarioError, match="unknown inbox 'fax'") as caught:
        replay(short, str(log))
    assert caught.value.path.endswith("bad.jsonl:2")


def test_replay_accepts_iso_times(short: Scenario, tmp_path: Path) -> None:
    log = tmp_path / "iso.jsonl"
    start = short.start
    log.write_text(
        json.dumps(
            {
                "type": "agent_status_changed",
                "at": start.isoformat(),
                "agent": "ana",
                "status": "online",
            }
        )
        + "\n"
        + json.dumps(
            {
                "type": "conversation_created",
                "minute": 2.5,
                "conversation": 7,
                "inbox": "support",
            }
        )
        + "\n"
        + json.dumps(
            {
                "type": "status_changed",
                "minute": 9,
                "conversation": 7,
                "status": "resolved",
            }
        )
        + "\n"
    )
    report = replay(short, str(log))
    assert report["assignments"] == [{"conversation": 7, "agent": "ana", "minute": 2.5}]
    assert report["totals"]["resolved"] == 1


def test_replay_runs_until_the_logs_last_event(short: Scenario, tmp_path: Path) -> None:
    """The library replay, like the CLI, stretches the run to the log: an event past the
    scenario's duration is replayed, not dropped."""
    short = short.with_changes(duration_minutes=10)
    log = tmp_path / "late.jsonl"
    events = [
        {
            "event": "agent_status_changed",
            "minute": 0,
            "agent": "ana",
            "status": "online",
        },
        {
            "event": "conversation_created",
            "minute": 95,
            "conversation": 8,
            "inbox": "support",
        },
    ]
    log.write_text("".join(json.dumps(event) + "\n" for event in events))
    report = replay(short, str(log))
    assert report["totals"]["conversations"] == 1
    assert [(a["conversation"], a["agent"]) for a in report["assignments"]] == [
        (8, "ana")
    ]
    assert report["assignments"][0]["minute"] >= 95


def test_statistics_helpers() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 99) == 4.0
    assert jain_index([]) is None
    assert jain_index([2.0, 2.0]) == 1.0
    assert jain_index([4.0, 0.0]) == 0.5


def test_each_invariant_check_fires_on_a_violation() -> None:
    """The invariant counters are not vacuous: assignments the core never made (fed to
    the bookkeeping directly) are each caught, and the rate limit counts only the
    assignments within the window."""
    scenario = parse_scenario(
        {
            "agents": [{"id": "ann"}, {"id": "bob"}],
            "teams": [{"id": "t", "members": ["bob"]}],
            "policies": {"p": {"fair_distribution_limit": 2}},
            "inboxes": [
                {
                    "id": "i",
                    "policy": "p",
                    "members": ["ann", "bob"],
                    "arrivals_per_hour": 0,
                    "resolve": {"distribution": "fixed", "minutes": 5},
                }
            ],
            "capacity_policies": [
                {"id": "c", "agents": ["ann"], "inbox_limits": {"i": 1}}
            ],
        }
    )
    arrivals = tuple(
        Arrival(minute=0.0, conversation=n, inbox="i", team="t" if n == 5 else None)
        for n in range(1, 6)
    )
    run = Simulation(scenario, Workload(arrivals=arrivals, presence=()))
    run.run(until=1)  # nobody is online: nothing is assigned
    assert run.decisions == []

    def assign(conversation: int, agent: str) -> None:
        run._on_assigned(
            "i",
            Assignment(
                conversation=conversation, agent=agent, occurred_at=run.clock.now()
            ),
        )

    def counts() -> dict[str, int]:
        return {name: run._violations[name] for name in INVARIANTS}

    assign(1, "ann")
    assert counts() == dict.fromkeys(INVARIANTS, 0) | {"assigned_while_not_online": 1}
    assign(2, "ann")  # 2 open with a limit of 1; 2 in the window with a limit of 2
    assign(3, "ann")  # 3 in the window
    assert counts() == dict.fromkeys(INVARIANTS, 0) | {
        "assigned_while_not_online": 3,
        "capacity_overshoot": 2,
        "rate_limit_overshoot": 1,
    }
    run.run(until=62)  # the first three leave the one-hour window
    assign(4, "ann")
    assert counts()["rate_limit_overshoot"] == 1
    assert counts()["capacity_overshoot"] == 3
    assign(1, "bob")
    assert counts()["double_assignment"] == 1
    assign(5, "ann")
    assert counts()["assigned_outside_team"] == 1
    invariants = run.report()["invariants"]
    # and no AssigneeChanged event was published for any of the six
    assert invariants["double_assignment"] == 2
    assert invariants["total"] == sum(invariants[name] for name in INVARIANTS) > 0
    assert len(invariants["examples"]) == invariants["total"]


def test_an_unlimited_link_in_a_scenario_excludes_and_caps_nobody(
    short: Scenario,
) -> None:
    """Issue 16: ``inbox_limits = { support = "unlimited" }`` applies the policy's
    exclusion rules in the inbox and never holds an agent back for capacity."""
    unlimited = short.with_changes(
        duration_minutes=60,
        capacity_policies=tuple(
            attrs.evolve(
                spec,
                inbox_limits=tuple((inbox, None) for inbox, _ in spec.inbox_limits),
            )
            for spec in short.capacity_policies
        ),
    )
    assert any(spec.excluded_labels for spec in unlimited.capacity_policies)
    report = simulate(unlimited)
    assert report["invariants"]["total"] == 0
    assert sum(a["held_back_capacity"] for a in report["agents"]) == 0
    assert report["totals"]["skips"].get("all_at_capacity", 0) == 0
    assert report["totals"]["excluded_at_end"] > 0  # the rules still apply
    assert report["totals"]["assigned"] > 0
    parsed = parse_scenario(
        {
            "agents": [{"id": "ann"}],
            "inboxes": [
                {
                    "id": "i",
                    "members": ["ann"],
                    "arrivals_per_hour": 0,
                    "resolve": {"distribution": "fixed", "minutes": 5},
                }
            ],
            "capacity_policies": [
                {
                    "id": "vip",
                    "agents": ["ann"],
                    "inbox_limits": {"i": "unlimited"},
                    "excluded_labels": ["VIP"],
                }
            ],
        }
    )
    assert parsed.capacity_policies[0].inbox_limits == (("i", None),)
