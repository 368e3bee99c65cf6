"""Properties of ``unassigned_open`` on the ORM repository beyond the shipped suite:
keyset paging with ``after`` and ``exclude_teams`` (the port's final form) agree with
the same filters applied in Python to the priority order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoassign.integrations.django import DjangoConversationRepository
from autoassign.model import Conversation, ConversationPriority, ExclusionRules
from autoassign.testing import EPOCH
from autoassign.testing.strategies import conversations

from .test_contracts import MAPPING, seed

pytestmark = pytest.mark.postgres

NOW = EPOCH + timedelta(days=3)
TEAMS = [1, "t2", 3]
WORLDS = st.lists(
    conversations(
        inbox=1,
        account=1,
        id=st.integers(1, 60) | st.sampled_from(["a", "b", "zz"]),
        now=NOW,
        teams=TEAMS,
        assignees=["ann"],
        max_age=timedelta(seconds=8),  # few distinct times: many ties on the id
    ),
    max_size=25,
    unique_by=lambda c: str(c.id),
)


def _expected(
    world: list[Conversation],
    priority: ConversationPriority,
    after: Conversation | None,
    exclude_teams: frozenset[Any],
) -> list[Any]:
    found = sorted(
        (
            c
            for c in world
            if c.is_assignable
            and (c.team is None or c.team not in exclude_teams)
            and (
                after is None or c.priority_key(priority) > after.priority_key(priority)
            )
        ),
        key=lambda c: c.priority_key(priority),
    )
    return [c.id for c in found]


@settings(max_examples=40, deadline=None)
@given(
    world=WORLDS,
    priority=st.sampled_from(ConversationPriority),
    pick=st.integers(0, 30),
    exclude_teams=st.frozensets(st.sampled_from(TEAMS)),
    limit=st.integers(1, 30),
)
def test_after_and_exclude_teams_match_the_priority_order(
    django_db: str,
    *,
    world: list[Conversation],
    priority: ConversationPriority,
    pick: int,
    exclude_teams: frozenset[Any],
    limit: int,
) -> None:
    seed(world)
    repository = DjangoConversationRepository(MAPPING)
    after = world[pick % len(world)] if world and pick < 25 else None
    found = repository.unassigned_open(
        1,
        limit=limit,
        priority=priority,
        exclusions=ExclusionRules(),
        now=NOW,
        after=after,
        exclude_teams=exclude_teams,
    )
    assert [c.id for c in found] == _expected(world, priority, after, exclude_teams)[
        :limit
    ]


@settings(max_examples=20, deadline=None)
@given(
    world=WORLDS, priority=st.sampled_from(ConversationPriority), page=st.integers(1, 4)
)
def test_paging_with_after_visits_everything_once(
    django_db: str, world: list[Conversation], priority: ConversationPriority, page: int
) -> None:
    seed(world)
    repository = DjangoConversationRepository(MAPPING)
    seen: list[Any] = []
    after: Conversation | None = None
    for _ in range(len(world) + 1):
        batch = repository.unassigned_open(
            1,
            limit=page,
            priority=priority,
            exclusions=ExclusionRules(),
            now=NOW,
            after=after,
        )
        if not batch:
            break
        seen.extend(c.id for c in batch)
        after = batch[-1]
    assert seen == _expected(world, priority, None, frozenset())
