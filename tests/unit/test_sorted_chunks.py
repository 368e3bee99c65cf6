"""The in-memory ledger's sorted multiset (autoassign.adapters._sorted) against a
sorted list, with tiny chunks so that splits and merges happen all the time."""

from __future__ import annotations

import bisect

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoassign.adapters._sorted import SortedChunks

steps = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 40)),
        st.tuples(st.just("remove"), st.integers(0, 40)),
        st.tuples(st.just("pop_below"), st.integers(0, 40)),
        st.tuples(st.just("count_from"), st.integers(0, 40)),
    ),
    max_size=300,
)


@given(steps=steps, load=st.integers(2, 6))
@settings(max_examples=300)
def test_behaves_like_a_sorted_list(steps: list[tuple[str, int]], load: int) -> None:
    chunks: SortedChunks[int] = SortedChunks(load=load)
    model: list[int] = []
    for op, value in steps:
        if op == "add":
            chunks.add(value)
            bisect.insort(model, value)
        elif op == "remove":
            present = value in model
            assert chunks.remove(value) is present
            if present:
                model.remove(value)
        elif op == "pop_below":
            at = bisect.bisect_left(model, value)
            assert chunks.pop_below(value) == model[:at]
            del model[:at]
        else:
            at = bisect.bisect_left(model, value)
            first = model[at] if at < len(model) else None
            assert chunks.count_from(value) == (len(model) - at, first)
        assert chunks.keys() == model
        assert len(chunks) == len(model)
        assert chunks.last() == (model[-1] if model else None)
        for probe in (0, 10, 20, 30, 41):
            assert chunks.count_from(probe)[0] == len(model) - bisect.bisect_left(
                model, probe
            )


def test_a_million_keys_stay_in_bounded_chunks() -> None:
    chunks: SortedChunks[int] = SortedChunks()
    for value in range(1_000_000):
        chunks.add(value)
    assert len(chunks) == 1_000_000
    assert chunks.count_from(999_000) == (1000, 999_000)
    assert len(chunks.pop_below(500_000)) == 500_000
    assert chunks.count_from(0) == (500_000, 500_000)
    assert chunks.remove(750_000)
    assert not chunks.remove(750_000)
    assert chunks.count_from(750_000) == (249_999, 750_001)
    sizes = [len(chunk) for chunk in chunks._chunks]
    assert max(sizes) <= 2 * 1000
    assert min(sizes) >= 1000 // 2


def test_load_is_validated() -> None:
    with pytest.raises(ValueError, match="load"):
        SortedChunks(load=1)
