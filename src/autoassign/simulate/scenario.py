"""Scenario files: what a simulation runs (TOML, see ``docs/simulate.md``).

:func:`load_scenario` reads a file, :func:`parse_scenario` a mapping (what ``tomllib``
returns) and :func:`default_scenario` the built-in one. Every problem raises
:class:`ScenarioError` naming the field path (``inboxes[2].arrivals_per_hour``) and the
problem; nothing is half-loaded.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from autoassign.errors import ConfigurationError
from autoassign.model import (
    ASSIGNMENT_V2_FEATURE,
    MAX_TOTAL_LIMIT,
    MAX_URGENCY,
    AssignmentOrder,
    AssignmentPolicy,
    ConversationPriority,
    ExclusionRules,
    Load,
    check_weight,
)
from autoassign.sticky import MAX_STICKY_WINDOW
from autoassign.weights import MAX_AGENT_WEIGHT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - python 3.10
    import tomli as tomllib

__all__ = [
    "UNLIMITED",
    "AgentSpec",
    "CapacitySpec",
    "Distribution",
    "InboxSpec",
    "PolicySpec",
    "PresenceSpec",
    "Scenario",
    "ScenarioError",
    "ShiftSpec",
    "TeamSpec",
    "default_scenario",
    "default_scenario_text",
    "load_scenario",
    "parse_scenario",
    "parse_scenario_text",
]

DISTRIBUTIONS = ("exponential", "lognormal", "fixed", "uniform")

MAX_DURATION_MINUTES = 60 * 24 * 60
"""The longest simulation: 60 days (``duration_minutes`` and ``--duration``)."""

MAX_STICKY_WINDOW_MINUTES = int(MAX_STICKY_WINDOW.total_seconds()) // 60
"""The longest ``sticky_window_minutes`` (365 days: ``StickyRouting``'s longest window)."""

UNLIMITED = "unlimited"
"""An ``inbox_limits`` value (TOML has no null): the capacity policy links the inbox
without a limit, so its exclusion rules apply there and capacity caps nobody."""


class ScenarioError(ValueError):
    """A scenario is invalid. ``path`` is the field (``inboxes[0].resolve.sigma``)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


_MISSING: Any = object()


class _Table:
    """A TOML table being read: typed ``take``s with the field path, and a check that
    no unknown key is left."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, Mapping):
            raise ScenarioError(path, f"must be a table, got {_kind(data)}")
        self.data: Mapping[str, object] = data
        self.path = path
        self.seen: set[str] = set()

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def raw(self, key: str, default: object = _MISSING) -> object:
        self.seen.add(key)
        if key not in self.data:
            if default is _MISSING:
                raise ScenarioError(self.at(key), "is required")
            return default
        return self.data[key]

    def string(self, key: str, default: object = _MISSING) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str) or not value.strip():
            raise ScenarioError(
                self.at(key), f"must be a non-empty string, got {_show(value)}"
            )
        return value

    def opt_string(self, key: str) -> str | None:
        value = self.raw(key, None)
        if value is None:
            return None
        return self.string(key)

    def boolean(self, key: str, default: object = _MISSING) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise ScenarioError(
                self.at(key), f"must be true or false, got {_show(value)}"
            )
        return value

    def opt_boolean(self, key: str) -> bool | None:
        if self.raw(key, None) is None:
            return None
        return self.boolean(key)

    def integer(
        self,
        key: str,
        default: object = _MISSING,
        *,
        low: int | None = None,
        high: int | None = None,
    ) -> int:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(self.at(key), f"must be an integer, got {_show(value)}")
        _bounds(self.at(key), value, low, high)
        return value

    def opt_integer(
        self, key: str, *, low: int | None = None, high: int | None = None
    ) -> int | None:
        if self.raw(key, None) is None:
            return None
        return self.integer(key, low=low, high=high)

    def number(
        self,
        key: str,
        default: object = _MISSING,
        *,
        low: float | None = None,
        high: float | None = None,
        positive: bool = False,
    ) -> float:
        return _number(
            self.at(key), self.raw(key, default), low=low, high=high, positive=positive
        )

    def strings(self, key: str, default: object = _MISSING) -> tuple[str, ...]:
        value = self.raw(key, default)
        path = self.at(key)
        if not isinstance(value, list | tuple):
            raise ScenarioError(path, f"must be a list of strings, got {_show(value)}")
        out: list[str] = []
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item:
                raise ScenarioError(
                    f"{path}[{index}]", f"must be a non-empty string, got {_show(item)}"
                )
            if item in out:
                raise ScenarioError(f"{path}[{index}]", f"duplicate {item!r}")
            out.append(item)
        return tuple(out)

    def table(self, key: str, default: object = _MISSING) -> _Table:
        return _Table(self.raw(key, default), self.at(key))

    def tables(self, key: str, default: object = _MISSING) -> list[_Table]:
        value = self.raw(key, default)
        path = self.at(key)
        if not isinstance(value, list):
            raise ScenarioError(
                path, f"must be an array of tables ([[{key}]]), got {_show(value)}"
            )
        return [_Table(item, f"{path}[{index}]") for index, item in enumerate(value)]

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise ScenarioError(
                self.at(unknown[0]),
                "unknown field"
                + (f" (also: {', '.join(unknown[1:])})" if unknown[1:] else ""),
            )


