"""Workloads: the conversations and presence changes a simulation feeds the engine.

A workload is generated from a scenario (seeded, independent of any policy, so two
policies can be compared on exactly the same one) or read from a recorded JSONL event log
(:func:`read_event_log`) for ``replay``.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import attrs

from autoassign.errors import ConfigurationError
from autoassign.model import Load, check_weight, stored_urgency
from autoassign.simulate.scenario import Scenario, ScenarioError

__all__ = [
    "Arrival",
    "PresenceChange",
    "StatusChange",
    "Workload",
    "generate_workload",
    "read_event_log",
    "write_event_log",
]

EVENT_TYPES = ("conversation_created", "status_changed", "agent_status_changed")
STATUSES = ("open", "resolved", "pending", "snoozed")


@attrs.frozen(kw_only=True)
class Arrival:
    """A conversation created (open, unassigned) at ``minute``."""

    minute: float
    conversation: int
    inbox: str
    labels: tuple[str, ...] = ()
    team: str | None = None
    resolve_after: float | None = None
    """Minutes from assignment to resolution (``None``: the log says when)."""
    urgency: int | None = None
    contact: int | str | None = None
    """Whose conversation it is (``None``: unknown). A generated contact is the
    number of its first conversation."""
    weight: Load = 1
    """What it counts for against capacity (weighted capacity)."""


@attrs.frozen(kw_only=True)
class StatusChange:
    """A conversation's status changed (from a log)."""

    minute: float
    conversation: int
    status: str


@attrs.frozen(kw_only=True)
class PresenceChange:
    minute: float
    agent: str
    status: str


@attrs.frozen(kw_only=True)
class Workload:
    arrivals: tuple[Arrival, ...]
    presence: tuple[PresenceChange, ...]
    status_changes: tuple[StatusChange, ...] = ()
    source: str = "generated"


def _rng(scenario: Scenario, *parts: str) -> random.Random:
    # One seeded stream per part, so adding an inbox does not change the agents' flaps.
    return random.Random("/".join((str(scenario.seed), *parts)))


_Draw = tuple[
    float, int, tuple[str, ...], str | None, float | None, int | None, int | None, Load
]
"""An arrival as drawn, before it is numbered: minute, inbox index, labels, team,
resolve time, urgency, contact (the inbox's own index of the contact's first
conversation; ``None``: the inbox draws no contacts) and weight."""


_T = TypeVar("_T")


def _share_of(pick: float, shares: Iterable[tuple[_T, float]]) -> _T | None:
    """The value whose share ``pick`` (uniform in [0, 1)) falls in, the shares taken in
    order; ``None`` past their sum (the rest)."""
    total = 0.0
    for value, share in shares:
        total += share
        if pick < total:
            return value
    return None


