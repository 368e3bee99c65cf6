"""``manage.py autoassign_cycle``: one periodic cycle (schedule it with cron every 30
minutes if no worker runs it)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from autoassign.integrations.django.conf import get_autoassign


class Command(BaseCommand):
    help = "Run autoassign's periodic cycle once: request a pass over every inbox."

    def handle(self, *args: Any, **options: Any) -> None:
        outcome = get_autoassign().bundle.periodic.run()
        self.stdout.write(
            f"{len(outcome.enqueued)} enqueued, {len(outcome.already_due)} already due, "
            f"{len(outcome.failed_accounts)} failed accounts"
        )
