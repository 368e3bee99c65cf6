"""Per-policy routing settings (issue 18, :mod:`autoassign.routing`): a policy's
``sticky_window``, ``skill_routing`` and ``skill_relax_after`` tune or turn off, for
its inboxes, the skills routing and sticky agents the host wired; unset, everything is
routed as wired; a setting whose port is not wired is logged once and ignored."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoassign import AssignmentPolicy, ConfigurationError, SkipReason
from autoassign.explain import explain_conversation, explain_inbox
from autoassign.model import MAX_ROUTING_SECONDS, stored_routing_seconds
from autoassign.model import stored_skill_routing as stored_routing_flag
from autoassign.routing import resolve_routing
from autoassign.skills import InMemorySkillBook, SkillRouting
from autoassign.sticky import InMemoryContactHistory, StickyRouting

from .conftest import ACCOUNT, INBOX, POLICY

OTHER_INBOX, OTHER_POLICY = 20, 2
HOUR = timedelta(hours=1)
TEN_MINUTES = timedelta(minutes=10)


# -- the model ----------------------------------------------------------------------------


def test_unset_by_default() -> None:
    policy = AssignmentPolicy(id=1, account=1)
    assert (policy.sticky_window, policy.skill_routing, policy.skill_relax_after) == (
        None,
        None,
        None,
    )
    assert not policy.routing_set
    assert AssignmentPolicy(id=1, account=1, sticky_window=0).routing_set


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("sticky_window", -1, "0 \\(sticky agents off\\) or 1 to 31536000 seconds"),
        ("sticky_window", MAX_ROUTING_SECONDS + 1, "got 31536001"),
        ("sticky_window", 1.5, "integer number of seconds"),
        ("sticky_window", True, "got bool"),
        ("sticky_window", "600", "got str"),
        ("sticky_window", timedelta(minutes=5), "got timedelta"),
        ("skill_relax_after", -5, "0 \\(never relax\\)"),
        ("skill_relax_after", MAX_ROUTING_SECONDS + 1, "31536000"),
        ("skill_relax_after", False, "got bool"),
        ("skill_routing", 1, "None \\(as wired\\), True or False, got int"),
        ("skill_routing", "yes", "got str"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(
    field: str, value: Any, match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match) as raised:
        AssignmentPolicy(id=1, account=1, **{field: value})
    assert raised.value.field == field


@pytest.mark.parametrize("field", ["sticky_window", "skill_relax_after"])
def test_the_bounds_are_accepted(field: str) -> None:
    for value in (0, 1, MAX_ROUTING_SECONDS):
        assert getattr(AssignmentPolicy(id=1, account=1, **{field: value}), field) == (
            value
        )


@pytest.mark.parametrize(
    ("stored", "seconds", "flag"),
    [
        (None, None, None),
        (0, 0, False),
        (1, 1, True),
        (600, 600, None),
        (-1, None, None),
        (MAX_ROUTING_SECONDS + 1, None, None),
        (True, None, True),
        (False, None, False),
        ("600", None, None),
        (1.0, None, None),
    ],
)
def test_stored_values_never_fail_a_read(
    stored: object, seconds: int | None, flag: bool | None
) -> None:
    """A host's row written outside the rules reads as "as wired"."""
    assert stored_routing_seconds(stored) == seconds
    assert stored_routing_flag(stored) is flag


# -- resolving ----------------------------------------------------------------------------

_WIRED_SKILLS = SkillRouting(book=InMemorySkillBook(), relax_after=TEN_MINUTES)
_WIRED_STICKY = StickyRouting(history=InMemoryContactHistory({}.get), window=HOUR)
_SECONDS = st.one_of(st.none(), st.just(0), st.integers(1, MAX_ROUTING_SECONDS))


@given(
    sticky_window=_SECONDS,
    skill_routing=st.sampled_from([None, True, False]),
    skill_relax_after=_SECONDS,
    skills_wired=st.booleans(),
    sticky_wired=st.booleans(),
)
def test_what_a_policy_makes_of_the_wiring(
    sticky_window: int | None,
    skill_routing: bool | None,
    skill_relax_after: int | None,
    skills_wired: bool,
    sticky_wired: bool,
) -> None:
    """The rules of docs/configuration.md, from the settings and the wiring alone:
    ``None`` as wired, ``0`` off (sticky) or never (relaxation), a number in seconds;
    a setting without its port is ignored (and listed) and leaves the feature off."""
    policy = AssignmentPolicy(
        id=1,
        account=1,
        sticky_window=sticky_window,
        skill_routing=skill_routing,
        skill_relax_after=skill_relax_after,
    )
    skills = _WIRED_SKILLS if skills_wired else None
    sticky = _WIRED_STICKY if sticky_wired else None
    routing = resolve_routing(policy, skills=skills, sticky=sticky)

    if not sticky_wired or sticky_window == 0:
        assert routing.sticky is None
    else:
        assert routing.sticky is not None
        assert routing.sticky.history is _WIRED_STICKY.history
        assert routing.sticky_window == (sticky_window or 3600)
    if not skills_wired or skill_routing is False:
        assert routing.skills is None
        assert routing.skill_relax_after is None
    else:
        assert routing.skills is not None
        assert routing.skills.book is _WIRED_SKILLS.book
        expected = {None: 600, 0: None}.get(skill_relax_after, skill_relax_after)  # type: ignore[arg-type]
        assert routing.skill_relax_after == expected
    ignored = []
    if not sticky_wired and sticky_window:
        ignored.append("sticky_window")
    if not skills_wired and skill_routing is not False:
        if skill_routing is not None:
            ignored.append("skill_routing")
        if skill_relax_after is not None:
            ignored.append("skill_relax_after")
    assert list(routing.ignored) == ignored


