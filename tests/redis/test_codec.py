"""Reply decoding: ids map back to the exact objects the caller passed, whatever the
reply's string type; the cache of the members' map is reused only for an equal list."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoassign.adapters.redis._codec import (
    IdMap,
    IdMapCache,
    agent_times,
    datetime_from_score,
    score_from_datetime,
)
from autoassign.errors import ConfigurationError

_IDS = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.text(min_size=1, max_size=6),
)


@given(ids=st.lists(_IDS, max_size=12), as_bytes=st.booleans())
def test_getter_finds_each_id_by_its_text(ids: list[int | str], as_bytes: bool) -> None:
    mapped = IdMap(ids)
    for value in ids:
        text = str(value)
        sample = text.encode() if as_bytes else text
        found = mapped.getter(sample)(sample)
        # The first id with that text wins (1 and "1" share a text).
        assert found == next(v for v in ids if str(v) == text)
        assert mapped.get(sample) == found
    assert mapped.texts == [str(v) for v in ids]


def test_an_unknown_text_maps_to_nothing() -> None:
    mapped = IdMap([1, "ann"])
    assert mapped.getter(b"2")(b"2") is None
    assert mapped.getter("bob")("bob") is None


def test_a_bad_id_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        IdMap([1, 2.5])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError):
        IdMap([True])


def test_the_cache_reuses_the_map_only_for_an_equal_list() -> None:
    cache = IdMapCache()
    first = cache.get([1, 2, 3])
    assert cache.get((1, 2, 3)) is first
    second = cache.get([1, 2, 4])
    assert second is not first
    assert second.get("4") == 4
    assert second.get("3") is None


def test_the_cache_keeps_the_last_few_lists() -> None:
    cache = IdMapCache()
    maps = [cache.get(range(n)) for n in range(IdMapCache.SIZE)]
    assert [cache.get(list(range(n))) for n in range(IdMapCache.SIZE)] == maps
    assert cache.get(range(100)) not in maps  # a new one pushes out the oldest used
    assert cache.get(range(IdMapCache.SIZE - 1)) is maps[-1]
    assert cache.get(range(0)) is not maps[0]
    assert len({id(cache.get(["a", 1])) for _ in range(3)}) == 1
    # An equal list of another type maps to the same texts; ids come back as given.
    assert cache.get(["1", 2]).get("1") == "1"
    assert cache.get([1, 2]).get("1") == 1


@given(
    times=st.lists(
        st.datetimes(
            min_value=datetime(2000, 1, 1),
            max_value=datetime(2100, 1, 1),
            timezones=st.just(timezone.utc),
        ),
        min_size=1,
        max_size=5,
    ),
    as_bytes=st.booleans(),
)
def test_agent_times_decodes_scores_exactly(
    times: list[datetime], as_bytes: bool
) -> None:
    agents = list(range(len(times)))
    reply: list[object] = []
    for agent, when in zip(agents, times, strict=True):
        pair = [str(agent), str(score_from_datetime(when))]
        reply.extend(item.encode() if as_bytes else item for item in pair)
    reply.extend([b"99" if as_bytes else "99", reply[1]])  # not asked for: dropped
    assert agent_times(IdMap(agents), reply) == dict(zip(agents, times, strict=True))


def test_agent_times_accepts_float_text_scores() -> None:
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    score = score_from_datetime(when)
    reply = [b"1", f"{float(score):.17g}e0".encode(), b"2", float(score)]
    assert agent_times(IdMap([1, 2]), reply) == {1: when, 2: when}
    assert datetime_from_score(str(score)) == when