def _arrivals(scenario: Scenario, index: int) -> list[_Draw]:
    inbox = scenario.inboxes[index]
    rng = _rng(scenario, "arrivals", inbox.id)
    # Contacts come from a stream of their own, drawn only when the inbox has
    # returning contacts: its arrivals, labels and resolve times stay as they were.
    contacts = _rng(scenario, "contacts", inbox.id) if inbox.returning_share else None
    # So do weights, drawn only when the inbox has a mix of them.
    weights = _rng(scenario, "weights", inbox.id) if inbox.weight_mix else None
    firsts: list[int] = []  # each arrival's contact: its first conversation's index
    day_start = scenario.start.hour * 60 + scenario.start.minute
    out: list[_Draw] = []
    segment = 0.0
    while segment < scenario.duration_minutes:
        hour = int((day_start + segment) // 60) % 24
        end = min(
            segment + 60 - (day_start + segment) % 60, float(scenario.duration_minutes)
        )
        rate = inbox.arrivals_per_hour[hour] / 60.0
        now = segment
        while rate > 0:
            now += rng.expovariate(rate)
            if now >= end:
                break
            labels = tuple(label for label, p in inbox.labels if rng.random() < p)
            team = _share_of(rng.random(), inbox.teams)
            resolve_after = inbox.resolve.sample(rng)
            urgency: int | None = None
            if inbox.urgency:  # drawn only when configured: other runs are unchanged
                urgency = _share_of(rng.random(), inbox.urgency)
            contact: int | None = None
            if contacts is not None:
                contact = len(out)  # a new contact, unless this one returns
                if out and contacts.random() < inbox.returning_share:
                    pool = inbox.contact_pool or len(out)
                    contact = firsts[
                        contacts.randrange(max(0, len(out) - pool), len(out))
                    ]
                firsts.append(contact)
            weight = inbox.weight
            if weights is not None:
                drawn = _share_of(weights.random(), inbox.weight_mix)
                weight = weight if drawn is None else drawn
            out.append(
                (now, index, labels, team, resolve_after, urgency, contact, weight)
            )
        segment = end
    return out


def _presence(scenario: Scenario) -> list[PresenceChange]:
    changes: list[tuple[float, int, PresenceChange]] = []
    day_start = scenario.start.hour * 60 + scenario.start.minute
    duration = float(scenario.duration_minutes)
    spec = scenario.presence
    for order, agent in enumerate(scenario.agents):
        rng = _rng(scenario, "presence", agent.id)
        if agent.shift is None:
            intervals = [(0.0, duration)]
        else:
            intervals = scenario.shift(agent.shift).intervals(day_start, duration)

        def add(
            minute: float, status: str, order: int = order, agent_id: str = agent.id
        ) -> None:
            changes.append(
                (
                    minute,
                    order,
                    PresenceChange(minute=minute, agent=agent_id, status=status),
                )
            )

        if not intervals or intervals[0][0] > 0:
            add(0.0, spec.off_shift_status)
        for begin, end in intervals:
            add(begin, "online")
            now = begin
            while spec.flaps_per_hour > 0:
                now += rng.expovariate(spec.flaps_per_hour / 60.0)
                if now >= end:
                    break
                status = rng.choice(spec.flap_statuses)
                back = now + spec.flap_minutes.sample(rng)
                add(now, status)
                if back >= end:
                    break
                add(back, "online")
                now = back
            if end < duration:
                add(end, spec.off_shift_status)
    changes.sort(key=lambda item: (item[0], item[1]))
    return [change for _minute, _order, change in changes]


def generate_workload(scenario: Scenario) -> Workload:
    """The scenario's seeded workload: Poisson arrivals by hour of day, labels, teams,
    resolve times, contacts and weights drawn per conversation, shifts and random
    presence flaps."""
    drawn: list[tuple[_Draw, int]] = []  # with the inbox's own index of each
    for index in range(len(scenario.inboxes)):
        drawn.extend((draw, at) for at, draw in enumerate(_arrivals(scenario, index)))
    drawn.sort(key=lambda item: (item[0][0], item[0][1]))
    numbers: dict[tuple[int, int], int] = {}  # (inbox index, its own index) -> number
    arrivals: list[Arrival] = []
    for number, (draw, at) in enumerate(drawn, start=1):
        minute, index, labels, team, resolve_after, urgency, first, weight = draw
        contact: int | None = None
        if first is not None:
            numbers[(index, at)] = number
            contact = numbers[(index, first)]  # an earlier one, or this one
        arrivals.append(
            Arrival(
                minute=minute,
                conversation=number,
                inbox=scenario.inboxes[index].id,
                labels=labels,
                team=team,
                resolve_after=resolve_after,
                urgency=urgency,
                contact=contact,
                weight=weight,
            )
        )
    return Workload(arrivals=tuple(arrivals), presence=tuple(_presence(scenario)))


# -- event logs ------------------------------------------------------------------------------


def _minute(where: str, entry: dict[str, object], start: datetime) -> float:
    if "minute" in entry:
        value = entry["minute"]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError(where, f"minute must be a number, got {value!r}")
        minute = float(value)
    elif "at" in entry:
        value = entry["at"]
        try:
            at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ScenarioError(
                where, f"at must be an ISO date-time, got {value!r}"
            ) from None
        if at.tzinfo is None:
            at = at.replace(tzinfo=start.tzinfo)
        minute = (at - start).total_seconds() / 60.0
    else:
        raise ScenarioError(where, "needs 'minute' (since the scenario start) or 'at'")
    if not math.isfinite(minute) or minute < 0:
        raise ScenarioError(
            where, f"time must be at or after the scenario start, got {minute}"
        )
    return minute


def _text(where: str, entry: dict[str, object], key: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise ScenarioError(where, f"{key} must be a non-empty string, got {value!r}")
    return value


def _conversation_id(where: str, entry: dict[str, object]) -> int:
    value = entry.get("conversation")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(where, f"conversation must be an integer id, got {value!r}")
    return value


def read_event_log(path: str | Path, scenario: Scenario) -> Workload:
    """Read a JSONL event log (one JSON object a line; blank lines and ``#`` comments
    are skipped): ``conversation_created`` (conversation, inbox, labels?, team?,
    urgency?, contact?, weight?),
    ``status_changed`` (conversation, status) and ``agent_status_changed`` (agent,
    status), each with ``minute`` since the scenario start or an ISO ``at``."""
    file = Path(path)
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ScenarioError(
            "", f"cannot read event log {str(file)!r}: {exc.strerror}"
        ) from None
    inboxes = {inbox.id for inbox in scenario.inboxes}
    agents = {agent.id for agent in scenario.agents}
    teams = {team.id for team in scenario.teams}
    arrivals: list[tuple[float, int, Arrival]] = []
    statuses: list[tuple[float, int, StatusChange]] = []
    presence: list[tuple[float, int, PresenceChange]] = []
    created: set[int] = set()
    for number, line in enumerate(lines, start=1):
        where = f"{file}:{number}"
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ScenarioError(where, f"not valid JSON: {exc.msg}") from None
        if not isinstance(entry, dict):
            raise ScenarioError(where, "each line must be a JSON object")
        kind = entry.get("event", entry.get("type"))
        if kind not in EVENT_TYPES:
            raise ScenarioError(
                where, f"event must be one of {', '.join(EVENT_TYPES)}, got {kind!r}"
            )
        minute = _minute(where, entry, scenario.start)
        if kind == "conversation_created":
            conversation = _conversation_id(where, entry)
            if conversation in created:
                raise ScenarioError(where, f"conversation {conversation} created twice")
            created.add(conversation)
            inbox = _text(where, entry, "inbox")
            if inbox not in inboxes:
                raise ScenarioError(where, f"unknown inbox {inbox!r}")
            labels = entry.get("labels", [])
            if not isinstance(labels, list) or not all(
                isinstance(x, str) for x in labels
            ):
                raise ScenarioError(where, "labels must be a list of strings")
            team = entry.get("team")
            if team is not None and team not in teams:
                raise ScenarioError(where, f"unknown team {team!r}")
            urgency = entry.get("urgency")
            if urgency is not None and stored_urgency(urgency) is None:
                raise ScenarioError(
                    where, f"urgency must be an integer 0..1000000, got {urgency!r}"
                )
            contact = entry.get("contact")
            if contact is not None and (
                isinstance(contact, bool)
                or not isinstance(contact, int | str)
                or contact == ""
            ):
                raise ScenarioError(
                    where,
                    f"contact must be an integer or a non-empty string, got {contact!r}",
                )
            weight = entry.get("weight", 1)
            try:
                weight = check_weight(weight)
            except ConfigurationError as exc:
                raise ScenarioError(where, str(exc)) from None
            arrivals.append(
                (
                    minute,
                    number,
                    Arrival(
                        minute=minute,
                        conversation=conversation,
                        inbox=inbox,
                        labels=tuple(labels),
                        team=None if team is None else str(team),
                        urgency=stored_urgency(urgency),
                        contact=contact,
                        weight=weight,
                    ),
                )
            )
        elif kind == "status_changed":
            status = _text(where, entry, "status")
            if status not in STATUSES:
                raise ScenarioError(
                    where,
                    f"status must be one of {', '.join(STATUSES)}, got {status!r}",
                )
            statuses.append(
                (
                    minute,
                    number,
                    StatusChange(
                        minute=minute,
                        conversation=_conversation_id(where, entry),
                        status=status,
                    ),
                )
            )
        else:
            agent = _text(where, entry, "agent")
            if agent not in agents:
                raise ScenarioError(where, f"unknown agent {agent!r}")
            presence.append(
                (
                    minute,
                    number,
                    PresenceChange(
                        minute=minute, agent=agent, status=_text(where, entry, "status")
                    ),
                )
            )
    return Workload(
        arrivals=tuple(a for _m, _n, a in sorted(arrivals, key=lambda x: (x[0], x[1]))),
        presence=tuple(p for _m, _n, p in sorted(presence, key=lambda x: (x[0], x[1]))),
        status_changes=tuple(
            s for _m, _n, s in sorted(statuses, key=lambda x: (x[0], x[1]))
        ),
        source=str(file),
    )


def write_event_log(path: str | Path, events: Iterable[dict[str, object]]) -> None:
    """Write recorded events as JSONL (what :func:`read_event_log` reads)."""
    with Path(path).open("w", encoding="utf-8") as out:
        for event in events:
            out.write(json.dumps(event, sort_keys=True) + "\n")
