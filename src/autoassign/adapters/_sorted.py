"""A sorted multiset in chunks, for the in-memory fair-distribution ledger: no
dependency (``sortedcontainers`` is not a core dependency), logarithmic where the
ledger needs it.

The keys live in sorted chunks of ``load / 2`` to ``2 * load`` keys (a lone chunk may be
smaller), with each chunk's largest key in ``maxes`` and the chunks' lengths in a
Fenwick tree. Finding a key's chunk is a bisection of ``maxes``, the number of keys
before a chunk a Fenwick prefix sum: both O(log n). Inserting into or deleting from a
chunk moves at most ``2 * load`` references. Splitting or merging chunks (once per
``load / 2`` changes at the least) rebuilds the tree in O(n / load), which adds
O(n / load²) per operation amortised: under one for the million entries the ledger is
sized for (``load`` = 1,000), as in ``sortedcontainers``.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["SortedChunks"]


class _Ordered(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...


K = TypeVar("K", bound=_Ordered)

_LOAD = 1000


class SortedChunks(Generic[K]):
    """A sorted multiset of ``K`` (keys compare with ``<``)."""

    __slots__ = ("_chunks", "_load", "_maxes", "_size", "_tree")

    def __init__(self, *, load: int = _LOAD) -> None:
        if load < 2:
            raise ValueError("load must be at least 2")
        self._load = load
        self._chunks: list[list[K]] = []
        self._maxes: list[K] = []
        self._tree: list[int] = [0]
        """Fenwick tree over the chunks' lengths (1-based; ``_tree[0]`` is unused)."""
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def keys(self) -> list[K]:
        """Every key, in order (O(n): for tests)."""
        return [key for chunk in self._chunks for key in chunk]

    def last(self) -> K | None:
        """The largest key, or ``None`` when empty."""
        return self._maxes[-1] if self._maxes else None

    def add(self, key: K) -> None:
        """Insert ``key`` (equal keys are kept side by side)."""
        chunks, maxes = self._chunks, self._maxes
        if not chunks:
            chunks.append([key])
            maxes.append(key)
            self._size = 1
            self._rebuild()
            return
        index = bisect_left(maxes, key)
        if index == len(chunks):
            index -= 1
            chunks[index].append(key)
            maxes[index] = key
        else:
            insort(chunks[index], key)
        self._size += 1
        if len(chunks[index]) > 2 * self._load:
            self._split(index)
            self._rebuild()
        else:
            self._bump(index, 1)

    def remove(self, key: K) -> bool:
        """Remove one key equal to ``key``; ``False`` (nothing changes) if none is."""
        chunks, maxes = self._chunks, self._maxes
        index = bisect_left(maxes, key)
        if index == len(chunks):
            return False
        chunk = chunks[index]
        at = bisect_left(chunk, key)
        if at == len(chunk) or key < chunk[at]:
            return False
        del chunk[at]
        self._size -= 1
        self._shrunk(index, 1)
        return True

    def count_from(self, probe: K) -> tuple[int, K | None]:
        """How many keys are not less than ``probe``, and the smallest of them."""
        chunks = self._chunks
        index = bisect_left(self._maxes, probe)
        if index == len(chunks):
            return 0, None
        at = bisect_left(chunks[index], probe)
        return self._size - self._before(index) - at, chunks[index][at]

    def pop_below(self, probe: K) -> list[K]:
        """Remove and return (in order) every key less than ``probe``."""
        chunks, maxes = self._chunks, self._maxes
        gone = 0
        while gone < len(chunks) and maxes[gone] < probe:
            gone += 1
        removed = [key for chunk in chunks[:gone] for key in chunk]
        if gone:
            del chunks[:gone]
            del maxes[:gone]
        if chunks:
            at = bisect_left(chunks[0], probe)
            if at:
                removed.extend(chunks[0][:at])
                del chunks[0][:at]
        self._size -= len(removed)
        if gone:
            self._settle(0)
            self._rebuild()
        elif removed:
            self._shrunk(0, len(removed))
        return removed

    # -- bookkeeping --------------------------------------------------------------------

    def _shrunk(self, index: int, by: int) -> None:
        """Chunk ``index`` lost ``by`` keys: fix its max, merge it if it is too small."""
        chunks = self._chunks
        if self._settle(index):
            self._rebuild()
            return
        self._maxes[index] = chunks[index][-1]
        self._bump(index, -by)

    def _settle(self, index: int) -> bool:
        """Merge chunk ``index`` into a neighbour when it is empty or (with others
        left) smaller than ``load / 2``, splitting the result if it is too big.
        ``True`` if the chunks changed (the tree must be rebuilt)."""
        chunks, maxes = self._chunks, self._maxes
        if index >= len(chunks):
            return False
        chunk = chunks[index]
        if chunk and (len(chunks) == 1 or len(chunk) >= self._load // 2):
            return False
        if not chunk:
            del chunks[index]
            del maxes[index]
            return True
        other = index + 1 if index + 1 < len(chunks) else index - 1
        low, high = min(index, other), max(index, other)
        merged = chunks[low] + chunks[high]
        chunks[low : high + 1] = [merged]
        maxes[low : high + 1] = [merged[-1]]
        if len(merged) > 2 * self._load:
            self._split(low)
        return True

    def _split(self, index: int) -> None:
        chunk = self._chunks[index]
        half = len(chunk) // 2
        self._chunks[index : index + 1] = [chunk[:half], chunk[half:]]
        self._maxes[index : index + 1] = [chunk[half - 1], chunk[-1]]

    def _rebuild(self) -> None:
        tree = [0, *(len(chunk) for chunk in self._chunks)]
        size = len(tree)
        for i in range(1, size):
            parent = i + (i & -i)
            if parent < size:
                tree[parent] += tree[i]
        self._tree = tree

    def _bump(self, index: int, delta: int) -> None:
        tree = self._tree
        i = index + 1
        while i < len(tree):
            tree[i] += delta
            i += i & -i

    def _before(self, index: int) -> int:
        """The number of keys in the chunks before ``index``."""
        tree = self._tree
        total = 0
        i = index
        while i > 0:
            total += tree[i]
            i -= i & -i
        return total
