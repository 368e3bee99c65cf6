"""``InMemoryWorld.unassigned_open`` skips a label group that carries an excluded
label without looking at its conversations (excluded conversations pile up: the
simulator's day of VIP conversations), and still answers as the rules say."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoassign.model import ConversationPriority, ExclusionRules
from autoassign.testing import FakeClock, InMemoryBackend

START = datetime(2026, 1, 5, tzinfo=timezone.utc)
LABELS = ("VIP", "refund", "lead")


def _backend() -> InMemoryBackend:
    backend = InMemoryBackend(clock=FakeClock(START))
    backend.add_account(1)
    backend.add_inbox(10, account=1, members=[])
    return backend


def test_excluded_label_groups_are_skipped_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backend = _backend()
    for number in range(1, 1001):
        backend.add_conversation(number, inbox=10, labels=["VIP"])
    backend.add_conversation(5000, inbox=10, labels=["refund"])
    judged: list[object] = []
    real = ExclusionRules.excludes

    def counting(self: ExclusionRules, conversation: object, now: datetime) -> bool:
        judged.append(conversation)
        return real(self, conversation, now)  # type: ignore[arg-type]

    monkeypatch.setattr(ExclusionRules, "excludes", counting)
    found = backend.world.unassigned_open(
        10,
        limit=100,
        priority=ConversationPriority.EARLIEST_CREATED,
        exclusions=ExclusionRules(excluded_labels={"VIP"}),
        now=START,
    )
    assert [c.id for c in found] == [5000]
    assert len(judged) <= 1


@settings(max_examples=60, deadline=None)
@given(
    conversations=st.lists(
        st.tuples(
            st.sets(st.sampled_from(LABELS)),
            st.integers(min_value=0, max_value=48),  # created, hours after START
            st.sampled_from(["open", "resolved", "assigned"]),
        ),
        max_size=30,
    ),
    excluded=st.sets(st.sampled_from(LABELS)),
    hours=st.none() | st.integers(min_value=1, max_value=24),
    limit=st.integers(min_value=1, max_value=40),
    priority=st.sampled_from(list(ConversationPriority)),
)
def test_answers_what_the_rules_say(
    conversations: list[tuple[set[str], int, str]],
    excluded: set[str],
    hours: int | None,
    limit: int,
    priority: ConversationPriority,
) -> None:
    backend = _backend()
    now = START + timedelta(hours=48)
    for number, (labels, created, state) in enumerate(conversations, start=1):
        backend.add_conversation(
            number,
            inbox=10,
            labels=labels,
            created_at=START + timedelta(hours=created),
            status="resolved" if state == "resolved" else "open",
            assignee="ann" if state == "assigned" else None,
        )
    # a conversation whose labels change moves between groups
    if conversations:
        backend.world.update_conversation(1, labels=frozenset({"VIP"}))
    rules = ExclusionRules(excluded_labels=excluded, exclude_older_than_hours=hours)
    expected = sorted(
        (
            c
            for c in backend.world.conversations.values()
            if c.is_assignable and not rules.excludes(c, now)
        ),
        key=lambda c: c.priority_key(priority),
    )[:limit]
    found = backend.world.unassigned_open(
        10, limit=limit, priority=priority, exclusions=rules, now=now
    )
    assert list(found) == expected
