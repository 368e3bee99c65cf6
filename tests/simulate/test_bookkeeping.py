"""The simulator's own bookkeeping: the default scenario's summary is pinned, and the
held-back counts kept from the simulator's records equal judging every member."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoassign import explain
from autoassign.decisions import AgentFilter, GateFailure, exclusions_for_inbox
from autoassign.model import InboxId, load_from_units
from autoassign.simulate import (
    Scenario,
    Simulation,
    default_scenario,
    generate_workload,
    report_json,
)
from autoassign.simulate import engine as engine_module
from autoassign.simulate.scenario import CapacitySpec, Distribution

# `autoassign simulate --json` before the held-back counts became incremental (commit
# 48abf92): the same seed must give these numbers, and these bytes.
DEFAULT_SHA256 = "17043121734e4956a83f8f4aebb052c667127749117a75d50ef0175c9c07f2d8"
DEFAULT_TOTALS = {
    "conversations": 5266,
    "assigned": 5206,
    "resolved": 5201,
    "reopened": 0,
    "unassigned_at_end": 60,
    "excluded_at_end": 60,
    "jobs": 10719,
    "passes": 10719,
    "ignored_events": 0,
    "skips": {
        "all_at_capacity": 24174,
        "all_rate_limited": 9871,
        "no_agent_online": 2,
        "no_team_member_online": 79,
    },
}
# agent: assignments, held back by the rate limit, held back by capacity
DEFAULT_AGENTS = {
    "ana": (318, 1318, 87),
    "ben": (305, 1015, 499),
    "cai": (358, 1189, 453),
    "dia": (334, 755, 767),
    "eli": (306, 1053, 476),
    "fay": (206, 1251, 86),
    "gus": (318, 592, 517),
    "hal": (330, 395, 1006),
    "ivy": (370, 497, 689),
    "jon": (344, 360, 752),
    "kim": (204, 333, 567),
    "lea": (310, 54, 242),
    "max": (255, 0, 347),
    "nia": (288, 9, 226),
    "oli": (291, 13, 304),
    "pia": (159, 0, 46),
    "quinn": (159, 0, 41),
    "rex": (138, 0, 9),
    "sam": (108, 0, 0),
    "tia": (105, 0, 0),
}


def test_the_default_scenario_summary_is_pinned() -> None:
    started = time.perf_counter()
    report = engine_module_report(default_scenario())
    assert time.perf_counter() - started < 60
    assert report["totals"] == DEFAULT_TOTALS
    assert {
        a["agent"]: (
            a["assignments"],
            a["held_back_rate_limit"],
            a["held_back_capacity"],
        )
        for a in report["agents"]
    } == DEFAULT_AGENTS
    assert [
        (i["inbox"], i["assigned"], i["peak_backlog"]) for i in report["inboxes"]
    ] == [
        ("support", 3447, 38),
        ("sales", 865, 12),
        ("billing", 894, 15),
    ]
    assert report["fairness"]["jain_index"] == 0.9047
    assert report["invariants"]["total"] == 0
    text = report_json(report).encode()
    assert hashlib.sha256(text).hexdigest() == DEFAULT_SHA256


def engine_module_report(scenario: Scenario) -> dict[str, Any]:
    run = Simulation(scenario, generate_workload(scenario))
    run.run()
    return run.report()


class JudgeEveryMember(Simulation):
    """The held-back counts as they were first written: before every job with an
    assignable conversation waiting, every member judged by ``inbox_verdicts`` (with
    weights: for the inbox's lightest conversation)."""

    def _count_held_back(self, inbox: InboxId) -> None:
        service = self.app.service
        loaded = service.load_inbox(inbox)
        if isinstance(loaded, GateFailure):
            return
        rules = exclusions_for_inbox(
            service.directory.capacity_policies_for_inbox(inbox), inbox
        )
        waiting = service.conversations.unassigned_open(
            inbox,
            limit=1,
            priority=loaded.policy.conversation_priority,
            exclusions=rules,
            now=self.clock.now(),
        )
        if not waiting:
            return
        verdicts, _recent, _counts = explain.inbox_verdicts(
            service, loaded, weight=load_from_units(self._lightest[str(inbox)])
        )
        for verdict in verdicts:
            if verdict.removed_by is AgentFilter.RATE_LIMITED:
                self._agents[str(verdict.agent)].held_back_rate_limit += 1
            elif verdict.removed_by is AgentFilter.AT_CAPACITY:
                self._agents[str(verdict.agent)].held_back_capacity += 1


@st.composite
def tight_scenarios(draw: st.DrawFn, base: Scenario) -> Scenario:
    """Slices of the default team with drawn rate limits, windows and capacity."""
    policies = tuple(
        attrs.evolve(
            policy,
            fair_distribution_limit=draw(st.sampled_from([None, 0, 1, 2, 3, 6])),
            fair_distribution_window=draw(st.sampled_from([60, 600, 3600])),
        )
        for policy in base.policies
    )
    capacity = tuple(
        attrs.evolve(
            spec,
            inbox_limits=tuple(
                (inbox, draw(st.integers(min_value=0, max_value=4)))
                for inbox, _limit in spec.inbox_limits
            ),
        )
        for spec in base.capacity_policies
    )
    return base.with_changes(
        seed=draw(st.integers(min_value=0, max_value=10_000)),
        start=base.start.replace(hour=draw(st.sampled_from([6, 9, 13, 21]))),
        duration_minutes=draw(st.integers(min_value=10, max_value=25)),
        policies=policies,
        capacity_policies=capacity,
    )


def _assert_judged_alike(scenario: Scenario) -> None:
    """The same report, byte for byte, judging only the members the simulator's own
    records put near a limit and judging every member before every job."""
    workload = generate_workload(scenario)
    fast = Simulation(scenario, workload)
    fast.run()
    slow = JudgeEveryMember(scenario, workload)
    slow.run()
    assert report_json(fast.report()) == report_json(slow.report())


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_held_back_counts_equal_judging_every_member(data: st.DataObject) -> None:
    scenario = data.draw(tight_scenarios(default_scenario()))
    _assert_judged_alike(scenario)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_held_back_counts_equal_judging_every_member_with_weights(
    data: st.DataObject,
) -> None:
    """Conversation weights (one per inbox, or a mix) and total limits: the agents the
    simulator's own loads put at a limit are still all those the filter chain holds
    back (judged for each inbox's lightest conversation)."""
    base = data.draw(tight_scenarios(default_scenario()))
    weights = st.sampled_from(
        [
            (1, ()),
            (0.5, ()),
            (1.5, ()),
            (1, ((0.25, 0.5),)),
            (1, ((0.5, 0.3), (2, 0.3))),
        ]
    )
    scenario = base.with_changes(
        inboxes=tuple(
            attrs.evolve(inbox, weight=weight, weight_mix=mix)
            for inbox in base.inboxes
            for weight, mix in [data.draw(weights)]
        ),
        capacity_policies=tuple(
            attrs.evolve(spec, total_limit=data.draw(st.sampled_from([None, 1, 2, 5])))
            for spec in base.capacity_policies
        ),
    )
    _assert_judged_alike(scenario)


def test_a_job_judges_only_agents_that_can_be_held_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nobody near a limit: no job reads anyone's standing (the first version judged
    all 20 members before every job that had a conversation waiting)."""
    base = default_scenario()
    roomy = base.with_changes(
        start=base.start.replace(hour=9),
        duration_minutes=60,
        policies=tuple(
            attrs.evolve(p, fair_distribution_limit=None) for p in base.policies
        ),
        capacity_policies=tuple(
            CapacitySpec(
                id=spec.id,
                agents=spec.agents,
                inbox_limits=tuple((inbox, None) for inbox, _n in spec.inbox_limits),
                excluded_labels=spec.excluded_labels,
                exclude_older_than_hours=spec.exclude_older_than_hours,
            )
            for spec in base.capacity_policies
        ),
    )
    judged: list[int] = []
    real = explain.inbox_verdicts

    def counting(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        judged.append(len(found[0]))
        return found

    monkeypatch.setattr(engine_module, "inbox_verdicts", counting)
    run = Simulation(roomy, generate_workload(roomy))
    run.run()
    report = run.report()
    assert report["totals"]["assigned"] > 100
    assert sum(judged) == 0


def test_held_back_counts_equal_judging_every_member_as_conversations_age_out() -> None:
    """An hour of arrivals, capacity 1, conversations excluded an hour after their
    creation and resolved only after two: the backlog ages out while agents are still
    at capacity, and whether a pass would fetch anything (from the simulator's own
    waiting conversations) agrees with the store's ``unassigned_open`` throughout."""
    base = default_scenario()
    scenario = base.with_changes(
        start=base.start.replace(hour=8),
        duration_minutes=150,
        inboxes=tuple(
            attrs.evolve(
                inbox,
                arrivals_per_hour=tuple(
                    rate if hour == 8 else 0.0
                    for hour, rate in enumerate(inbox.arrivals_per_hour)
                ),
                resolve=Distribution(kind="fixed", minutes=120),
            )
            for inbox in base.inboxes
        ),
        capacity_policies=tuple(
            attrs.evolve(
                spec,
                inbox_limits=tuple((inbox, 1) for inbox, _n in spec.inbox_limits),
                exclude_older_than_hours=1,
            )
            for spec in base.capacity_policies
        ),
    )
    workload = generate_workload(scenario)
    fast = Simulation(scenario, workload)
    fast.run()
    slow = JudgeEveryMember(scenario, workload)
    slow.run()
    report = fast.report()
    assert report_json(report) == report_json(slow.report())
    labelled_out = sum(len(w.labelled_out) for w in fast._waiting.values())
    assert report["totals"]["excluded_at_end"] > labelled_out  # some aged out
    now = fast.clock.now()
    world = fast.backend.world
    for row in report["inboxes"]:  # the excluded counts, from the store
        inbox = row["inbox"]
        rules = exclusions_for_inbox(world.capacity_policies_for_inbox(inbox), inbox)
        waiting = [
            c
            for c in world.conversations.values()
            if c.inbox == inbox and c.is_assignable
        ]
        assert len(waiting) == row["unassigned_at_end"]
        assert sum(rules.excludes(c, now) for c in waiting) == row["excluded_at_end"]
    assert sum(a["held_back_capacity"] for a in report["agents"]) > 0
