"""Pure speedups of the pass (issue 17, simulator targets): an optional capability is
checked once per adapter object, and combined exclusion rules are reused. Neither may
change what a pass sees."""

from __future__ import annotations

from collections.abc import Collection

from autoassign.adapters.memory import (
    InMemoryBackend,
    InMemoryOnlinePresence,
    InMemoryPresence,
    build_in_memory,
)
from autoassign.model import Account, AgentId, ExclusionRules
from autoassign.testing import FakeClock


class _Spy(InMemoryOnlinePresence):
    def __init__(self) -> None:
        super().__init__()
        self.online_reads = 0

    def online(
        self, account: object, agents: Collection[AgentId]
    ) -> Collection[AgentId]:
        self.online_reads += 1
        return super().online(account, agents)  # type: ignore[arg-type]


def test_replacing_the_presence_adapter_checks_its_capability_again() -> None:
    service = build_in_memory(InMemoryBackend(clock=FakeClock())).service
    account, members = Account(id=1), ["ann", "bob"]
    plain = InMemoryPresence()
    spy = _Spy()
    for presence in (plain, spy):
        presence.set_status(1, "ann", "online")
        presence.set_status(1, "bob", "busy")
    service.presence = plain  # statuses of every member
    assert service.read_online(account, members) == {"ann": "online", "bob": "busy"}
    service.presence = spy  # the online ones only
    assert service.read_online(account, members) == {"ann": "online"}
    assert service.read_online(account, members) == {"ann": "online"}
    assert spy.online_reads == 2
    service.presence = plain  # without the capability again
    assert service.read_online(account, members) == {"ann": "online", "bob": "busy"}
    assert spy.online_reads == 2


def test_combined_rules_equal_a_fresh_combination_and_are_reused() -> None:
    a = ExclusionRules(excluded_labels=["vip", "legal"], exclude_older_than_hours=48)
    b = ExclusionRules(excluded_labels=["spam"], exclude_older_than_hours=12)
    first = ExclusionRules.combine([a, b])
    assert first == ExclusionRules._combine([a, b])
    assert list(first.excluded_labels) == ["legal", "spam", "vip"]
    assert first.exclude_older_than_hours == 12
    again = ExclusionRules.combine(
        iter(
            [
                ExclusionRules(
                    excluded_labels=["vip", "legal"], exclude_older_than_hours=48
                ),
                b,
            ]
        )
    )
    assert again is first
    assert ExclusionRules.combine([b, a]) == first
    assert ExclusionRules.combine([]) == ExclusionRules()
    assert ExclusionRules.combine([a]) != first
