"""Working hours (issue 19): agents' shifts and inboxes' business hours.

A :class:`WorkingHours` is a weekly timetable in one IANA time zone, with dated
exceptions (a holiday closed all day, a Saturday opened for a sale). Outside an agent's
hours the agent is not available even if online; outside an inbox's business hours the
inbox is not assigned at all. Both come from a :class:`ScheduleBook` (a port: the host's
own table of shifts, or :class:`InMemoryScheduleBook`) and are opt-in:
``build_autoassign(schedules=book)``. An agent or inbox without hours in the book is
always available, as without schedules.

How they apply:

* :class:`ScheduledPresence` wraps the presence port: an agent who is ``online`` but off
  shift is reported with the status :data:`OFF_SCHEDULE`, so every filter, ranking,
  ``explain`` and ``simulate`` sees them as not online, and a pass whose members are all
  off shift skips with :attr:`~autoassign.decisions.SkipReason.NO_AGENT_ON_SCHEDULE`.
* An inbox outside its business hours fails the gate
  :attr:`~autoassign.decisions.GateFailure.OUTSIDE_BUSINESS_HOURS` (the pass assigns
  nothing, ``explain_inbox`` says so).

Times come from the :class:`~autoassign.ports.Clock`; the local time of each timetable
is its zone's, daylight saving time included (an interval is wall-clock time).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from autoassign.errors import ConfigurationError
from autoassign.model import OFF_SCHEDULE, ONLINE, AccountId, AgentId, InboxId
from autoassign.ports import Clock, Presence, ScheduleBook

__all__ = [
    "OFF_SCHEDULE",
    "WEEKDAYS",
    "InMemoryScheduleBook",
    "Interval",
    "ScheduleBook",
    "ScheduledPresence",
    "WorkingHours",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday names of :meth:`WorkingHours.from_json`, Monday first (``date.weekday()``)."""

_INTERVAL = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


@attrs.frozen(order=True)
class Interval:
    """Wall-clock time from ``start`` (inclusive) to ``end`` (exclusive) on one day;
    ``end`` may be ``24:00`` (written ``time.max``'s stand-in: ``None``), until midnight.
    An overnight shift is two intervals (``22:00-24:00`` and ``00:00-06:00``)."""

    start: time
    end: time | None
    """``None``: until midnight (24:00)."""

    def __attrs_post_init__(self) -> None:
        if self.start.tzinfo is not None or (
            self.end is not None and self.end.tzinfo is not None
        ):
            raise ConfigurationError(
                "interval times are wall-clock times, without zone"
            )
        if self.end is not None and self.end <= self.start:
            raise ConfigurationError(
                f"an interval must end after it starts, got {self}: write an overnight "
                "shift as two intervals"
            )

    def __str__(self) -> str:
        end = "24:00" if self.end is None else self.end.strftime("%H:%M")
        return f"{self.start.strftime('%H:%M')}-{end}"

    def contains(self, moment: time) -> bool:
        return self.start <= moment and (self.end is None or moment < self.end)

    @classmethod
    def parse(cls, text: object, *, field: str) -> Interval:
        """``"09:00-17:30"`` (``24:00`` allowed as an end)."""
        match = _INTERVAL.match(text) if isinstance(text, str) else None
        if match is None:
            raise ConfigurationError(
                f"{field} must be an interval like '09:00-17:00', got {text!r}",
                field=field,
            )
        sh, sm, eh, em = (int(part) for part in match.groups())
        if sh > 23 or sm > 59 or em > 59 or eh > 24 or (eh == 24 and em != 0):
            raise ConfigurationError(
                f"{field} holds a time that does not exist: {text!r}", field=field
            )
        end = None if eh == 24 else time(eh, em)
        try:
            return cls(time(sh, sm), end)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{field}: {exc}", field=field) from None


