"""The in-memory presence and rotation store reuse work for a repeated tuple of
members (the directory's member view, read by every pass): a kept answer, a queue kept
reconciled. Whatever the calls, every answer is the one computed afresh."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from autoassign.adapters.memory import (
    InMemoryOnlinePresence,
    InMemoryPresence,
    InMemoryRotationStore,
)
from autoassign.selection import reconcile_queue

AGENTS = ["ann", "bob", "cy", "dee", "eve"]
STATUSES = ["online", "busy", "offline"]
# a few member tuples, each the same object every time it is used, and lists
TUPLES = [tuple(AGENTS), ("bob", "cy"), ("eve", "ann", "dee"), ()]
members = st.one_of(
    st.sampled_from(TUPLES),
    st.lists(st.sampled_from(AGENTS), max_size=6),
    st.lists(st.sampled_from(AGENTS), max_size=6).map(tuple),  # equal, not the same
)

presence_ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("set"),
            st.sampled_from([1, 2]),
            st.sampled_from(AGENTS),
            st.sampled_from(STATUSES),
        ),
        st.tuples(st.just("read"), st.sampled_from([1, 2]), members),
    ),
    max_size=40,
)


@given(ops=presence_ops, online=st.booleans())
def test_presence_answers_as_a_fresh_read(
    ops: list[tuple[object, ...]], online: bool
) -> None:
    presence = InMemoryOnlinePresence() if online else InMemoryPresence()
    table: dict[object, dict[str, str]] = {}
    for op in ops:
        if op[0] == "set":
            _kind, account, agent, status = op
            before = table.setdefault(account, {}).get(str(agent))
            assert presence.set_status(account, str(agent), str(status)) == before
            table[account][str(agent)] = str(status)
        else:
            _kind, account, asked = op
            assert isinstance(asked, Sequence)
            known = table.get(account, {})
            expected = {agent: known[agent] for agent in asked if agent in known}
            answer = presence.statuses(account, asked)
            assert list(answer.items()) == list(expected.items())
            answer.clear()  # type: ignore[attr-defined]  # a copy: the caller may change it


rotation_ops = st.lists(
    st.tuples(
        st.sampled_from(["select", "order", "advance"]),
        st.sampled_from([1, 2]),
        members,
        st.lists(st.sampled_from(AGENTS), max_size=4),
    ),
    max_size=40,
)


@given(ops=rotation_ops)
def test_the_rotation_store_answers_as_one_that_always_reconciles(
    ops: list[tuple[str, int, Sequence[str], list[str]]],
) -> None:
    store = InMemoryRotationStore()
    queues: dict[int, list[str]] = {}
    for name, inbox, asked, agents in ops:
        queue = reconcile_queue(queues.get(inbox, ()), asked)
        if name == "order":
            assert list(store.order(inbox, members=asked)) == queue
        elif name == "select":
            allowed = set(agents)
            chosen = next((agent for agent in queue if agent in allowed), None)
            if chosen is not None:
                queue.remove(chosen)
                queue.append(chosen)
            assert store.select(inbox, members=asked, eligible=agents) == chosen
            queues[inbox] = queue
        else:
            for agent in agents:
                if agent in queue:
                    queue.remove(agent)
                    queue.append(agent)
            store.advance(inbox, members=asked, agents=agents)
            queues[inbox] = queue
        assert store._queues == queues
