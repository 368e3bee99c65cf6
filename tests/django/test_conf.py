"""``settings.AUTOASSIGN``: a bad value is a ConfigurationError naming the key; the
mapping and the directory check themselves against the models."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.db.models import Q
from helpdesk.models import Ticket

from autoassign.errors import ConfigurationError
from autoassign.integrations.django import (
    ConversationMapping,
    DjangoConversationRepository,
    DjangoDirectory,
    build_from_settings,
    silenced,
)
from autoassign.model import AssignmentPolicy, ConversationStatus

from .conftest import Helpdesk

HELPDESK = settings.AUTOASSIGN
BAD: list[tuple[dict[str, Any], str]] = [
    ({"CAPACITY_LIMIT": -1}, "AUTOASSIGN['CAPACITY_LIMIT']"),
    ({"CAPACITY_LIMIT": "5"}, "AUTOASSIGN['CAPACITY_LIMIT']"),
    ({"OUTBOX": "yes"}, "AUTOASSIGN['OUTBOX']"),
    ({"OUTBOX": 1}, "AUTOASSIGN['OUTBOX']"),
    ({"STICKY": 3600}, "AUTOASSIGN['STICKY']"),
    ({"STICKY": {"WINDOW": "1h"}}, "AUTOASSIGN['STICKY']"),
    ({"STICKY": {"WINDOW": 0}}, "AUTOASSIGN['STICKY']"),
    ({"STICKY": {"WINDOW": 60, "OTHER": 1}}, "AUTOASSIGN['STICKY']"),
    ({"AGENT_WEIGHTS": 3}, "AUTOASSIGN['AGENT_WEIGHTS']"),
    ({"AGENT_WEIGHTS": "no.such.weights"}, "AUTOASSIGN['AGENT_WEIGHTS']"),
    ({"IDLE_TIMEOUT": 0}, "AUTOASSIGN['IDLE_TIMEOUT']"),
    ({"JOBS": "celery"}, "AUTOASSIGN['JOBS']"),  # needs its APP
    ({"JOBS": "beanstalk"}, "AUTOASSIGN['JOBS']"),
    ({"JOBS": 3}, "AUTOASSIGN['JOBS']"),
    ({"JOBS": {"ENGINE": "celery", "APP": 5}}, "AUTOASSIGN['JOBS']"),
    ({"JOBS": {"ENGINE": "celery", "APP": "no.such.app"}}, "AUTOASSIGN['JOBS']"),
    ({"JOBS": {"ENGINE": "rq", "COLOUR": "red"}}, "AUTOASSIGN['JOBS']"),
    ({"JOBS": {"ENGINE": "rq", "JOB_TIMEOUT": 0}}, "AUTOASSIGN['JOBS']"),
    ({"JOBS": {"ENGINE": "rq", "QUEUE": ""}}, "AUTOASSIGN['JOBS']"),
    ({"JOBS": {"QUEUE": "default"}}, "AUTOASSIGN['JOBS']"),
    ({"POLICY": {"assignment_order": "random"}}, "AUTOASSIGN['POLICY']"),
    ({"POLICY": {"colour": "red"}}, "AUTOASSIGN['POLICY']"),
    ({"POLICY": 3}, "AUTOASSIGN['POLICY']"),
    ({"MEMBERS": "no.such.module.members"}, "AUTOASSIGN['MEMBERS']"),
    ({"MEMBERS": 42}, "AUTOASSIGN['MEMBERS']"),
    ({"INBOX_MODEL": "helpdesk.Nothing"}, "AUTOASSIGN['INBOX_MODEL']"),
    ({"TYPO": 1}, "AUTOASSIGN['TYPO']"),
    ({"OPTIONS": {"bulk_limit": 0}}, "AUTOASSIGN['OPTIONS']"),
    ({"OPTIONS": {"no_such_option": 1}}, "AUTOASSIGN['OPTIONS']"),
    (
        {"CONVERSATIONS": {**HELPDESK["CONVERSATIONS"], "assignee": "owner"}},
        "AUTOASSIGN['CONVERSATIONS']",
    ),
    (
        {"CONVERSATIONS": {**HELPDESK["CONVERSATIONS"], "status_map": {1: "open"}}},
        "AUTOASSIGN['CONVERSATIONS']",
    ),
    (
        {"CONVERSATIONS": {**HELPDESK["CONVERSATIONS"], "model": "helpdesk.Nope"}},
        "AUTOASSIGN['CONVERSATIONS']",
    ),
    ({"CONVERSATIONS": "helpdesk.Ticket"}, "AUTOASSIGN['CONVERSATIONS']"),
    (  # sticky agents without a contact field
        {
            "STICKY": {"WINDOW": 60},
            "CONVERSATIONS": {
                k: v for k, v in HELPDESK["CONVERSATIONS"].items() if k != "contact"
            },
        },
        "AUTOASSIGN['STICKY']",
    ),
]


@pytest.mark.parametrize(
    ("change", "key"), BAD, ids=[f"{key}{i}" for i, (_, key) in enumerate(BAD)]
)
def test_a_bad_setting_names_its_key(change: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        build_from_settings({**HELPDESK, **change})
    assert info.value.field == key
    assert key in str(info.value)


@pytest.mark.parametrize("key", ["CONVERSATIONS", "INBOX_MODEL", "MEMBERS", "REDIS"])
def test_required_keys(key: str) -> None:
    config = {k: v for k, v in HELPDESK.items() if k != key}
    with pytest.raises(ConfigurationError, match=rf"AUTOASSIGN\['{key}'\] is required"):
        build_from_settings(config)


def test_settings_must_be_a_dict() -> None:
    with pytest.raises(
        ConfigurationError, match=r"settings\.AUTOASSIGN must be a dict"
    ):
        build_from_settings([])  # type: ignore[arg-type]


def _mapping(**changes: Any) -> ConversationMapping:
    base: dict[str, Any] = {
        "model": Ticket,
        "inbox": "queue",
        "assignee": "assigned_to",
        "status": "status",
        "status_map": {
            1: "open",
            2: "open",
            3: "resolved",
            4: "resolved",
            5: "resolved",
        },
        "created": "created",
    }
    return ConversationMapping(**{**base, **changes})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"status_map": {1: "open", 2: "closed"}}, "status_map"),
        ({"status_map": {3: "resolved"}}, "status_map"),
    ],
)
def test_mapping_checks_its_status_map(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        _mapping(**changes)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"inbox": "nope"}, "inbox"),
        ({"labels": "tags__name"}, "labels"),
        ({"status_map": {1: "open", 2: "open", 3: "resolved"}}, "status_map"),
        ({"last_activity": "followup"}, "last_activity"),
    ],
)
def test_mapping_is_checked_against_the_model(
    changes: dict[str, Any], field: str
) -> None:
    repository = DjangoConversationRepository(_mapping(**changes))
    with pytest.raises(ConfigurationError) as info:
        _ = repository.fields
    assert info.value.field == field


def test_on_hold_reads_as_snoozed(helpdesk: Helpdesk) -> None:
    queue = helpdesk.queue()
    repository = DjangoConversationRepository(_mapping(not_assignable=Q(on_hold=True)))
    with silenced():
        held = Ticket.objects.create(title="x", queue=queue, on_hold=True)
        reopened = Ticket.objects.create(title="y", queue=queue, status=2)
        closed = Ticket.objects.create(title="z", queue=queue, status=4)
    found = {
        c.id: c.status
        for c in map(repository.get, (held.pk, reopened.pk, closed.pk))
        if c
    }
    assert found == {
        held.pk: ConversationStatus.SNOOZED,
        reopened.pk: ConversationStatus.OPEN,
        closed.pk: ConversationStatus.RESOLVED,
    }
    assert repository.claim(held.pk, 1) is False


def test_directory_single_account(helpdesk: Helpdesk) -> None:
    first, second = helpdesk.queue("a"), helpdesk.queue("b")
    ann = helpdesk.staff("ann", online=False)
    bob = helpdesk.staff("bob", online=False)
    directory = DjangoDirectory(
        inbox_model="helpdesk.Queue",
        members=lambda inbox: [bob.pk, ann.pk, bob.pk] if inbox == first.pk else [],
        policy=AssignmentPolicy(id=1, account=1),
        capacity_limit=2,
    )
    assert directory.account(1) is not None
    assert directory.account(2) is None
    assert list(directory.inbox_members(first.pk)) == sorted([ann.pk, bob.pk])
    assert directory.inbox(999_999) is None
    assert directory.policy_for_inbox(999_999) is None
    (capacity,) = directory.capacity_policies_for_inbox(first.pk)
    assert capacity.limit_for(first.pk) == 2
    assert set(capacity.agents) == {ann.pk, bob.pk}
    assert list(directory.inboxes_of_agent(1, ann.pk)) == [first.pk]
    assert list(directory.inboxes_of_agent(2, ann.pk)) == []
    batches = list(directory.iter_inboxes(1, batch_size=1))
    assert [[i.id for i in batch] for batch in batches] == [[first.pk], [second.pk]]
    assert [
        a.id
        for b in directory.iter_accounts(feature="assignment_v2", batch_size=5)
        for a in b
    ] == [1]


def test_directory_rejects_another_accounts_policy() -> None:
    with pytest.raises(ConfigurationError) as info:
        DjangoDirectory(
            inbox_model="helpdesk.Queue",
            members=lambda inbox: [],
            policy=AssignmentPolicy(id=1, account=2),
        )
    assert info.value.field == "account_id"


def _weights(account: Any, agents: Any, *, inbox: Any) -> dict[Any, int]:
    return {agent: 3 for agent in agents if agent == 7}


def test_agent_weights_from_a_function_or_an_object() -> None:
    """``AUTOASSIGN['AGENT_WEIGHTS']``: a function (or its dotted path) or an
    ``AgentWeights``, wired for the ``weighted_round_robin`` order."""
    from autoassign.weights import InMemoryAgentWeights  # noqa: PLC0415

    built = build_from_settings({**HELPDESK, "AGENT_WEIGHTS": f"{__name__}._weights"})
    weights = built.bundle.service.agent_weights
    assert weights is not None
    assert weights.agent_weights(1, [7, 8], inbox=1) == {7: 3}
    book = InMemoryAgentWeights()
    built = build_from_settings({**HELPDESK, "AGENT_WEIGHTS": book})
    assert built.bundle.service.agent_weights is book
    assert build_from_settings(HELPDESK).bundle.service.agent_weights is None
