"""The Lua scripts: one file per operation in ``lua/``, loaded with importlib.resources
and registered once per adapter instance (redis-py's ``Script`` reloads it after a
``NOSCRIPT``, e.g. on a fresh or failed-over primary)."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

__all__ = ["SCRIPT_NAMES", "register", "source"]

SCRIPT_NAMES = (
    "ledger_try_record",
    "ledger_usage",
    "presence_set_status",
    "presence_statuses",
    "rotation",
)


@functools.cache
def source(name: str) -> str:
    """The text of ``lua/<name>.lua``."""
    if name not in SCRIPT_NAMES:
        raise KeyError(name)
    files = resources.files("autoassign.adapters.redis")
    return (files / "lua" / f"{name}.lua").read_text(encoding="utf-8")


def register(client: Any, name: str) -> Any:
    """``client.register_script(source(name))``: a redis-py ``Script`` (no I/O)."""
    return client.register_script(source(name))
