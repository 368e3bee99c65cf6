"""Skills-based routing (issue 18, :mod:`autoassign.skills`): a conversation requiring
skills goes only to an agent holding every one at the level asked, until its
requirements relax; a conversation nobody skilled can take never holds up the others."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoassign import (
    AgentFilter,
    AssignmentPolicy,
    CapacityPolicy,
    ConfigurationError,
    SkipReason,
)
from autoassign.explain import explain_conversation
from autoassign.model import Conversation
from autoassign.skills import (
    InMemorySkillBook,
    SkillRouting,
    check_skills,
    missing_skills,
    skills_from_labels,
)
from autoassign.testing import FakeClock

from .conftest import ACCOUNT, INBOX, POLICY


def _routing(
    skills: dict[Any, dict[str, int]], **options: Any
) -> tuple[SkillRouting, InMemorySkillBook]:
    book = InMemorySkillBook()
    book.set_many(ACCOUNT, skills)
    return SkillRouting(book=book, **options), book


def _run(scenario: Any, routing: SkillRouting) -> Any:
    return scenario.build(skills=routing).service.perform_bulk_assignment(INBOX)


# -- requirements from labels ---------------------------------------------------------


def _labels(*labels: str) -> Any:
    return Conversation(
        id=1,
        inbox=INBOX,
        account=ACCOUNT,
        labels=frozenset(labels),
        created_at=FakeClock().now(),
        last_activity_at=FakeClock().now(),
    )


@pytest.mark.parametrize(
    ("labels", "required"),
    [
        ((), {}),
        (("vip", "billing"), {}),
        (("skill:billing",), {"billing": 1}),
        (("skill:billing:3",), {"billing": 3}),
        (("skill:billing:2", "skill:billing:5", "skill:billing"), {"billing": 5}),
        (("skill:de", "skill:billing:2"), {"de": 1, "billing": 2}),
        (("skill:a:b",), {"a:b": 1}),  # a last part that is no level is the name's
        (("skill:a:0",), {"a:0": 1}),
        (("skill:",), {}),
        (("skill::2",), {":2": 1}),
        (("Skill:billing",), {}),  # the prefix is matched exactly
    ],
)
def test_requirements_from_labels(labels: tuple[str, ...], required: dict) -> None:
    assert skills_from_labels()(_labels(*labels)) == required


def test_a_prefix_of_ones_own() -> None:
    assert skills_from_labels("needs/")(_labels("needs/fr", "skill:de")) == {"fr": 1}
    with pytest.raises(ConfigurationError, match="prefix"):
        skills_from_labels("")


@pytest.mark.parametrize(
    ("skills", "match"),
    [
        ({"": 1}, "non-empty"),
        ({" ": 1}, "non-empty"),
        ({"de": 0}, "level"),
        ({"de": True}, "level"),
        ({"de": 1.5}, "level"),
        ({"de": 1_000_001}, "level"),
        (["de"], "must map"),
    ],
)
def test_bad_skills_are_refused(skills: Any, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        check_skills(skills)
    book = InMemorySkillBook()
    book.set_skills(ACCOUNT, "ann", {"fr": 1})
    with pytest.raises(ConfigurationError):
        book.set_many(ACCOUNT, {"bob": {"de": 1}, "ann": skills})
    # nothing changed: bob was not set, ann kept hers
    assert book.agent_skills(ACCOUNT, ["ann", "bob"]) == {"ann": {"fr": 1}}


def test_missing_skills_compares_levels() -> None:
    assert missing_skills({"de": 2, "fr": 1}, {"de": 1, "fr": 3}) == ["de"]
    assert missing_skills({"de": 2}, {"de": 2}) == []
    assert missing_skills({"b": 1, "a": 1}, {}) == ["a", "b"]


def test_routing_settings_are_checked() -> None:
    book = InMemorySkillBook()
    with pytest.raises(ConfigurationError, match="relax_after"):
        SkillRouting(book=book, relax_after=timedelta(0))
    with pytest.raises(ConfigurationError, match="relax_after"):
        SkillRouting(book=book, relax_after=600)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="book"):
        SkillRouting(book=object())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="required"):
        SkillRouting(book=book, required="skill:")  # type: ignore[arg-type]


def test_build_autoassign_refuses_anything_else(scenario: Any) -> None:
    scenario.setup()
    with pytest.raises(ConfigurationError, match="skills must be a SkillRouting"):
        scenario.build(skills=InMemorySkillBook())


def test_the_book_replaces_and_removes() -> None:
    book = InMemorySkillBook()
    book.set_skills(ACCOUNT, "ann", {"de": 2})
    book.set_skills(ACCOUNT, "ann", {"fr": 1})
    book.set_skills(ACCOUNT, "bob", {"de": 1})
    book.set_skills(ACCOUNT, "bob", {})
    assert book.agent_skills(ACCOUNT, ["ann", "bob", "cy"]) == {"ann": {"fr": 1}}
    assert book.agent_skills("other", ["ann"]) == {}


# -- the pass -------------------------------------------------------------------------


def test_only_an_agent_with_every_skill_gets_it(scenario: Any) -> None:
    scenario.setup(members=["ann", "bob", "cy"])
    routing, _ = _routing({"ann": {"de": 1}, "bob": {"de": 1, "billing": 1}})
    scenario.conv(1, labels={"skill:de", "skill:billing"})
    result = _run(scenario, routing)
    assert [a.agent for a in result.assignments] == ["bob"]


def test_levels_must_be_met(scenario: Any) -> None:
    scenario.setup(members=["ann", "bob"])
    routing, _ = _routing({"ann": {"de": 1}, "bob": {"de": 3}})
    scenario.conv(1, labels={"skill:de:2"})
    assert [a.agent for a in _run(scenario, routing).assignments] == ["bob"]


def test_round_robin_goes_on_among_the_skilled(scenario: Any) -> None:
    scenario.setup(members=["ann", "bob", "cy", "dee"])
    routing, _ = _routing({"bob": {"de": 1}, "dee": {"de": 1}})
    for n in range(1, 5):
        scenario.conv(n, ago=100 - n, labels={"skill:de"})
    scenario.conv(5, ago=10)  # no requirement: anyone, in queue order
    result = _run(scenario, routing)
    assert [a.agent for a in result.assignments] == ["bob", "dee", "bob", "dee", "ann"]


def test_a_conversation_nobody_skilled_can_take_holds_up_nobody(scenario: Any) -> None:
    scenario.setup(members=["ann", "bob"])
    routing, _ = _routing({"ann": {"fr": 1}})
    scenario.conv(1, ago=30, labels={"skill:de"})
    scenario.conv(2, ago=20)
    scenario.conv(3, ago=10, labels={"skill:fr"})
    result = _run(scenario, routing)
    assert [(s.conversation, s.reason) for s in result.skips] == [
        (1, SkipReason.NO_AGENT_WITH_SKILLS)
    ]
    assert result.skips[0].detail == "missing_skill=2"
    assert [(a.conversation, a.agent) for a in result.assignments] == [
        (2, "ann"),
        (3, "ann"),
    ]
    assert result.stopped is None


def test_skilled_but_full_agents_block_only_that_conversation(scenario: Any) -> None:
    """The skilled agent is at capacity: the conversation is skipped for capacity,
    but the pass goes on (its verdict depended on its own requirements)."""
    scenario.setup(members=["ann", "bob"])
    scenario.backend.add_capacity_policy(
        CapacityPolicy(id=9, account=ACCOUNT, inbox_limits={INBOX: 1}, agents={"ann"})
    )
    scenario.conv(100, assignee="ann")
    routing, _ = _routing({"ann": {"de": 1}})
    scenario.conv(1, ago=30, labels={"skill:de"})
    scenario.conv(2, ago=20)
    result = _run(scenario, routing)
    assert [(s.conversation, s.reason) for s in result.skips] == [
        (1, SkipReason.ALL_AT_CAPACITY)
    ]
    assert [(a.conversation, a.agent) for a in result.assignments] == [(2, "bob")]


def test_requirements_relax_after_the_wait(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    routing, _ = _routing({}, relax_after=timedelta(minutes=10))
    scenario.conv(1, ago=0, labels={"skill:de"})
    app = scenario.build(skills=routing)
    first = app.service.perform_bulk_assignment(INBOX)
    assert [s.reason for s in first.skips] == [SkipReason.NO_AGENT_WITH_SKILLS]
    scenario.clock.advance(599)
    assert app.service.perform_bulk_assignment(INBOX).assignments == ()
    scenario.clock.advance(1)
    assert [
        a.agent for a in app.service.perform_bulk_assignment(INBOX).assignments
    ] == ["ann"]


def test_the_wait_restarts_with_activity(scenario: Any) -> None:
    """The wait is the one of ``Assignment.waiting_since``: from the later of the
    conversation's creation and its last activity."""
    scenario.setup(members=["ann"])
    routing, _ = _routing({}, relax_after=timedelta(minutes=10))
    scenario.conv(1, ago=3600, activity_ago=60, labels={"skill:de"})
    assert _run(scenario, routing).assignments == ()


