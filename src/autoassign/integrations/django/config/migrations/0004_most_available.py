"""A third assignment order, ``most_available``, among the policy's choices (no change
to the table: the column already holds up to 32 characters)."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("autoassign_config", "0003_admin_store"),
    ]

    operations = [
        migrations.AlterField(
            model_name="assignmentpolicyrow",
            name="assignment_order",
            field=models.CharField(
                choices=[
                    ("round_robin", "round_robin"),
                    ("balanced", "balanced"),
                    ("most_available", "most_available"),
                ],
                default="round_robin",
                max_length=32,
            ),
        ),
    ]
