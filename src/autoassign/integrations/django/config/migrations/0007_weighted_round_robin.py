"""A fourth assignment order, ``weighted_round_robin``, among the policy's choices (no
change to the table: the column already holds up to 32 characters)."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("autoassign_config", "0006_capacity_total_limit"),
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
                    ("weighted_round_robin", "weighted_round_robin"),
                ],
                default="round_robin",
                max_length=32,
            ),
        ),
    ]
