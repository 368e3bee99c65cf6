"""Conversation weights in simulation scenarios (issue 18, weighted capacity):
``[[inboxes]] weight`` gives an inbox's conversations a weight (``weight = 0.5``) or a
mix of them (``weight = { "0.5" = 0.4 }``, from a stream of their own), the engine
creates them with it, its invariants check capacity in weight as the claim sums it,
and the report shows the agents' loads in weight (only when a weight is not 1)."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoassign import AssignmentPolicy, CapacityPolicy
from autoassign.decisions import AgentFilter, capacity_limits, total_limits
from autoassign.explain import inbox_verdicts
from autoassign.model import WEIGHT_SCALE, ConversationStatus, weight_units
from autoassign.results import Assignment
from autoassign.service import InboxState
from autoassign.simulate import (
    Scenario,
    Simulation,
    generate_workload,
    read_event_log,
    replay,
    report_json,
    simulate,
)
from autoassign.simulate.engine import _Conversation
from autoassign.simulate.scenario import ScenarioError, parse_scenario_text
from autoassign.simulate.workload import write_event_log
from autoassign.testing import FakeClock, InMemoryBackend, build_in_memory

SCENARIO = """
[simulation]
seed = {seed}
duration_minutes = 240

[account]
id = "acme"
features = ["assignment_v2"]

[presence]
flaps_per_hour = 1

[[agents]]
id = "ann"

[[agents]]
id = "bob"

[[agents]]
id = "cy"

[policies.rr]
assignment_order = "{order}"

[[inboxes]]
id = "chat"
policy = "rr"
members = ["ann", "bob", "cy"]
arrivals_per_hour = 30
resolve = {{ distribution = "exponential", mean = 12 }}

[[inboxes]]
id = "email"
policy = "rr"
members = ["ann", "bob", "cy"]
arrivals_per_hour = 30
resolve = {{ distribution = "exponential", mean = 20 }}
{weight}

