"""The Lua scripts: one file per operation in ``lua/``, loaded with importlib.resources
and registered once per adapter instance (redis-py's ``Script`` reloads it after a
``NOSCRIPT``, e.g. on a fresh or failed-over primary).

A :class:`ScriptCall` is one invocation with its keys and arguments built; it runs on
its own (:meth:`ScriptCall.run`) or together with others in one round trip
(:func:`run_together`)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib import resources
from typing import Any

from redis.exceptions import NoScriptError

from ._codec import as_text

__all__ = ["SCRIPT_NAMES", "ScriptCall", "register", "run_together", "source"]

SCRIPT_NAMES = (
    "ledger_discard",
    "ledger_last",
    "ledger_try_record",
    "ledger_usage",
    "outbox_due",
    "outbox_remove",
    "outbox_stage",
    "lease_hand_off",
    "lease_mark_pending",
    "lease_mark_pending_many",
    "presence_heartbeat",
    "presence_online",
    "presence_reindex",
    "presence_set_status",
    "presence_statuses",
    "rotation",
    "rotation_order",
    "rotation_weighted",
    "rotation_weighted_order",
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


class ScriptCall:
    """One invocation of a registered ``Script`` with its ``KEYS`` and ``ARGV``."""

    __slots__ = ("args", "keys", "script")

    def __init__(self, script: Any, keys: Sequence[str], args: Sequence[str]) -> None:
        self.script = script
        self.keys = list(keys)
        self.args = list(args)

    def run(self) -> Any:
        """Run it on its own (one ``EVALSHA``; redis-py loads the script after a
        ``NOSCRIPT`` and retries)."""
        return self.script(keys=self.keys, args=self.args)

    def queue(self, pipe: Any) -> None:
        """Queue a raw ``EVALSHA`` on ``pipe``. Not the ``Script`` itself: on a
        pipeline, redis-py would send a ``SCRIPT EXISTS`` first (a hidden round trip),
        and a cluster pipeline refuses ``Script``s and ``pipe.evalsha`` altogether (the
        raw command is routed by its first key like any other)."""
        pipe.execute_command(
            "EVALSHA", self.script.sha, len(self.keys), *self.keys, *self.args
        )

    def load(self, client: Any) -> None:
        """``SCRIPT LOAD`` (on every primary of a cluster), as redis-py's ``Script``
        does after a ``NOSCRIPT``."""
        self.script.sha = as_text(client.script_load(self.script.script))


def run_together(client: Any, calls: Sequence[ScriptCall]) -> list[Any]:
    """Run ``calls`` in one round trip: a non-transactional pipeline of raw
    ``EVALSHA``s, executed with ``raise_on_error=False``, so each reply is the script's
    result or the redis-py error it failed with (the calls fail apart). Calls answered
    ``NOSCRIPT`` (a fresh or failed-over server) did not run: their scripts are loaded
    and they alone run once more (the others are not repeated). Errors of the whole
    pipeline (connection lost, ...) are raised."""
    replies = _execute(client, calls)
    missing = [
        at for at, reply in enumerate(replies) if isinstance(reply, NoScriptError)
    ]
    if missing:
        for at in missing:
            calls[at].load(client)
        again = _execute(client, [calls[at] for at in missing])
        for at, reply in zip(missing, again, strict=True):
            replies[at] = reply
    return replies


def _execute(client: Any, calls: Sequence[ScriptCall]) -> list[Any]:
    with client.pipeline(transaction=False) as pipe:
        for call in calls:
            call.queue(pipe)
        return list(pipe.execute(raise_on_error=False))
