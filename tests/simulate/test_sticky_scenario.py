"""Sticky agents in simulation scenarios (issue 18): ``[[inboxes]] returning_share``
and ``contact_pool`` draw whose each conversation is (from a stream of their own, only
when set), a policy's ``sticky_window_minutes`` wires ``StickyRouting`` for the inboxes
on it, and the report counts the returning contacts' conversations that went to their
previous agent."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoassign import Conversation
from autoassign.explain import explain_conversation
from autoassign.simulate import (
    Simulation,
    compare,
    generate_workload,
    read_event_log,
    replay,
    simulate,
)
from autoassign.simulate.engine import _StickyContacts
from autoassign.simulate.scenario import ScenarioError, parse_scenario_text
from autoassign.simulate.workload import write_event_log
from autoassign.sticky import InMemoryContactHistory

ROOT = Path(__file__).resolve().parents[2]

SCENARIO = """
[simulation]
seed = {seed}
duration_minutes = 360

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

[[agents]]
id = "dee"

[policies.plain]
assignment_order = "{order}"

[policies.sticky]
assignment_order = "{order}"
sticky_window_minutes = {window}

[[inboxes]]
id = "support"
policy = "plain"
members = ["ann", "bob", "cy", "dee"]
arrivals_per_hour = 24
resolve = {{ distribution = "exponential", mean = 10 }}
{extra}

