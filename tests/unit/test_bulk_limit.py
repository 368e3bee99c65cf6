"""The bulk limit (issue 2, behaviour 2): default 100, ``AUTO_ASSIGNMENT_BULK_LIMIT``
overrides it, a non-positive or non-integer value is a configuration error."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoassign import ConfigurationError, bulk_limit_from_env
from autoassign.service import DEFAULT_BULK_LIMIT

ENV = "AUTO_ASSIGNMENT_BULK_LIMIT"


def test_default_is_100(scenario: Any) -> None:
    assert DEFAULT_BULK_LIMIT == 100
    scenario.setup(members=["ann"])
    scenario.convs(range(1, 106))

    result = scenario.run()

    assert result.fetched == 100
    assert result.assigned_count == 100
    # The 100 oldest went, the 5 newest wait for the next pass.
    assert {a.conversation for a in result.assignments} == set(range(1, 101))
    assert [scenario.assignee(n) for n in range(101, 106)] == [None] * 5
    assert scenario.run().assigned_count == 5


def test_env_variable_sets_the_default(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.convs(range(1, 8))
    scenario.build(environ={ENV: "3"})
    result = scenario.run()
    assert result.fetched == 3
    assert [a.conversation for a in result.assignments] == [1, 2, 3]


def test_env_is_read_from_os_environ_by_default(
    scenario: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "2")
    assert bulk_limit_from_env() == 2
    scenario.setup(members=["ann"])
    scenario.convs(range(1, 5))
    scenario.build(environ=None)
    assert scenario.run().fetched == 2
    monkeypatch.delenv(ENV)
    assert bulk_limit_from_env() == 100


def test_explicit_bulk_limit_beats_the_env(scenario: Any) -> None:
    scenario.setup(members=["ann"])
    scenario.convs(range(1, 8))
    scenario.build(environ={ENV: "3"}, bulk_limit=5)
    assert scenario.run().fetched == 5


@pytest.mark.parametrize(
    ("environ", "expected"),
    [({}, 100), ({ENV: "1"}, 1), ({ENV: "250"}, 250), ({ENV: " 7 "}, 7)],
)
def test_bulk_limit_from_env_valid(environ: dict[str, str], expected: int) -> None:
    assert bulk_limit_from_env(environ) == expected


@pytest.mark.parametrize(
    "raw",
    [
        *("0", "-1", "-100", "abc", "1.5", "1e3", "true", "ten", "0x10", "5 5"),
        *("1_000", "+5", "\u00b2", "\u0663"),  # underscores, signs, non-ASCII digits
    ],
)
def test_bulk_limit_from_env_rejects_bad_values(raw: str) -> None:
    with pytest.raises(ConfigurationError, match=ENV) as info:
        bulk_limit_from_env({ENV: raw})
    assert info.value.field == ENV


def test_a_bad_env_value_fails_at_build_time(scenario: Any) -> None:
    scenario.setup()
    with pytest.raises(ConfigurationError) as info:
        scenario.build(environ={ENV: "0"})
    assert info.value.field == ENV


@pytest.mark.parametrize("bad", [0, -1, True, False, 1.5, "5", None])
def test_bulk_limit_option_is_validated(scenario: Any, bad: object) -> None:
    scenario.setup()
    if bad is None:
        # None means "from the environment": not an error.
        scenario.build(bulk_limit=None)
        return
    with pytest.raises(ConfigurationError) as info:
        scenario.build(bulk_limit=bad)
    assert info.value.field == "bulk_limit"


@pytest.mark.parametrize("bad", [0, -3, True, 2.0, "2"])
def test_limit_argument_is_validated_before_anything_happens(
    scenario: Any, bad: object
) -> None:
    scenario.setup()
    scenario.convs([1, 2])
    before = scenario.snapshot()
    with pytest.raises(ConfigurationError) as info:
        scenario.run(limit=bad)
    assert info.value.field == "limit"
    assert scenario.snapshot() == before


@given(
    count=st.integers(0, 30),
    limit=st.integers(1, 40),
    agents=st.integers(1, 3),
)
@settings(max_examples=40)
def test_a_pass_fetches_at_most_limit_oldest_first(
    make_scenario: Any, count: int, limit: int, agents: int
) -> None:
    scenario = make_scenario()
    scenario.setup(members=[f"a{i}" for i in range(agents)])
    scenario.convs(range(1, count + 1))

    result = scenario.run(limit=limit)

    assert result.fetched == min(count, limit)
    assert result.assigned_count == min(count, limit)
    assert [a.conversation for a in result.assignments] == list(
        range(1, min(count, limit) + 1)
    )
