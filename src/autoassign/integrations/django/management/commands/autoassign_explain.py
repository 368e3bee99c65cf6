"""``manage.py autoassign_explain [--inbox ID | --conversation ID] [--json]``:
``autoassign explain`` on the Django settings, without a separate wiring module."""

from __future__ import annotations

import io
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from autoassign import cli


class Command(BaseCommand):
    help = "Explain (read-only) why an inbox or a conversation is or is not assigned."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--inbox")
        parser.add_argument("--conversation")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        argv = ["explain", "--wiring", "autoassign.integrations.django.conf:bundle"]
        for name in ("inbox", "conversation"):
            if options[name] is not None:
                argv += [f"--{name}", str(options[name])]
        if options["json"]:
            argv.append("--json")
        out = io.StringIO()
        code = cli.main(argv, stdout=out)
        self.stdout.write(out.getvalue(), ending="")
        if code:
            raise CommandError(
                f"autoassign explain exited with {code}", returncode=code
            )