[[capacity_policies]]
id = "cap"
agents = ["ann", "bob", "cy", "dee"]
inbox_limits = {{ support = 3 }}
"""

RETURNING = "returning_share = 0.5\ncontact_pool = 30"


def _scenario(
    extra: str = RETURNING,
    *,
    seed: int = 3,
    order: str = "round_robin",
    window: int = 1440,
) -> Any:
    return parse_scenario_text(
        SCENARIO.format(extra=extra, seed=seed, order=order, window=window)
    )


def _inbox(report: dict[str, Any]) -> dict[str, Any]:
    (inbox,) = report["inboxes"]
    return inbox  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("extra", "policy_extra", "path", "problem"),
    [
        ("returning_share = 1.5", "", "inboxes[0].returning_share", "must be <= 1.0"),
        ('returning_share = "x"', "", "inboxes[0].returning_share", "must be a number"),
        ("contact_pool = 10", "", "inboxes[0].contact_pool", "needs returning_share"),
        (
            "returning_share = 0.2\ncontact_pool = 0",
            "",
            "inboxes[0].contact_pool",
            "must be >= 1",
        ),
        ("", "sticky_window_minutes = 0", "policies.x.sticky_window_minutes", ">= 1"),
        (
            "",
            "sticky_window_minutes = 525601",
            "policies.x.sticky_window_minutes",
            "<= 525600",
        ),
        (
            "",
            "sticky_window_minutes = 1.5",
            "policies.x.sticky_window_minutes",
            "must be an integer",
        ),
    ],
)
def test_the_sticky_keys_are_checked(
    extra: str, policy_extra: str, path: str, problem: str
) -> None:
    text = SCENARIO.format(extra=extra, seed=1, order="round_robin", window=60)
    text += f"\n[policies.x]\n{policy_extra}\n"
    with pytest.raises(ScenarioError) as caught:
        parse_scenario_text(text)
    assert caught.value.path == path
    assert problem in caught.value.problem


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    share=st.floats(0.01, 1.0),
    pool=st.one_of(st.none(), st.integers(1, 50)),
)
def test_contacts_are_drawn_apart_from_everything_else(
    seed: int, share: float, pool: int | None
) -> None:
    """The contacts come from their own stream: the arrivals are those of the same
    scenario without contacts. A new contact is numbered by its first conversation;
    a returning one is that of one of the inbox's ``contact_pool`` latest earlier
    conversations."""
    plain = generate_workload(_scenario("", seed=seed))
    extra = f"returning_share = {share}" + (
        "" if pool is None else f"\ncontact_pool = {pool}"
    )
    drawn = generate_workload(_scenario(extra, seed=seed))
    assert [attrs_without_contact(a) for a in drawn.arrivals] == [
        attrs_without_contact(a) for a in plain.arrivals
    ]
    assert all(a.contact is None for a in plain.arrivals)
    numbers = [a.conversation for a in drawn.arrivals]
    contact_of = {a.conversation: a.contact for a in drawn.arrivals}
    for at, arrival in enumerate(drawn.arrivals):
        contact = arrival.contact
        assert isinstance(contact, int)
        assert contact_of[contact] == contact  # numbered by its first conversation
        if contact != arrival.conversation:
            lowest = 0 if pool is None else max(0, at - pool)
            recent = numbers[lowest:at]
            assert any(contact_of[n] == contact for n in recent)
    assert drawn.presence == plain.presence


def attrs_without_contact(arrival: Any) -> tuple[Any, ...]:
    return (
        arrival.minute,
        arrival.conversation,
        arrival.inbox,
        arrival.labels,
        arrival.team,
        arrival.resolve_after,
        arrival.urgency,
    )


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    order=st.sampled_from(["round_robin", "balanced", "most_available"]),
    window=st.integers(1, 2000),
)
def test_sticky_without_returning_contacts_decides_as_without_it(
    seed: int, order: str, window: int
) -> None:
    """A sticky policy changes nothing while nobody returns; contacts change nothing
    while no policy is sticky: the same decisions, and both reports as before but
    for their new keys."""
    plain = _scenario("", seed=seed, order=order, window=window)
    base = Simulation(plain, generate_workload(plain), policy="plain")
    base.run()
    sticky = Simulation(plain, generate_workload(plain), policy="sticky")
    sticky.run()
    assert sticky.decisions == base.decisions
    assert _inbox(sticky.report())["sticky_window_minutes"] == window
    assert "returning" not in _inbox(sticky.report())
    assert "sticky_window_minutes" not in _inbox(base.report())
    with_contacts = _scenario(RETURNING, seed=seed, order=order, window=window)
    drawn = Simulation(with_contacts, generate_workload(with_contacts), policy="plain")
    drawn.run()
    assert drawn.decisions == base.decisions


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    order=st.sampled_from(["round_robin", "balanced", "most_available"]),
)
def test_sticky_agents_take_their_contacts_back_within_the_rules(
    seed: int, order: str
) -> None:
    """With sticky agents every returning conversation whose previous agent was online
    and had room went back to them; nobody ineligible got one (no invariant broken),
    and more went back than without."""
    scenario = _scenario(seed=seed, order=order)
    result = compare(scenario, "plain", "sticky")
    plain, sticky = (result["runs"][name] for name in ("plain", "sticky"))
    assert plain["invariants"]["total"] == sticky["invariants"]["total"] == 0
    before, after = _inbox(plain)["returning"], _inbox(sticky)["returning"]
    assert before["conversations"] == after["conversations"] > 0
    assert after["to_previous_agent"] <= after["previous_agent_online"]
    assert after["to_previous_agent"] > before["to_previous_agent"]


def test_previous_agents_online_with_room_always_get_them_back() -> None:
    """Without capacity limits, an online previous agent is always eligible: every
    returning conversation whose previous agent was online at the time went back."""
    text = SCENARIO.format(extra=RETURNING, seed=8, order="round_robin", window=1440)
    text = text.replace("inbox_limits = { support = 3 }", "inbox_limits = {}")
    report = simulate(parse_scenario_text(text), policy="sticky")
    returning = _inbox(report)["returning"]
    assert returning["previous_agent_online"] > 0
    assert returning["to_previous_agent"] == returning["previous_agent_online"]
    assert report["invariants"]["total"] == 0


def test_a_short_window_keeps_old_contacts_off() -> None:
    """A one-minute window: nearly no previous conversation is recent enough."""
    short = simulate(_scenario(window=1), policy="sticky")
    long = simulate(_scenario(window=1440), policy="sticky")
    assert (
        _inbox(short)["returning"]["to_previous_agent"]
        < _inbox(long)["returning"]["to_previous_agent"]
    )


class _Since(InMemoryContactHistory):
    def __init__(self) -> None:
        super().__init__(lambda conversation: None)
        self.asked: list[tuple[list[object], datetime]] = []

    def previous_agents(self, account, conversations, *, since):  # type: ignore[no-untyped-def]
        self.asked.append(([c.id for c in conversations], since))
        return {}


def test_each_inbox_is_asked_within_its_own_window() -> None:
    """Two sticky policies: ``StickyRouting`` asks from the longest window's start,
    so an inbox on the shorter one is asked from that much later; an inbox on no
    sticky policy is not asked at all."""
    inner = _Since()
    contacts = _StickyContacts(
        inner, {"a": timedelta(minutes=30), "b": timedelta(minutes=120)}
    )
    now = datetime(2026, 1, 5, 12, tzinfo=timezone.utc)
    page = [
        Conversation(
            id=n, inbox=inbox, account="acme", created_at=now, last_activity_at=now
        )
        for n, inbox in ((1, "a"), (2, "b"), (3, "c"), (4, "a"))
    ]
    assert contacts.previous_agents("acme", page, since=now - contacts.longest) == {}
    assert inner.asked == [
        ([1, 4], now - timedelta(minutes=30)),
        ([2], now - timedelta(minutes=120)),
    ]


def test_a_recorded_sticky_run_replays_to_the_same_assignments(tmp_path: Path) -> None:
    """The log carries each conversation's contact: replaying it under the sticky
    policy gives the same assignments, and the same returning figures."""
    scenario = _scenario()
    record: list[dict[str, object]] = []
    run = Simulation(
        scenario, generate_workload(scenario), policy="sticky", record=record
    )
    run.run()
    created = [e for e in record if e["event"] == "conversation_created"]
    assert all("contact" in e for e in created)
    log = tmp_path / "day.jsonl"
    write_event_log(log, record)
    replayed = replay(scenario, str(log), policy="sticky")
    assert [(a["conversation"], a["agent"]) for a in replayed["assignments"]] == [
        (a["conversation"], a["agent"]) for a in run.decisions
    ]
    assert (
        _inbox(replayed)["returning"]["to_previous_agent"]
        == _inbox(run.report())["returning"]["to_previous_agent"]
    )


@pytest.mark.parametrize("contact", [True, 1.5, "", ["x"]])
def test_a_log_contact_is_checked(contact: object, tmp_path: Path) -> None:
    log = tmp_path / "bad.jsonl"
    write_event_log(
        log,
        [
            {
                "event": "conversation_created",
                "minute": 1,
                "conversation": 1,
                "inbox": "support",
                "contact": contact,
            }
        ],
    )
    with pytest.raises(
        ScenarioError, match="contact must be an integer or a non-empty"
    ):
        read_event_log(log, _scenario())


def test_a_string_contact_from_a_log_sticks(tmp_path: Path) -> None:
    """Contacts of a real log are whatever the host calls them (an e-mail address)."""
    log = tmp_path / "mail.jsonl"
    events: list[dict[str, object]] = [
        {"event": "agent_status_changed", "minute": 0, "agent": a, "status": "online"}
        for a in ("ann", "bob", "cy", "dee")
    ]
    events += [
        {
            "event": "conversation_created",
            "minute": 1,
            "conversation": 1,
            "inbox": "support",
            "contact": "kim@example.com",
        },
        {
            "event": "status_changed",
            "minute": 5,
            "conversation": 1,
            "status": "resolved",
        },
        {
            "event": "conversation_created",
            "minute": 6,
            "conversation": 2,
            "inbox": "support",
            "contact": "lou@example.com",
        },
        {
            "event": "conversation_created",
            "minute": 7,
            "conversation": 3,
            "inbox": "support",
            "contact": "kim@example.com",
        },
    ]
    write_event_log(log, events)
    report = replay(_scenario(), str(log), policy="sticky")
    agents = {a["conversation"]: a["agent"] for a in report["assignments"]}
    assert agents[3] == agents[1] != agents[2]
    returning = _inbox(report)["returning"]
    assert (returning["conversations"], returning["to_previous_agent"]) == (1, 1)


def test_explain_names_the_sticky_agent_in_a_simulation() -> None:
    """``run.app`` is wired with the sticky routing: ``explain`` shows a waiting
    returning conversation's previous agent."""
    scenario = _scenario()
    workload = generate_workload(scenario)
    run = Simulation(scenario, workload, policy="sticky")
    returning = [a for a in workload.arrivals if a.contact != a.conversation]
    target = returning[5]
    run.run(until=target.minute)
    run._advance(target.minute)  # the arrival itself, before its pass
    run._on_arrival(target)
    explanation = explain_conversation(run.app, target.conversation)
    previous = run._previous_agent(run._conversations[target.conversation])
    assert previous is not None
    assert explanation.sticky_agent == previous


def test_the_example_shows_what_sticky_changes() -> None:
    """examples/simulate/sticky.toml (docs/simulate.md): far more returning contacts
    get their previous agent, at no cost in waiting time."""
    from autoassign.simulate import load_scenario  # noqa: PLC0415

    result = compare(
        load_scenario(ROOT / "examples" / "simulate" / "sticky.toml"), "plain", "sticky"
    )
    plain, sticky = (_inbox(result["runs"][n]) for n in ("plain", "sticky"))
    assert sticky["returning"]["share_to_previous_agent"] > 0.75
    assert plain["returning"]["share_to_previous_agent"] < 0.35
    assert sticky["wait_minutes"]["p99"] <= plain["wait_minutes"]["p99"]
