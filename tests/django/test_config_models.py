"""The optional configuration models: policies, inbox links and capacity edited as
Django rows (and in the Django admin) drive assignment with ``POLICY = "models"``."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import override_settings
from helpdesk.models import Ticket

from autoassign.errors import ConfigurationError
from autoassign.integrations.django import (
    build_from_settings,
    get_autoassign,
    reset_autoassign,
)
from autoassign.integrations.django.config.models import (
    AssignmentPolicyRow,
    CapacityLimitRow,
    CapacityPolicyRow,
    InboxPolicyLink,
)

from .conftest import Helpdesk

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def models_config(helpdesk: Helpdesk) -> Any:
    CapacityPolicyRow.objects.all().delete()
    AssignmentPolicyRow.objects.all().delete()
    with override_settings(AUTOASSIGN={**settings.AUTOASSIGN, "POLICY": "models"}):
        reset_autoassign()
        yield helpdesk
    reset_autoassign()


def test_linked_policy_and_capacity_rows_drive_assignment(
    models_config: Helpdesk,
) -> None:
    helpdesk = models_config
    linked, unlinked = helpdesk.queue("linked"), helpdesk.queue("unlinked")
    ann, bob = helpdesk.staff("ann"), helpdesk.staff("bob")
    policy = AssignmentPolicyRow.objects.create(
        name="Support", fair_distribution_limit=10, fair_distribution_window=600
    )
    InboxPolicyLink.objects.create(inbox_id=linked.pk, policy=policy)
    capacity = CapacityPolicyRow.objects.create(name="Juniors")
    capacity.agents.add(ann)
    CapacityLimitRow.objects.create(
        policy=capacity, inbox_id=linked.pk, conversation_limit=1
    )
    for i in range(4):
        helpdesk.ticket(linked, f"l{i}")
        helpdesk.ticket(unlinked, f"u{i}")
    assert helpdesk.open_counts(linked) == {ann.pk: 1, bob.pk: 3}
    assert helpdesk.open_counts(unlinked) == {}  # no policy linked: nothing assigned
    directory = get_autoassign().directory
    found = directory.policy_for_inbox(linked.pk)
    assert found is not None
    assert (found.name, found.fair_distribution_limit) == ("Support", 10)
    (limit,) = directory.capacity_policies_for_inbox(linked.pk)
    assert (limit.limit_for(linked.pk), set(limit.agents)) == (1, {ann.pk})
    inboxes = [i.id for batch in directory.iter_inboxes(1, batch_size=5) for i in batch]
    assert inboxes == [linked.pk]


def test_an_invalid_row_is_refused_by_clean() -> None:
    row = AssignmentPolicyRow(name="Bad", fair_distribution_window=0)
    with pytest.raises(ValidationError) as info:
        row.clean()
    assert "fair_distribution_window" in info.value.message_dict
    labels = CapacityPolicyRow(name="Bad", excluded_labels="spam")
    with pytest.raises(ValidationError):
        labels.clean()


def test_the_models_are_in_the_admin() -> None:
    for model in (AssignmentPolicyRow, CapacityPolicyRow):
        assert admin.site.is_registered(model)


def test_the_migrations_match_the_models(django_db: str) -> None:
    out = io.StringIO()
    call_command(
        "makemigrations", "autoassign_config", "--check", "--dry-run", stdout=out
    )


def test_models_policy_needs_the_config_app() -> None:
    apps = [
        a
        for a in settings.INSTALLED_APPS
        if a != "autoassign.integrations.django.config"
    ]
    with (
        override_settings(INSTALLED_APPS=apps),
        pytest.raises(ConfigurationError) as info,
    ):
        build_from_settings({**settings.AUTOASSIGN, "POLICY": "models"})
    assert info.value.field == "AUTOASSIGN['POLICY']"
    assert Ticket is not None