[[capacity_policies]]
id = "cap"
agents = ["ann", "bob", "cy"]
inbox_limits = {{ chat = 2, email = 2 }}
{total}
"""


def _scenario(
    weight: str = "weight = 0.5",
    *,
    total: str = "",
    seed: int = 3,
    order: str = "round_robin",
) -> Scenario:
    return parse_scenario_text(
        SCENARIO.format(weight=weight, total=total, seed=seed, order=order)
    )


def _run(scenario: Scenario) -> Simulation:
    run = Simulation(scenario, generate_workload(scenario))
    run.run()
    return run


def test_inbox_verdicts_judge_capacity_for_a_conversation_of_a_weight() -> None:
    """An agent holding 1.5 of a limit of 2 is at capacity for a conversation of
    weight 1, not for one of 0.5 (the held-back counts judge with the weight)."""
    backend = InMemoryBackend(clock=FakeClock())
    backend.add_account(1)
    backend.add_inbox(1, account=1, members=["ann"])
    backend.add_policy(AssignmentPolicy(id=1, account=1), inboxes=[1])
    backend.add_capacity_policy(
        CapacityPolicy(id=1, account=1, inbox_limits={1: 2}, agents={"ann"})
    )
    backend.set_status(1, "ann", "online")
    app = build_in_memory(backend)
    backend.add_conversation("held", inbox=1, assignee="ann", weight=1.5)
    state = app.service.load_inbox(1)
    assert isinstance(state, InboxState)
    removed = {
        weight: inbox_verdicts(app.service, state, weight=weight)[0][0].removed_by
        for weight in (1, 0.5)
    }
    assert removed == {1: AgentFilter.AT_CAPACITY, 0.5: None}
    default = inbox_verdicts(app.service, state)[0][0].removed_by
    assert default is AgentFilter.AT_CAPACITY


def test_an_inbox_weight_is_every_conversation_s_weight() -> None:
    run = _run(_scenario())
    weights = {(c.arrival.inbox, c.arrival.weight) for c in run._conversations.values()}
    assert weights == {("chat", 1), ("email", 0.5)}
    report = run.report()
    assert report["invariants"]["total"] == 0
    for row in report["agents"]:
        # 2 in weight in each inbox: up to 2 chats and 4 emails, 4 in weight
        assert row["peak_load"] <= 4
        assert row["mean_load"] < row["mean_open"]
    assert any(row["peak_open"] > row["peak_load"] for row in report["agents"])


def test_a_weight_mix_draws_from_its_own_stream() -> None:
    """Shares of weights: about that share of the conversations weigh that, the rest
    1; the arrivals, labels and resolve times are those of the inbox without it."""
    plain = generate_workload(_scenario(""))
    mixed = generate_workload(_scenario('weight = { "0.5" = 0.3, "2" = 0.2 }'))
    assert [attrs.evolve(a, weight=1) for a in mixed.arrivals] == list(plain.arrivals)
    emails = [a.weight for a in mixed.arrivals if a.inbox == "email"]
    assert len(emails) > 80
    for weight, share in ((0.5, 0.3), (2, 0.2), (1, 0.5)):
        assert abs(emails.count(weight) / len(emails) - share) < 0.12
    assert {a.weight for a in mixed.arrivals if a.inbox == "chat"} == {1}


def test_weights_of_one_change_nothing() -> None:
    """``weight = 1``, or a mix that draws only weights of 1: the same report, byte
    for byte, as without the key (no loads shown, the same decisions)."""
    plain = report_json(simulate(_scenario("")))
    assert report_json(simulate(_scenario("weight = 1"))) == plain
    assert report_json(simulate(_scenario('weight = { "1" = 0.5 }'))) == plain


def test_without_weights_the_report_has_no_loads() -> None:
    report = simulate(_scenario(""))
    assert not any("peak_load" in row or "mean_load" in row for row in report["agents"])


class CheckedInWeight(Simulation):
    """After every assignment, each limit checked from the store itself: the sum of
    the weights of the agent's open conversations in the inbox, and in all, at most
    the limit (in thousandths, as ``autoassign.model.fits`` sums)."""

    checked = 0

    def _on_assigned(self, inbox: str, assignment: Assignment) -> None:
        super()._on_assigned(inbox, assignment)
        agent = assignment.agent
        world = self.backend.world
        held = [
            c
            for c in world.conversations.values()
            if c.assignee == agent and c.status is ConversationStatus.OPEN
        ]
        policies = world.capacity_policies_for_inbox(inbox)
        limit = capacity_limits(policies, inbox).get(agent)
        if limit is not None:
            here = sum(weight_units(c.weight) for c in held if c.inbox == inbox)
            assert here <= limit * WEIGHT_SCALE, (agent, inbox, here, limit)
        total = total_limits(policies).get(agent)
        if total is not None:
            units = sum(weight_units(c.weight) for c in held)
            assert units <= total * WEIGHT_SCALE, (agent, units, total)
        self.checked += 1


WEIGHTS = st.sampled_from(
    [
        "",
        "weight = 0.5",
        "weight = 0.25",
        "weight = 1.5",
        "weight = 3",
        'weight = { "0.5" = 0.5 }',
        'weight = { "0.1" = 0.3, "0.7" = 0.3, "2" = 0.1 }',
    ]
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    weight=WEIGHTS,
    total=st.sampled_from(["", "total_limit = 1", "total_limit = 3"]),
    seed=st.integers(min_value=0, max_value=1000),
    order=st.sampled_from(["round_robin", "balanced", "most_available"]),
)
def test_no_agent_passes_a_limit_in_weight(
    weight: str, total: str, seed: int, order: str
) -> None:
    """Whatever the weights, limits and order: no assignment leaves an agent past a
    limit in weight (checked from the store), and the simulator's own invariants,
    which check the same in weight, count no violation."""
    scenario = _scenario(weight, total=total, seed=seed, order=order)
    run = CheckedInWeight(scenario, generate_workload(scenario))
    run.run()
    assert run.checked > 0
    report = run.report()
    assert report["invariants"]["total"] == 0, report["invariants"]["examples"]
    limits = {"chat": 2, "email": 2}
    for row in report["agents"]:
        if "peak_load" in row:
            bound = min(int(total[-1]), 4) if total else sum(limits.values())
            assert row["peak_load"] <= bound


def test_the_invariant_counts_an_overshoot_in_weight() -> None:
    """The capacity invariant sums weights: an agent holding 1.5 in weight in an
    inbox with a limit of 2 who is given a conversation of weight 1 is past it,
    although 2 open conversations are not more than 2."""
    scenario = _scenario('weight = { "1.5" = 1 }')
    run = Simulation(scenario, generate_workload(scenario))  # not run: nobody holds any
    for number, weight in ((9001, 1.5), (9002, 1)):
        run.backend.add_conversation(number, inbox="email", weight=weight)
        arrival = attrs.evolve(
            run.workload.arrivals[0], conversation=number, inbox="email", weight=weight
        )
        run._conversations[number] = _Conversation(
            arrival=arrival, created=0.0, units=weight_units(weight)
        )
        run._on_assigned(
            "email",
            Assignment(
                conversation=number,
                agent="ann",
                occurred_at=run.clock.now(),
                waiting_since=run.clock.now(),
            ),
        )
    assert run._violations["capacity_overshoot"] == 1
    found = [e for e in run._examples if "capacity_overshoot" in e]
    assert found == [
        "minute 0.00: capacity_overshoot: ann holds 2 open conversations "
        "(2.5 in weight) in email (limit 2)"
    ]


def test_held_back_by_capacity_is_judged_for_the_lightest_conversation() -> None:
    """Emails of 0.5 and a limit of 2: an agent holding 1.5 may still take one, so
    capacity holds them back only at 2 (the inbox's lightest conversation no longer
    fits); judged as if they weighed 1, they would be held back from 1.5 on."""
    run = _run(_scenario())
    assert run._lightest == {"chat": WEIGHT_SCALE, "email": WEIGHT_SCALE // 2}
    assert sum(row["held_back_capacity"] for row in run.report()["agents"]) > 0
    run._load_by[("ann", "email")] = 1500
    assert not run._full("ann", "email")
    run._load_by[("ann", "email")] = 2000
    assert run._full("ann", "email")


@pytest.mark.parametrize(
    ("weight", "where", "problem"),
    [
        ("weight = 0", "inboxes[1].weight", "must be above 0 and at most 1000, got 0"),
        ("weight = 1001", "inboxes[1].weight", "at most 1000"),
        ("weight = 0.0005", "inboxes[1].weight", "whole number of thousandths"),
        ('weight = "0.5"', "inboxes[1].weight", "must be a number, got '0.5'"),
        ("weight = true", "inboxes[1].weight", "must be a number"),
        ('weight = { "x" = 0.1 }', "inboxes[1].weight.x", "a number as a string key"),
        ('weight = { "nan" = 0.1 }', "inboxes[1].weight.nan", "at most 1000"),
        ('weight = { "0" = 0.1 }', "inboxes[1].weight.0", "above 0"),
        ('weight = { "0.5" = 1.5 }', "inboxes[1].weight.0.5", "must be <= 1.0"),
        ('weight = { "0.5" = "a" }', "inboxes[1].weight.0.5", "must be a number"),
        (
            'weight = { "0.5" = 0.6, "2" = 0.6 }',
            "inboxes[1].weight",
            "weight shares must add up to at most 1",
        ),
        (
            'weight = { "0.5" = 0.1, "0.50" = 0.1 }',
            "inboxes[1].weight.0.50",
            "duplicate weight '0.50'",
        ),
    ],
)
def test_a_bad_weight_names_the_field(weight: str, where: str, problem: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        _scenario(weight)
    assert caught.value.path == where
    assert problem in caught.value.problem


def test_a_recorded_day_with_weights_replays_the_same(tmp_path: Path) -> None:
    """``--record`` writes each conversation's weight (when it is not 1) and a replay
    reads it: the same decisions, the same loads."""
    scenario = _scenario('weight = { "0.5" = 0.5, "1.5" = 0.2 }')
    record: list[dict[str, object]] = []
    run = Simulation(scenario, generate_workload(scenario), record=record)
    run.run()
    created = [e for e in record if e["event"] == "conversation_created"]
    assert {e.get("weight", 1) for e in created} == {0.5, 1, 1.5}
    assert not any(e.get("weight") == 1 for e in created)
    log = tmp_path / "day.jsonl"
    write_event_log(log, record)
    workload = read_event_log(log, scenario)
    assert [a.weight for a in workload.arrivals] == [
        c.arrival.weight for c in run._conversations.values()
    ]
    replayed = replay(scenario, str(log))
    assert replayed["assignments"] == run.decisions
    loads = [row["peak_load"] for row in run.report()["agents"]]
    assert [row["peak_load"] for row in replayed["agents"]] == loads


@pytest.mark.parametrize("value", ["0", "-1", "1001", '"heavy"', "true", "0.0001"])
def test_a_bad_weight_in_a_log_names_the_line(tmp_path: Path, value: str) -> None:
    log = tmp_path / "bad.jsonl"
    log.write_text(
        '{"event": "conversation_created", "minute": 1, "conversation": 1, '
        f'"inbox": "email", "weight": {value}}}\n',
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError) as caught:
        read_event_log(log, _scenario())
    assert caught.value.path == f"{log}:1"
    assert caught.value.problem.startswith("weight must be")