@given(skills_wired=st.booleans(), sticky_wired=st.booleans())
def test_unset_settings_route_exactly_as_wired(
    skills_wired: bool, sticky_wired: bool
) -> None:
    skills = _WIRED_SKILLS if skills_wired else None
    sticky = _WIRED_STICKY if sticky_wired else None
    routing = resolve_routing(
        AssignmentPolicy(id=1, account=1), skills=skills, sticky=sticky
    )
    assert routing.skills is skills
    assert routing.sticky is sticky
    assert routing.ignored == ()


# -- the pass: sticky agents --------------------------------------------------------------


def _two_inboxes(scenario: Any, policy: AssignmentPolicy) -> None:
    """Inbox 10 with ``policy``, inbox 20 with a policy setting nothing; ann and bob
    are members of both (round robin picks ann first)."""
    scenario.setup(members=["ann", "bob"], policy=policy)
    scenario.backend.add_inbox(OTHER_INBOX, account=ACCOUNT, members=["ann", "bob"])
    scenario.backend.add_policy(
        AssignmentPolicy(id=OTHER_POLICY, account=ACCOUNT), inboxes=[OTHER_INBOX]
    )


def _returning(
    scenario: Any,
    history: InMemoryContactHistory,
    contact: str,
    inbox: int,
    *,
    ago: float = 1800,
) -> str:
    """``contact``'s earlier conversation (``ago`` seconds ago, resolved with bob)
    and a new one in ``inbox``, whose id is returned."""
    old, new = f"{contact}-old", f"{contact}-new"
    scenario.conv(old, inbox=inbox, ago=ago, assignee="bob", status="resolved")
    scenario.conv(new, inbox=inbox)
    history.set_contact(ACCOUNT, old, contact)
    history.set_contact(ACCOUNT, new, contact)
    return new


def _sticky(scenario: Any, window: timedelta = HOUR) -> InMemoryContactHistory:
    history = InMemoryContactHistory(scenario.world.get)
    scenario.build(sticky=StickyRouting(history=history, window=window))
    return history


def test_sticky_off_for_one_policy_while_another_inbox_sticks(scenario: Any) -> None:
    _two_inboxes(
        scenario, AssignmentPolicy(id=POLICY, account=ACCOUNT, sticky_window=0)
    )
    history = _sticky(scenario)
    off = _returning(scenario, history, "carol", INBOX)
    on = _returning(scenario, history, "dave", OTHER_INBOX)
    scenario.run(INBOX)
    scenario.run(OTHER_INBOX)
    assert scenario.assignee(off) == "ann"  # the round-robin agent
    assert scenario.assignee(on) == "bob"  # the previous agent


@pytest.mark.parametrize(
    ("window", "ago", "agent"),
    [
        (600, 2400, "ann"),  # within the wired hour, outside the policy's 10 minutes
        (7200, 5400, "bob"),  # outside the wired hour, within the policy's 2 hours
    ],
)
def test_a_policy_window_replaces_the_wired_one(
    scenario: Any, window: int, ago: int, agent: str
) -> None:
    """The other inbox (no setting) keeps the wired hour: a previous conversation 90
    minutes old does not stick there."""
    _two_inboxes(
        scenario, AssignmentPolicy(id=POLICY, account=ACCOUNT, sticky_window=window)
    )
    history = _sticky(scenario)
    new = _returning(scenario, history, "carol", INBOX, ago=ago)
    wired = _returning(scenario, history, "dave", OTHER_INBOX, ago=5400)
    scenario.run(INBOX)
    scenario.run(OTHER_INBOX)
    assert scenario.assignee(new) == agent
    assert scenario.assignee(wired) == "ann"


# -- the pass: skills ---------------------------------------------------------------------


class _CountingBook(InMemorySkillBook):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def agent_skills(self, account: Any, agents: Any) -> Any:
        self.reads += 1
        return super().agent_skills(account, agents)


