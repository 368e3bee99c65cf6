"""Replay of reopened conversations: a ``status_changed`` event that brings a resolved
conversation back (``data/reopen.jsonl``).

As in the reference, a reopen changes the status only: the conversation keeps its
assignee if it had one (even an offline one), and without one it is open and unassigned,
so the next pass assigns it. The report counts it as reopened and no longer resolved.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from autoassign import cli
from autoassign.explain import explain_conversation
from autoassign.model import ConversationStatus
from autoassign.simulate import (
    Scenario,
    Simulation,
    read_event_log,
    replay,
    write_event_log,
)

REOPEN_LOG = Path(__file__).resolve().parent / "data" / "reopen.jsonl"


def _inbox(report: dict[str, Any], inbox: str) -> dict[str, Any]:
    [row] = [row for row in report["inboxes"] if row["inbox"] == inbox]
    return row


def _agent(report: dict[str, Any], agent: str) -> dict[str, Any]:
    [row] = [row for row in report["agents"] if row["agent"] == agent]
    return row


def test_the_report_counts_reopens(short: Scenario) -> None:
    report = replay(short, str(REOPEN_LOG))
    assert report["assignments"] == [
        {"conversation": 1, "agent": "ana", "minute": 1},
        {"conversation": 2, "agent": "ana", "minute": 2},
        {"conversation": 3, "agent": "ben", "minute": 15},
    ]
    totals = report["totals"]
    assert totals["conversations"] == 3  # a reopen is not a new conversation
    assert totals["assigned"] == 3
    assert totals["resolved"] == 2  # 1 (again, at 25) and 2; 3 is open with ben
    assert totals["reopened"] == 2
    assert totals["ignored_events"] == 2  # 2 resolved twice, 99 unknown
    assert totals["unassigned_at_end"] == 0
    assert report["invariants"]["total"] == 0
    support = _inbox(report, "support")
    assert support["resolved"] == 2
    assert support["reopened"] == 2
    # 3 waited from its reopen (minute 15), not from its creation (minute 11)
    assert support["wait_minutes"]["max"] == 0
    assert _agent(report, "ana")["assignments"] == 2
    assert _agent(report, "ana")["peak_open"] == 2
    assert _agent(report, "ben")["assignments"] == 1
    assert _agent(report, "ben")["peak_open"] == 1


def test_a_reopened_conversation_keeps_its_assignee_even_offline(
    short: Scenario,
) -> None:
    run = Simulation(short, read_event_log(REOPEN_LOG, short))
    run.run(until=14.5)
    record = run.backend.world.get(1)
    assert record is not None
    assert record.status is ConversationStatus.OPEN
    assert record.assignee == "ana"
    assert record.last_activity_at == run.at(14)  # the reopen is activity
    assert run.backend.presence.statuses(short.account, ["ana"]) == {"ana": "offline"}
    # ben was online, yet the pass left the conversation with ana
    explanation = explain_conversation(run.app, 1)
    assert explanation.outcome == "not_assignable"
    assert explanation.assignee == "ana"
    assert run.history(1) == {
        "conversation": 1,
        "inbox": "support",
        "created": 1,
        "assigned": 1,
        "agent": "ana",
        "resolved": None,
        "reopened": 1,
    }
    assert run.backend.world.open_counts("support", ["ana"]) == {"ana": 2}


def test_an_unassigned_reopen_is_open_and_waits_for_a_pass(short: Scenario) -> None:
    run = Simulation(short, read_event_log(REOPEN_LOG, short))
    run.run(until=12.5)
    assert run.backend.world.get(3) is None  # resolved: archived out of the store
    run.run(until=15.5)
    record = run.backend.world.get(3)
    assert record is not None
    assert record.status is ConversationStatus.OPEN
    assert record.assignee == "ben"
    history = run.history(3)
    assert history is not None
    assert history["assigned"] == 15
    assert history["reopened"] == 1


def test_reopening_as_snoozed_then_open(short: Scenario, tmp_path: Path) -> None:
    log = tmp_path / "snooze.jsonl"
    events: list[dict[str, object]] = [
        {"event": "conversation_created", "minute": 1, "conversation": 5},
        {
            "event": "status_changed",
            "minute": 2,
            "conversation": 5,
            "status": "resolved",
        },
        {
            "event": "status_changed",
            "minute": 3,
            "conversation": 5,
            "status": "snoozed",
        },
        {"event": "agent_status_changed", "minute": 4, "agent": "ana"},
        {"event": "status_changed", "minute": 6, "conversation": 5, "status": "open"},
    ]
    for event in events:
        if event["event"] == "conversation_created":
            event["inbox"] = "support"
        if event["event"] == "agent_status_changed":
            event["status"] = "online"
    write_event_log(log, events)
    run = Simulation(short, read_event_log(log, short))
    run.run(until=5)
    record = run.backend.world.get(5)
    assert record is not None
    assert record.status is ConversationStatus.SNOOZED
    assert record.assignee is None  # snoozed: not assignable, nobody took it
    run.run(until=30)
    report = run.report()
    assert run.decisions == [{"conversation": 5, "agent": "ana", "minute": 6}]
    assert report["totals"]["reopened"] == 1
    assert report["totals"]["resolved"] == 0
    assert _inbox(report, "support")["wait_minutes"]["max"] == 0


def test_recording_a_replay_with_reopens_replays_the_same(
    short: Scenario, tmp_path: Path
) -> None:
    record: list[dict[str, object]] = []
    first = Simulation(short, read_event_log(REOPEN_LOG, short), record=record)
    first.run()
    log = tmp_path / "again.jsonl"
    write_event_log(log, record)
    second = replay(short, str(log))
    assert second["assignments"] == first.decisions
    report = first.report()
    for key in ("resolved", "reopened", "unassigned_at_end"):
        assert second["totals"][key] == report["totals"][key]
    # the ignored events are not recorded, so the second replay ignores none
    assert second["totals"]["ignored_events"] == 0


def test_cli_replay_reports_reopens() -> None:
    out = io.StringIO()
    assert cli.main(["replay", str(REOPEN_LOG), "--json"], stdout=out) == 0
    report = json.loads(out.getvalue())
    assert report["totals"]["reopened"] == 2
    assert report["totals"]["resolved"] == 2
    assert [d["agent"] for d in report["assignments"]] == ["ana", "ana", "ben"]
    out = io.StringIO()
    assert cli.main(["replay", str(REOPEN_LOG)], stdout=out) == 0
    assert "2 resolved (2 reopens)" in out.getvalue()
