"""The optional configuration models: policies, inbox links and capacity edited as
Django rows (and in the Django admin) drive assignment with ``POLICY = "models"``."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
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


def test_an_unlimited_limit_row_applies_the_rules_and_caps_nobody(
    models_config: Helpdesk,
) -> None:
    """Issue 16: a limit row with no limit (``NULL``) links the policy to the inbox:
    its exclusion rules apply there, and capacity caps nobody."""
    helpdesk = models_config
    linked = helpdesk.queue("linked")
    ann = helpdesk.staff("ann")
    capacity = CapacityPolicyRow.objects.create(name="Old", exclude_older_than_hours=1)
    capacity.agents.add(ann)
    row = CapacityLimitRow.objects.create(
        policy=capacity, inbox_id=linked.pk, conversation_limit=None
    )
    assert str(row) == f"Old: inbox {linked.pk} unlimited"
    tickets = [helpdesk.ticket(linked, f"t{i}") for i in range(4)]  # no policy yet
    Ticket.objects.filter(pk=tickets[0].pk).update(
        created=helpdesk.clock.now() - timedelta(hours=3)
    )
    policy = AssignmentPolicyRow.objects.create(name="Support")
    InboxPolicyLink.objects.create(inbox_id=linked.pk, policy=policy)
    (seen,) = get_autoassign().directory.capacity_policies_for_inbox(linked.pk)
    assert seen.inbox_limits == {linked.pk: None}
    result = get_autoassign().bundle.service.perform_bulk_assignment(linked.pk)
    assert result.assigned_count == 3  # the old ticket is excluded
    assert helpdesk.open_counts(linked) == {ann.pk: 3}
    assert Ticket.objects.get(pk=tickets[0].pk).assigned_to is None


def test_an_invalid_row_is_refused_by_clean() -> None:
    row = AssignmentPolicyRow(name="Bad", fair_distribution_window=0)
    with pytest.raises(ValidationError) as info:
        row.clean()
    assert "fair_distribution_window" in info.value.message_dict
    labels = CapacityPolicyRow(name="Bad", excluded_labels="spam")
    with pytest.raises(ValidationError):
        labels.clean()


def test_invalid_routing_settings_are_refused_by_clean() -> None:
    for field, value in (("sticky_window", 31_536_001), ("skill_relax_after", 10**9)):
        row = AssignmentPolicyRow(name="Bad", **{field: value})
        with pytest.raises(ValidationError) as info:
            row.clean()
        assert field in info.value.message_dict
    AssignmentPolicyRow(
        name="Fine", sticky_window=0, skill_routing=False, skill_relax_after=0
    ).clean()


def test_routing_settings_are_read_and_a_bad_row_routes_as_wired(
    models_config: Helpdesk,
) -> None:
    """The rows' settings reach the engine's policy; a value written past
    ``clean()`` (out of range) reads as unset instead of failing the pass."""
    row = AssignmentPolicyRow.objects.create(
        name="R", sticky_window=0, skill_routing=False, skill_relax_after=60
    )
    policy = row.to_policy(1)
    assert (policy.sticky_window, policy.skill_routing, policy.skill_relax_after) == (
        0,
        False,
        60,
    )
    AssignmentPolicyRow.objects.filter(pk=row.pk).update(sticky_window=99_999_999)
    row.refresh_from_db()
    assert row.to_policy(1).sticky_window is None


def test_a_policy_row_turns_sticky_agents_off_for_its_queue(
    models_config: Helpdesk,
) -> None:
    """``STICKY`` is wired for every queue; the policy row of one queue has
    ``sticky_window = 0``: a returning submitter there goes by round robin, while
    in the other queue (a policy row without the setting) they get their agent."""
    helpdesk = models_config
    off, on = helpdesk.queue("off"), helpdesk.queue("on")
    for queue, window in ((off, 0), (on, None)):
        policy = AssignmentPolicyRow.objects.create(
            name=f"P {queue.slug}", fair_distribution_limit=None, sticky_window=window
        )
        InboxPolicyLink.objects.create(inbox_id=queue.pk, policy=policy)
    with override_settings(
        AUTOASSIGN={**settings.AUTOASSIGN, "STICKY": {"WINDOW": 86_400}}
    ):
        reset_autoassign()
        helpdesk.staff("ann")
        helpdesk.staff("bob")
        tickets = {}
        for queue, email in ((off, "carol@example.com"), (on, "dave@example.com")):
            for title in ("first", "again"):
                ticket = Ticket.objects.create(
                    title=title, queue=queue, submitter_email=email
                )
                ticket.refresh_from_db()
                tickets[queue.slug, title] = ticket.assigned_to_id
    reset_autoassign()
    assert None not in tickets.values()
    assert tickets["off", "again"] != tickets["off", "first"]  # round robin
    assert tickets["on", "again"] == tickets["on", "first"]  # sticky


def test_the_models_are_in_the_admin() -> None:
    for model in (AssignmentPolicyRow, CapacityPolicyRow):
        assert admin.site.is_registered(model)


def test_the_migrations_match_the_models(django_db: str) -> None:
    out = io.StringIO()
    call_command(
        "makemigrations", "autoassign_config", "--check", "--dry-run", stdout=out
    )


def test_migration_0002_keeps_the_limits_and_allows_unlimited(
    models_config: Helpdesk,
) -> None:
    """Issue 16: from 0001 (``conversation_limit NOT NULL``) to 0002, every row keeps
    its limit and a row may then have none."""
    executor = MigrationExecutor(connection)
    app = "autoassign_config"
    latest = executor.loader.graph.leaf_nodes(app)
    try:
        executor.migrate([(app, "0001_initial")])
        old = executor.loader.project_state([(app, "0001_initial")]).apps
        policy = old.get_model(app, "CapacityPolicyRow").objects.create(name="Kept")
        limits = old.get_model(app, "CapacityLimitRow")
        limits.objects.create(policy=policy, inbox_id=1, conversation_limit=4)
        with pytest.raises(IntegrityError), transaction.atomic():
            limits.objects.create(policy=policy, inbox_id=2, conversation_limit=None)
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
    finally:
        MigrationExecutor(connection).migrate(latest)
    (kept,) = CapacityLimitRow.objects.filter(policy__name="Kept")
    assert (kept.inbox_id, kept.conversation_limit) == (1, 4)
    CapacityLimitRow.objects.create(
        policy_id=kept.policy_id, inbox_id=2, conversation_limit=None
    )
    rows = CapacityLimitRow.objects.filter(policy__name="Kept").order_by("inbox_id")
    assert list(rows.values_list("inbox_id", "conversation_limit")) == [
        (1, 4),
        (2, None),
    ]


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
