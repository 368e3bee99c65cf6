"""The step before a claim goes through the ``Reservations`` port: what the pass asks
(``expect_online``, ``record``, ``limit``) and what it does with each outcome."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs

from autoassign import AssignmentPolicy, Degradation, SkipReason
from autoassign.model import Reservation
from autoassign.reservations import SequentialReservations

from .conftest import ACCOUNT, INBOX, POLICY


@attrs.define
class Scripted:
    """A Reservations that delegates to the sequential one, unless ``script`` has an
    outcome queued for the call; records every call."""

    inner: SequentialReservations
    script: list[Reservation | None] = attrs.field(factory=list)
    calls: list[dict[str, Any]] = attrs.field(factory=list)

    def reserve(self, *args: Any, **kwargs: Any) -> Reservation:
        _account, _inbox, agent, conversation = args
        self.calls.append(
            {
                "agent": agent,
                "conversation": conversation,
                "expect": dict(kwargs["expect_online"]),
                "record": kwargs["record"],
                "limit": kwargs["limit"],
            }
        )
        if self.script:
            outcome = self.script.pop(0)
            if outcome is not None:
                return outcome
        return self.inner.reserve(*args, **kwargs)


def _build(scenario: Any, *script: Reservation | None) -> tuple[Any, Scripted]:
    b = scenario.backend
    scripted = Scripted(SequentialReservations(b.presence, b.ledger), list(script))
    return scenario.build(reservations=scripted), scripted


def _limited(limit: int | None) -> AssignmentPolicy:
    return AssignmentPolicy(
        id=POLICY, account=ACCOUNT, name="p", fair_distribution_limit=limit
    )


def test_the_pass_asks_for_the_chosen_agent_and_the_offline_agents_ahead(
    scenario: Any,
) -> None:
    scenario.setup(members=["ann", "bob", "cat"], online=["bob", "cat"])
    scenario.convs([1, 2, 3])
    app, scripted = _build(scenario)
    result = app.service.perform_bulk_assignment(INBOX)
    assert [a.agent for a in result.assignments] == ["bob", "cat", "bob"]
    assert [c["expect"] for c in scripted.calls] == [
        {},  # the snapshot was just read
        {"ann": False, "cat": True},
        {"ann": False, "bob": True},
    ]
    assert all(c["record"] for c in scripted.calls)


def test_the_limit_goes_with_the_reservation(scenario: Any) -> None:
    scenario.setup(members=["ann"], policy=_limited(3))
    scenario.convs([1])
    app, scripted = _build(scenario)
    app.service.perform_bulk_assignment(INBOX)
    assert [c["limit"] for c in scripted.calls] == [3]


def test_a_refused_reservation_marks_the_agent_full_and_moves_on(
    scenario: Any,
) -> None:
    scenario.setup(members=["ann", "bob"], policy=_limited(3))
    scenario.convs([1, 2])
    refused = Reservation(confirmed=True, refused=True)
    app, scripted = _build(scenario, refused)
    result = app.service.perform_bulk_assignment(INBOX)
    # ann was refused (another worker filled her): both go to bob.
    assert [a.agent for a in result.assignments] == ["bob", "bob"]
    assert [c["agent"] for c in scripted.calls] == ["ann", "bob", "bob"]


def test_a_presence_change_walks_again(scenario: Any) -> None:
    """The read says bob went offline since the snapshot: the pass walks again."""
    scenario.setup(members=["ann", "bob", "cat"])
    scenario.convs([1, 2])
    gone = Reservation(statuses={"cat": "online"}, confirmed=False)
    app, scripted = _build(scenario, None, gone)
    result = app.service.perform_bulk_assignment(INBOX)
    assert [a.agent for a in result.assignments] == ["ann", "cat"]
    assert [c["agent"] for c in scripted.calls] == ["ann", "bob", "cat"]


def test_a_presence_failure_skips_the_conversation_as_nobody_online(
    scenario: Any, boom: Any
) -> None:
    scenario.setup(members=["ann", "bob"])
    scenario.convs([1, 2, 3])
    failed = Reservation(presence_error=boom("down"))
    app, _ = _build(scenario, None, failed)
    result = app.service.perform_bulk_assignment(INBOX)
    # Conversation 2 is skipped and nobody counts as online; for conversation 3 the
    # pass reads everyone's presence again, which answers now.
    assert [a.conversation for a in result.assignments] == [1, 3]
    assert Degradation.PRESENCE_UNAVAILABLE in result.degraded
    assert [(s.conversation, s.reason) for s in result.skips] == [
        (2, SkipReason.NO_AGENT_ONLINE)
    ]


def test_a_ledger_failure_skips_rate_limiting_for_the_rest_of_the_pass(
    scenario: Any, boom: Any
) -> None:
    scenario.setup(members=["ann"], policy=_limited(1))
    scenario.convs([1, 2, 3])
    failed = Reservation(confirmed=True, ledger_error=boom("down"))
    app, scripted = _build(scenario, failed)
    result = app.service.perform_bulk_assignment(INBOX)
    assert result.assigned_count == 3  # the limit of 1 is no longer applied
    assert result.degraded == {Degradation.RATE_LIMIT_SKIPPED}
    # Nothing is recorded any more; presence is still confirmed per conversation.
    assert [c["record"] for c in scripted.calls] == [True, False, False]
    assert [c["expect"] for c in scripted.calls][1:] == [{"ann": True}] * 2


def test_the_sequential_reservations_leave_no_entry_when_presence_differs(
    scenario: Any,
) -> None:
    scenario.setup(members=["ann", "bob"], online=["ann"])
    b = scenario.backend
    reservations = SequentialReservations(b.presence, b.ledger)
    now = scenario.clock.now()
    window = timedelta(hours=1)
    outcome = reservations.reserve(
        ACCOUNT,
        INBOX,
        "ann",
        7,
        expect_online={"ann": True, "bob": True},
        now=now,
        window=window,
        limit=None,
    )
    assert outcome == Reservation(statuses={"ann": "online"}, confirmed=False)
    assert b.ledger.usage(INBOX, ["ann"], now=now, window=window) == {}
