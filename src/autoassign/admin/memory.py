"""``InMemoryPolicyStore``: the :class:`~autoassign.admin.store.PolicyStore` port over an
:class:`~autoassign.adapters.memory.InMemoryWorld`.

The world stays the source of truth for what the engine reads (policies, inbox links,
capacity policies with their limits and agents), so a change made here is seen by the
next assignment pass. Admin-only metadata lives in the store: timestamps, the ids of
inbox limits, and the users (with names and roles) the API shows. Policies seeded into
the world directly are adopted the first time the store looks at them.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

import attrs

from autoassign.adapters.memory import InMemoryWorld
from autoassign.admin.store import (
    POLICY_FIELDS,
    AgentInfo,
    CapacityPolicyRecord,
    CapacityPolicyValues,
    DuplicateInboxLimit,
    InboxInfo,
    InboxLimitRecord,
    LimitId,
    NameTaken,
    PolicyRecord,
    PolicyValues,
)
from autoassign.model import (
    AccountId,
    AgentId,
    AssignmentPolicy,
    CapacityPolicy,
    Id,
    InboxId,
    PolicyId,
    id_sort_key,
)
from autoassign.ports import Clock

__all__ = ["InMemoryPolicyStore"]


@attrs.frozen
class _Stamp:
    created_at: datetime
    updated_at: datetime


class _Ids:
    """Integer ids that are never reused and skip ids already taken."""

    def __init__(self) -> None:
        self.last = 0

    def take(self, taken: Collection[Id]) -> int:
        self.last += 1
        while self.last in taken:
            self.last += 1
        return self.last


def _values_of(policy: AssignmentPolicy) -> PolicyValues:
    return PolicyValues(**{name: getattr(policy, name) for name in POLICY_FIELDS})


class InMemoryPolicyStore:
    """A thread-safe :class:`~autoassign.admin.store.PolicyStore` writing through to an
    :class:`~autoassign.adapters.memory.InMemoryWorld`.

    Args:
        world: the world the engine reads; every change is written into it.
        clock: the source of ``created_at``/``updated_at``.
    """

    def __init__(self, world: InMemoryWorld, clock: Clock) -> None:
        self._world = world
        self._clock = clock
        self._lock = threading.RLock()
        self._policy_stamps: dict[PolicyId, _Stamp] = {}
        self._capacity_stamps: dict[PolicyId, _Stamp] = {}
        self._limits: dict[LimitId, InboxLimitRecord] = {}
        self._users: dict[AccountId, dict[AgentId, AgentInfo]] = {}
        self._inbox_names: dict[InboxId, str] = {}
        self._policy_ids = _Ids()
        self._capacity_ids = _Ids()
        self._limit_ids = _Ids()

    # -- seeding and inspection (not part of the port) -------------------------------------

    def add_user(
        self,
        account: AccountId,
        user: AgentId,
        *,
        name: str | None = None,
        email: str | None = None,
        role: str = "agent",
    ) -> AgentInfo:
        """Register a user of ``account`` (what the host's user table holds)."""
        info = AgentInfo(
            id=user, account=account, name=name or str(user), email=email, role=role
        )
        with self._lock:
            self._users.setdefault(account, {})[user] = info
        return info

    def set_inbox_name(self, inbox: InboxId, name: str) -> None:
        with self._lock:
            self._inbox_names[inbox] = name

    def snapshot(self) -> Any:
        """An immutable, comparable picture of everything this store and the policy part
        of the world hold: equal snapshots mean nothing changed."""
        with self._lock:
            self._adopt()
            world = self._world

            def items(data: dict[Any, Any]) -> tuple[Any, ...]:
                return tuple(
                    sorted(data.items(), key=lambda item: id_sort_key(item[0]))
                )

            return (
                items(dict(world.policies)),
                items(dict(world.policy_links)),
                tuple(
                    (key, policy, items(dict(policy.inbox_limits)))
                    for key, policy in items(dict(world.capacity_policies))
                ),
                items(self._policy_stamps),
                items(self._capacity_stamps),
                items(self._limits),
                (self._policy_ids.last, self._capacity_ids.last, self._limit_ids.last),
            )

    # -- internals -----------------------------------------------------------------------

    def _now(self) -> datetime:
        return self._clock.now()

    def _adopt(self) -> None:
        """Bring metadata in line with the world (policies seeded or removed there)."""
        world = self._world
        now = self._now()
        for ids, stamps in (
            (set(world.policies), self._policy_stamps),
            (set(world.capacity_policies), self._capacity_stamps),
        ):
            for key in [k for k in stamps if k not in ids]:
                del stamps[key]
            for key in sorted(ids - set(stamps), key=id_sort_key):
                stamps[key] = _Stamp(now, now)
        present: dict[tuple[PolicyId, InboxId], LimitId] = {}
        for limit_id, record in list(self._limits.items()):
            policy = world.capacity_policies.get(record.policy_id)
            if policy is None or record.inbox not in policy.inbox_limits:
                del self._limits[limit_id]
                continue
            value = policy.inbox_limits[record.inbox]
            if value != record.conversation_limit:
                self._limits[limit_id] = attrs.evolve(
                    record, conversation_limit=value, updated_at=now
                )
            present[(record.policy_id, record.inbox)] = limit_id
        for policy_id in sorted(world.capacity_policies, key=id_sort_key):
            policy = world.capacity_policies[policy_id]
            for inbox in sorted(policy.inbox_limits, key=id_sort_key):
                if (policy_id, inbox) not in present:
                    limit_id = self._limit_ids.take(self._limits)
                    self._limits[limit_id] = InboxLimitRecord(
                        id=limit_id,
                        policy_id=policy_id,
                        inbox=inbox,
                        conversation_limit=policy.inbox_limits[inbox],
                        created_at=now,
                        updated_at=now,
                    )

    def _policy(self, account: AccountId, policy: PolicyId) -> AssignmentPolicy | None:
        found = self._world.policies.get(policy)
        return found if found is not None and found.account == account else None

    def _capacity(self, account: AccountId, policy: PolicyId) -> CapacityPolicy | None:
        found = self._world.capacity_policies.get(policy)
        return found if found is not None and found.account == account else None

    def _policy_record(self, policy: AssignmentPolicy) -> PolicyRecord:
        stamp = self._policy_stamps[policy.id]
        count = sum(
            1
            for inbox, linked in self._world.policy_links.items()
            if linked == policy.id and self._inbox_in(policy.account, inbox)
        )
        return PolicyRecord(
            id=policy.id,
            account=policy.account,
            values=_values_of(policy),
            assigned_inbox_count=count,
            created_at=stamp.created_at,
            updated_at=stamp.updated_at,
        )

    def _capacity_record(self, policy: CapacityPolicy) -> CapacityPolicyRecord:
        stamp = self._capacity_stamps[policy.id]
        limits = sorted(
            (r for r in self._limits.values() if r.policy_id == policy.id),
            key=lambda r: id_sort_key(r.id),
        )
        return CapacityPolicyRecord(
            id=policy.id,
            account=policy.account,
            values=CapacityPolicyValues(
                name=policy.name,
                description=policy.description,
                exclusion_rules=policy.exclusion_rules,
                total_limit=policy.total_limit,
            ),
            inbox_limits=tuple(limits),
            assigned_agent_count=len(policy.agents),
            created_at=stamp.created_at,
            updated_at=stamp.updated_at,
        )

    def _inbox_in(self, account: AccountId, inbox: InboxId) -> bool:
        record = self._world.inboxes.get(inbox)
        return record is not None and record.account == account

    def _name_taken(
        self, account: AccountId, name: str, exclude: PolicyId | None
    ) -> bool:
        return any(
            p.account == account and p.name == name and p.id != exclude
            for p in self._world.policies.values()
        )

    def _build_policy(
        self, policy: PolicyId, account: AccountId, values: PolicyValues
    ) -> AssignmentPolicy:
        return AssignmentPolicy(id=policy, account=account, **attrs.asdict(values))

    # -- assignment policies -------------------------------------------------------------

    def list_policies(self, account: AccountId) -> Sequence[PolicyRecord]:
        with self._lock:
            self._adopt()
            policies = [
                p for p in self._world.policies.values() if p.account == account
            ]
            policies.sort(key=lambda p: id_sort_key(p.id))
            return tuple(self._policy_record(p) for p in policies)

    def get_policy(self, account: AccountId, policy: PolicyId) -> PolicyRecord | None:
        with self._lock:
            self._adopt()
            found = self._policy(account, policy)
            return None if found is None else self._policy_record(found)

    def create_policy(self, account: AccountId, values: PolicyValues) -> PolicyRecord:
        with self._lock:
            self._adopt()
            if self._name_taken(account, values.name, None):
                raise NameTaken(values.name)
            now = self._now()
            new_id = self._policy_ids.take(self._world.policies)
            policy = self._build_policy(new_id, account, values)
            self._policy_stamps[new_id] = _Stamp(now, now)
            self._world.put_policy(policy)
            return self._policy_record(policy)

    def update_policy(
        self, account: AccountId, policy: PolicyId, values: PolicyValues
    ) -> PolicyRecord | None:
        with self._lock:
            self._adopt()
            current = self._policy(account, policy)
            if current is None:
                return None
            if self._name_taken(account, values.name, policy):
                raise NameTaken(values.name)
            updated = self._build_policy(current.id, account, values)
            if updated != current:
                stamp = self._policy_stamps[policy]
                self._policy_stamps[policy] = _Stamp(stamp.created_at, self._now())
                self._world.put_policy(updated)
            return self._policy_record(updated)

    def delete_policy(self, account: AccountId, policy: PolicyId) -> bool:
        with self._lock:
            self._adopt()
            if self._policy(account, policy) is None:
                return False
            for inbox in [
                i for i, p in self._world.policy_links.items() if p == policy
            ]:
                self._world.unlink_policy(inbox)
            self._world.remove_policy(policy)
            self._policy_stamps.pop(policy, None)
            return True

    # -- inbox links ---------------------------------------------------------------------

    def policy_of_inbox(
        self, account: AccountId, inbox: InboxId
    ) -> PolicyRecord | None:
        with self._lock:
            self._adopt()
            if not self._inbox_in(account, inbox):
                return None
            linked = self._world.policy_links.get(inbox)
            found = None if linked is None else self._policy(account, linked)
            return None if found is None else self._policy_record(found)

    def link_inbox(self, account: AccountId, inbox: InboxId, policy: PolicyId) -> bool:
        with self._lock:
            self._adopt()
            if (
                not self._inbox_in(account, inbox)
                or self._policy(account, policy) is None
            ):
                return False
            self._world.link_policy(inbox, policy)
            return True

    def unlink_inbox(self, account: AccountId, inbox: InboxId) -> bool:
        with self._lock:
            self._adopt()
            if not self._inbox_in(account, inbox):
                return False
            linked = self._world.policy_links.get(inbox)
            if linked is None or self._policy(account, linked) is None:
                return False
            self._world.unlink_policy(inbox)
            return True

    def inboxes_of_policy(
        self, account: AccountId, policy: PolicyId
    ) -> Sequence[InboxInfo]:
        with self._lock:
            if self._policy(account, policy) is None:
                return ()
            inboxes = sorted(
                (i for i, p in self._world.policy_links.items() if p == policy),
                key=id_sort_key,
            )
            return tuple(
                info
                for info in (self.inbox_info(account, i) for i in inboxes)
                if info is not None
            )

    # -- capacity policies ---------------------------------------------------------------

    def list_capacity_policies(
        self, account: AccountId
    ) -> Sequence[CapacityPolicyRecord]:
        with self._lock:
            self._adopt()
            policies = [
                p
                for p in self._world.capacity_policies.values()
                if p.account == account
            ]
            policies.sort(key=lambda p: id_sort_key(p.id))
            return tuple(self._capacity_record(p) for p in policies)

    def get_capacity_policy(
        self, account: AccountId, policy: PolicyId
    ) -> CapacityPolicyRecord | None:
        with self._lock:
            self._adopt()
            found = self._capacity(account, policy)
            return None if found is None else self._capacity_record(found)

    def create_capacity_policy(
        self, account: AccountId, values: CapacityPolicyValues
    ) -> CapacityPolicyRecord:
        with self._lock:
            self._adopt()
            now = self._now()
            new_id = self._capacity_ids.take(self._world.capacity_policies)
            policy = CapacityPolicy(
                id=new_id,
                account=account,
                name=values.name,
                description=values.description,
                exclusion_rules=values.exclusion_rules,
                total_limit=values.total_limit,
            )
            self._capacity_stamps[new_id] = _Stamp(now, now)
            self._world.put_capacity_policy(policy)
            return self._capacity_record(policy)

    def update_capacity_policy(
        self, account: AccountId, policy: PolicyId, values: CapacityPolicyValues
    ) -> CapacityPolicyRecord | None:
        with self._lock:
            self._adopt()
            current = self._capacity(account, policy)
            if current is None:
                return None
            updated = attrs.evolve(
                current,
                name=values.name,
                description=values.description,
                exclusion_rules=values.exclusion_rules,
                total_limit=values.total_limit,
            )
            if updated != current:
                self._touch_capacity(policy)
                self._world.put_capacity_policy(updated)
            return self._capacity_record(updated)

    def _touch_capacity(self, policy: PolicyId) -> None:
        stamp = self._capacity_stamps[policy]
        self._capacity_stamps[policy] = _Stamp(stamp.created_at, self._now())

    def delete_capacity_policy(self, account: AccountId, policy: PolicyId) -> bool:
        with self._lock:
            self._adopt()
            if self._capacity(account, policy) is None:
                return False
            self._world.remove_capacity_policy(policy)
            self._capacity_stamps.pop(policy, None)
            for limit_id in [
                k for k, r in self._limits.items() if r.policy_id == policy
            ]:
                del self._limits[limit_id]
            return True

    # -- inbox limits --------------------------------------------------------------------

    def get_inbox_limit(
        self, account: AccountId, policy: PolicyId, limit: LimitId
    ) -> InboxLimitRecord | None:
        with self._lock:
            self._adopt()
            if self._capacity(account, policy) is None:
                return None
            record = self._limits.get(limit)
            return record if record is not None and record.policy_id == policy else None

    def add_inbox_limit(
        self,
        account: AccountId,
        policy: PolicyId,
        inbox: InboxId,
        conversation_limit: int | None,
    ) -> InboxLimitRecord | None:
        with self._lock:
            self._adopt()
            current = self._capacity(account, policy)
            if current is None or not self._inbox_in(account, inbox):
                return None
            if inbox in current.inbox_limits:
                raise DuplicateInboxLimit(inbox)
            limits = dict(current.inbox_limits)
            limits[inbox] = conversation_limit
            updated = attrs.evolve(current, inbox_limits=limits)
            now = self._now()
            limit_id = self._limit_ids.take(self._limits)
            record = InboxLimitRecord(
                id=limit_id,
                policy_id=policy,
                inbox=inbox,
                conversation_limit=conversation_limit,
                created_at=now,
                updated_at=now,
            )
            self._world.put_capacity_policy(updated)
            self._limits[limit_id] = record
            return record

    def update_inbox_limit(
        self,
        account: AccountId,
        policy: PolicyId,
        limit: LimitId,
        conversation_limit: int | None,
    ) -> InboxLimitRecord | None:
        with self._lock:
            record = self.get_inbox_limit(account, policy, limit)
            current = self._capacity(account, policy)
            if record is None or current is None:
                return None
            if record.conversation_limit == conversation_limit:
                return record
            limits = dict(current.inbox_limits)
            limits[record.inbox] = conversation_limit
            updated_record = attrs.evolve(
                record, conversation_limit=conversation_limit, updated_at=self._now()
            )
            self._world.put_capacity_policy(attrs.evolve(current, inbox_limits=limits))
            self._limits[limit] = updated_record
            return updated_record

    def delete_inbox_limit(
        self, account: AccountId, policy: PolicyId, limit: LimitId
    ) -> bool:
        with self._lock:
            record = self.get_inbox_limit(account, policy, limit)
            current = self._capacity(account, policy)
            if record is None or current is None:
                return False
            limits = dict(current.inbox_limits)
            limits.pop(record.inbox, None)
            self._world.put_capacity_policy(attrs.evolve(current, inbox_limits=limits))
            del self._limits[limit]
            return True

    # -- agents --------------------------------------------------------------------------

    def agents_of_capacity_policy(
        self, account: AccountId, policy: PolicyId
    ) -> Sequence[AgentInfo]:
        with self._lock:
            current = self._capacity(account, policy)
            if current is None:
                return ()
            return tuple(
                self._agent_info(account, agent)
                for agent in sorted(current.agents, key=id_sort_key)
            )

    def capacity_policy_of_agent(
        self, account: AccountId, agent: AgentId
    ) -> PolicyId | None:
        with self._lock:
            found = [
                p.id
                for p in self._world.capacity_policies.values()
                if p.account == account and agent in p.agents
            ]
            return min(found, key=id_sort_key) if found else None

    def add_agent(self, account: AccountId, policy: PolicyId, agent: AgentId) -> bool:
        with self._lock:
            self._adopt()
            target = self._capacity(account, policy)
            if target is None or not self.agent_exists(account, agent):
                return False
            for other in list(self._world.capacity_policies.values()):
                if (
                    other.account == account
                    and other.id != policy
                    and agent in other.agents
                ):
                    self._world.put_capacity_policy(
                        attrs.evolve(other, agents=other.agents - {agent})
                    )
            if agent not in target.agents:
                self._world.put_capacity_policy(
                    attrs.evolve(target, agents=target.agents | {agent})
                )
            return True

    def remove_agent(
        self, account: AccountId, policy: PolicyId, agent: AgentId
    ) -> bool:
        with self._lock:
            current = self._capacity(account, policy)
            if current is None or agent not in current.agents:
                return False
            self._world.put_capacity_policy(
                attrs.evolve(current, agents=current.agents - {agent})
            )
            return True

    # -- host lookups --------------------------------------------------------------------

    def inbox_exists(self, account: AccountId, inbox: InboxId) -> bool:
        with self._lock:
            return self._inbox_in(account, inbox)

    def agent_exists(self, account: AccountId, agent: AgentId) -> bool:
        with self._lock:
            if agent in self._users.get(account, {}):
                return True
            return bool(self._world.inboxes_of_agent(account, agent))

    def inbox_info(self, account: AccountId, inbox: InboxId) -> InboxInfo | None:
        with self._lock:
            if not self._inbox_in(account, inbox):
                return None
            name = self._inbox_names.get(inbox, f"Inbox {inbox}")
            return InboxInfo(id=inbox, account=account, name=name)

    def agent_info(self, account: AccountId, agent: AgentId) -> AgentInfo | None:
        with self._lock:
            if not self.agent_exists(account, agent):
                return None
            return self._agent_info(account, agent)

    def _agent_info(self, account: AccountId, agent: AgentId) -> AgentInfo:
        known = self._users.get(account, {}).get(agent)
        return known or AgentInfo(id=agent, account=account, name=str(agent))

    def users(self, account: AccountId) -> Iterable[AgentInfo]:
        """The users registered with :meth:`add_user` for ``account``."""
        with self._lock:
            return tuple(self._users.get(account, {}).values())
