"""Gates (issue 2, behaviour 1): the account has ``assignment_v2``, the inbox has a linked
policy, the policy is enabled, the inbox has ``enable_auto_assignment``. Any gate off: 0
assignments and nothing touched."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoassign import (
    Account,
    AssignmentPolicy,
    GateFailure,
    Inbox,
    check_gates,
)

ACCOUNT, INBOX = 1, 10


def _gated(scenario: Any, gate: str) -> None:
    """Set up a world that would assign (two online agents, three conversations) except
    for the one ``gate``."""
    if gate == "inbox_missing":
        scenario.backend.add_account(ACCOUNT)
        scenario.backend.add_policy(AssignmentPolicy(id=1, account=ACCOUNT))
        scenario.world.link_policy(INBOX, 1)
        scenario.set_status("ann", "online")
        return
    if gate == "account_missing":
        scenario.backend.add_inbox(INBOX, account=99, members=["ann"])
        scenario.backend.add_policy(AssignmentPolicy(id=1, account=99), inboxes=[INBOX])
        scenario.backend.set_status(99, "ann", "online")
    else:
        scenario.setup(
            features=() if gate == "feature_off" else ("assignment_v2",),
            link_policy=gate != "no_policy",
            policy=AssignmentPolicy(
                id=1, account=ACCOUNT, enabled=gate != "policy_disabled"
            ),
            enable_auto_assignment=gate != "auto_assignment_off",
        )
    scenario.convs([1, 2, 3])


GATES = {
    "inbox_missing": GateFailure.INBOX_NOT_FOUND,
    "account_missing": GateFailure.ACCOUNT_NOT_FOUND,
    "feature_off": GateFailure.FEATURE_DISABLED,
    "no_policy": GateFailure.NO_POLICY,
    "policy_disabled": GateFailure.POLICY_DISABLED,
    "auto_assignment_off": GateFailure.AUTO_ASSIGNMENT_DISABLED,
}


@pytest.mark.parametrize(("gate", "failure"), GATES.items())
def test_any_gate_off_assigns_nothing_and_touches_nothing(
    scenario: Any, wrap: Any, gate: str, failure: GateFailure
) -> None:
    _gated(scenario, gate)
    b = scenario.backend
    conversations = wrap(b.conversations)
    presence = wrap(b.presence)
    ledger = wrap(b.ledger)
    rotation = wrap(b.rotation)
    events = wrap(b.events)
    app = scenario.build(
        conversations=conversations,
        presence=presence,
        ledger=ledger,
        rotation=rotation,
        events=events,
    )
    before = scenario.snapshot()

    result = app.service.perform_bulk_assignment(INBOX)

    assert result.gate is failure
    assert result.assigned_count == 0
    assert result.fetched == 0
    assert result.skips == ()
    assert scenario.snapshot() == before
    # Not even read: nothing is fetched, nobody's presence or ledger is consulted.
    for port in (conversations, presence, ledger, rotation, events):
        assert port.calls == []


def test_the_same_world_with_every_gate_on_assigns(scenario: Any) -> None:
    """The control for the gate tests: they fail only because of the gate."""
    scenario.setup()
    scenario.convs([1, 2, 3])
    result = scenario.run()
    assert result.gate is None
    assert result.assigned_count == 3


def test_policy_enabled_flag_is_honoured_unlike_the_reference(scenario: Any) -> None:
    scenario.setup(policy=AssignmentPolicy(id=1, account=ACCOUNT, enabled=False))
    scenario.conv(1)
    assert scenario.run().gate is GateFailure.POLICY_DISABLED
    assert scenario.assignee(1) is None
    # Re-enabling the policy is enough.
    scenario.world.put_policy(AssignmentPolicy(id=1, account=ACCOUNT, enabled=True))
    assert scenario.run().assigned_count == 1


def test_a_policy_linked_to_another_inbox_does_not_count(scenario: Any) -> None:
    scenario.setup(link_policy=False)
    scenario.backend.add_inbox(20, account=ACCOUNT, members=["ann"])
    scenario.world.link_policy(20, 1)
    scenario.conv(1)
    assert scenario.run().gate is GateFailure.NO_POLICY


def test_other_feature_flags_do_not_open_the_gate(scenario: Any) -> None:
    scenario.setup(features=("advanced_assignment", "assignment_v1"))
    scenario.conv(1)
    assert scenario.run().gate is GateFailure.FEATURE_DISABLED


@given(
    flag=st.booleans(),
    linked=st.booleans(),
    enabled=st.booleans(),
    auto=st.booleans(),
    conversations=st.integers(0, 6),
    online=st.lists(st.sampled_from(["ann", "bob", "cho"]), unique=True),
)
@settings(max_examples=60)
def test_gates_property(
    make_scenario: Any,
    *,
    flag: bool,
    linked: bool,
    enabled: bool,
    auto: bool,
    conversations: int,
    online: list[str],
) -> None:
    """For any world: with some gate off, nothing is assigned and nothing changes; with
    every gate on, something online plus something open means an assignment."""
    scenario = make_scenario()
    scenario.setup(
        members=["ann", "bob", "cho"],
        online=online,
        features=("assignment_v2",) if flag else (),
        link_policy=linked,
        policy=AssignmentPolicy(id=1, account=ACCOUNT, enabled=enabled),
        enable_auto_assignment=auto,
    )
    scenario.convs(range(1, conversations + 1))
    before = scenario.snapshot()

    result = scenario.run()

    if not (flag and linked and enabled and auto):
        assert result.gate is not None
        assert result.assigned_count == 0
        assert scenario.snapshot() == before
    else:
        assert result.gate is None
        assert result.assigned_count == (conversations if online else 0)


# -- check_gates: the first failing prerequisite, in the spec's order ---------------------


def _account(*features: str) -> Account:
    return Account(id=ACCOUNT, features=frozenset(features))


def test_check_gates_order() -> None:
    inbox = Inbox(id=INBOX, account=ACCOUNT)
    off = Inbox(id=INBOX, account=ACCOUNT, enable_auto_assignment=False)
    policy = AssignmentPolicy(id=1, account=ACCOUNT)
    disabled = AssignmentPolicy(id=1, account=ACCOUNT, enabled=False)
    v2 = _account("assignment_v2")

    assert check_gates(v2, inbox, policy) is None
    assert check_gates(None, None, None) is GateFailure.INBOX_NOT_FOUND
    assert check_gates(None, inbox, policy) is GateFailure.ACCOUNT_NOT_FOUND
    assert check_gates(_account(), off, disabled) is GateFailure.FEATURE_DISABLED
    assert check_gates(v2, off, None) is GateFailure.NO_POLICY
    assert check_gates(v2, off, disabled) is GateFailure.POLICY_DISABLED
    assert check_gates(v2, off, policy) is GateFailure.AUTO_ASSIGNMENT_DISABLED
