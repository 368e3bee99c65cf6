"""What the admin API's store (``config.store.DjangoPolicyStore``) needs: an
``account`` column on both policy tables (``AUTOASSIGN['ACCOUNT']`` for existing
rows), assignment policy names unique per account instead of globally, capacity policy
names no longer unique, and ``created_at``/``updated_at`` on policies and limits
(existing rows: the time of the migration)."""

from __future__ import annotations

import django.utils.timezone
from django.db import migrations, models

import autoassign.integrations.django.config.models


def _account() -> models.BigIntegerField:  # type: ignore[type-arg]
    return models.BigIntegerField(
        default=autoassign.integrations.django.config.models.default_account,
        help_text="The account (tenant) id; AUTOASSIGN['ACCOUNT'] on a single-account"
        " host.",
    )


def _stamp() -> models.DateTimeField:  # type: ignore[type-arg]
    return models.DateTimeField(default=django.utils.timezone.now, editable=False)


class Migration(migrations.Migration):
    dependencies = [
        ("autoassign_config", "0002_unlimited_capacity_limits"),
    ]

    operations = [
        migrations.AddField("assignmentpolicyrow", "account", _account()),
        migrations.AddField("capacitypolicyrow", "account", _account()),
        migrations.AlterField(
            "assignmentpolicyrow", "name", models.CharField(max_length=255)
        ),
        migrations.AlterField(
            "capacitypolicyrow", "name", models.CharField(max_length=255)
        ),
        migrations.AddConstraint(
            model_name="assignmentpolicyrow",
            constraint=models.UniqueConstraint(
                fields=("account", "name"), name="autoassign_policy_name_per_account"
            ),
        ),
        *(
            migrations.AddField(model, field, _stamp())
            for model in (
                "assignmentpolicyrow",
                "capacitypolicyrow",
                "capacitylimitrow",
            )
            for field in ("created_at", "updated_at")
        ),
    ]