def _skills(scenario: Any, relax_after: timedelta | None = TEN_MINUTES) -> Any:
    book = _CountingBook()  # nobody holds "de"
    app = scenario.build(skills=SkillRouting(book=book, relax_after=relax_after))
    return app, book


def test_a_policy_relax_time_of_60_s_relaxes_after_60_s(scenario: Any) -> None:
    """The wiring relaxes after 10 minutes; the policy of inbox 10 after 60 s, the
    other inbox's policy (no setting) as wired."""
    _two_inboxes(
        scenario, AssignmentPolicy(id=POLICY, account=ACCOUNT, skill_relax_after=60)
    )
    app, _book = _skills(scenario)
    scenario.conv(1, labels={"skill:de"})
    scenario.conv(2, inbox=OTHER_INBOX, labels={"skill:de"})
    service = app.service
    for inbox in (INBOX, OTHER_INBOX):
        skipped = service.perform_bulk_assignment(inbox).skips
        assert [s.reason for s in skipped] == [SkipReason.NO_AGENT_WITH_SKILLS]
    scenario.clock.advance(59)
    assert service.perform_bulk_assignment(INBOX).assignments == ()
    scenario.clock.advance(1)
    assert [
        a.conversation for a in service.perform_bulk_assignment(INBOX).assignments
    ] == [1]
    assert service.perform_bulk_assignment(OTHER_INBOX).assignments == ()
    scenario.clock.advance(540)
    assert [
        a.conversation for a in service.perform_bulk_assignment(OTHER_INBOX).assignments
    ] == [2]


def test_a_policy_that_never_relaxes(scenario: Any) -> None:
    scenario.setup(
        members=["ann"],
        policy=AssignmentPolicy(id=POLICY, account=ACCOUNT, skill_relax_after=0),
    )
    app, _book = _skills(scenario)
    scenario.conv(1, ago=86_400, labels={"skill:de"})  # waited a day
    result = app.service.perform_bulk_assignment(INBOX)
    assert [s.reason for s in result.skips] == [SkipReason.NO_AGENT_WITH_SKILLS]


def test_a_policy_relaxation_where_the_wiring_never_relaxes(scenario: Any) -> None:
    scenario.setup(
        members=["ann"],
        policy=AssignmentPolicy(id=POLICY, account=ACCOUNT, skill_relax_after=300),
    )
    app, _book = _skills(scenario, relax_after=None)
    scenario.conv(1, ago=300, labels={"skill:de"})
    assert [
        a.agent for a in app.service.perform_bulk_assignment(INBOX).assignments
    ] == ["ann"]


def test_skills_off_for_one_policy(scenario: Any) -> None:
    """Inbox 10's policy turns skills routing off: its labelled conversation goes
    to anyone, and no skill is read for it; inbox 20 still requires the skill."""
    _two_inboxes(
        scenario, AssignmentPolicy(id=POLICY, account=ACCOUNT, skill_routing=False)
    )
    app, book = _skills(scenario)
    scenario.conv(1, labels={"skill:de"})
    scenario.conv(2, inbox=OTHER_INBOX, labels={"skill:de"})
    assert [
        a.agent for a in app.service.perform_bulk_assignment(INBOX).assignments
    ] == ["ann"]
    assert book.reads == 0
    other = app.service.perform_bulk_assignment(OTHER_INBOX)
    assert [s.reason for s in other.skips] == [SkipReason.NO_AGENT_WITH_SKILLS]
    assert book.reads == 1


def test_skill_routing_true_is_as_wired(scenario: Any) -> None:
    scenario.setup(
        members=["ann"],
        policy=AssignmentPolicy(id=POLICY, account=ACCOUNT, skill_routing=True),
    )
    app, _book = _skills(scenario)
    scenario.conv(1, labels={"skill:de"})
    skips = app.service.perform_bulk_assignment(INBOX).skips
    assert [s.reason for s in skips] == [SkipReason.NO_AGENT_WITH_SKILLS]


# -- without the port ---------------------------------------------------------------------


