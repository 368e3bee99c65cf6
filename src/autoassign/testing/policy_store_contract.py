"""The contract suite of :class:`autoassign.admin.store.PolicyStore`: the guarantees its
docstrings promise, as tests.

A plain class like the suites in :mod:`autoassign.testing.contracts` (no pytest import,
``test_*`` methods taking only ``self``, plain ``assert``). A host checks its own store
by subclassing it and filling in :meth:`PolicyStoreContract.make_store`::

    from autoassign.testing.policy_store_contract import PolicyStoreContract

    class TestMyPolicyStore(PolicyStoreContract):
        def make_store(self, clock, *, inboxes, members, users):
            db = fresh_database()
            load_inboxes_and_users(db, inboxes, members, users)
            return MyPolicyStore(db, clock=clock), MyDirectory(db)

The hook seeds what the host owns (inboxes with their names and members, users with
their names, e-mails and roles) and returns the store together with the
:class:`~autoassign.ports.Directory` the assignment engine reads, so the suite can check
that a committed change reaches the next pass. Accounts are ``1`` and ``2``; inboxes
``10``, ``11``, ``12`` (account 1) and ``20`` (account 2); agents are strings (ints
under ``integer_ids``). A single-account host sets ``single_account``: only account 1
is seeded. Policy,
capacity policy and limit ids are whatever the store generates: the suite only
compares them, and sorts them with :func:`autoassign.model.id_sort_key`.

Some tests race 8 threads against one store (unique names, one limit per inbox per
policy, one capacity policy per agent, one policy per inbox); the store must be
thread-safe and, for a database, open one connection per thread.
"""

from __future__ import annotations

import functools
import unittest
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar, Protocol

import attrs

from autoassign.admin.store import (
    AgentInfo,
    CapacityPolicyValues,
    DuplicateInboxLimit,
    InboxInfo,
    NameTaken,
    PolicyRecord,
    PolicyStore,
    PolicyValues,
    StoreConflict,
)
from autoassign.errors import ConfigurationError
from autoassign.model import (
    MAX_ROUTING_SECONDS,
    AccountId,
    AgentId,
    AssignmentOrder,
    AssignmentPolicy,
    ConversationPriority,
    ExclusionRules,
    Id,
    InboxId,
    id_sort_key,
)
from autoassign.ports import Directory
from autoassign.testing import FakeClock
from autoassign.testing.contracts import _race

__all__ = ["AGENT_NUMBERS", "PolicyStoreContract"]

ACCOUNT: AccountId = 1
OTHER: AccountId = 2
INBOXES: tuple[InboxInfo, ...] = (
    InboxInfo(id=10, account=ACCOUNT, name="Support"),
    InboxInfo(id=11, account=ACCOUNT, name="Sales"),
    InboxInfo(id=12, account=ACCOUNT, name="Billing"),
    InboxInfo(id=20, account=OTHER, name="Theirs"),
)
MEMBERS: Mapping[InboxId, tuple[AgentId, ...]] = {
    10: ("ann", "bob"),
    11: ("ann", "bob", "cy"),
    12: (),
    20: ("zed",),
}
USERS: tuple[AgentInfo, ...] = (
    AgentInfo(id="ann", account=ACCOUNT, name="Ann", email="ann@example.com"),
    AgentInfo(id="bob", account=ACCOUNT, name="Bob"),
    AgentInfo(id="root", account=ACCOUNT, name="Root", role="administrator"),
    AgentInfo(id="zed", account=OTHER, name="Zed"),
)
"""``cy`` is an inbox member without a user record; ``root`` a user in no inbox."""

AGENT_NUMBERS: Mapping[str, int] = {
    "ann": 1,
    "bob": 2,
    "cy": 3,
    "zed": 6,
    "root": 7,
    "ghost": 99,
}
"""The int each agent name stands for under ``integer_ids`` (``ghost`` is nobody)."""

_CONCURRENCY = 8
_MINUTE = timedelta(minutes=1)


class _HasId(Protocol):
    @property
    def id(self) -> Id: ...


def _ids(records: Sequence[_HasId]) -> list[Id]:
    return [record.id for record in records]


def _raises(kind: type[Exception], call: Callable[[], object]) -> Exception:
    """The ``kind`` exception ``call()`` raises (an AssertionError if none)."""
    try:
        call()
    except kind as exc:
        return exc
    raise AssertionError(f"expected {kind.__name__}")


def _sorted(ids: Sequence[Id]) -> list[Id]:
    return sorted(ids, key=id_sort_key)