def _kind(value: object) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _show(value: object) -> str:
    if value is _MISSING:
        return "nothing"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _bounds(path: str, value: float, low: float | None, high: float | None) -> None:
    if low is not None and value < low:
        raise ScenarioError(path, f"must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ScenarioError(path, f"must be <= {high}, got {value}")


def _number(
    path: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    positive: bool = False,
) -> float:
    if value is _MISSING:
        raise ScenarioError(path, "is required")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(path, f"must be a number, got {_show(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise ScenarioError(path, f"must be finite, got {value}")
    if positive and number <= 0:
        raise ScenarioError(path, f"must be > 0, got {value}")
    _bounds(path, number, low, high)
    return number


# -- the scenario ------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Distribution:
    """A duration in minutes: ``exponential`` (``mean``), ``lognormal`` (``median``,
    ``sigma``), ``fixed`` (``minutes``) or ``uniform`` (``low``, ``high``)."""

    kind: str
    mean: float = 0.0
    median: float = 0.0
    sigma: float = 0.0
    minutes: float = 0.0
    low: float = 0.0
    high: float = 0.0

    def sample(self, rng: random.Random) -> float:
        if self.kind == "exponential":
            return rng.expovariate(1.0 / self.mean)
        if self.kind == "lognormal":
            return rng.lognormvariate(math.log(self.median), self.sigma)
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high)
        return self.minutes

    def to_dict(self) -> dict[str, object]:
        fields = {
            "exponential": ("mean",),
            "lognormal": ("median", "sigma"),
            "fixed": ("minutes",),
            "uniform": ("low", "high"),
        }[self.kind]
        out: dict[str, object] = {"distribution": self.kind}
        out.update({name: getattr(self, name) for name in fields})
        return out


def _distribution(table: _Table) -> Distribution:
    kind = table.string("distribution")
    if kind not in DISTRIBUTIONS:
        raise ScenarioError(
            table.at("distribution"),
            f"must be one of {', '.join(DISTRIBUTIONS)}, got {kind!r}",
        )
    if kind == "exponential":
        result = Distribution(kind=kind, mean=table.number("mean", positive=True))
    elif kind == "lognormal":
        result = Distribution(
            kind=kind,
            median=table.number("median", positive=True),
            sigma=table.number("sigma", low=0.0, high=5.0),
        )
    elif kind == "fixed":
        result = Distribution(kind=kind, minutes=table.number("minutes", low=0.0))
    else:
        low = table.number("low", low=0.0)
        high = table.number("high", low=0.0)
        if high < low:
            raise ScenarioError(table.at("high"), f"must be >= low ({low}), got {high}")
        result = Distribution(kind=kind, low=low, high=high)
    table.finish()
    return result


@attrs.frozen(kw_only=True)
class ShiftSpec:
    """A daily shift, in minutes of the day (``end`` before ``start``: overnight)."""

    name: str
    start: int
    end: int

    def intervals(self, day_start: float, duration: float) -> list[tuple[float, float]]:
        """The shift's on-duty intervals within ``[0, duration)`` minutes of a
        simulation whose minute 0 is ``day_start`` minutes after midnight."""
        out: list[tuple[float, float]] = []
        length = (self.end - self.start) % 1440 or 1440
        day = -1  # a shift that began the day before may still be running
        while True:
            begin = day * 1440 + self.start - day_start
            if begin >= duration:
                break
            end = begin + length
            if end > 0:
                out.append((max(begin, 0.0), min(end, duration)))
            day += 1
        return out


def _clock_time(path: str, value: object) -> int:
    if not isinstance(value, str):
        raise ScenarioError(path, f'must be a time "HH:MM", got {_show(value)}')
    parts = value.split(":")
    if len(parts) != 2 or not all(p.isdigit() and len(p) == 2 for p in parts):
        raise ScenarioError(path, f'must be a time "HH:MM", got {value!r}')
    hours, minutes = int(parts[0]), int(parts[1])
    if hours > 24 or minutes > 59 or (hours == 24 and minutes):
        raise ScenarioError(path, f"is not a valid time of day: {value!r}")
    return hours * 60 + minutes


@attrs.frozen(kw_only=True)
class PresenceSpec:
    """Random presence flaps while on shift: on average ``flaps_per_hour`` times an
    hour an agent goes to one of ``flap_statuses`` for ``flap_minutes``."""

    flaps_per_hour: float = 0.0
    flap_minutes: Distribution = Distribution(kind="fixed", minutes=10.0)
    flap_statuses: tuple[str, ...] = ("busy",)
    off_shift_status: str = "offline"


@attrs.frozen(kw_only=True)
class AgentSpec:
    id: str
    shift: str | None
    """``None``: on duty the whole simulation."""
    skills: tuple[tuple[str, int], ...] = ()
    """Skill names and levels (skills routing, ``[skills]``)."""
    rotation_weight: int | None = None
    """Its weight under weighted round robin (``None``: not set, weight 1)."""


@attrs.frozen(kw_only=True)
class SkillsSpec:
    """``[skills]``: skills-based routing (:mod:`autoassign.skills`) for every inbox."""

    label_prefix: str = "skill:"
    relax_after_minutes: int | None = None


@attrs.frozen(kw_only=True)
class TeamSpec:
    id: str
    members: tuple[str, ...]
    allow_auto_assign: bool = True


@attrs.frozen(kw_only=True)
class PolicySpec:
    """An assignment policy, built with :class:`autoassign.AssignmentPolicy`."""

    name: str
    assignment_order: str = "round_robin"
    conversation_priority: str = "earliest_created"
    fair_distribution_limit: int | None = None
    fair_distribution_window: int = 3600
    enabled: bool = True
    sticky_window_minutes: int | None = None
    """Sticky agents for the inboxes on this policy (``None``: off): a returning
    contact's conversation goes first to the agent of their previous one created
    within this many minutes (the simulator wires :class:`~autoassign.sticky.StickyRouting`;
    not a field of :class:`~autoassign.AssignmentPolicy`)."""
    skill_routing: bool | None = None
    """``False``: the inboxes on this policy ignore skill requirements (``None``: not
    set, skills routing as ``[skills]`` says)."""
    skill_relax_after_minutes: int | None = None
    """The inboxes on this policy relax skill requirements after this wait (``0``:
    never; ``None``: not set, ``[skills].relax_after_minutes``)."""
    weighted_capacity: bool | None = None
    """``False``: the conversations of the inboxes on this policy count 1 against
    capacity, whatever their inbox's ``weight`` (``None``: not set, weighted)."""
    global_capacity: bool | None = None
    """``False``: capacity policies' ``total_limit`` is not checked in the inboxes on
    this policy (``None``: not set, checked)."""

    @property
    def sets_skills(self) -> bool:
        """Whether it sets ``skill_routing`` or ``skill_relax_after_minutes``."""
        return (
            self.skill_routing is not None or self.skill_relax_after_minutes is not None
        )

    def build(self, account: str) -> AssignmentPolicy:
        return AssignmentPolicy(
            id=self.name,
            account=account,
            name=self.name,
            assignment_order=self.assignment_order,
            conversation_priority=self.conversation_priority,
            fair_distribution_limit=self.fair_distribution_limit,
            fair_distribution_window=self.fair_distribution_window,
            enabled=self.enabled,
        )


@attrs.frozen(kw_only=True)
class CapacitySpec:
    id: str
    agents: tuple[str, ...]
    inbox_limits: tuple[tuple[str, int | None], ...]
    """``(inbox, limit)``; ``None``: an unlimited link (``"unlimited"`` in TOML)."""
    excluded_labels: tuple[str, ...] = ()
    exclude_older_than_hours: int | None = None
    total_limit: int | None = None
    """The most open conversations each agent holds across every inbox (global
    capacity); ``None``: no such limit."""

    @property
    def exclusion_rules(self) -> ExclusionRules:
        return ExclusionRules(
            excluded_labels=frozenset(self.excluded_labels),
            exclude_older_than_hours=self.exclude_older_than_hours,
        )


@attrs.frozen(kw_only=True)
class InboxSpec:
    id: str
    policy: str | None
    members: tuple[str, ...]
    enable_auto_assignment: bool
    arrivals_per_hour: tuple[float, ...]
    """24 rates, one per hour of the day (conversations per hour, Poisson)."""
    resolve: Distribution
    """Minutes from assignment to resolution."""
    labels: tuple[tuple[str, float], ...] = ()
    """Each label with the probability that a conversation carries it."""
    teams: tuple[tuple[str, float], ...] = ()
    """Each team with the share of conversations routed to it (at most one team)."""
    urgency: tuple[tuple[int, float], ...] = ()
    """Each urgency level with the share of conversations that have it (the rest have
    none); for the ``highest_urgency`` and ``earliest_due`` priorities."""
    due_after_minutes: float | None = None
    """Each conversation is due this many minutes after it arrives (``None``: no due
    time)."""
    returning_share: float = 0.0
    """The share of arrivals from a returning contact (0: every arrival is a new
    contact's, and no contact is drawn)."""
    contact_pool: int | None = None
    """A returning contact is the contact of one of the inbox's ``contact_pool`` most
    recent conversations, drawn uniformly (``None``: of any earlier one)."""
    weight: Load = 1
    """The weight of its conversations (weighted capacity), those not drawn from
    :attr:`weight_mix`."""
    weight_mix: tuple[tuple[Load, float], ...] = ()
    """Each weight with the share of conversations that have it, lightest first (the
    rest weigh :attr:`weight`, 1); drawn from a stream of its own, only when set."""


@attrs.frozen(kw_only=True)
class Scenario:
    name: str
    seed: int
    start: datetime
    duration_minutes: int
    periodic_interval_minutes: int
    sample_interval_minutes: int
    bulk_limit: int
    account: str
    features: tuple[str, ...]
    shifts: tuple[ShiftSpec, ...]
    presence: PresenceSpec
    agents: tuple[AgentSpec, ...]
    teams: tuple[TeamSpec, ...]
    policies: tuple[PolicySpec, ...]
    capacity_policies: tuple[CapacitySpec, ...]
    inboxes: tuple[InboxSpec, ...]
    skills: SkillsSpec | None = None
    """``None``: no ``[skills]`` table, skills routing off."""

    def shift(self, name: str) -> ShiftSpec:
        return next(shift for shift in self.shifts if shift.name == name)

    def policy(self, name: str) -> PolicySpec:
        for policy in self.policies:
            if policy.name == name:
                return policy
        known = ", ".join(p.name for p in self.policies) or "none"
        raise ScenarioError("policies", f"no policy named {name!r} (defined: {known})")

    def with_changes(self, **changes: Any) -> Scenario:
        return attrs.evolve(self, **changes)


def _policy(name: str, table: _Table, *, skills: bool) -> PolicySpec:
    order = table.string("assignment_order", "round_robin")
    orders = [o.value for o in AssignmentOrder]
    if order not in orders:
        raise ScenarioError(
            table.at("assignment_order"),
            f"must be one of {', '.join(orders)}, got {order!r}",
        )
    priority = table.string("conversation_priority", "earliest_created")
    priorities = [p.value for p in ConversationPriority]
    if priority not in priorities:
        raise ScenarioError(
            table.at("conversation_priority"),
            f"must be one of {', '.join(priorities)}, got {priority!r}",
        )
    spec = PolicySpec(
        name=name,
        assignment_order=order,
        conversation_priority=priority,
        fair_distribution_limit=table.opt_integer(
            "fair_distribution_limit", low=0, high=100_000
        ),
        fair_distribution_window=table.integer(
            "fair_distribution_window", 3600, low=1, high=30 * 24 * 3600
        ),
        enabled=table.boolean("enabled", True),
        sticky_window_minutes=table.opt_integer(
            "sticky_window_minutes", low=1, high=MAX_STICKY_WINDOW_MINUTES
        ),
        skill_routing=table.opt_boolean("skill_routing"),
        skill_relax_after_minutes=table.opt_integer(
            "skill_relax_after_minutes", low=0, high=86400
        ),
        weighted_capacity=table.opt_boolean("weighted_capacity"),
        global_capacity=table.opt_boolean("global_capacity"),
    )
    table.finish()
    if spec.sets_skills and not skills:
        key = (
            "skill_routing"
            if spec.skill_routing is not None
            else "skill_relax_after_minutes"
        )
        raise ScenarioError(table.at(key), "needs a [skills] table (skills routing)")
    try:
        spec.build("check")
    except ConfigurationError as exc:  # pragma: no cover - the checks above cover it
        raise ScenarioError(table.at(exc.field or ""), str(exc)) from None
    return spec


def _probabilities(
    table: _Table, known: set[str] | None, what: str
) -> tuple[tuple[str, float], ...]:
    out: list[tuple[str, float]] = []
    for key in table.data:
        path = table.at(key)
        if known is not None and key not in known:
            raise ScenarioError(path, f"unknown {what} {key!r}")
        out.append((key, _number(path, table.raw(key), low=0.0, high=1.0)))
    table.finish()
    return tuple(out)


def _urgency_shares(table: _Table) -> tuple[tuple[int, float], ...]:
    """``{ "3" = 0.1, "0" = 0.5 }``: each level (an integer key from 0 to
    ``MAX_URGENCY``) with its share, highest level first."""
    out: list[tuple[int, float]] = []
    for key in table.data:
        path = table.at(key)
        try:
            level = int(key)
        except ValueError:
            level = -1
        if not 0 <= level <= MAX_URGENCY or str(level) != key:
            raise ScenarioError(
                path,
                f"an urgency level must be an integer 0..{MAX_URGENCY}, got {key!r}",
            )
        out.append((level, _number(path, table.raw(key), low=0.0, high=1.0)))
    table.finish()
    return tuple(sorted(out, reverse=True))


def _weight(path: str, value: object) -> Load:
    """A conversation weight (``Conversation.weight``: 0.001 .. 1000 in whole
    thousandths), or :class:`ScenarioError` at ``path``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(path, f"must be a number, got {_show(value)}")
    try:
        return check_weight(value)
    except ConfigurationError as exc:
        raise ScenarioError(path, str(exc).removeprefix("weight ")) from None


def _weights(table: _Table) -> dict[str, Any]:
    """An inbox's ``weight``: one weight for all its conversations (``weight = 0.5``),
    or a table ``"weight" = share`` (``{ "0.5" = 0.4 }``: that share weighs that, the
    rest 1), as :class:`InboxSpec` fields."""
    raw = table.raw("weight", 1)
    path = table.at("weight")
    if not isinstance(raw, Mapping):
        return {"weight": _weight(path, raw)}
    mix = _Table(raw, path)
    out: dict[Load, float] = {}
    for key in mix.data:
        where = mix.at(key)
        try:
            number = float(key)
        except ValueError:
            raise ScenarioError(
                where, f"a weight must be a number as a string key, got {key!r}"
            ) from None
        weight = _weight(where, number)
        if weight in out:
            raise ScenarioError(where, f"duplicate weight {key!r}")
        out[weight] = _number(where, mix.raw(key), low=0.0, high=1.0)
    mix.finish()
    if sum(out.values()) > 1.0 + 1e-9:
        raise ScenarioError(path, "weight shares must add up to at most 1")
    return {"weight_mix": tuple(sorted(out.items()))}


def parse_scenario(data: Mapping[str, object], *, name: str = "scenario") -> Scenario:
    """Validate a scenario mapping (as read from TOML) and build a :class:`Scenario`."""
    root = _Table(data, "")
    sim = root.table("simulation", {})
    seed = sim.integer("seed", 1, low=0)
    start_raw = sim.raw("start", "2026-01-05T00:00:00+00:00")
    if isinstance(start_raw, datetime):
        start = start_raw
    elif isinstance(start_raw, str):
        try:
            start = datetime.fromisoformat(start_raw.replace("Z", "+00:00"))
        except ValueError:
            raise ScenarioError(
                sim.at("start"), f"must be an ISO date-time, got {start_raw!r}"
            ) from None
    else:
        raise ScenarioError(
            sim.at("start"), f"must be a date-time, got {_show(start_raw)}"
        )
    if start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    duration = sim.integer("duration_minutes", 1440, low=1, high=MAX_DURATION_MINUTES)
    periodic = sim.integer("periodic_interval_minutes", 30, low=1)
    sample = sim.integer("sample_interval_minutes", 30, low=1)
    bulk = sim.integer("bulk_limit", 100, low=1, high=100_000)
    scenario_name = sim.string("name", name)
    sim.finish()

    account_table = root.table("account", {})
    account = account_table.string("id", "acme")
    features = account_table.strings("features", [ASSIGNMENT_V2_FEATURE])
    account_table.finish()

    shifts_table = root.table("shifts", {})
    shifts: list[ShiftSpec] = []
    for key in shifts_table.data:
        shift = shifts_table.table(key)
        spec = ShiftSpec(
            name=key,
            start=_clock_time(shift.at("start"), shift.raw("start")),
            end=_clock_time(shift.at("end"), shift.raw("end")),
        )
        shift.finish()
        shifts.append(spec)
    shifts_table.finish()
    shift_names = {s.name for s in shifts}

    presence_table = root.table("presence", {})
    presence = PresenceSpec(
        flaps_per_hour=presence_table.number("flaps_per_hour", 0.0, low=0.0, high=60.0),
        flap_minutes=_distribution(
            presence_table.table(
                "flap_minutes", {"distribution": "fixed", "minutes": 10}
            )
        ),
        flap_statuses=presence_table.strings("flap_statuses", ["busy"]),
        off_shift_status=presence_table.string("off_shift_status", "offline"),
    )
    presence_table.finish()
    if "online" in presence.flap_statuses or presence.off_shift_status == "online":
        raise ScenarioError(
            "presence", "flap and off-shift statuses must not be 'online'"
        )
    if not presence.flap_statuses:
        raise ScenarioError("presence.flap_statuses", "must not be empty")

    skills_spec: SkillsSpec | None = None
    if root.raw("skills", None) is not None:
        skills_table = root.table("skills")
        prefix = skills_table.string("label_prefix", "skill:")
        if not prefix:
            raise ScenarioError(skills_table.at("label_prefix"), "must not be empty")
        skills_spec = SkillsSpec(
            label_prefix=prefix,
            relax_after_minutes=skills_table.opt_integer(
                "relax_after_minutes", low=1, high=86400
            ),
        )
        skills_table.finish()

    agents: list[AgentSpec] = []
    for table in root.tables("agents"):
        agent_id = table.string("id")
        shift_name = table.opt_string("shift")
        rotation_weight = table.opt_integer(
            "rotation_weight", low=1, high=MAX_AGENT_WEIGHT
        )
        held: list[tuple[str, int]] = []
        if table.raw("skills", None) is not None:
            if skills_spec is None:
                raise ScenarioError(
                    table.at("skills"), "agents' skills need a [skills] table"
                )
            held_table = table.table("skills")
            for skill in sorted(held_table.data):
                if not skill.strip():
                    raise ScenarioError(held_table.at(skill), "empty skill name")
                held.append((skill, held_table.integer(skill, low=1, high=1_000_000)))
            held_table.finish()
        if shift_name is not None and shift_name not in shift_names:
            raise ScenarioError(
                table.at("shift"),
                f"unknown shift {shift_name!r} (defined: "
                f"{', '.join(sorted(shift_names)) or 'none'})",
            )
        table.finish()
        if any(a.id == agent_id for a in agents):
            raise ScenarioError(table.at("id"), f"duplicate agent id {agent_id!r}")
        agents.append(
            AgentSpec(
                id=agent_id,
                shift=shift_name,
                skills=tuple(held),
                rotation_weight=rotation_weight,
            )
        )
    if not agents:
        raise ScenarioError("agents", "at least one agent is needed")
    agent_ids = {a.id for a in agents}

    def check_agents(path: str, ids: Sequence[str]) -> None:
        for index, agent in enumerate(ids):
            if agent not in agent_ids:
                raise ScenarioError(f"{path}[{index}]", f"unknown agent {agent!r}")

    teams: list[TeamSpec] = []
    for table in root.tables("teams", []):
        team = TeamSpec(
            id=table.string("id"),
            members=table.strings("members"),
            allow_auto_assign=table.boolean("allow_auto_assign", True),
        )
        check_agents(table.at("members"), team.members)
        table.finish()
        if any(t.id == team.id for t in teams):
            raise ScenarioError(table.at("id"), f"duplicate team id {team.id!r}")
        teams.append(team)

    policies_table = root.table("policies", {})
    policies = [
        _policy(key, policies_table.table(key), skills=skills_spec is not None)
        for key in policies_table.data
    ]
    policies_table.finish()
    policy_names = {p.name for p in policies}

    inboxes: list[InboxSpec] = []
    for table in root.tables("inboxes"):
        inbox_id = table.string("id")
        if any(i.id == inbox_id for i in inboxes):
            raise ScenarioError(table.at("id"), f"duplicate inbox id {inbox_id!r}")
        policy_name = table.opt_string("policy")
        if policy_name is not None and policy_name not in policy_names:
            raise ScenarioError(
                table.at("policy"),
                f"unknown policy {policy_name!r} (defined: "
                f"{', '.join(sorted(policy_names)) or 'none'})",
            )
        members = table.strings("members")
        check_agents(table.at("members"), members)
        rates_raw = table.raw("arrivals_per_hour")
        rates_path = table.at("arrivals_per_hour")
        rates: tuple[float, ...]
        if isinstance(rates_raw, int | float) and not isinstance(rates_raw, bool):
            rates = (_number(rates_path, rates_raw, low=0.0),) * 24
        elif isinstance(rates_raw, list) and len(rates_raw) == 24:
            rates = tuple(
                _number(f"{rates_path}[{hour}]", rate, low=0.0, high=100_000.0)
                for hour, rate in enumerate(rates_raw)
            )
        else:
            size = (
                f"a list of {len(rates_raw)}"
                if isinstance(rates_raw, list)
                else _show(rates_raw)
            )
            raise ScenarioError(
                rates_path, f"must be one rate or a list of 24 hourly rates, got {size}"
            )
        inbox = InboxSpec(
            id=inbox_id,
            policy=policy_name,
            members=members,
            enable_auto_assignment=table.boolean("enable_auto_assignment", True),
            arrivals_per_hour=rates,
            resolve=_distribution(table.table("resolve")),
            labels=_probabilities(table.table("labels", {}), None, "label"),
            teams=_probabilities(
                table.table("teams", {}), {t.id for t in teams}, "team"
            ),
            urgency=_urgency_shares(table.table("urgency", {})),
            due_after_minutes=(
                None
                if table.raw("due_after_minutes", None) is None
                else table.number("due_after_minutes", low=0.001, high=525_600.0)
            ),
            returning_share=table.number("returning_share", 0.0, low=0.0, high=1.0),
            contact_pool=table.opt_integer("contact_pool", low=1, high=10_000_000),
            **_weights(table),
        )
        if sum(share for _team, share in inbox.teams) > 1.0 + 1e-9:
            raise ScenarioError(
                table.at("teams"), "team shares must add up to at most 1"
            )
        if sum(share for _level, share in inbox.urgency) > 1.0 + 1e-9:
            raise ScenarioError(
                table.at("urgency"), "urgency shares must add up to at most 1"
            )
        if inbox.contact_pool is not None and not inbox.returning_share:
            raise ScenarioError(
                table.at("contact_pool"),
                "needs returning_share > 0 (the share of arrivals from a returning "
                "contact)",
            )
        table.finish()
        inboxes.append(inbox)
    if not inboxes:
        raise ScenarioError("inboxes", "at least one inbox is needed")
    inbox_ids = {i.id for i in inboxes}

    capacity: list[CapacitySpec] = []
    for table in root.tables("capacity_policies", []):
        limits_table = table.table("inbox_limits")
        limits: list[tuple[str, int | None]] = []
        for key in limits_table.data:
            if key not in inbox_ids:
                raise ScenarioError(limits_table.at(key), f"unknown inbox {key!r}")
            if limits_table.raw(key) == UNLIMITED:  # rules only, no cap
                limits.append((key, None))
                continue
            value = limits_table.raw(key)
            if isinstance(value, str):
                raise ScenarioError(
                    limits_table.at(key),
                    f"must be an integer >= 0 or {UNLIMITED!r}, got {_show(value)}",
                )
            limits.append((key, limits_table.integer(key, low=0)))
        limits_table.finish()
        cap = CapacitySpec(
            id=table.string("id"),
            agents=table.strings("agents"),
            inbox_limits=tuple(limits),
            excluded_labels=table.strings("excluded_labels", []),
            exclude_older_than_hours=table.opt_integer(
                "exclude_older_than_hours", low=1
            ),
            total_limit=table.opt_integer("total_limit", low=0, high=MAX_TOTAL_LIMIT),
        )
        check_agents(table.at("agents"), cap.agents)
        table.finish()
        if any(c.id == cap.id for c in capacity):
            raise ScenarioError(
                table.at("id"), f"duplicate capacity policy id {cap.id!r}"
            )
        for other in capacity:
            shared = sorted(set(other.agents) & set(cap.agents))
            if shared:
                raise ScenarioError(
                    table.at("agents"),
                    f"agent {shared[0]!r} already has capacity policy {other.id!r} (one per agent)",
                )
        capacity.append(cap)
    root.finish()
    return Scenario(
        name=scenario_name,
        seed=seed,
        start=start,
        duration_minutes=duration,
        periodic_interval_minutes=periodic,
        sample_interval_minutes=sample,
        bulk_limit=bulk,
        account=account,
        features=features,
        shifts=tuple(shifts),
        presence=presence,
        agents=tuple(agents),
        teams=tuple(teams),
        policies=tuple(policies),
        capacity_policies=tuple(capacity),
        inboxes=tuple(inboxes),
        skills=skills_spec,
    )


def parse_scenario_text(text: str, *, name: str = "scenario") -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError("", f"not valid TOML: {exc}") from None
    return parse_scenario(data, name=name)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a TOML scenario file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(
            "", f"cannot read scenario file {str(file)!r}: {exc.strerror}"
        ) from None
    try:
        return parse_scenario_text(text, name=file.stem)
    except ScenarioError as exc:
        raise ScenarioError(exc.path, f"{exc.problem} (in {file})") from None


def default_scenario_text() -> str:
    """The built-in default scenario's TOML (``examples/scenarios/default.toml``)."""
    return (
        resources.files("autoassign.simulate")
        .joinpath("default.toml")
        .read_text(encoding="utf-8")
    )


def default_scenario() -> Scenario:
    """A day of a 20-agent team across 3 inboxes (at least 5,000 conversations)."""
    return parse_scenario_text(default_scenario_text(), name="default")
