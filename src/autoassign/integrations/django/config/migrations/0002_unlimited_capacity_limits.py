"""An inbox link with no limit: ``CapacityLimitRow.conversation_limit`` may be empty
(``NULL``: unlimited, the capacity policy's exclusion rules still apply). Existing rows
keep their limits."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("autoassign_config", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="capacitylimitrow",
            name="conversation_limit",
            field=models.PositiveIntegerField(
                blank=True,
                help_text=(
                    "Empty: unlimited (the policy's exclusion rules still apply)."
                ),
                null=True,
            ),
        ),
    ]