class PolicyStoreContract:
    """Checks :class:`~autoassign.admin.store.PolicyStore`: account scoping, atomic
    writes that change nothing when they fail, unique names per account, ids never
    reused, timestamps from the store's clock, lists ordered by id, moves of agents,
    delete cascades, every change visible through the Directory, and the uniqueness
    invariants under concurrent writers."""

    unlimited_inbox_limits: ClassVar[bool] = True
    """Whether the store keeps an unlimited inbox link (``conversation_limit``
    ``None``). A host whose limit column is ``NOT NULL`` sets it ``False``: the suite
    skips that test, with the reason."""

    total_limits: ClassVar[bool] = True
    """Whether the store keeps a capacity policy's ``total_limit``. A host whose
    capacity policy table has no such column sets it ``False``: the suite then checks
    that storing one is refused with :class:`~autoassign.errors.ConfigurationError`
    (field ``total_limit``) and that nothing was created."""

    policy_routing: ClassVar[bool] = True
    """Whether the store keeps an assignment policy's routing settings
    (``sticky_window``, ``skill_routing``, ``skill_relax_after``: see
    :mod:`autoassign.routing`). A host whose policy table has no such columns sets it
    ``False``: the suite then checks that storing any of them is refused with
    :class:`~autoassign.errors.ConfigurationError` naming the field, that nothing was
    created or changed, and that a policy without them is stored as usual."""

    integer_ids: ClassVar[bool] = False
    """Agent ids are ints (a user table's primary keys, for example Django's): the
    suite's agent names become the ints of :data:`AGENT_NUMBERS` everywhere, in
    ``users`` and ``members`` handed to :meth:`make_store` too."""

    single_account: ClassVar[bool] = False
    """The host keeps one account, ``1`` (its inbox and user tables have no account
    column): the suite seeds account 1 only (no inbox ``20``, no user ``zed``), and
    checks that account 2 sees nothing instead of checking what it holds. Every
    other case runs as it is: policies of account 2 are still refused everywhere in
    account 1."""

    def agent(self, name: str) -> AgentId:
        """The agent id the suite uses for ``name`` (an int under
        :attr:`integer_ids`)."""
        return AGENT_NUMBERS[name] if self.integer_ids else name

    def _inboxes(self) -> tuple[InboxInfo, ...]:
        return tuple(
            info
            for info in INBOXES
            if not self.single_account or info.account == ACCOUNT
        )

    def _users(self) -> tuple[AgentInfo, ...]:
        return tuple(
            attrs.evolve(user, id=self.agent(str(user.id)))
            for user in USERS
            if not self.single_account or user.account == ACCOUNT
        )

    def _members(self) -> dict[InboxId, tuple[AgentId, ...]]:
        return {
            info.id: tuple(self.agent(str(agent)) for agent in MEMBERS[info.id])
            for info in self._inboxes()
        }

    def close_connections(self) -> None:
        """Called last on each racing thread: a host whose connections are per thread
        (Django's) closes the thread's here. Default: nothing."""

    def make_store(
        self,
        clock: FakeClock,
        *,
        inboxes: Sequence[InboxInfo],
        members: Mapping[InboxId, Sequence[AgentId]],
        users: Sequence[AgentInfo],
    ) -> tuple[PolicyStore, Directory]:
        """A fresh store (no policies) over ``inboxes`` (of accounts 1 and 2, or 1 alone, with
        their names), their ``members`` and the account ``users``, using ``clock``
        for timestamps; and the Directory the engine would read."""
        raise NotImplementedError

    # -- helpers --------------------------------------------------------------------------

    def _fresh(self) -> tuple[PolicyStore, Directory, FakeClock]:
        clock = FakeClock()
        store, directory = self.make_store(
            clock, inboxes=self._inboxes(), members=self._members(), users=self._users()
        )
        return store, directory, clock

    @staticmethod
    def _state(store: PolicyStore) -> object:
        """Everything the store shows of both accounts (to check "nothing changed")."""
        out: list[object] = []
        for account in (ACCOUNT, OTHER):
            policies = store.list_policies(account)
            capacities = store.list_capacity_policies(account)
            out.append(tuple(policies))
            out.append(tuple(capacities))
            out.append(
                tuple(
                    (p.id, tuple(store.inboxes_of_policy(account, p.id)))
                    for p in policies
                )
            )
            out.append(
                tuple(
                    (c.id, tuple(store.agents_of_capacity_policy(account, c.id)))
                    for c in capacities
                )
            )
        return tuple(out)

    # -- assignment policies --------------------------------------------------------------

    def test_create_returns_what_get_and_list_show(self) -> None:
        store, _, clock = self._fresh()
        values = PolicyValues(name="Default")
        record = store.create_policy(ACCOUNT, values)
        assert record.account == ACCOUNT
        assert record.values == values
        assert record.assigned_inbox_count == 0
        assert record.created_at == record.updated_at == clock.now()
        assert store.get_policy(ACCOUNT, record.id) == record
        assert list(store.list_policies(ACCOUNT)) == [record]
        assert list(store.list_policies(OTHER)) == []

    def test_every_field_round_trips(self) -> None:
        store, _, _ = self._fresh()
        values = PolicyValues(
            name="Busy weekdays",
            description="a longer description",
            assignment_order=AssignmentOrder.BALANCED,
            conversation_priority=ConversationPriority.LONGEST_WAITING,
            fair_distribution_limit=None,
            fair_distribution_window=2_592_000,
            enabled=False,
        )
        record = store.create_policy(ACCOUNT, values)
        assert record.values == values
        fetched = store.get_policy(ACCOUNT, record.id)
        assert fetched is not None
        assert fetched.values == values
        zero = store.create_policy(
            ACCOUNT, PolicyValues(name="Zero", fair_distribution_limit=0)
        )
        assert zero.values.fair_distribution_limit == 0

    def test_names_are_unique_per_account(self) -> None:
        store, _, _ = self._fresh()
        first = store.create_policy(ACCOUNT, PolicyValues(name="Same"))
        before = self._state(store)
        refused = _raises(
            NameTaken,
            lambda: store.create_policy(
                ACCOUNT, PolicyValues(name="Same", enabled=False)
            ),
        )
        assert isinstance(refused, StoreConflict)
        assert refused.field == "name"
        assert self._state(store) == before, "a refused create changed something"
        theirs = store.create_policy(OTHER, PolicyValues(name="Same"))
        assert theirs.id != first.id

    def test_renaming_onto_a_taken_name_is_refused(self) -> None:
        store, _, _ = self._fresh()
        first = store.create_policy(ACCOUNT, PolicyValues(name="First"))
        second = store.create_policy(ACCOUNT, PolicyValues(name="Second"))
        store.create_policy(OTHER, PolicyValues(name="Theirs"))
        before = self._state(store)
        _raises(
            NameTaken,
            lambda: store.update_policy(
                ACCOUNT, second.id, PolicyValues(name="First", enabled=False)
            ),
        )
        assert self._state(store) == before, "a refused update changed something"
        # keeping its own name, or taking another account's, is fine
        kept = store.update_policy(
            ACCOUNT, first.id, PolicyValues(name="First", description="d")
        )
        assert kept is not None
        assert kept.values.description == "d"
        moved = store.update_policy(ACCOUNT, second.id, PolicyValues(name="Theirs"))
        assert moved is not None
        assert moved.values.name == "Theirs"

    def test_a_deleted_policy_frees_its_name(self) -> None:
        store, _, _ = self._fresh()
        first = store.create_policy(ACCOUNT, PolicyValues(name="Reuse"))
        assert store.delete_policy(ACCOUNT, first.id)
        again = store.create_policy(ACCOUNT, PolicyValues(name="Reuse"))
        assert again.values.name == "Reuse"

    def test_update_replaces_every_field_and_stamps_only_real_changes(self) -> None:
        store, _, clock = self._fresh()
        created = store.create_policy(ACCOUNT, PolicyValues(name="P"))
        clock.advance(_MINUTE)
        values = PolicyValues(
            name="Q",
            description="x",
            assignment_order=AssignmentOrder.BALANCED,
            conversation_priority=ConversationPriority.LONGEST_WAITING,
            fair_distribution_limit=7,
            fair_distribution_window=60,
            enabled=False,
        )
        updated = store.update_policy(ACCOUNT, created.id, values)
        assert updated is not None
        assert updated.id == created.id
        assert updated.values == values
        assert updated.created_at == created.created_at
        assert updated.updated_at == clock.now()
        assert store.get_policy(ACCOUNT, created.id) == updated
        clock.advance(_MINUTE)
        same = store.update_policy(ACCOUNT, created.id, values)
        assert same == updated, "an update that changes nothing must not stamp"

    def test_missing_and_foreign_policies_are_invisible(self) -> None:
        store, _, _ = self._fresh()
        theirs = store.create_policy(OTHER, PolicyValues(name="Theirs"))
        before = self._state(store)
        assert store.get_policy(ACCOUNT, theirs.id) is None
        assert store.update_policy(ACCOUNT, theirs.id, PolicyValues(name="X")) is None
        assert not store.delete_policy(ACCOUNT, theirs.id)
        assert store.inboxes_of_policy(ACCOUNT, theirs.id) == ()
        assert not store.link_inbox(ACCOUNT, 10, theirs.id)
        assert self._state(store) == before
        missing = "no-such-policy"
        assert store.get_policy(ACCOUNT, missing) is None
        assert store.update_policy(ACCOUNT, missing, PolicyValues(name="X")) is None
        assert not store.delete_policy(ACCOUNT, missing)
        assert self._state(store) == before

    def test_lists_are_ordered_by_id_and_scoped(self) -> None:
        store, _, _ = self._fresh()
        mine = [
            store.create_policy(ACCOUNT, PolicyValues(name=f"P{n}")) for n in range(5)
        ]
        store.create_policy(OTHER, PolicyValues(name="Theirs"))
        listed = store.list_policies(ACCOUNT)
        assert _ids(listed) == _sorted(_ids(mine))
        assert {p.values.name for p in listed} == {f"P{n}" for n in range(5)}
        assert [p.values.name for p in store.list_policies(OTHER)] == ["Theirs"]

    def test_ids_are_never_reused(self) -> None:
        store, _, _ = self._fresh()
        seen: set[Id] = set()
        for n in range(3):
            record = store.create_policy(ACCOUNT, PolicyValues(name="Again"))
            assert record.id not in seen, f"policy id {record.id!r} reused (round {n})"
            seen.add(record.id)
            assert store.delete_policy(ACCOUNT, record.id)
        capacity_ids: set[Id] = set()
        limit_ids: set[Id] = set()
        for _ in range(3):
            capacity = store.create_capacity_policy(
                ACCOUNT, CapacityPolicyValues(name="C")
            )
            assert capacity.id not in capacity_ids
            capacity_ids.add(capacity.id)
            limit = store.add_inbox_limit(ACCOUNT, capacity.id, 10, 1)
            assert limit is not None
            assert limit.id not in limit_ids
            limit_ids.add(limit.id)
            assert store.delete_inbox_limit(ACCOUNT, capacity.id, limit.id)
            assert store.delete_capacity_policy(ACCOUNT, capacity.id)

    # -- inbox links ----------------------------------------------------------------------

    def test_link_replace_unlink(self) -> None:
        store, _, _ = self._fresh()
        a = store.create_policy(ACCOUNT, PolicyValues(name="A"))
        b = store.create_policy(ACCOUNT, PolicyValues(name="B"))
        assert store.policy_of_inbox(ACCOUNT, 10) is None
        assert store.link_inbox(ACCOUNT, 11, a.id)
        assert store.link_inbox(ACCOUNT, 10, a.id)
        linked = store.policy_of_inbox(ACCOUNT, 10)
        assert linked is not None
        assert linked.id == a.id
        assert linked.assigned_inbox_count == 2
        assert list(store.inboxes_of_policy(ACCOUNT, a.id)) == [
            InboxInfo(id=10, account=ACCOUNT, name="Support"),
            InboxInfo(id=11, account=ACCOUNT, name="Sales"),
        ]
        assert store.link_inbox(ACCOUNT, 10, b.id), "a link replaces the old one"
        replaced = store.policy_of_inbox(ACCOUNT, 10)
        assert replaced is not None
        assert replaced.id == b.id
        assert [i.id for i in store.inboxes_of_policy(ACCOUNT, a.id)] == [11]
        counts = {p.id: p.assigned_inbox_count for p in store.list_policies(ACCOUNT)}
        assert counts == {a.id: 1, b.id: 1}
        assert store.link_inbox(ACCOUNT, 10, b.id), "linking again is fine"
        assert store.unlink_inbox(ACCOUNT, 10)
        assert store.policy_of_inbox(ACCOUNT, 10) is None
        assert not store.unlink_inbox(ACCOUNT, 10), "nothing left to unlink"
        assert not store.unlink_inbox(ACCOUNT, 12)

    def test_links_stay_in_the_account(self) -> None:
        store, _, _ = self._fresh()
        mine = store.create_policy(ACCOUNT, PolicyValues(name="Mine"))
        theirs = store.create_policy(OTHER, PolicyValues(name="Theirs"))
        # one account: inbox 20 is nobody's, and account 2 links no inbox of account 1
        assert store.link_inbox(OTHER, 20, theirs.id) is not self.single_account
        assert not store.link_inbox(OTHER, 10, theirs.id), "account 1's inbox"
        before = self._state(store)
        assert not store.link_inbox(ACCOUNT, 20, mine.id), "their inbox"
        assert not store.link_inbox(ACCOUNT, 10, theirs.id), "their policy"
        assert not store.link_inbox(ACCOUNT, 404, mine.id), "no such inbox"
        assert not store.unlink_inbox(ACCOUNT, 20)
        assert store.policy_of_inbox(ACCOUNT, 20) is None
        assert self._state(store) == before
        linked = store.policy_of_inbox(OTHER, 20)
        if self.single_account:
            assert linked is None
        else:
            assert linked is not None
            assert linked.id == theirs.id

    def test_deleting_a_policy_unlinks_its_inboxes(self) -> None:
        store, directory, _ = self._fresh()
        a = store.create_policy(ACCOUNT, PolicyValues(name="A"))
        b = store.create_policy(ACCOUNT, PolicyValues(name="B"))
        assert store.link_inbox(ACCOUNT, 10, a.id)
        assert store.link_inbox(ACCOUNT, 11, a.id)
        assert store.link_inbox(ACCOUNT, 12, b.id)
        assert store.delete_policy(ACCOUNT, a.id)
        assert store.get_policy(ACCOUNT, a.id) is None
        assert store.policy_of_inbox(ACCOUNT, 10) is None
        assert store.policy_of_inbox(ACCOUNT, 11) is None
        assert directory.policy_for_inbox(10) is None
        assert directory.policy_for_inbox(11) is None
        kept = store.policy_of_inbox(ACCOUNT, 12)
        assert kept is not None
        assert kept.id == b.id
        assert not store.delete_policy(ACCOUNT, a.id)

    # -- capacity policies ----------------------------------------------------------------

    def test_capacity_policy_lifecycle(self) -> None:
        store, _, clock = self._fresh()
        values = CapacityPolicyValues(
            name="Tier 1",
            description="d",
            exclusion_rules=ExclusionRules(
                excluded_labels={"vip", "legal"}, exclude_older_than_hours=48
            ),
        )
        record = store.create_capacity_policy(ACCOUNT, values)
        assert record.account == ACCOUNT
        assert record.values == values
        assert record.inbox_limits == ()
        assert record.assigned_agent_count == 0
        assert record.created_at == record.updated_at == clock.now()
        assert store.get_capacity_policy(ACCOUNT, record.id) == record
        assert list(store.list_capacity_policies(ACCOUNT)) == [record]
        assert store.get_capacity_policy(OTHER, record.id) is None
        assert list(store.list_capacity_policies(OTHER)) == []

        limit = store.add_inbox_limit(ACCOUNT, record.id, 10, 2)
        assert limit is not None
        assert store.add_agent(ACCOUNT, record.id, self.agent("ann"))
        clock.advance(_MINUTE)
        cleared = CapacityPolicyValues(name="Tier 1b")
        updated = store.update_capacity_policy(ACCOUNT, record.id, cleared)
        assert updated is not None
        assert updated.values == cleared
        assert updated.values.exclusion_rules.is_empty
        assert updated.inbox_limits == (limit,), "limits are kept"
        assert updated.assigned_agent_count == 1, "agents are kept"
        assert updated.created_at == record.created_at
        assert updated.updated_at == clock.now()
        clock.advance(_MINUTE)
        same = store.update_capacity_policy(ACCOUNT, record.id, cleared)
        assert same == updated, "an update that changes nothing must not stamp"

    def test_excluded_labels_keep_the_order_given(self) -> None:
        """The admin API echoes ``excluded_labels`` as given (the reference stores the
        array), so a store gives them back in the same order."""
        store, _, _ = self._fresh()
        labels = ["vip", "legal", "Billing", "a"]
        values = CapacityPolicyValues(
            name="Ordered", exclusion_rules=ExclusionRules(excluded_labels=labels)
        )
        record = store.create_capacity_policy(ACCOUNT, values)
        for read in (record, store.get_capacity_policy(ACCOUNT, record.id)):
            assert read is not None
            assert list(read.values.exclusion_rules.excluded_labels) == labels
        again = ["a", "vip"]
        updated = store.update_capacity_policy(
            ACCOUNT,
            record.id,
            CapacityPolicyValues(
                name="Ordered", exclusion_rules=ExclusionRules(excluded_labels=again)
            ),
        )
        assert updated is not None
        reread = store.get_capacity_policy(ACCOUNT, record.id)
        assert reread is not None
        assert list(reread.values.exclusion_rules.excluded_labels) == again

    def test_capacity_names_need_not_be_unique(self) -> None:
        store, _, _ = self._fresh()
        one = store.create_capacity_policy(ACCOUNT, CapacityPolicyValues(name="C"))
        two = store.create_capacity_policy(ACCOUNT, CapacityPolicyValues(name="C"))
        assert one.id != two.id
        assert _ids(store.list_capacity_policies(ACCOUNT)) == _sorted([one.id, two.id])

    def test_foreign_capacity_policies_are_invisible(self) -> None:
        store, _, _ = self._fresh()
        theirs = store.create_capacity_policy(OTHER, CapacityPolicyValues(name="T"))
        if self.single_account:  # no inbox or user of account 2: a limit of account 1's
            assert store.add_inbox_limit(OTHER, theirs.id, 10, 1) is None
            assert not store.add_agent(OTHER, theirs.id, self.agent("ann"))
            assert store.add_inbox_limit(OTHER, theirs.id, 20, 1) is None
            assert not store.add_agent(OTHER, theirs.id, self.agent("zed"))
            # the limit id the checks below use: one of account 1's own policies
            mine = store.create_capacity_policy(ACCOUNT, CapacityPolicyValues(name="M"))
            limit = store.add_inbox_limit(ACCOUNT, mine.id, 11, 1)
        else:
            limit = store.add_inbox_limit(OTHER, theirs.id, 20, 1)
            assert store.add_agent(OTHER, theirs.id, self.agent("zed"))
        assert limit is not None
        before = self._state(store)
        assert store.get_capacity_policy(ACCOUNT, theirs.id) is None
        changed = CapacityPolicyValues(name="X")
        assert store.update_capacity_policy(ACCOUNT, theirs.id, changed) is None
        assert not store.delete_capacity_policy(ACCOUNT, theirs.id)
        assert store.get_inbox_limit(ACCOUNT, theirs.id, limit.id) is None
        assert store.add_inbox_limit(ACCOUNT, theirs.id, 10, 1) is None
        assert store.update_inbox_limit(ACCOUNT, theirs.id, limit.id, 5) is None
        assert not store.delete_inbox_limit(ACCOUNT, theirs.id, limit.id)
        assert store.agents_of_capacity_policy(ACCOUNT, theirs.id) == ()
        assert not store.add_agent(ACCOUNT, theirs.id, self.agent("ann"))
        assert not store.remove_agent(ACCOUNT, theirs.id, self.agent("zed"))
        assert store.capacity_policy_of_agent(ACCOUNT, self.agent("zed")) is None
        assert self._state(store) == before

    def test_deleting_a_capacity_policy_drops_limits_and_frees_agents(self) -> None:
        store, directory, _ = self._fresh()
        record = store.create_capacity_policy(ACCOUNT, CapacityPolicyValues(name="C"))
        other = store.create_capacity_policy(ACCOUNT, CapacityPolicyValues(name="D"))
        limit = store.add_inbox_limit(ACCOUNT, record.id, 10, 1)
        assert limit is not None
        assert store.add_inbox_limit(ACCOUNT, other.id, 10, 4) is not None
        assert store.add_agent(ACCOUNT, record.id, self.agent("ann"))
        assert store.add_agent(ACCOUNT, other.id, self.agent("bob"))
        assert store.delete_capacity_policy(ACCOUNT, record.id)
        assert store.get_capacity_policy(ACCOUNT, record.id) is None
        assert store.get_inbox_limit(ACCOUNT, record.id, limit.id) is None
        assert store.capacity_policy_of_agent(ACCOUNT, self.agent("ann")) is None
        assert store.capacity_policy_of_agent(ACCOUNT, self.agent("bob")) == other.id
        assert [p.id for p in directory.capacity_policies_for_inbox(10)] == [other.id]
        assert not store.delete_capacity_policy(ACCOUNT, record.id)
        # the freed agent can join another policy
        assert store.add_agent(ACCOUNT, other.id, self.agent("ann"))

    # -- inbox limits ---------------------------------------------------------------------

    def test_inbox_limits_lifecycle(self) -> None:
        store, _, clock = self._fresh()
        record = store.create_capacity_policy(ACCOUNT, CapacityPolicyValues(name="C"))
        limit = store.add_inbox_limit(ACCOUNT, record.id, 10, 3)
        assert limit is not None
        assert (limit.policy_id, limit.inbox, limit.conversation_limit) == (
            record.id,
            10,
            3,
        )
        assert limit.created_at == limit.updated_at == clock.now()
        zero = store.add_inbox_limit(ACCOUNT, record.id, 11, 0)
        assert zero is not None
        assert zero.id != limit.id
        assert store.get_inbox_limit(ACCOUNT, record.id, limit.id) == limit
        shown = store.get_capacity_policy(ACCOUNT, record.id)
        assert shown is not None
        assert list(shown.inbox_limits) == sorted(
            [limit, zero], key=lambda r: id_sort_key(r.id)
        ), "limits are ordered by limit id"

        clock.advance(_MINUTE)
        changed = store.update_inbox_limit(ACCOUNT, record.id, limit.id, 5)
        assert changed is not None
        assert changed.conversation_limit == 5
        assert changed.created_at == limit.created_at
        assert changed.updated_at == clock.now()
        clock.advance(_MINUTE)
        same = store.update_inbox_limit(ACCOUNT, record.id, limit.id, 5)
        assert same == changed, "an update that changes nothing must not stamp"

        assert store.delete_inbox_limit(ACCOUNT, record.id, limit.id)
        assert store.get_inbox_limit(ACCOUNT, record.id, limit.id) is None
        assert not store.delete_inbox_limit(ACCOUNT, record.id, limit.id)
        assert store.update_inbox_limit(ACCOUNT, record.id, limit.id, 1) is None
        again = store.add_inbox_limit(ACCOUNT, record.id, 10, 9)
        assert again is not None, "a deleted limit frees its inbox"

    def test_one_limit_per_inbox_per_policy(self) -> None:
        store, _, _ = self._fresh()
        record = store.create_capacity_policy(ACCOUNT, CapacityPolicyValues(name="C"))
        other = store.create_capacity_policy(ACCOUNT, CapacityPolicyValues(name="D"))
        assert store.add_inbox_limit(ACCOUNT, record.id, 10, 3) is not None
        before = self._state(store)
        refused = _raises(
            DuplicateInboxLimit,
            lambda: store.add_inbox_limit(ACCOUNT, record.id, 10, 9),
        )
        assert isinstance(refused, StoreConflict)
        assert refused.field == "inbox_id"
        assert self._state(store) == before
        assert store.add_inbox_limit(ACCOUNT, other.id, 10, 9) is not None

    def test_limits_need_an_inbox_of_the_account(self) -> None:
        store, _, _ = self._fresh()
        record = store.create_capacity_policy(ACCOUNT, CapacityPolicyValues(name="C"))
        before = self._state(store)
        assert store.add_inbox_limit(ACCOUNT, record.id, 20, 1) is None
        assert store.add_inbox_limit(ACCOUNT, record.id, 404, 1) is None
        assert store.add_inbox_limit(ACCOUNT, "no-such-policy", 10, 1) is None
        assert self._state(store) == before

    def test_a_limit_belongs_to_its_policy(self) -> None:
        store, _, _ = self._fresh()
        first = store.create_capacity_policy(ACCOUNT, CapacityPolicyValues(name="C"))
        second = store.create_capacity_policy(ACCOUNT, CapacityPolicyValues(name="D"))
        limit = store.add_inbox_limit(ACCOUNT, first.id, 10, 3)
        assert limit is not None
        before = self._state(store)
        assert store.get_inbox_limit(ACCOUNT, second.id, limit.id) is None
        assert store.update_inbox_limit(ACCOUNT, second.id, limit.id, 1) is None
        assert not store.delete_inbox_limit(ACCOUNT, second.id, limit.id)
        assert self._state(store) == before

    # -- agents ---------------------------------------------------------------------------

    def test_agents_move_between_capacity_policies(self) -> None:
        store, _, _ = self._fresh()
        first = store.create_capacity_policy(ACCOUNT, CapacityPolicyValues(name="F"))
        second = store.create_capacity_policy(ACCOUNT, CapacityPolicyValues(name="S"))
        assert store.add_agent(ACCOUNT, first.id, self.agent("bob"))
        assert store.add_agent(ACCOUNT, first.id, self.agent("ann"))
        assert list(store.agents_of_capacity_policy(ACCOUNT, first.id)) == [
            AgentInfo(
                id=self.agent("ann"),
                account=ACCOUNT,
                name="Ann",
                email="ann@example.com",
            ),
            AgentInfo(id=self.agent("bob"), account=ACCOUNT, name="Bob"),
        ]
        shown = store.get_capacity_policy(ACCOUNT, first.id)
        assert shown is not None
        assert shown.assigned_agent_count == 2
        assert store.add_agent(ACCOUNT, second.id, self.agent("ann")), "a move"
        assert [a.id for a in store.agents_of_capacity_policy(ACCOUNT, first.id)] == [
            self.agent("bob")
        ]
        assert [a.id for a in store.agents_of_capacity_policy(ACCOUNT, second.id)] == [
            self.agent("ann")
        ]
        assert store.capacity_policy_of_agent(ACCOUNT, self.agent("ann")) == second.id
        before = self._state(store)
        assert store.add_agent(ACCOUNT, second.id, self.agent("ann")), "idempotent"
        assert self._state(store) == before
        assert not store.remove_agent(ACCOUNT, first.id, self.agent("ann")), "not on it"
        assert store.remove_agent(ACCOUNT, second.id, self.agent("ann"))
        assert store.capacity_policy_of_agent(ACCOUNT, self.agent("ann")) is None
        assert not store.remove_agent(ACCOUNT, second.id, self.agent("ann"))

    def test_only_agents_of_the_account_join(self) -> None:
        store, _, _ = self._fresh()
        record = store.create_capacity_policy(ACCOUNT, CapacityPolicyValues(name="C"))
        before = self._state(store)
        assert not store.add_agent(ACCOUNT, record.id, self.agent("zed")), (
            "another account's"
        )
        assert not store.add_agent(ACCOUNT, record.id, self.agent("ghost")), "nobody"
        assert not store.add_agent(ACCOUNT, "no-such-policy", self.agent("ann"))
        assert self._state(store) == before
        assert store.add_agent(ACCOUNT, record.id, self.agent("root")), (
            "a user in no inbox"
        )

    # -- host lookups ---------------------------------------------------------------------

    def test_inbox_lookups(self) -> None:
        store, _, _ = self._fresh()
        assert store.inbox_exists(ACCOUNT, 10)
        assert not store.inbox_exists(ACCOUNT, 20)
        assert not store.inbox_exists(ACCOUNT, 404)
        assert store.inbox_exists(OTHER, 20) is not self.single_account
        assert not store.inbox_exists(OTHER, 10)
        assert store.inbox_info(ACCOUNT, 10) == InboxInfo(
            id=10, account=ACCOUNT, name="Support"
        )
        assert store.inbox_info(ACCOUNT, 20) is None
        assert store.inbox_info(OTHER, 10) is None
        assert store.inbox_info(OTHER, 20) == (
            None
            if self.single_account
            else InboxInfo(id=20, account=OTHER, name="Theirs")
        )

    def test_agent_lookups(self) -> None:
        store, _, _ = self._fresh()
        for agent in (
            self.agent("ann"),
            self.agent("bob"),
            self.agent("cy"),
            self.agent("root"),
        ):
            assert store.agent_exists(ACCOUNT, agent), agent
        assert not store.agent_exists(ACCOUNT, self.agent("zed"))
        assert not store.agent_exists(ACCOUNT, self.agent("ghost"))
        assert store.agent_exists(OTHER, self.agent("zed")) is not self.single_account
        assert not store.agent_exists(OTHER, self.agent("ann"))
        assert store.agent_info(ACCOUNT, self.agent("ann")) == self._users()[0]
        assert store.agent_info(ACCOUNT, self.agent("root")) == self._users()[2]
        member_only = store.agent_info(ACCOUNT, self.agent("cy"))
        assert member_only is not None
        assert (member_only.id, member_only.account) == (self.agent("cy"), ACCOUNT)
        assert store.agent_info(ACCOUNT, self.agent("zed")) is None
        if self.single_account:
            assert store.agent_info(OTHER, self.agent("zed")) is None
        else:
            assert store.agent_info(OTHER, self.agent("zed")) == self._users()[3]

    # -- the engine sees every change -----------------------------------------------------

    def test_a_total_limit_round_trips(self) -> None:
        """``total_limit``: stored, shown and read by the Directory (in every inbox
        the policy links), changed and cleared; a store that cannot keep it refuses
        it and creates nothing."""
        store, directory, _clock = self._fresh()
        if not self.total_limits:
            error = _raises(
                ConfigurationError,
                lambda: store.create_capacity_policy(
                    ACCOUNT, CapacityPolicyValues(name="C", total_limit=3)
                ),
            )
            assert isinstance(error, ConfigurationError)
            assert error.field == "total_limit"
            assert list(store.list_capacity_policies(ACCOUNT)) == []
            return
        record = store.create_capacity_policy(
            ACCOUNT, CapacityPolicyValues(name="C", total_limit=3)
        )
        assert record.values.total_limit == 3
        assert store.add_inbox_limit(ACCOUNT, record.id, 10, 2) is not None
        (seen,) = directory.capacity_policies_for_inbox(10)
        assert seen.total_limit == 3
        for value in (0, None, 7):
            updated = store.update_capacity_policy(
                ACCOUNT, record.id, CapacityPolicyValues(name="C", total_limit=value)
            )
            assert updated is not None
            assert updated.values.total_limit == value
            shown = store.get_capacity_policy(ACCOUNT, record.id)
            assert shown is not None
            assert shown.values.total_limit == value
            (seen,) = directory.capacity_policies_for_inbox(10)
            assert seen.total_limit == value

    def test_policy_routing_settings_round_trip(self) -> None:
        """``sticky_window``, ``skill_routing`` and ``skill_relax_after``: stored,
        shown and read by the Directory, changed and cleared (``None``: as wired, so
        ``0`` and ``False`` must not read back as ``None``); a store that cannot keep
        them refuses each and changes nothing."""
        store, directory, _clock = self._fresh()
        settings: tuple[dict[str, Any], ...] = (
            {"sticky_window": 600},
            {"skill_routing": False},
            {"skill_relax_after": 0},
        )
        if not self.policy_routing:
            plain = store.create_policy(ACCOUNT, PolicyValues(name="Plain"))
            for setting in settings:
                (field,) = setting
                before = self._state(store)
                calls: tuple[Callable[[], object], ...] = (
                    functools.partial(
                        store.create_policy, ACCOUNT, PolicyValues(name="R", **setting)
                    ),
                    functools.partial(
                        store.update_policy,
                        ACCOUNT,
                        plain.id,
                        PolicyValues(name="Plain", **setting),
                    ),
                )
                for call in calls:
                    error = _raises(ConfigurationError, call)
                    assert isinstance(error, ConfigurationError)
                    assert error.field == field, (error.field, field)
                    assert self._state(store) == before, f"refused {field} changed"
            return
        record = store.create_policy(
            ACCOUNT,
            PolicyValues(
                name="R", sticky_window=600, skill_routing=True, skill_relax_after=60
            ),
        )
        assert (
            record.values.sticky_window,
            record.values.skill_routing,
            record.values.skill_relax_after,
        ) == (600, True, 60)
        assert store.link_inbox(ACCOUNT, 10, record.id)
        cases: tuple[dict[str, Any], ...] = (
            {"sticky_window": 0, "skill_routing": False, "skill_relax_after": 0},
            {"sticky_window": MAX_ROUTING_SECONDS, "skill_relax_after": 1},
            {},
        )
        for case in cases:
            values = PolicyValues(name="R", **case)
            updated = store.update_policy(ACCOUNT, record.id, values)
            assert updated is not None
            assert updated.values == values
            shown = store.get_policy(ACCOUNT, record.id)
            assert shown is not None
            assert shown.values == values
            seen = directory.policy_for_inbox(10)
            assert seen is not None
            for field in ("sticky_window", "skill_routing", "skill_relax_after"):
                assert getattr(seen, field) == getattr(values, field), field
                assert type(getattr(seen, field)) is type(getattr(values, field))

    def test_an_unlimited_inbox_limit(self) -> None:
        """``None`` is an unlimited link: stored, shown and read by the Directory as
        ``None``, changed to a limit and back, one per inbox like any limit."""
        if not self.unlimited_inbox_limits:
            raise unittest.SkipTest(
                "unlimited_inbox_limits = False: the store's conversation_limit "
                "cannot be NULL"
            )
        store, directory, clock = self._fresh()
        rules = ExclusionRules(excluded_labels={"vip"})
        record = store.create_capacity_policy(
            ACCOUNT, CapacityPolicyValues(name="C", exclusion_rules=rules)
        )
        limit = store.add_inbox_limit(ACCOUNT, record.id, 10, None)
        assert limit is not None
        assert limit.conversation_limit is None
        assert store.get_inbox_limit(ACCOUNT, record.id, limit.id) == limit
        shown = store.get_capacity_policy(ACCOUNT, record.id)
        assert shown is not None
        assert shown.inbox_limits == (limit,)
        (seen,) = directory.capacity_policies_for_inbox(10)
        assert seen.inbox_limits == {10: None}
        assert seen.links(10)
        assert seen.exclusion_rules == rules
        _raises(
            DuplicateInboxLimit,
            lambda: store.add_inbox_limit(ACCOUNT, record.id, 10, 4),
        )
        clock.advance(_MINUTE)
        limited = store.update_inbox_limit(ACCOUNT, record.id, limit.id, 4)
        assert limited is not None
        assert limited.conversation_limit == 4
        assert limited.updated_at == clock.now()
        (seen,) = directory.capacity_policies_for_inbox(10)
        assert seen.inbox_limits == {10: 4}
        clock.advance(_MINUTE)
        back = store.update_inbox_limit(ACCOUNT, record.id, limit.id, None)
        assert back is not None
        assert back.conversation_limit is None
        assert back.updated_at == clock.now()
        clock.advance(_MINUTE)
        same = store.update_inbox_limit(ACCOUNT, record.id, limit.id, None)
        assert same == back, "an update that changes nothing must not stamp"
        (seen,) = directory.capacity_policies_for_inbox(10)
        assert seen.inbox_limits == {10: None}
        assert store.delete_inbox_limit(ACCOUNT, record.id, limit.id)
        assert directory.capacity_policies_for_inbox(10) == ()

    def test_changes_reach_the_directory(self) -> None:
        store, directory, _ = self._fresh()
        values = PolicyValues(
            name="P",
            assignment_order=AssignmentOrder.BALANCED,
            fair_distribution_limit=3,
            fair_distribution_window=600,
        )
        policy = store.create_policy(ACCOUNT, values)
        assert directory.policy_for_inbox(10) is None
        assert store.link_inbox(ACCOUNT, 10, policy.id)
        expected = AssignmentPolicy(
            id=policy.id, account=ACCOUNT, **attrs.asdict(values, recurse=False)
        )
        assert directory.policy_for_inbox(10) == expected
        disabled = attrs.evolve(values, enabled=False)
        assert store.update_policy(ACCOUNT, policy.id, disabled) is not None
        found = directory.policy_for_inbox(10)
        assert found is not None
        assert found.enabled is False

        rules = ExclusionRules(excluded_labels={"vip"}, exclude_older_than_hours=2)
        capacity = store.create_capacity_policy(
            ACCOUNT, CapacityPolicyValues(name="C", exclusion_rules=rules)
        )
        limit = store.add_inbox_limit(ACCOUNT, capacity.id, 10, 2)
        assert limit is not None
        assert store.add_inbox_limit(ACCOUNT, capacity.id, 11, 0) is not None
        assert store.add_agent(ACCOUNT, capacity.id, self.agent("ann"))
        (seen,) = directory.capacity_policies_for_inbox(10)
        assert seen.id == capacity.id
        assert seen.inbox_limits == {10: 2, 11: 0}
        assert seen.agents == frozenset({self.agent("ann")})
        assert seen.exclusion_rules == rules
        assert store.update_inbox_limit(ACCOUNT, capacity.id, limit.id, 1) is not None
        assert store.remove_agent(ACCOUNT, capacity.id, self.agent("ann"))
        (seen,) = directory.capacity_policies_for_inbox(10)
        assert seen.inbox_limits == {10: 1, 11: 0}
        assert seen.agents == frozenset()
        assert store.delete_inbox_limit(ACCOUNT, capacity.id, limit.id)
        assert directory.capacity_policies_for_inbox(10) == ()

        assert store.unlink_inbox(ACCOUNT, 10)
        assert directory.policy_for_inbox(10) is None

    # -- concurrent writers ---------------------------------------------------------------

    def test_concurrent_creates_of_one_name_have_one_winner(self) -> None:
        store, _, _ = self._fresh()

        def create(_index: int) -> bool:
            try:
                store.create_policy(ACCOUNT, PolicyValues(name="Race"))
            except NameTaken:
                return False
            return True

        results = _race(_CONCURRENCY, create, self.close_connections)
        assert results.count(True) == 1, results
        assert [p.values.name for p in store.list_policies(ACCOUNT)] == ["Race"]

    def test_concurrent_renames_onto_one_name_have_one_winner(self) -> None:
        store, _, _ = self._fresh()
        policies = [
            store.create_policy(ACCOUNT, PolicyValues(name=f"P{n}"))
            for n in range(_CONCURRENCY)
        ]

        def rename(index: int) -> bool:
            try:
                store.update_policy(
                    ACCOUNT, policies[index].id, PolicyValues(name="Same")
                )
            except NameTaken:
                return False
            return True

        results = _race(_CONCURRENCY, rename, self.close_connections)
        assert results.count(True) == 1, results
        names = [p.values.name for p in store.list_policies(ACCOUNT)]
        assert names.count("Same") == 1

    def test_concurrent_moves_leave_an_agent_on_one_policy(self) -> None:
        store, _, _ = self._fresh()
        capacities = [
            store.create_capacity_policy(ACCOUNT, CapacityPolicyValues(name=f"C{n}"))
            for n in range(4)
        ]
        results = _race(
            _CONCURRENCY,
            lambda i: store.add_agent(ACCOUNT, capacities[i % 4].id, self.agent("ann")),
            self.close_connections,
        )
        assert all(results)
        holders = [
            c.id
            for c in capacities
            if self.agent("ann") in _ids(store.agents_of_capacity_policy(ACCOUNT, c.id))
        ]
        assert len(holders) == 1, holders
        assert store.capacity_policy_of_agent(ACCOUNT, self.agent("ann")) == holders[0]
        counts = [r.assigned_agent_count for r in store.list_capacity_policies(ACCOUNT)]
        assert sorted(counts) == [0, 0, 0, 1]

    def test_concurrent_limits_for_one_inbox_have_one_winner(self) -> None:
        store, _, _ = self._fresh()
        record = store.create_capacity_policy(ACCOUNT, CapacityPolicyValues(name="C"))

        def add(index: int) -> bool:
            try:
                return store.add_inbox_limit(ACCOUNT, record.id, 10, index) is not None
            except DuplicateInboxLimit:
                return False

        results = _race(_CONCURRENCY, add, self.close_connections)
        assert results.count(True) == 1, results
        shown = store.get_capacity_policy(ACCOUNT, record.id)
        assert shown is not None
        assert [limit.inbox for limit in shown.inbox_limits] == [10]

    def test_concurrent_links_leave_an_inbox_with_one_policy(self) -> None:
        store, directory, _ = self._fresh()
        policies: list[PolicyRecord] = [
            store.create_policy(ACCOUNT, PolicyValues(name=f"P{n}")) for n in range(4)
        ]
        results = _race(
            _CONCURRENCY,
            lambda i: store.link_inbox(ACCOUNT, 10, policies[i % 4].id),
            self.close_connections,
        )
        assert all(results)
        counts = [p.assigned_inbox_count for p in store.list_policies(ACCOUNT)]
        assert sorted(counts) == [0, 0, 0, 1]
        linked = store.policy_of_inbox(ACCOUNT, 10)
        assert linked is not None
        found = directory.policy_for_inbox(10)
        assert found is not None
        assert found.id == linked.id
