"""docs/django.md shows the example's host code as it is, and the host-line count it
states is the example's (under 60)."""

from __future__ import annotations

import re
import textwrap
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db.models import Q
from helpdesk.models import Queue

from .conftest import EXAMPLE, HERE, Helpdesk

DOC = (HERE.parent.parent / "docs" / "django.md").read_text(encoding="utf-8")
SITE = EXAMPLE / "helpdesk_site"


def _code(text: str) -> list[str]:
    """Non-blank lines that are not comments or docstring lines."""
    text = re.sub(r'^\s*""".*?"""\n', "", text, flags=re.S | re.M)
    return [
        line
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def _python_blocks() -> list[str]:
    return [
        textwrap.dedent(block)
        for block in re.findall(r"```python\n(.*?)```", DOC, flags=re.S)
    ]


def _settings_block() -> str:
    text = (SITE / "settings.py").read_text(encoding="utf-8")
    start = text.index("AUTOASSIGN = {")
    return text[start : text.index("# --- end of autoassign ---")]


def _host_lines() -> int:
    settings = (SITE / "settings.py").read_text(encoding="utf-8")
    marked = [
        line for line in settings.splitlines() if line.rstrip().endswith("# host")
    ]
    host = (SITE / "autoassign_host.py").read_text(encoding="utf-8")
    host = host.replace("from __future__ import annotations\n", "")
    return len(_code(_settings_block())) + len(marked) + len(_code(host))


def test_the_settings_in_the_guide_are_the_examples() -> None:
    assert any(_settings_block() in block for block in _python_blocks())


def test_the_host_module_in_the_guide_is_the_examples() -> None:
    host = (SITE / "autoassign_host.py").read_text(encoding="utf-8")
    host = host.replace("from __future__ import annotations\n", "")
    wanted = _code(host)
    assert any(_code(block) == wanted for block in _python_blocks())


def test_the_stated_host_line_count_is_the_examples() -> None:
    count = _host_lines()
    assert count < 60
    assert f"**{count} lines of host code**" in DOC


def test_the_membership_snippets_run_on_helpdesk(helpdesk: Helpdesk) -> None:
    (block,) = [b for b in _python_blocks() if "def permission_members" in b]
    namespace: dict[str, Any] = {
        "User": get_user_model(),
        "Queue": Queue,
        "Permission": Permission,
        "Q": Q,
    }
    exec(block, namespace)
    billing, sales = helpdesk.queue("billing"), helpdesk.queue("sales")
    ann = helpdesk.staff("ann", online=False)
    bob = helpdesk.staff("bob", online=False)
    support = Group.objects.create(name="Support")
    ann.groups.add(support)
    perm = Permission.objects.get(codename="queue_access_billing")
    bob.user_permissions.add(perm)
    assert list(namespace["group_members"](billing.pk)) == [ann.pk]
    assert list(namespace["permission_members"](billing.pk)) == [bob.pk]
    assert list(namespace["permission_members"](sales.pk)) == []
