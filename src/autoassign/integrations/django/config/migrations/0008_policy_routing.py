"""An assignment policy's routing settings (issue 18): ``sticky_window`` and
``skill_relax_after`` (seconds) and ``skill_routing`` (a boolean), each ``NULL``: as
the host wired sticky agents and skills routing. Nullable columns, so every row is
kept as it is and its inboxes are routed as before."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("autoassign_config", "0007_weighted_round_robin"),
    ]

    operations = [
        migrations.AddField(
            model_name="assignmentpolicyrow",
            name="sticky_window",
            field=models.PositiveIntegerField(
                blank=True,
                help_text=(
                    "Sticky agents' window in seconds for this policy's inboxes "
                    "(0: off there; empty: as wired)."
                ),
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="assignmentpolicyrow",
            name="skill_routing",
            field=models.BooleanField(
                blank=True,
                help_text=(
                    "Whether skills routing applies to this policy's inboxes (No: "
                    "off there; empty or Yes: as wired)."
                ),
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="assignmentpolicyrow",
            name="skill_relax_after",
            field=models.PositiveIntegerField(
                blank=True,
                help_text=(
                    "Seconds of waiting after which skill requirements are dropped "
                    "(0: never; empty: as wired)."
                ),
                null=True,
            ),
        ),
    ]