def test_a_setting_without_its_port_is_logged_once_and_ignored(
    scenario: Any, caplog: pytest.LogCaptureFixture
) -> None:
    policy = AssignmentPolicy(
        id="unwired",
        account=ACCOUNT,
        sticky_window=600,
        skill_routing=True,
        skill_relax_after=60,
    )
    scenario.setup(members=["ann", "bob"], policy=policy)
    scenario.conv(1, ago=20, labels={"skill:de"})  # requires nothing without skills
    with caplog.at_level(logging.WARNING, logger="autoassign.service"):
        first = scenario.run()
        scenario.conv(2, ago=10, labels={"skill:de"})
        second = scenario.run()
    assert [a.agent for a in (*first.assignments, *second.assignments)] == [
        "ann",
        "bob",
    ]
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 3, warned  # once per setting, not once per pass
    for field in (
        "sticky_window = 600",
        "skill_routing = True",
        "skill_relax_after = 60",
    ):
        assert sum(field in message for message in warned) == 1
    assert all("'unwired'" in message for message in warned)

    explained = explain_conversation(scenario.app, 2).to_dict()
    assert "ignored: the policy's sticky_window" in explained["routing"]["sticky"]
    assert (
        "ignored: the policy's skill_routing and skill_relax_after"
        in (explained["routing"]["skills"])
    )
    assert "required_skills" not in explained
    gate = explain_inbox(scenario.app, INBOX).gate("routing")
    assert gate.passed is True
    assert gate.numbers["ignored"] == "sticky_window, skill_routing, skill_relax_after"


# -- explain ------------------------------------------------------------------------------


def test_explain_says_which_setting_applied(scenario: Any) -> None:
    _two_inboxes(
        scenario,
        AssignmentPolicy(
            id=POLICY, account=ACCOUNT, sticky_window=0, skill_relax_after=60
        ),
    )
    history = InMemoryContactHistory(scenario.world.get)
    scenario.build(
        sticky=StickyRouting(history=history, window=HOUR),
        skills=SkillRouting(book=InMemorySkillBook(), relax_after=TEN_MINUTES),
    )
    new = _returning(scenario, history, "carol", INBOX)
    scenario.clock.advance(60)
    explained = explain_conversation(scenario.app, new)
    assert explained.routing == {
        "skills": "the policy's skill_relax_after: relax after 60 s (wired: relax "
        "after 600 s)",
        "sticky": "off: the policy's sticky_window is 0",
    }
    assert explained.sticky_agent is None  # off here: the history is not asked
    assert explained.chosen == "ann"
    gate = explain_inbox(scenario.app, INBOX).gate("routing")
    assert gate.detail == (
        "skills: the policy's skill_relax_after: relax after 60 s (wired: relax after "
        "600 s); sticky agents: off: the policy's sticky_window is 0"
    )
    assert gate.numbers == {
        "skills": True,
        "skill_relax_after": 60,
        "sticky_window": None,
        "ignored": "",
    }
    # the other inbox's policy sets nothing: explain is what it was
    scenario.conv(5, inbox=OTHER_INBOX)
    assert "routing" not in explain_conversation(scenario.app, 5).to_dict()
    gates = [gate.name for gate in explain_inbox(scenario.app, OTHER_INBOX).gates]
    assert "routing" not in gates


def test_explain_relaxes_as_the_policy_says(scenario: Any) -> None:
    scenario.setup(
        members=["ann"],
        policy=AssignmentPolicy(id=POLICY, account=ACCOUNT, skill_relax_after=60),
    )
    scenario.build(skills=SkillRouting(book=InMemorySkillBook(), relax_after=HOUR))
    scenario.conv(1, ago=60, labels={"skill:de"})
    explained = explain_conversation(scenario.app, 1)
    assert explained.skills_relaxed
    assert explained.required_skills == {}
    assert explained.chosen == "ann"


# -- reads --------------------------------------------------------------------------------


def test_the_settings_cost_no_read(scenario: Any, wrap: Any) -> None:
    """The pass reads its settings from the policy it loads anyway: the directory is
    read exactly as often with them as without."""
    scenario.setup(members=["ann", "bob"])
    policy = scenario.world.policy_for_inbox(INBOX)
    calls = []
    for settings in ({}, {"sticky_window": 600, "skill_relax_after": 60}):
        scenario.world.put_policy(attrs.evolve(policy, **settings))
        directory = wrap(scenario.backend.directory)
        history = InMemoryContactHistory(scenario.world.get)
        scenario.build(
            directory=directory,
            recheck_interval=timedelta(0),
            sticky=StickyRouting(history=history, window=HOUR),
            skills=SkillRouting(book=InMemorySkillBook()),
        )
        for n in range(3):
            scenario.conv(f"{len(calls)}-{n}", ago=10 - n)
        assert len(scenario.run().assignments) == 3
        calls.append([name for name, _args, _kw in directory.calls])
    assert calls[0] == calls[1]


def test_a_changed_policy_routes_from_the_next_pass(scenario: Any) -> None:
    scenario.setup(members=["ann", "bob"])
    history = _sticky(scenario)
    policy = scenario.world.policy_for_inbox(INBOX)
    first = _returning(scenario, history, "carol", INBOX)
    scenario.run()
    assert scenario.assignee(first) == "bob"
    scenario.world.put_policy(attrs.evolve(policy, sticky_window=0))
    second = _returning(scenario, history, "dave", INBOX)
    scenario.run()
    assert scenario.assignee(second) == "ann"
