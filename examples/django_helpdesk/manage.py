#!/usr/bin/env python
"""django-helpdesk with autoassign: ``python manage.py migrate``, ``runserver``,
``autoassign_worker``. See docs/django.md."""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
