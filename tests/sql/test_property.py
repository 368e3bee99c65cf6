"""Property: on the same data, the SQL repository answers exactly like InMemoryWorld
(the reference): unassigned_open (filters, priority order, id tie-break, limit),
open_counts and any sequence of claims."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoassign.adapters.memory import InMemoryWorld
from autoassign.adapters.sql import SqlConversationRepository, SqlWriter
from autoassign.model import (
    Conversation,
    ConversationPriority,
    ConversationStatus,
    ExclusionRules,
    Id,
)
from autoassign.testing import EPOCH, FakeClock

LABELS = ["a", "b", "B", "c d"]
AGENTS = [1, 2, 3]
INBOXES = [10, 11]

int_ids = st.integers(min_value=-5, max_value=40)
mixed_ids = st.one_of(int_ids, st.text(alphabet="aAb9é ~", min_size=0, max_size=3))


@st.composite
def conversations(
    draw: st.DrawFn, id_strategy: st.SearchStrategy[Id]
) -> list[Conversation]:
    keys = draw(st.lists(id_strategy, unique=True, max_size=14))
    out = []
    for key in keys:
        created = EPOCH + timedelta(minutes=draw(st.integers(0, 6)) * 30)
        activity = created + timedelta(minutes=draw(st.integers(0, 3)) * 30)
        out.append(
            Conversation(
                id=key,
                inbox=draw(st.sampled_from(INBOXES)),
                account=1,
                status=draw(st.sampled_from(list(ConversationStatus))),
                assignee=draw(st.one_of(st.none(), st.sampled_from(AGENTS))),
                labels=draw(st.frozensets(st.sampled_from(LABELS))),
                created_at=created,
                last_activity_at=activity,
                weight=draw(st.sampled_from([1, 1, 0.5, 0.1, 1.5])),
            )
        )
    return out


rules = st.builds(
    ExclusionRules,
    excluded_labels=st.frozensets(st.sampled_from(LABELS)),
    exclude_older_than_hours=st.one_of(st.none(), st.integers(1, 4)),
)

claims = st.lists(
    st.tuples(
        st.integers(0, 20),
        st.sampled_from(AGENTS),
        st.one_of(st.none(), st.integers(0, 3)),
    ),
    max_size=12,
)


def _run(db: Any, kind: str, case: dict[str, Any]) -> None:
    state = db.cache
    if "repo" not in state:
        engine, schema = db.make(ids={"default": "int", "conversation": kind})
        state["repo"] = SqlConversationRepository(engine, schema)
        state["writer"] = SqlWriter(engine, schema)
    repo: SqlConversationRepository = state["repo"]
    writer: SqlWriter = state["writer"]
    data: list[Conversation] = case["data"]
    exclusions: ExclusionRules = case["exclusions"]
    priority: ConversationPriority = case["priority"]
    limit: int = case["limit"]
    writer.clear_conversations()
    writer.put_conversations(data)
    world = InMemoryWorld(FakeClock())
    for c in data:
        world.put_conversation(c)
    now = EPOCH + timedelta(hours=case["hours"])
    for inbox in INBOXES:
        expected = world.unassigned_open(
            inbox, limit=limit, priority=priority, exclusions=exclusions, now=now
        )
        got = repo.unassigned_open(
            inbox, limit=limit, priority=priority, exclusions=exclusions, now=now
        )
        assert list(got) == list(expected)
        assert repo.open_counts(inbox, AGENTS) == world.open_counts(inbox, AGENTS)
    for index, agent, capacity in case["claims"]:
        if not data:
            break
        target = data[index % len(data)].id
        assert repo.claim(target, agent, capacity_limit=capacity) == world.claim(
            target, agent, capacity_limit=capacity
        )
    for c in data:
        assert repo.get(c.id) == world.get(c.id)
    for inbox in INBOXES:
        assert repo.open_counts(inbox, AGENTS) == world.open_counts(inbox, AGENTS)


SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def cases(ids: st.SearchStrategy[Id]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "data": conversations(ids),
            "exclusions": rules,
            "priority": st.sampled_from(list(ConversationPriority)),
            "limit": st.integers(1, 16),
            "hours": st.integers(0, 6),
            "claims": claims,
        }
    )


@SETTINGS
@given(case=cases(int_ids))
def test_int_ids_match_the_in_memory_reference(db: Any, case: dict[str, Any]) -> None:
    _run(db, "int", case)


@SETTINGS
@given(case=cases(mixed_ids))
def test_mixed_ids_match_the_in_memory_reference(db: Any, case: dict[str, Any]) -> None:
    _run(db, "mixed", case)
