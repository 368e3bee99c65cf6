"""Working hours (issue 19): timetables, the scheduled presence, business hours as a
gate, and the pass never assigning an agent off shift."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import fakeredis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoassign import OFF_SCHEDULE, GateFailure, SkipReason
from autoassign.adapters.redis import RedisPresence
from autoassign.errors import ConfigurationError
from autoassign.explain import explain_conversation, explain_inbox
from autoassign.ports import OnlinePresence
from autoassign.schedules import (
    InMemoryScheduleBook,
    Interval,
    ScheduledPresence,
    WorkingHours,
)
from autoassign.testing import FakeClock

from .conftest import ACCOUNT, INBOX

UTC = timezone.utc
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney"]
NINE_TO_FIVE = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


def hours(zone: str = "UTC", **weekly: list[str]) -> WorkingHours:
    return WorkingHours.from_json({"timezone": zone, "weekly": weekly or NINE_TO_FIVE})


@st.composite
def intervals(draw: st.DrawFn) -> list[str]:
    cuts = sorted(set(draw(st.lists(st.integers(0, 24 * 4), min_size=0, max_size=6))))
    pairs = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts) - 1, 2)]
    return [
        f"{a // 4:02d}:{a % 4 * 15:02d}-{b // 4:02d}:{b % 4 * 15:02d}" for a, b in pairs
    ]


@st.composite
def timetables(draw: st.DrawFn) -> dict[str, Any]:
    days = draw(
        st.sets(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]))
    )
    exceptions = draw(
        st.dictionaries(
            st.dates(date(2026, 1, 1), date(2026, 12, 31)).map(date.isoformat),
            intervals(),
            max_size=3,
        )
    )
    return {
        "timezone": draw(st.sampled_from(ZONES)),
        "weekly": {day: draw(intervals()) for day in sorted(days)},
        "exceptions": exceptions,
    }


def _minutes(spec: list[str]) -> set[int]:
    """The minutes of a day the intervals cover (brute force)."""
    covered: set[int] = set()
    for text in spec:
        start, end = text.split("-")
        a = int(start[:2]) * 60 + int(start[3:])
        b = int(end[:2]) * 60 + int(end[3:])
        covered.update(range(a, b))
    return covered


@settings(max_examples=200, deadline=None)
@given(
    spec=timetables(),
    moment=st.datetimes(
        datetime(2026, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC)
    ),
)
def test_is_open_is_the_local_wall_clock_in_the_intervals(
    spec: dict[str, Any], moment: datetime
) -> None:
    timetable = WorkingHours.from_json(spec)
    local = moment.astimezone(ZoneInfo(spec["timezone"]))
    day = local.date().isoformat()
    names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    today = spec["exceptions"].get(day, spec["weekly"].get(names[local.weekday()], []))
    assert timetable.is_open(moment) == (
        local.hour * 60 + local.minute in _minutes(today)
    )
    assert WorkingHours.from_json(timetable.to_json()) == timetable


def test_daylight_saving_time_keeps_the_wall_clock() -> None:
    berlin = hours("Europe/Berlin")
    # 09:30 local: 08:30 UTC in winter, 07:30 UTC in summer (DST from 2026-03-29)
    assert berlin.is_open(datetime(2026, 3, 23, 8, 30, tzinfo=UTC))
    assert not berlin.is_open(datetime(2026, 3, 23, 7, 30, tzinfo=UTC))
    assert berlin.is_open(datetime(2026, 3, 30, 7, 30, tzinfo=UTC))
    assert not berlin.is_open(datetime(2026, 3, 30, 15, 30, tzinfo=UTC))  # 17:30


def test_exceptions_replace_the_weekly_intervals() -> None:
    timetable = WorkingHours.from_json(
        {
            "timezone": "UTC",
            "weekly": NINE_TO_FIVE,
            "exceptions": {"2026-12-25": [], "2026-12-26": ["10:00-12:00"]},
        }
    )
    assert timetable.is_open(datetime(2026, 12, 24, 10, tzinfo=UTC))  # Thursday
    assert not timetable.is_open(datetime(2026, 12, 25, 10, tzinfo=UTC))  # closed
    assert timetable.is_open(
        datetime(2026, 12, 26, 11, tzinfo=UTC)
    )  # a Saturday opened


def test_an_overnight_shift_is_two_intervals() -> None:
    night = hours(mon=["22:00-24:00"], tue=["00:00-06:00"])
    assert night.is_open(datetime(2026, 1, 5, 23, 59, tzinfo=UTC))
    assert night.is_open(datetime(2026, 1, 6, 0, 0, tzinfo=UTC))
    assert not night.is_open(datetime(2026, 1, 6, 6, 0, tzinfo=UTC))
    assert str(Interval.parse("22:00-24:00", field="x")) == "22:00-24:00"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": 5}, "timezone"),
        ({"timezone": "UTC", "weekly": {"monday": []}}, "weekly"),
        ({"timezone": "UTC", "weekly": {"mon": "09:00-17:00"}}, "weekly.mon"),
        ({"timezone": "UTC", "weekly": {"mon": ["9-5"]}}, "weekly.mon[0]"),
        ({"timezone": "UTC", "weekly": {"mon": ["17:00-09:00"]}}, "weekly.mon[0]"),
        ({"timezone": "UTC", "weekly": {"mon": ["25:00-26:00"]}}, "weekly.mon[0]"),
        ({"timezone": "UTC", "weekly": {"mon": ["09:00-24:30"]}}, "weekly.mon[0]"),
        ({"timezone": "UTC", "exceptions": {"christmas": []}}, "exceptions"),
        ({"timezone": "UTC", "shifts": []}, "shifts"),
        ([], "working_hours"),
    ],
)
def test_bad_hours_name_the_field(data: Any, field: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        WorkingHours.from_json(data)
    assert caught.value.field == field


def _scheduled(scenario: Any, **options: Any) -> InMemoryScheduleBook:
    book = InMemoryScheduleBook()
    scenario.build(schedules=book, **options)
    return book


def test_an_agent_off_shift_is_not_assigned_and_the_reason_says_so(
    scenario: Any,
) -> None:
    scenario.setup(members=["ann", "bob"])
    book = _scheduled(scenario)
    # the FakeClock starts on Monday 09:00 UTC
    book.set_agent_hours(ACCOUNT, "ann", hours(mon=["12:00-18:00"]))
    book.set_agent_hours(ACCOUNT, "bob", hours(mon=["09:00-10:00"]))
    scenario.convs([1, 2])
    result = scenario.run()
    assert [a.agent for a in result.assignments] == ["bob", "bob"]
    assert scenario.app.service.presence.statuses(ACCOUNT, ["ann", "bob"]) == {
        "ann": OFF_SCHEDULE,
        "bob": "online",
    }
    explained = explain_conversation(scenario.app, 1)
    assert explained.found
    scenario.clock.advance(timedelta(hours=1, minutes=30))  # 10:30: both off shift
    scenario.convs([3])
    result = scenario.run()
    assert result.assigned_count == 0
    assert [s.reason for s in result.skips] == [SkipReason.NO_AGENT_ON_SCHEDULE]
    agents = {a.agent: a for a in explain_conversation(scenario.app, 3).agents}
    assert agents["ann"].status == OFF_SCHEDULE
    assert agents["bob"].status == OFF_SCHEDULE
    scenario.clock.advance(timedelta(hours=2))  # 12:30: ann's shift
    assert [a.agent for a in scenario.run().assignments] == ["ann"]


def test_other_statuses_and_agents_without_hours_pass_through(scenario: Any) -> None:
    scenario.setup(members=["ann", "bob", "cy"])
    scenario.set_status("cy", "busy")
    book = InMemoryScheduleBook()
    book.set_agent_hours(ACCOUNT, "cy", hours(mon=["12:00-13:00"]))
    book.set_agent_hours(ACCOUNT, "bob", hours(mon=["12:00-13:00"]))
    presence = ScheduledPresence(scenario.backend.presence, book, scenario.clock)
    assert presence.statuses(ACCOUNT, ["ann", "bob", "cy"]) == {
        "ann": "online",
        "bob": OFF_SCHEDULE,
        "cy": "busy",
    }
    assert list(presence.online(ACCOUNT, ["ann", "bob", "cy"])) == ["ann"]
    book.set_agent_hours(ACCOUNT, "bob", None)
    assert list(presence.online(ACCOUNT, ["ann", "bob", "cy"])) == ["ann", "bob"]


def test_outside_business_hours_the_inbox_is_not_assigned(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    book = _scheduled(scenario)
    book.set_inbox_hours(INBOX, hours(mon=["10:00-18:00"]))
    scenario.convs([1])
    result = scenario.run()
    assert result.gate is GateFailure.OUTSIDE_BUSINESS_HOURS
    assert scenario.assignee(1) is None
    report = explain_inbox(scenario.app, INBOX)
    assert report.blocking == "business_hours"
    assert not report.would_assign
    assert "outside the business hours" in report.gate("business_hours").detail
    scenario.clock.advance(timedelta(hours=1))  # 10:00
    assert scenario.run().assigned_count == 1
    assert explain_inbox(scenario.app, INBOX).gate("business_hours").passed


def test_without_schedules_explain_has_no_business_hours_gate(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    names = [gate.name for gate in explain_inbox(scenario.app, INBOX).gates]
    assert "business_hours" not in names


@settings(max_examples=40, deadline=None)
@given(
    shifts=st.dictionaries(
        st.sampled_from(["ann", "bob", "cy"]),
        st.tuples(st.integers(0, 23), st.integers(1, 24)).filter(lambda t: t[0] < t[1]),
    ),
    steps=st.lists(st.integers(1, 300), min_size=1, max_size=12),
)
def test_nobody_is_ever_assigned_off_shift(
    make_scenario: Any, shifts: dict[str, tuple[int, int]], steps: list[int]
) -> None:
    scenario = make_scenario().setup(members=["ann", "bob", "cy"])
    book = _scheduled(scenario)
    timetables = {}
    for agent, (start, end) in shifts.items():
        end_text = "24:00" if end == 24 else f"{end:02d}:00"
        timetable = hours(
            **{day: [f"{start:02d}:00-{end_text}"] for day in NINE_TO_FIVE}
        )
        timetables[agent] = timetable
        book.set_agent_hours(ACCOUNT, agent, timetable)
    number = 0
    for minutes in steps:
        scenario.clock.advance(timedelta(minutes=minutes))
        scenario.convs([number, number + 1])
        number += 2
        now = scenario.clock.now()
        for assignment in scenario.run().assignments:
            timetable = timetables.get(assignment.agent)
            assert timetable is None or timetable.is_open(now), (assignment, now)


def test_the_online_capability_of_the_inner_presence_is_kept_and_filtered() -> None:
    clock = FakeClock()  # Monday 09:00 UTC
    inner = RedisPresence(
        fakeredis.FakeRedis(server=fakeredis.FakeServer()),
        clock=clock,
        online_index=True,
    )
    for agent in ("ann", "bob"):
        inner.set_status(ACCOUNT, agent, "online")
        inner.heartbeat(ACCOUNT, agent)
    book = InMemoryScheduleBook()
    book.set_agent_hours(ACCOUNT, "bob", hours(mon=["12:00-13:00"]))
    presence = ScheduledPresence(inner, book, clock)
    assert isinstance(presence, OnlinePresence)
    assert list(presence.online(ACCOUNT, ["ann", "bob"])) == ["ann"]
    presence.heartbeat(ACCOUNT, "ann")  # the inner adapter's helpers stay reachable