def _intervals(value: object, *, field: str) -> tuple[Interval, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigurationError(
            f"{field} must be a list of intervals like ['09:00-17:00'], got {value!r}",
            field=field,
        )
    parsed = sorted(
        Interval.parse(item, field=f"{field}[{at}]") for at, item in enumerate(value)
    )
    return tuple(parsed)


def _zone(name: object) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise ConfigurationError(
            f"timezone must be an IANA zone name, got {name!r}", field="timezone"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"timezone {name!r} is not a known IANA zone", field="timezone"
        ) from None


@attrs.frozen
class WorkingHours:
    """A weekly timetable in ``timezone`` with dated ``exceptions``.

    ``weekly[d]`` are the intervals of weekday ``d`` (0 is Monday; a missing day is
    closed); ``exceptions[day]`` replaces the weekly intervals on that local date (an
    empty tuple: closed all day)."""

    timezone: str = attrs.field()
    weekly: Mapping[int, tuple[Interval, ...]] = attrs.field(factory=dict)
    exceptions: Mapping[date, tuple[Interval, ...]] = attrs.field(factory=dict)
    _zone: ZoneInfo = attrs.field(init=False, repr=False, eq=False)

    @timezone.validator
    def _check_zone(self, attribute: attrs.Attribute[str], value: object) -> None:
        object.__setattr__(self, "_zone", _zone(value))

    @weekly.validator
    def _check_weekly(self, attribute: Any, value: Mapping[object, Any]) -> None:
        for day in value:
            if not isinstance(day, int) or isinstance(day, bool) or not 0 <= day <= 6:
                raise ConfigurationError(
                    f"weekly days are 0 (Monday) to 6, got {day!r}", field="weekly"
                )

    def is_open(self, moment: datetime) -> bool:
        """Whether ``moment`` (timezone-aware) falls in the timetable."""
        if moment.tzinfo is None:
            raise ValueError("is_open needs a timezone-aware datetime")
        local = moment.astimezone(self._zone)
        day = local.date()
        intervals = self.exceptions.get(day)
        if intervals is None:
            intervals = self.weekly.get(day.weekday(), ())
        wall = local.time().replace(tzinfo=None)
        return any(interval.contains(wall) for interval in intervals)

    @classmethod
    def from_json(cls, data: object) -> WorkingHours:
        """From ``{"timezone": "Europe/Berlin", "weekly": {"mon": ["09:00-17:00"],
        ...}, "exceptions": {"2026-12-25": []}}``; every mistake is a
        :class:`~autoassign.errors.ConfigurationError` naming the field."""
        if not isinstance(data, Mapping):
            raise ConfigurationError(
                f"working hours must be an object, got {data!r}", field="working_hours"
            )
        unknown = set(data) - {"timezone", "weekly", "exceptions"}
        if unknown:
            raise ConfigurationError(
                f"unknown working-hours fields: {sorted(unknown)}",
                field=sorted(unknown)[0],
            )
        weekly_in = data.get("weekly", {})
        if not isinstance(weekly_in, Mapping):
            raise ConfigurationError("weekly must be an object", field="weekly")
        weekly: dict[int, tuple[Interval, ...]] = {}
        for name, value in weekly_in.items():
            if name not in WEEKDAYS:
                raise ConfigurationError(
                    f"weekly days are {', '.join(WEEKDAYS)}, got {name!r}",
                    field="weekly",
                )
            weekly[WEEKDAYS.index(name)] = _intervals(value, field=f"weekly.{name}")
        exceptions_in = data.get("exceptions", {})
        if not isinstance(exceptions_in, Mapping):
            raise ConfigurationError("exceptions must be an object", field="exceptions")
        exceptions: dict[date, tuple[Interval, ...]] = {}
        for key, value in exceptions_in.items():
            try:
                day = date.fromisoformat(key) if isinstance(key, str) else None
            except ValueError:
                day = None
            if day is None:
                raise ConfigurationError(
                    f"exception dates are YYYY-MM-DD, got {key!r}", field="exceptions"
                )
            exceptions[day] = _intervals(value, field=f"exceptions.{key}")
        return cls(data.get("timezone"), weekly, exceptions)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        """The form :meth:`from_json` reads."""
        return {
            "timezone": self.timezone,
            "weekly": {
                WEEKDAYS[day]: [str(i) for i in intervals]
                for day, intervals in sorted(self.weekly.items())
            },
            "exceptions": {
                day.isoformat(): [str(i) for i in intervals]
                for day, intervals in sorted(self.exceptions.items())
            },
        }


class InMemoryScheduleBook:
    """:class:`ScheduleBook` in a dict (the embedded default, tests, the simulator)."""

    def __init__(self) -> None:
        self._agents: dict[tuple[AccountId, AgentId], WorkingHours] = {}
        self._inboxes: dict[InboxId, WorkingHours] = {}

    def set_agent_hours(
        self, account: AccountId, agent: AgentId, hours: WorkingHours | None
    ) -> None:
        """Give ``agent`` these hours (``None``: always available)."""
        if hours is None:
            self._agents.pop((account, agent), None)
        else:
            self._agents[(account, agent)] = hours

    def set_inbox_hours(self, inbox: InboxId, hours: WorkingHours | None) -> None:
        """Give ``inbox`` these business hours (``None``: always open)."""
        if hours is None:
            self._inboxes.pop(inbox, None)
        else:
            self._inboxes[inbox] = hours

    def agent_hours(
        self, account: AccountId, agents: Collection[AgentId]
    ) -> Mapping[AgentId, WorkingHours]:
        found = {}
        for agent in agents:
            hours = self._agents.get((account, agent))
            if hours is not None:
                found[agent] = hours
        return found

    def inbox_hours(self, inbox: InboxId) -> WorkingHours | None:
        return self._inboxes.get(inbox)


class ScheduledPresence:
    """:class:`~autoassign.ports.Presence` over ``presence`` with working hours: an
    agent the inner presence reports ``online`` but who is off shift at
    ``clock.now()`` is reported as :data:`OFF_SCHEDULE`. Other statuses pass through.
    Keeps the optional ``online`` capability when the inner presence has it."""

    def __init__(self, presence: Presence, book: ScheduleBook, clock: Clock) -> None:
        self.presence = presence
        self.book = book
        self.clock = clock

    def __getattr__(self, name: str) -> Any:  # heartbeat, set_status, ... of the inner
        if name == "presence":  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.presence, name)

    def _off_shift(self, account: AccountId, agents: Iterable[AgentId]) -> set[AgentId]:
        candidates = list(agents)
        if not candidates:
            return set()
        hours = self.book.agent_hours(account, candidates)
        if not hours:
            return set()
        now = self.clock.now()
        return {
            agent for agent, timetable in hours.items() if not timetable.is_open(now)
        }

    def statuses(
        self, account: AccountId, agents: Collection[AgentId]
    ) -> Mapping[AgentId, str]:
        found = dict(self.presence.statuses(account, agents))
        online = [agent for agent, status in found.items() if status == ONLINE]
        for agent in self._off_shift(account, online):
            found[agent] = OFF_SCHEDULE
        return found

    def online(
        self, account: AccountId, agents: Collection[AgentId]
    ) -> Collection[AgentId]:
        inner = getattr(self.presence, "online", None)
        if inner is None:
            statuses = self.statuses(account, agents)
            return [agent for agent, status in statuses.items() if status == ONLINE]
        online = list(inner(account, agents))
        off = self._off_shift(account, online)
        return [agent for agent in online if agent not in off] if off else online
