"""Terminal rendering of reports and explanations with ``rich`` (the ``cli`` extra), or
as plain text without it (:mod:`autoassign.simulate._plain`).

Only the CLI imports this module; the library never needs ``rich``.
"""

from __future__ import annotations

from typing import Any

try:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text
except ImportError:  # the cli extra is missing: plain tables
    from autoassign.simulate._plain import (  # type: ignore[assignment, no-redef]
        Console,
        Table,
        Text,
        box,
    )

from autoassign.explain import ConversationExplanation, InboxExplanation
from autoassign.simulate.engine import INVARIANTS

__all__ = [
    "render_compare",
    "render_conversation",
    "render_inbox",
    "render_report",
    "sparkline",
]

_BARS = "▁▂▃▄▅▆▇█"
_SPARK_WIDTH = 48
"""Backlog bars: 48 half hours of a day; the tables fit an 80-column terminal."""


def _narrow_table(title: str) -> Table:
    return Table(
        title=title,
        box=box.SIMPLE_HEAD,
        title_justify="left",
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )


def _bucket_minutes(report: dict[str, Any]) -> str:
    """How much of the run one backlog bar covers (``sparkline`` buckets)."""
    samples = max((len(row["backlog"]) for row in report["inboxes"]), default=0)
    size = max(1, -(-samples // _SPARK_WIDTH))
    step = report["scenario"]["simulated_minutes"] / max(1, samples) * size
    return f"{step:g} min" if step < 120 else f"{step / 60:g} h"


def sparkline(values: list[int], width: int = 24) -> str:
    """A one-line chart of ``values`` squeezed into ``width`` cells (max per bucket)."""
    if not values:
        return ""
    size = max(1, -(-len(values) // width))
    buckets = [max(values[i : i + size]) for i in range(0, len(values), size)]
    top = max(buckets) or 1
    return "".join(
        _BARS[min(len(_BARS) - 1, int(v / top * (len(_BARS) - 1)))] for v in buckets
    )


def _load(value: object) -> str:
    """A load or a weight: exact to its thousandths (``0.25``, ``1.5``, ``3``)."""
    if isinstance(value, float):
        return f"{value:g}"
    return _num(value)


def _num(value: object, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _invariant_text(report: dict[str, Any]) -> Text:
    inv = report["invariants"]
    if inv["total"] == 0:
        return Text(
            f"invariant violations: 0 (all {len(INVARIANTS)} kinds checked)",
            style="green",
        )
    parts = ", ".join(f"{name}={inv[name]}" for name in INVARIANTS if inv[name])
    return Text(f"invariant violations: {inv['total']} ({parts})", style="bold red")


def render_report(
    console: Console, report: dict[str, Any], *, title: str | None = None
) -> None:
    scenario, totals = report["scenario"], report["totals"]
    hours = scenario["simulated_minutes"] / 60
    console.print(
        Text(
            title
            or f"Scenario {scenario['name']!r} (seed {scenario['seed']}, {hours:g} h"
            + (
                f", every inbox on {scenario['policy_override']!r}"
                if scenario["policy_override"]
                else ""
            )
            + ")",
            style="bold",
        )
    )
    reopened = totals.get("reopened", 0)
    console.print(
        f"{totals['conversations']} conversations, {totals['assigned']} assigned, "
        f"{totals['resolved']} resolved"
        + (f" ({reopened} reopens)" if reopened else "")
        + f", {totals['unassigned_at_end']} unassigned at the end"
    )
    console.print(
        f"({totals['excluded_at_end']} excluded by rules); {totals['jobs']} jobs, "
        f"{totals['passes']} passes"
    )
    agents = _narrow_table("Agents")
    shares, loads = _shares(report), _loads(report)
    for column in (
        "agent",
        "shift",
        "online\nhours",
        "assigned",
        *(("rotation\nweight", "share") if shares else ()),
        "peak\nopen",
        "mean\nopen",
        *(("peak\nload", "mean\nload") if loads else ()),
        "held back:\nrate limit",
        "held back:\ncapacity",
    ):
        agents.add_column(
            column, justify="left" if column in ("agent", "shift") else "right"
        )
    for row in report["agents"]:
        agents.add_row(
            str(row["agent"]),
            str(row["shift"] or "-"),
            _num(row["online_minutes"] / 60),
            str(row["assignments"]),
            *((str(row["rotation_weight"]), _percent(row["share"])) if shares else ()),
            str(row["peak_open"]),
            _num(row["mean_open"], 2),
            *((_num(row["peak_load"]), _num(row["mean_load"], 2)) if loads else ()),
            str(row["held_back_rate_limit"]),
            str(row["held_back_capacity"]),
        )
    console.print(agents)
    inboxes = _narrow_table("Inboxes (wait = minutes from open to assignment)")
    for column in (
        "inbox",
        "policy",
        "convs",
        "assigned",
        "wait\np50",
        "wait\np90",
        "wait\np99",
        "wait\nmax",
        "left at\nthe end",
        "of them\nexcluded",
    ):
        inboxes.add_column(
            column, justify="left" if column in ("inbox", "policy") else "right"
        )
    for row in report["inboxes"]:
        wait = row["wait_minutes"]
        inboxes.add_row(
            str(row["inbox"]),
            str(row["policy"] or "-"),
            str(row["conversations"]),
            str(row["assigned"]),
            _num(wait["p50"]),
            _num(wait["p90"]),
            _num(wait["p99"]),
            _num(wait["max"]),
            str(row["unassigned_at_end"]),
            str(row["excluded_at_end"]),
        )
    console.print(inboxes)
    _render_returning(console, report)
    _render_skills(console, report)
    backlog = _narrow_table(
        f"Backlog (open, unassigned, not excluded), a bar per {_bucket_minutes(report)}"
    )
    backlog.add_column("inbox")
    backlog.add_column("backlog", no_wrap=True)
    backlog.add_column("peak", justify="right")
    for row in report["inboxes"]:
        values = [int(n) for _m, n in row["backlog"]]
        backlog.add_row(
            str(row["inbox"]),
            sparkline(values, _SPARK_WIDTH),
            str(row["peak_backlog"]),
        )
    console.print(backlog)
    fairness = report["fairness"]
    console.print(
        f"Fairness over {fairness['agents_counted']} agents who worked: Jain's index "
        f"{_num(fairness['jain_index'], 3)}"
    )
    console.print(
        f"(per online hour {_num(fairness['jain_index_per_online_hour'], 3)}), "
        f"max-min spread {fairness['max_min_spread']} assignments"
    )
    console.print(_invariant_text(report))
    for example in report["invariants"]["examples"]:
        console.print(f"  {example}", style="red")


def _window(minutes: int | None) -> str:
    """A sticky window for a table: ``off``, ``90 min``, ``24 h``, ``7 d``."""
    if minutes is None:
        return "off"
    if minutes % 1440 == 0 and minutes > 1440:
        return f"{minutes // 1440} d"
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"


def _share(returning: dict[str, Any]) -> str:
    return _percent(returning["share_to_previous_agent"])


def _kept(returning: dict[str, Any]) -> str:
    """``to / with (share)``: how many went to their previous agent."""
    return (
        f"{returning['to_previous_agent']} / {returning['with_previous_agent']} "
        f"({_share(returning)})"
    )


def _render_returning(console: Console, report: dict[str, Any]) -> None:
    """The returning contacts' table, when the scenario draws contacts."""
    rows = [row for row in report["inboxes"] if "returning" in row]
    if not rows:
        return
    table = _narrow_table(
        "Returning contacts (previous agent: who had their latest other conversation)"
    )
    for column in (
        "inbox",
        "sticky\nwindow",
        "convs",
        "with a\nprevious",
        "previous\nonline",
        "to the\nprevious",
        "share",
        "wait\np50",
        "wait\np90",
        "wait\nmax",
    ):
        table.add_column(column, justify="left" if column == "inbox" else "right")
    for row in rows:
        returning = row["returning"]
        wait = returning["wait_minutes"]
        table.add_row(
            str(row["inbox"]),
            _window(row.get("sticky_window_minutes")),
            str(returning["conversations"]),
            str(returning["with_previous_agent"]),
            str(returning["previous_agent_online"]),
            str(returning["to_previous_agent"]),
            _share(returning),
            _num(wait["p50"]),
            _num(wait["p90"]),
            _num(wait["max"]),
        )
    console.print(table)


def _shares(report: dict[str, Any]) -> bool:
    """Whether the agents' rows have rotation weights and shares (the scenario gives
    rotation weights)."""
    return any("share" in row for row in report["agents"])


def _loads(report: dict[str, Any]) -> bool:
    """Whether the agents' rows have loads in weight (some conversation weighs other
    than 1)."""
    return any("peak_load" in row for row in report["agents"])


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share:.0%}"


def _render_skills(console: Console, report: dict[str, Any]) -> None:
    """The conversations needing skills, when a policy sets skill keys."""
    rows = [
        row for row in report["inboxes"] if row.get("skills", {}).get("conversations")
    ]
    if not rows:
        return
    table = _narrow_table("Conversations needing skills (by their labels)")
    table.add_column("inbox")
    for column in ("convs", "assigned", "to an agent\nwithout them"):
        table.add_column(column, justify="right")
    for key in ("p50", "p90", "p99", "max"):
        table.add_column(f"wait\n{key}", justify="right")
    for row in rows:
        skills = row["skills"]
        table.add_row(
            str(row["inbox"]),
            *(
                str(skills[key])
                for key in ("conversations", "assigned", "to_agent_without_skills")
            ),
            *(
                _num(skills["wait_minutes"][key])
                for key in ("p50", "p90", "p99", "max")
            ),
        )
    console.print(table)


def _wait_cell(wait: dict[str, Any]) -> str:
    return "/".join(_num(wait[key]) for key in ("p50", "p90", "p99", "max"))


def _metrics(report: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [
        ("assigned", str(report["totals"]["assigned"])),
        ("unassigned at end", str(report["totals"]["unassigned_at_end"])),
    ]
    for inbox in report["inboxes"]:
        waits = [("wait", inbox["wait_minutes"])]
        for level, wait in inbox.get("wait_minutes_by_urgency", {}).items():
            waits.append((f"urgency {level}: wait", wait))
        for name, wait in waits:
            rows.append(
                (
                    f"{inbox['inbox']}: {name} p50/p90/p99/max",
                    _wait_cell(wait),
                )
            )
        returning = inbox.get("returning")
        if returning is not None:
            wait = returning["wait_minutes"]
            rows += [
                (
                    f"{inbox['inbox']}: sticky window",
                    _window(inbox.get("sticky_window_minutes")),
                ),
                (f"{inbox['inbox']}: returning to previous agent", _kept(returning)),
                (
                    f"{inbox['inbox']}: returning wait p50/p90/p99/max",
                    _wait_cell(wait),
                ),
            ]
        skills = inbox.get("skills")
        if skills is not None and skills["conversations"]:
            rows += [
                (
                    f"{inbox['inbox']}: needing skills: assigned",
                    f"{skills['assigned']} of {skills['conversations']}",
                ),
                (
                    f"{inbox['inbox']}: needing skills: to an agent without them",
                    str(skills["to_agent_without_skills"]),
                ),
                (
                    f"{inbox['inbox']}: needing skills: wait p50/p90/p99/max",
                    _wait_cell(skills["wait_minutes"]),
                ),
            ]
        rows.append((f"{inbox['inbox']}: peak backlog", str(inbox["peak_backlog"])))
    fairness = report["fairness"]
    rows.append(("Jain's index", _num(fairness["jain_index"], 3)))
    rows.append(("max-min spread", str(fairness["max_min_spread"])))
    rows.append(
        (
            "peak open (max agent)",
            str(max((a["peak_open"] for a in report["agents"]), default=0)),
        )
    )
    if _loads(report):
        rows.append(
            (
                "peak load (max agent)",
                _num(max((a["peak_load"] for a in report["agents"]), default=0)),
            )
        )
    rows.append(
        (
            "held back: rate limit / capacity",
            f"{sum(a['held_back_rate_limit'] for a in report['agents'])} / "
            f"{sum(a['held_back_capacity'] for a in report['agents'])}",
        )
    )
    rows.append(("invariant violations", str(report["invariants"]["total"])))
    return rows


def _agent_cell(row: dict[str, Any]) -> str:
    """``assigned / peak open``, with the share of assignments (rotation weights) and
    the peak load (weights) when the report has them."""
    share = f" ({_percent(row['share'])})" if "share" in row else ""
    load = f" / {_num(row['peak_load'])}" if "peak_load" in row else ""
    return f"{row['assignments']}{share} / {row['peak_open']}{load}"


def _agent_header(name: str, report: dict[str, Any]) -> str:
    """The run's column of the per-agent table: ``NAME: assigned / peak open``, on
    two lines when the cells say more (shares, loads)."""
    if not (_shares(report) or _loads(report)):
        return f"{name}: assigned / peak open"
    share = " (share)" if _shares(report) else ""
    load = " / peak load" if _loads(report) else ""
    return f"{name}:\nassigned{share} / peak open{load}"


def render_compare(console: Console, result: dict[str, Any]) -> None:
    names = result["compare"]
    runs = result["runs"]
    first = runs[names[0]]["scenario"]
    console.print(
        Text(
            f"Scenario {first['name']!r} (seed {first['seed']}): the same workload under "
            + " and ".join(repr(n) for n in names),
            style="bold",
        )
    )
    table = Table(box=box.SIMPLE_HEAVY)
    table.add_column("metric")
    for name in names:
        table.add_column(name, justify="right")
    columns = [_metrics(runs[name]) for name in names]
    for index, (label, _value) in enumerate(columns[0]):
        table.add_row(label, *(column[index][1] for column in columns))
    console.print(table)
    agents = Table(title="Assignments per agent", box=box.SIMPLE, title_justify="left")
    agents.add_column("agent")
    shares = _shares(runs[names[0]])
    if shares:
        agents.add_column("rotation\nweight", justify="right")
    for name in names:
        agents.add_column(_agent_header(name, runs[name]), justify="right")
    for index, row in enumerate(runs[names[0]]["agents"]):
        agents.add_row(
            str(row["agent"]),
            *((str(row["rotation_weight"]),) if shares else ()),
            *(_agent_cell(runs[n]["agents"][index]) for n in names),
        )
    console.print(agents)
    for name in names:
        console.print(f"{name}: ", _invariant_text(runs[name]))


_STATUS_STYLE = {"pass": "green", "FAIL": "bold red", "n/a": "yellow"}


def render_inbox(console: Console, explanation: InboxExplanation) -> None:
    verdict = (
        "a pass now would assign conversations"
        if explanation.would_assign
        else "a pass now would assign nothing (blocked at: "
        f"{explanation.blocking or 'nothing to assign'})"
    )
    console.print(
        Text(
            f"Inbox {explanation.inbox!r} at {explanation.at.isoformat()}: {verdict}",
            style="bold",
        )
    )
    table = Table(box=box.SIMPLE_HEAVY)
    table.add_column("#", justify="right")
    table.add_column("gate")
    table.add_column("status")
    table.add_column("detail")
    for index, gate in enumerate(explanation.gates, start=1):
        table.add_row(
            str(index),
            gate.name,
            Text(gate.status, style=_STATUS_STYLE[gate.status]),
            gate.detail,
        )
    console.print(table)


def render_conversation(console: Console, explanation: ConversationExplanation) -> None:
    head = f"Conversation {explanation.conversation!r}"
    if not explanation.found:
        console.print(Text(f"{head}: not found", style="bold"))
        return
    console.print(
        Text(
            f"{head} in inbox {explanation.inbox!r} at {explanation.at.isoformat()}: "
            f"status {explanation.status}, assignee {explanation.assignee or '-'}, "
            f"team {explanation.team or '-'}",
            style="bold",
        )
    )
    console.print(
        f"assignable (open, no assignee): {'yes' if explanation.assignable else 'no'}"
    )
    if explanation.urgency is not None or explanation.due_at is not None:
        console.print(
            f"urgency {'-' if explanation.urgency is None else explanation.urgency}, "
            "due "
            + ("-" if explanation.due_at is None else explanation.due_at.isoformat())
        )
    if explanation.sticky_agent is not None:
        console.print(
            f"sticky agent (the contact's previous): {explanation.sticky_agent!r}"
        )
    if explanation.weight != 1:
        console.print(
            f"weight {_load(explanation.weight)} (capacity: it must fit beside each "
            "agent's open weights)"
        )
    if explanation.gate:
        console.print(f"inbox gate failing: {explanation.gate}")
    console.print(
        "excluded: "
        + (
            "yes (" + "; ".join(explanation.exclusion_reasons) + ")"
            if explanation.excluded
            else "no"
        )
    )
    if explanation.required_skills is not None:
        required = ", ".join(
            name if level == 1 else f"{name} >= {level}"
            for name, level in sorted(explanation.required_skills.items())
        )
        console.print(
            "required skills: "
            + (
                "relaxed (waited past relax_after)"
                if explanation.skills_relaxed
                else ""
            )
            + (required or ("" if explanation.skills_relaxed else "none"))
        )
    if explanation.agents:
        table = Table(
            title=f"Member agents (selector: {explanation.selector})",
            box=box.SIMPLE_HEAVY,
            title_justify="left",
        )
        totals = any(a.total_limit is not None for a in explanation.agents)
        turns = any(a.rotation_weight is not None for a in explanation.agents)
        for column in (
            "agent",
            "status",
            "removed by",
            "recent / limit",
            "open / limit",
            *(["total / limit"] if totals else []),
            *(["turn weight / place"] if turns else []),
        ):
            table.add_column(column)
        for agent in explanation.agents:
            extra = []
            if totals:
                extra.append(
                    f"{_load(agent.total_open_conversations)} / {_num(agent.total_limit)}"
                )
            if turns:
                extra.append(
                    f"{_num(agent.rotation_weight)} / {_num(agent.rotation_place)}"
                )
            table.add_row(
                str(agent.agent),
                agent.status,
                Text(
                    (agent.removed_by or "eligible")
                    + (
                        f" ({', '.join(agent.missing_skills)})"
                        if agent.missing_skills
                        else ""
                    ),
                    style="green" if agent.eligible else "",
                ),
                f"{_num(agent.recent_assignments)} / {_num(agent.rate_limit)}",
                f"{_load(agent.open_conversations)} / {_num(agent.capacity_limit)}",
                *extra,
            )
        console.print(table)
    if explanation.chosen is not None:
        console.print(
            Text(f"would be assigned now to: {explanation.chosen}", style="bold green")
        )
    else:
        reason = explanation.skip_reason or explanation.outcome
        console.print(Text(f"would not be assigned now: {reason}", style="bold yellow"))
