"""A capacity policy's ``total_limit``: the most open conversations each of its agents
may hold across all inboxes (``NULL``: no such limit). A nullable column, so every row
is kept as it is."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("autoassign_config", "0005_urgency_and_due_priorities"),
    ]

    operations = [
        migrations.AddField(
            model_name="capacitypolicyrow",
            name="total_limit",
            field=models.PositiveIntegerField(
                blank=True,
                help_text=(
                    "The most open conversations each agent may hold across all "
                    "inboxes (empty: no such limit)."
                ),
                null=True,
            ),
        ),
    ]
