"""SqlDirectory answers like InMemoryWorld on the same configuration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from autoassign.adapters.memory import InMemoryWorld
from autoassign.adapters.sql import SqlDirectory, SqlWriter
from autoassign.model import (
    Account,
    AssignmentPolicy,
    CapacityPolicy,
    ExclusionRules,
    Id,
    Inbox,
    PolicyOverrides,
    Team,
)
from autoassign.testing import FakeClock

V2 = "assignment_v2"


def seed(db: Any, kind: str = "int") -> tuple[SqlDirectory, InMemoryWorld, SqlWriter]:
    engine, schema = db.make(ids=kind)
    writer = SqlWriter(engine, schema)
    world = InMemoryWorld(FakeClock())
    targets: list[Any] = [writer, world]

    def both(method: str, *args: Any) -> None:
        for target in targets:
            getattr(target, method)(*args)

    a: Callable[[int], Id] = (
        (lambda n: n) if kind == "int" else (lambda n: f"k{n:03d}" if n % 2 else n)
    )
    for n in range(1, 8):
        both("put_account", Account(id=a(n), features={V2} if n != 4 else {"other"}))
    both(
        "put_inbox",
        Inbox(
            id=a(10),
            account=a(1),
            overrides=PolicyOverrides(
                assignment_order="balanced", fair_distribution_window=60
            ),
        ),
        [a(103), a(101), a(102)],
    )
    both(
        "put_inbox",
        Inbox(id=a(11), account=a(1), enable_auto_assignment=False),
        [a(101)],
    )
    both("put_inbox", Inbox(id=a(12), account=a(1)), [])
    both("put_inbox", Inbox(id=a(13), account=a(2)), [a(101)])
    both("put_inbox", Inbox(id=a(14), account=a(1)), [a(102)])
    both("put_team", Team(id=a(5), account=a(1), members={a(101), a(102)}))
    both("put_team", Team(id=a(6), account=a(1), allow_auto_assign=False))
    both(
        "put_policy",
        AssignmentPolicy(
            id=a(20),
            account=a(1),
            name="Fast",
            description="d",
            assignment_order="balanced",
            conversation_priority="longest_waiting",
            fair_distribution_limit=5,
            fair_distribution_window=120,
            enabled=False,
        ),
    )
    both("put_policy", AssignmentPolicy(id=a(21), account=a(2)))
    both("link_policy", a(10), a(20))
    both("link_policy", a(14), a(20))
    both("link_policy", a(11), a(20))
    both("link_policy", a(13), a(21))
    both(
        "put_capacity_policy",
        CapacityPolicy(
            id=a(30),
            account=a(1),
            name="Cap",
            inbox_limits={a(10): 3, a(11): 0},
            agents={a(101)},
            exclusion_rules=ExclusionRules(
                excluded_labels={"x"}, exclude_older_than_hours=4
            ),
        ),
    )
    both(
        "put_capacity_policy",
        CapacityPolicy(id=a(31), account=a(1), inbox_limits={a(10): 1}),
    )
    both(
        "put_capacity_policy",
        CapacityPolicy(id=a(32), account=a(1), inbox_limits={a(12): 1}),
    )
    return SqlDirectory(engine, schema), world, writer


@pytest.mark.parametrize("kind", ["int", "mixed"])
def test_directory_matches_the_in_memory_world(db: Any, kind: str) -> None:
    directory, world, _ = seed(db, kind)
    accounts = [*world.accounts, "missing", 999]
    for account in accounts:
        assert directory.account(account) == world.account(account)
    for inbox in [*world.inboxes, 404, "nope"]:
        assert directory.inbox(inbox) == world.inbox(inbox)
        assert directory.inbox_members(inbox) == world.inbox_members(inbox)
        assert directory.policy_for_inbox(inbox) == world.policy_for_inbox(inbox)
        assert set(directory.capacity_policies_for_inbox(inbox)) == set(
            world.capacity_policies_for_inbox(inbox)
        )
    for team in [*world.teams, 404]:
        assert directory.team(team) == world.team(team)
    agents = {agent for members in world.members.values() for agent in members}
    for account in accounts:
        for agent in [*agents, "ghost"]:
            assert sorted(
                map(str, directory.inboxes_of_agent(account, agent))
            ) == sorted(map(str, world.inboxes_of_agent(account, agent)))
        for size in (1, 2, 100):
            assert {
                i
                for batch in directory.iter_inboxes(account, batch_size=size)
                for i in batch
            } == {
                i
                for batch in world.iter_inboxes(account, batch_size=size)
                for i in batch
            }
    for feature in (V2, "other", "none"):
        for size in (1, 3, 100):
            got = list(directory.iter_accounts(feature=feature, batch_size=size))
            assert all(0 < len(batch) <= size for batch in got)
            flat = [a for batch in got for a in batch]
            assert set(flat) == {
                a
                for batch in world.iter_accounts(feature=feature, batch_size=size)
                for a in batch
            }
            assert len(flat) == len(set(flat))


def test_members_keep_insertion_order(db: Any) -> None:
    directory, world, writer = seed(db)
    for target in (writer, world):
        target.remove_member(10, 103)
        target.add_member(10, 103)
        target.add_member(10, 100)
        target.add_member(10, 101)  # already a member: no change
    assert (
        directory.inbox_members(10) == (101, 102, 103, 100) == world.inbox_members(10)
    )


def test_capacity_policy_details(db: Any) -> None:
    directory, _, writer = seed(db)
    (first, second) = directory.capacity_policies_for_inbox(10)
    assert first.id == 30
    assert first.inbox_limits == {10: 3, 11: 0}
    assert first.agents == {101}
    assert first.exclusion_rules == ExclusionRules(
        excluded_labels={"x"}, exclude_older_than_hours=4
    )
    assert second.id == 31
    # an agent moved to another capacity policy of the account leaves the first one
    writer.put_capacity_policy(
        CapacityPolicy(id=31, account=1, inbox_limits={10: 1}, agents={101})
    )
    by_id = {p.id: p for p in directory.capacity_policies_for_inbox(10)}
    assert by_id[30].agents == frozenset()
    assert by_id[31].agents == {101}


def test_batches_use_keyset_pagination(
    db: Any, statement_counter: Callable[..., Any]
) -> None:
    directory, _, writer = seed(db)
    for n in range(40, 60):
        writer.put_account(Account(id=n, features={V2}))
    counter = statement_counter(directory.engine)
    batches = list(directory.iter_accounts(feature=V2, batch_size=7))
    ids = [a.id for batch in batches for a in batch]
    assert ids == [1, 2, 3, 5, 6, 7, *range(40, 60)]
    assert [len(b) for b in batches] == [7, 7, 7, 5]
    assert sum(" > " in s for s in counter.statements) == 3  # WHERE id > :last


def test_batch_size_must_be_positive(db: Any) -> None:
    directory, _, _ = seed(db)
    with pytest.raises(ValueError):
        list(directory.iter_accounts(feature=V2, batch_size=0))
    with pytest.raises(ValueError):
        list(directory.iter_inboxes(1, batch_size=-1))


def test_unknown_override_keys_are_ignored(db: Any) -> None:
    directory, _, _ = seed(db)
    inboxes = directory.schema.inboxes
    with directory.engine.begin() as conn:
        conn.execute(
            sa.update(inboxes)
            .where(inboxes.c.id == 12)
            .values(
                auto_assignment_config={
                    "max_assignment_limit": 3,
                    "assignment_order": "balanced",
                }
            )
        )
    inbox = directory.inbox(12)
    assert inbox is not None
    assert inbox.overrides == PolicyOverrides(assignment_order="balanced")
