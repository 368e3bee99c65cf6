"""Two more conversation priorities, ``highest_urgency`` and ``earliest_due``, among
the policy's choices (no change to the table: the column already holds up to 32
characters)."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("autoassign_config", "0004_most_available"),
    ]

    operations = [
        migrations.AlterField(
            model_name="assignmentpolicyrow",
            name="conversation_priority",
            field=models.CharField(
                choices=[
                    ("earliest_created", "earliest_created"),
                    ("longest_waiting", "longest_waiting"),
                    ("highest_urgency", "highest_urgency"),
                    ("earliest_due", "earliest_due"),
                ],
                default="earliest_created",
                max_length=32,
            ),
        ),
    ]
