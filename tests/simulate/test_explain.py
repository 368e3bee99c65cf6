"""explain_inbox / explain_conversation: each troubleshooting gate, no writes, and a dry
run that agrees with the real pass."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoassign import AssignmentPolicy, CapacityPolicy, ExclusionRules
from autoassign.errors import BackendUnavailable
from autoassign.explain import GATE_ORDER, explain_conversation, explain_inbox
from autoassign.testing import FakeClock, InMemoryBackend, build_in_memory
from autoassign.wiring import Autoassign

from ._backend_state import backend_state


def world(
    *,
    features: tuple[str, ...] = ("assignment_v2",),
    link: bool = True,
    enabled: bool = True,
    auto: bool = True,
    statuses: tuple[str, ...] = ("online", "online", "busy"),
    limit: int | None = None,
    capacity: int | None = None,
    labels: tuple[str, ...] = (),
    age_hours: int | None = None,
    order: str = "round_robin",
) -> tuple[InMemoryBackend, FakeClock, Autoassign]:
    clock = FakeClock()
    backend = InMemoryBackend(clock=clock)
    backend.add_account(1, features=features)
    agents = [f"a{i}" for i in range(len(statuses))]
    backend.add_inbox(10, account=1, members=agents, enable_auto_assignment=auto)
    policy = AssignmentPolicy(
        id=7,
        account=1,
        enabled=enabled,
        fair_distribution_limit=limit,
        assignment_order=order,
    )
    backend.add_policy(policy, inboxes=[10] if link else [])
    if capacity is not None or labels or age_hours is not None:
        backend.add_capacity_policy(
            CapacityPolicy(
                id=3,
                account=1,
                inbox_limits={10: capacity},  # None: an unlimited link
                agents=agents,
                exclusion_rules=ExclusionRules(
                    excluded_labels=labels, exclude_older_than_hours=age_hours
                ),
            )
        )
    for agent, status in zip(agents, statuses, strict=True):
        backend.set_status(1, agent, status)
    return backend, clock, build_in_memory(backend, strict=True)


def statuses_of(explanation: Any) -> dict[str, bool | None]:
    return {gate.name: gate.passed for gate in explanation.gates}


def test_gates_come_in_the_checklist_order_and_all_pass() -> None:
    backend, _clock, app = world()
    backend.add_conversation(100, inbox=10)
    result = explain_inbox(app, 10, jobs_scheduled=True)
    assert tuple(gate.name for gate in result.gates) == GATE_ORDER
    assert all(gate.passed for gate in result.gates)
    assert result.blocking is None
    assert result.would_assign
    assert result.gate("agents_online").numbers == {"online": 2, "members": 3}
    data = result.to_dict()
    assert data["gates"][0]["status"] == "pass"


def test_feature_flag() -> None:
    backend, _clock, app = world(features=())
    backend.add_conversation(100, inbox=10)
    result = explain_inbox(app, 10)
    assert result.blocking == "feature_flag"
    assert not result.would_assign
    assert "lacks 'assignment_v2'" in result.gate("feature_flag").detail


def test_policy_linked_and_enabled() -> None:
    _backend, _clock, app = world(link=False)
    result = explain_inbox(app, 10)
    assert result.blocking == "policy_linked"
    assert result.gate("policy_enabled").passed is None
    _backend, _clock, app = world(enabled=False)
    assert explain_inbox(app, 10).blocking == "policy_enabled"


def test_inbox_auto_assignment() -> None:
    _backend, _clock, app = world(auto=False)
    result = explain_inbox(app, 10)
    assert result.blocking == "inbox_auto_assignment"
    assert (
        "enable_auto_assignment = false" in result.gate("inbox_auto_assignment").detail
    )


def test_agents_online() -> None:
    backend, _clock, app = world(statuses=("busy", "offline", "away"))
    backend.add_conversation(100, inbox=10)
    result = explain_inbox(app, 10)
    assert result.blocking == "agents_online"
    gate = result.gate("agents_online")
    assert gate.numbers == {"online": 0, "members": 3}
    assert "0 of 3" in gate.detail
    assert gate.detail == "0 of 3 member agents online (1 away, 1 busy, 1 offline)"
    assert result.gate("rate_limits").passed is None


def test_rate_limits() -> None:
    backend, _clock, app = world(limit=1, statuses=("online", "online"))
    for number in range(1, 4):
        backend.add_conversation(number, inbox=10)
    assert app.service.perform_bulk_assignment(10).assigned_count == 2
    result = explain_inbox(app, 10)
    gate = result.gate("rate_limits")
    assert gate.passed is False
    assert gate.numbers["at_limit"] == 2
    assert gate.numbers["limit"] == 1
    assert gate.numbers["window_seconds"] == 3600
    assert result.blocking == "rate_limits"


def test_rate_limits_off_and_without_a_policy() -> None:
    backend, _clock, app = world()
    backend.add_conversation(1, inbox=10)
    gate = explain_inbox(app, 10).gate("rate_limits")
    assert gate.passed is True
    assert gate.detail == "fair distribution is off (no limit)"
    assert gate.numbers == {"at_limit": 0, "limit": None, "window_seconds": 3600}

    backend, _clock, app = world(link=False)
    backend.add_conversation(1, inbox=10)
    result = explain_inbox(app, 10)
    gate = result.gate("rate_limits")
    assert (gate.passed, gate.detail) == (None, "no policy: no rate limit")
    # the agents are still judged, without a rate limit
    assert result.gate("agents_online").numbers == {"online": 2, "members": 3}
    assert result.gate("capacity").passed is True
    assert result.gate("capacity").numbers == {
        "at_capacity": 0,
        "checked": 2,
        "at_capacity_online": 0,
        "online_with_limit": 0,
        "online_unlimited_link": 0,
        "eligible": 2,
    }
    assert result.blocking == "policy_linked"
    assert not result.would_assign


class _DownLedger:
    def usage(self, *args: object, **kwargs: object) -> Any:
        raise BackendUnavailable("ledger down")


def test_rate_limits_when_the_ledger_is_down(caplog: pytest.LogCaptureFixture) -> None:
    backend, _clock, app = world(limit=1)
    backend.add_conversation(1, inbox=10)
    service = attrs.evolve(app.service, ledger=_DownLedger())
    with caplog.at_level(logging.WARNING, logger="autoassign"):
        result = explain_inbox(service, 10)
    gate = result.gate("rate_limits")
    assert gate.passed is True
    assert gate.detail == "the ledger is unavailable: a pass would skip rate limiting"
    assert gate.numbers == {"at_limit": None, "limit": 1, "window_seconds": 3600}
    assert result.would_assign
    assert "rate-limit ledger unavailable" in caplog.text


def test_agent_gates_without_the_account() -> None:
    backend, _clock, app = world()
    backend.add_conversation(1, inbox=10)
    del backend.world.accounts[1]
    result = explain_inbox(app, 10)
    assert result.blocking == "feature_flag"
    assert result.gate("feature_flag").detail == "account 1 not found"
    for name in ("agents_online", "rate_limits", "capacity"):
        gate = result.gate(name)
        assert (gate.passed, gate.detail) == (None, "the account is missing")
    assert not result.would_assign


def test_capacity_counts_the_online_agents_held_by_the_rate_limit() -> None:
    backend, _clock, app = world(limit=1, capacity=1, statuses=("online", "online"))
    for number in range(1, 4):
        backend.add_conversation(number, inbox=10)
    assert app.service.perform_bulk_assignment(10).assigned_count == 2
    result = explain_inbox(app, 10)
    assert result.blocking == "rate_limits"
    gate = result.gate("capacity")
    assert gate.passed is None  # the rate limit left nobody to check
    assert gate.numbers == {
        "at_capacity": 0,
        "checked": 0,
        "at_capacity_online": 2,
        "online_with_limit": 2,
        "online_unlimited_link": 0,
        "eligible": 0,
    }
    assert gate.detail == (
        "0 of the 0 agents past the rate limit at capacity (2 of 2 online at "
        "capacity, 2 with a limit in this inbox)"
    )


def test_capacity() -> None:
    backend, _clock, app = world(capacity=1, statuses=("online", "online"))
    for number in range(1, 4):
        backend.add_conversation(number, inbox=10)
    assert app.service.perform_bulk_assignment(10).assigned_count == 2
    result = explain_inbox(app, 10)
    gate = result.gate("capacity")
    assert gate.passed is False
    assert gate.numbers["at_capacity"] == 2
    assert result.blocking == "capacity"


def test_exclusions_by_label_and_age() -> None:
    backend, clock, app = world(labels=("VIP",), age_hours=2)
    backend.add_conversation(1, inbox=10, labels={"VIP"})
    backend.add_conversation(2, inbox=10, created_at=clock.now() - timedelta(hours=3))
    result = explain_inbox(app, 10)
    gate = result.gate("exclusions")
    assert gate.passed is False
    assert gate.numbers == {
        "open_unassigned": 2,
        "excluded": 2,
        "excluded_by_label": 1,
        "excluded_by_age": 1,
        "assignable": 0,
    }
    assert result.blocking == "exclusions"
    assert not result.would_assign


def test_an_unlimited_link_removes_nobody_and_still_excludes() -> None:
    """Issue 16: a capacity link with no limit applies its rules and caps nobody."""
    backend, _clock, app = world(labels=("VIP",), statuses=("online", "online"))
    backend.add_conversation(1, inbox=10, labels={"VIP"})
    for number in range(2, 6):
        backend.add_conversation(number, inbox=10)
    result = explain_inbox(app, 10)
    gate = result.gate("capacity")
    assert gate.passed is True
    assert gate.numbers["online_with_limit"] == 0
    assert gate.numbers["online_unlimited_link"] == 2
    assert gate.detail.endswith("0 with a limit in this inbox, 2 on an unlimited link)")
    assert result.gate("exclusions").numbers["excluded_by_label"] == 1
    assert app.service.perform_bulk_assignment(10).assigned_count == 4
    assert backend.world.conversations[1].assignee is None


def test_job_scheduled() -> None:
    backend, _clock, app = world()
    assert (
        explain_inbox(app, 10, jobs_scheduled=False).gate("job_scheduled").passed
        is False
    )
    assert explain_inbox(app, 10).gate("job_scheduled").passed is None
    conversation = backend.add_conversation(1, inbox=10)
    app.triggers.on_conversation_saved(None, conversation)  # queues the inbox's job
    gate = explain_inbox(app, 10).gate("job_scheduled")
    assert gate.passed is True
    assert "queued" in gate.detail
    assert gate.numbers == {"queued": True, "pending": True, "lease_held": False}


def test_job_scheduled_reads_the_pending_mark_and_the_lease() -> None:
    backend, clock, app = world()
    lease = backend.lease
    gate = explain_inbox(app, 10).gate("job_scheduled")
    assert gate.numbers == {"queued": False, "pending": False, "lease_held": False}
    assert "no AssignmentJob is due or running" in gate.detail

    assert lease.mark_pending(10, ttl=timedelta(minutes=15))  # no job queued
    gate = explain_inbox(app, 10).gate("job_scheduled")
    assert gate.passed is True
    assert gate.detail == "the inbox is marked pending: an AssignmentJob is due"
    assert lease.mark_pending(10, ttl=timedelta(minutes=15)) is False  # still marked
    gate = explain_inbox(app, 10, jobs_scheduled=True).gate("job_scheduled")
    assert gate.detail == (
        "PeriodicAssignmentJob is scheduled (as the caller says); the inbox is marked "
        "pending: an AssignmentJob is due"
    )
    clock.advance(timedelta(minutes=15))  # the mark lapses
    assert explain_inbox(app, 10).gate("job_scheduled").passed is None

    held = lease.acquire(10, ttl=timedelta(minutes=5))
    assert held is not None
    gate = explain_inbox(app, 10).gate("job_scheduled")
    assert gate.passed is True
    assert "running now" in gate.detail
    assert gate.numbers["lease_held"] is True
    held.release()
    assert explain_inbox(app, 10).gate("job_scheduled").passed is None


class _DownLease:
    """A lease store that is down (BackendUnavailable on every call)."""

    def _down(self, *args: object, **kwargs: object) -> Any:
        raise BackendUnavailable("lease store down")

    acquire = mark_pending = take_pending = is_pending = _down


def test_job_scheduled_when_the_lease_store_is_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    _backend, _clock, app = world()
    with caplog.at_level(logging.WARNING, logger="autoassign"):
        gate = explain_inbox(app, 10, lease=_DownLease()).gate("job_scheduled")
    assert gate.passed is None
    assert "the lease store could not be read" in gate.detail
    assert gate.numbers["pending"] is None
    assert "could not read the pending mark" in caplog.text


class _DownPresence:
    def statuses(self, *args: object, **kwargs: object) -> Any:
        raise BackendUnavailable("presence down")


def test_agents_online_when_presence_is_down(caplog: pytest.LogCaptureFixture) -> None:
    _backend, _clock, app = world()
    service = attrs.evolve(app.service, presence=_DownPresence())
    with caplog.at_level(logging.WARNING, logger="autoassign"):
        result = explain_inbox(service, 10)
    gate = result.gate("agents_online")
    assert gate.passed is False
    assert gate.detail == (
        "presence could not be read (see the log): a pass would treat all 3 member "
        "agents as offline"
    )
    assert result.blocking == "agents_online"
    assert "presence unavailable" in caplog.text


def test_unknown_inbox() -> None:
    _backend, _clock, app = world()
    result = explain_inbox(app, 999)
    assert not result.found
    assert result.blocking == "inbox"


def test_explain_writes_nothing() -> None:
    backend, clock, app = world(limit=2, capacity=2, labels=("VIP",))
    for number in range(1, 6):
        backend.add_conversation(
            number, inbox=10, labels={"VIP"} if number == 5 else ()
        )
    app.service.perform_bulk_assignment(10, limit=2)
    clock.advance(60)
    before = backend_state(backend)
    explain_inbox(app, 10)
    for number in range(1, 7):
        explain_conversation(app, number)
    assert backend_state(backend) == before


def test_conversation_agents_and_choice() -> None:
    backend, _clock, app = world(limit=1, statuses=("online", "online", "busy"))
    backend.add_conversation(1, inbox=10)
    backend.add_conversation(2, inbox=10)
    first = explain_conversation(app, 1)
    assert first.assignable
    assert first.chosen == "a0"
    assert [a.removed_by for a in first.agents] == [None, None, "not_online"]
    app.service.perform_bulk_assignment(10, limit=1)
    second = explain_conversation(app, 2)
    assert [a.removed_by for a in second.agents] == ["rate_limited", None, "not_online"]
    assert second.agents[0].recent_assignments == 1
    assert second.chosen == "a1"
    done = explain_conversation(app, 1)
    assert not done.assignable
    assert done.assignee == "a0"
    assert done.outcome == "not_assignable"
    assert explain_conversation(app, 99).found is False
    assert second.to_dict()["agents"][0]["removed_by"] == "rate_limited"


def test_conversation_excluded_reasons() -> None:
    backend, _clock, app = world(labels=("VIP",))
    backend.add_conversation(1, inbox=10, labels={"VIP", "x"})
    result = explain_conversation(app, 1)
    assert result.excluded
    assert result.exclusion_reasons == ("label VIP",)
    assert result.outcome == "excluded"
    assert result.chosen is None


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    agents = draw(st.integers(1, 4))
    return {
        "statuses": draw(
            st.lists(
                st.sampled_from(["online", "online", "busy", "offline"]),
                min_size=agents,
                max_size=agents,
            )
        ),
        "limit": draw(st.none() | st.integers(1, 3)),
        "capacity": draw(st.none() | st.integers(0, 3)),
        "order": draw(st.sampled_from(["round_robin", "balanced"])),
        "conversations": draw(st.integers(1, 8)),
        "steps": draw(
            st.lists(
                st.tuples(
                    st.integers(0, 1200),  # seconds to wait
                    st.integers(0, agents - 1),
                    st.sampled_from(["online", "busy", None]),
                ),
                min_size=1,
                max_size=12,
            )
        ),
    }


@settings(max_examples=60, deadline=None)
@given(worlds())
def test_explain_agrees_with_the_next_real_pass(spec: dict[str, Any]) -> None:
    backend, clock, app = world(
        statuses=tuple(spec["statuses"]),
        limit=spec["limit"],
        capacity=spec["capacity"],
        order=spec["order"],
    )
    for number in range(1, spec["conversations"] + 1):
        backend.add_conversation(number, inbox=10)
        clock.advance(1)
    for wait, agent_index, status in spec["steps"]:
        clock.advance(wait)
        if status is not None:
            backend.set_status(1, f"a{agent_index}", status)
        waiting = backend.world.unassigned_open(
            10,
            limit=1,
            priority=app.service.load_inbox(10).policy.conversation_priority,  # type: ignore[union-attr]
            exclusions=ExclusionRules(),
            now=clock.now(),
        )
        if not waiting:
            break
        predicted = explain_conversation(app, waiting[0].id)
        result = app.service.perform_bulk_assignment(10, limit=1)
        assigned = [a.agent for a in result.assignments]
        assert assigned == ([] if predicted.chosen is None else [predicted.chosen])
        if not assigned:
            assert result.skips[0].reason.value == predicted.skip_reason
