"""Weighted capacity on Django (issue 18): ``ConversationMapping(weight=...)`` reads a
numeric field, ``weight_values`` a weight per stored value (a weight by channel);
capacity sums them and the claim compares in thousandths. The numeric field itself is
covered by the repository contract (tests/django/test_contracts.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs
import pytest
from aa_djtest.models import Ticket

from autoassign.errors import ConfigurationError
from autoassign.integrations.django import DjangoConversationRepository
from autoassign.testing import EPOCH

from .test_contracts import MAPPING, seed

pytestmark = pytest.mark.postgres

BASE = attrs.evolve(MAPPING, weight=None)
BY_CHANNEL = attrs.evolve(
    BASE, weight="channel", weight_values={"email": 0.5, "call": 2}
)


def _ticket(number: int, channel: str, assignee: int | None = None) -> Ticket:
    at = EPOCH + timedelta(seconds=number)
    return Ticket(
        id=number,
        inbox=1,
        account=1,
        assignee=assignee,
        status="open",
        created=at,
        activity=at,
        channel=channel,
    )


def test_a_weight_by_channel(db: Any) -> None:
    seed([])  # the contract suite's tickets (its cases commit) are gone
    Ticket.objects.bulk_create(
        [
            _ticket(1, "email", assignee=7),
            _ticket(2, "chat", assignee=7),
            _ticket(3, "email"),
            _ticket(4, "call"),
            _ticket(5, "sms"),  # not listed: counts 1
        ]
    )
    repository = DjangoConversationRepository(BY_CHANNEL)
    assert [getattr(repository.get(i), "weight", None) for i in (3, 4, 5)] == [
        0.5,
        2,
        1,
    ]
    assert repository.open_counts(1, [7]) == {7: 1.5}
    assert not repository.claim(4, 7, capacity_limit=3)  # 1.5 + 2 > 3
    assert not repository.claim(5, 7, capacity_limit=2)  # 1.5 + 1 > 2
    assert repository.claim(3, 7, capacity_limit=2)  # 1.5 + 0.5 = 2
    assert repository.open_counts(1, [7]) == {7: 2}
    assert repository.open_totals(1, [7]) == {7: 2}
    # without the mapping every ticket counts 1
    assert DjangoConversationRepository(BASE).open_counts(1, [7]) == {7: 3}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"weight_values": {"email": 0.5}}, "weight_values"),
        (
            {"weight": "channel", "weight_values": {"email": 0}},
            "weight_values['email']",
        ),
        ({"weight": "channel", "weight_values": {"x": 0.0001}}, "weight_values['x']"),
        ({"weight": "nope"}, "weight"),
    ],
)
def test_a_bad_weight_mapping_is_refused(
    db: Any, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        DjangoConversationRepository(attrs.evolve(BASE, **changes)).open_counts(1, [7])
    assert info.value.field == field