def test_a_failing_book_skips_only_what_needs_it(
    scenario: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Down:
        def agent_skills(self, account: Any, agents: Any) -> Any:
            raise ConnectionError("skills service down")

    scenario.setup(members=["ann"])
    scenario.conv(1, ago=20, labels={"skill:de"})
    scenario.conv(2, ago=10)
    with caplog.at_level(logging.WARNING, logger="autoassign"):
        result = _run(scenario, SkillRouting(book=Down()))
    assert [(s.conversation, s.reason, s.detail) for s in result.skips] == [
        (1, SkipReason.BACKEND_ERROR, "skills")
    ]
    assert [a.conversation for a in result.assignments] == [2]
    assert any("skill book failed" in r.getMessage() for r in caplog.records)


def test_without_routing_labels_mean_nothing(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.conv(1, labels={"skill:de"})
    result = scenario.build().service.perform_bulk_assignment(INBOX)
    assert [a.agent for a in result.assignments] == ["ann"]


def test_a_host_requirement_function(scenario: Any) -> None:
    scenario.setup(members=["ann", "bob"])
    book = InMemorySkillBook()
    book.set_skills(ACCOUNT, "bob", {"email": 1})
    routing = SkillRouting(
        book=book, required=lambda c: {"email": 1} if c.id == 1 else {}
    )
    scenario.conv(1, ago=20)
    scenario.conv(2, ago=10)
    result = _run(scenario, routing)
    assert [(a.conversation, a.agent) for a in result.assignments] == [
        (1, "bob"),
        (2, "ann"),
    ]


def test_a_host_function_returning_nonsense_skips_that_conversation(
    scenario: Any,
) -> None:
    scenario.setup(members=["ann"])
    book = InMemorySkillBook()
    routing = SkillRouting(
        book=book, required=lambda c: {"email": 0} if c.id == 1 else {}
    )
    scenario.conv(1, ago=20)
    scenario.conv(2, ago=10)
    result = _run(scenario, routing)
    assert [(s.conversation, s.reason) for s in result.skips] == [
        (1, SkipReason.BACKEND_ERROR)
    ]
    assert [a.conversation for a in result.assignments] == [2]


# -- explain --------------------------------------------------------------------------


def test_explain_shows_the_requirements_and_who_lacks_what(scenario: Any) -> None:
    scenario.setup(members=["ann", "bob"])
    routing, _ = _routing({"ann": {"de": 1}, "bob": {"de": 2, "fr": 1}})
    scenario.conv(1, labels={"skill:de:2", "skill:fr"})
    app = scenario.build(skills=routing)
    explained = explain_conversation(app, 1)
    assert explained.required_skills == {"de": 2, "fr": 1}
    assert explained.skills_relaxed is False
    ann, bob = explained.agents
    assert ann.removed_by == AgentFilter.MISSING_SKILL.value
    assert ann.missing_skills == ("de", "fr")
    assert bob.eligible
    assert explained.chosen == "bob"
    out = explained.to_dict()
    assert out["required_skills"] == {"de": 2, "fr": 1}
    assert out["agents"][0]["missing_skills"] == ["de", "fr"]


def test_explain_without_routing_has_no_skill_keys(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.conv(1, labels={"skill:de"})
    out = explain_conversation(scenario.build(), 1).to_dict()
    assert "required_skills" not in out
    assert "skills_relaxed" not in out
    assert "missing_skills" not in out["agents"][0]


def test_explain_says_when_requirements_relaxed(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    routing, _ = _routing({}, relax_after=timedelta(minutes=1))
    scenario.conv(1, ago=120, labels={"skill:de"})
    explained = explain_conversation(scenario.build(skills=routing), 1)
    assert (explained.required_skills, explained.skills_relaxed) == ({}, True)
    assert explained.chosen == "ann"


# -- the property ---------------------------------------------------------------------

_SKILLS = ["de", "fr", "billing"]
_HELD = st.dictionaries(st.sampled_from(_SKILLS), st.integers(1, 3), max_size=3)
_NEED = st.dictionaries(st.sampled_from(_SKILLS), st.integers(1, 3), max_size=2)


@given(
    agents=st.lists(st.tuples(_HELD, st.booleans()), min_size=1, max_size=5),
    conversations=st.lists(st.tuples(_NEED, st.integers(0, 1200)), max_size=12),
    relax=st.sampled_from([None, 300, 900]),
)
@settings(max_examples=80)
def test_nobody_gets_a_conversation_they_lack_a_skill_for(
    make_scenario: Any,
    agents: list[tuple[dict[str, int], bool]],
    conversations: list[tuple[dict[str, int], int]],
    relax: int | None,
) -> None:
    """Every assignment goes to an online agent holding every required skill (until
    the conversation has waited ``relax_after``), and nothing is left waiting that an
    online agent could take (no capacity or rate limit here)."""
    scenario = make_scenario()
    names = [f"a{i}" for i in range(len(agents))]
    online = [name for name, (_, on) in zip(names, agents, strict=True) if on]
    scenario.setup(members=names, online=online)
    held = {name: skills for name, (skills, _) in zip(names, agents, strict=True)}
    routing, _ = _routing(
        held, relax_after=None if relax is None else timedelta(seconds=relax)
    )
    needs: dict[int, dict[str, int]] = {}
    waited: dict[int, int] = {}
    for number, (need, ago) in enumerate(conversations, start=1):
        scenario.conv(
            number,
            ago=ago,
            labels={f"skill:{name}:{level}" for name, level in need.items()},
        )
        needs[number], waited[number] = need, ago
    result = _run(scenario, routing)

    def relaxed(number: int) -> bool:
        return relax is not None and waited[number] >= relax

    def can_take(agent: str, number: int) -> bool:
        return agent in online and (
            relaxed(number) or not missing_skills(needs[number], held[agent])
        )

    for assignment in result.assignments:
        assert can_take(assignment.agent, assignment.conversation), assignment
    assigned = {a.conversation for a in result.assignments}
    for number in needs:
        if number not in assigned:
            assert not any(can_take(agent, number) for agent in names), number


def test_skills_apply_under_balanced_too(scenario: Any) -> None:
    """Skills apply whatever the order (balanced here)."""
    scenario.setup(
        members=["ann", "bob"],
        policy=AssignmentPolicy(
            id=POLICY, account=ACCOUNT, assignment_order="balanced"
        ),
    )
    routing, _ = _routing({"bob": {"de": 1}})
    scenario.conv(100, assignee="bob")
    scenario.conv(1, labels={"skill:de"})
    assert [a.agent for a in _run(scenario, routing).assignments] == ["bob"]


def test_the_service_holds_the_routing(scenario: Any) -> None:
    scenario.setup()
    routing, _ = _routing({"ann": {"de": 1}})
    assert scenario.build(skills=routing).service.skills is routing
    assert scenario.build().service.skills is None


def test_skills_are_read_as_the_walk_reaches_agents(scenario: Any) -> None:
    """A pass reads the skills of the agents its walks reach (in batches of
    ``usage_batch``), not the whole team's: its cost does not grow with the team."""
    team = [f"agent-{n}" for n in range(500)]
    scenario.setup(members=team)
    _, book = _routing({agent: {"de": 1} for agent in team})
    asked: list[int] = []

    class Counting:
        def agent_skills(self, account: Any, agents: Any) -> Any:
            asked.append(len(agents))
            return book.agent_skills(account, agents)

    routing = SkillRouting(book=Counting())
    for number in range(10):
        scenario.conv(number, ago=100 - number, labels={"skill:de"})
    app = scenario.build(skills=routing)
    app.service.usage_batch = 4
    result = app.service.perform_bulk_assignment(INBOX)
    assert result.assigned_count == 10
    assert sum(asked) <= 12, asked  # three batches of 4, not 500
    # without requirements nothing is read at all
    asked.clear()
    scenario.conv("plain", ago=1)
    assert app.service.perform_bulk_assignment(INBOX).assigned_count == 1
    assert asked == []
