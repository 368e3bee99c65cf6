"""The Django integration (extra ``autoassign[django]``): see ``docs/django.md``.

* :class:`ConversationMapping` and :class:`DjangoConversationRepository`: the
  conversations port over the host's own model, configured by a mapping.
* :class:`DjangoDirectory`: inboxes from a model, membership from a queryset the host
  provides, one account (no tenant column), policies from settings.
* :func:`get_autoassign`: the bundle built once per process from
  ``settings.AUTOASSIGN``.
* :func:`connect_triggers` and :func:`silenced`: ``pre_save``/``post_save`` hooks that
  call the library once per transaction in ``transaction.on_commit`` and keep an
  engine's assignment from being undone by a stale instance.
* :class:`PresenceMiddleware` and :func:`connect_presence`: agents stay online while
  they use the site.

Add ``"autoassign.integrations.django"`` to ``INSTALLED_APPS`` for the management
commands (``autoassign_worker``, ``autoassign_cycle``, ``autoassign_explain``).
"""

from __future__ import annotations

try:
    import django  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "autoassign.integrations.django needs Django: install autoassign[django]"
    ) from exc

from autoassign.integrations.django.conf import (
    KEYS,
    DjangoAutoassign,
    SignalEventBus,
    autoassign_event,
    build_from_settings,
    get_autoassign,
    reset_autoassign,
)
from autoassign.integrations.django.directory import DjangoDirectory, Members
from autoassign.integrations.django.jobs import InlineJobQueue, RedisJobQueue
from autoassign.integrations.django.presence import (
    OFFLINE,
    PresenceMiddleware,
    agent_seen,
    connect_presence,
)
from autoassign.integrations.django.repository import (
    ConversationMapping,
    DjangoConversationRepository,
)
from autoassign.integrations.django.signals import ConversationHooks, silenced

__all__ = [
    "KEYS",
    "OFFLINE",
    "ConversationHooks",
    "ConversationMapping",
    "DjangoAutoassign",
    "DjangoConversationRepository",
    "DjangoDirectory",
    "InlineJobQueue",
    "Members",
    "PresenceMiddleware",
    "RedisJobQueue",
    "SignalEventBus",
    "agent_seen",
    "autoassign_event",
    "build_from_settings",
    "connect_presence",
    "connect_triggers",
    "get_autoassign",
    "reset_autoassign",
    "silenced",
]


def connect_triggers(*, guard: bool = True) -> ConversationHooks:
    """Connect the save hooks of ``AUTOASSIGN['CONVERSATIONS']``'s model (call it from
    an ``AppConfig.ready``): triggers once per transaction after commit, and the
    stale-save guard (``guard=False`` turns it off). Returns the hooks (``disconnect()``
    undoes it)."""
    app = get_autoassign()
    hooks = ConversationHooks(
        repository=app.repository,
        triggers=lambda: get_autoassign().bundle.triggers,
        guard=guard,
    )
    hooks.connect()
    return hooks
