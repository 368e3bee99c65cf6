"""Presence for request/response apps: a server-rendered helpdesk has no websocket, so
an agent counts as online while they use the site.

* :class:`PresenceMiddleware` records a heartbeat for an authenticated agent on each
  request (at most once per ``IDLE_TIMEOUT / 4`` per agent and process). An agent whose
  last heartbeat is older than ``AUTOASSIGN['IDLE_TIMEOUT']`` reads as offline; their
  next request brings them back and requests a pass over their inboxes.
* :func:`connect_presence` connects ``user_logged_in`` (online, heartbeat, a pass over
  the agent's inboxes so they take the backlog) and ``user_logged_out`` (offline).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.http import HttpRequest, HttpResponse

from autoassign._quietlog import degradations
from autoassign.integrations.django.conf import DjangoAutoassign, get_autoassign
from autoassign.model import ONLINE, AgentId

__all__ = ["OFFLINE", "PresenceMiddleware", "agent_seen", "connect_presence"]

logger = logging.getLogger("autoassign.integrations.django")

OFFLINE = "offline"


def _now(app: DjangoAutoassign) -> datetime:
    return app.bundle.service.clock.now()


def agent_seen(
    app: DjangoAutoassign, agent: AgentId, *, logged_in: bool = False
) -> bool:
    """Record that ``agent`` is using the site now. If they were not online (idle past
    the timeout, logged out, or never seen), set them online and request a pass over
    each of their inboxes. Returns whether they came online. Never raises."""
    try:
        before = app.backend.presence.statuses(app.account, [agent]).get(agent)
        app.backend.presence.heartbeat(app.account, agent)
        if before == ONLINE and not logged_in:
            return False
        app.backend.presence.set_status(app.account, agent, ONLINE)
        # ``before`` is what assignment saw: a stale heartbeat reads as offline
        app.bundle.triggers.on_agent_status_changed(app.account, agent, before, ONLINE)
    except Exception:
        degradations.failed(
            logger,
            "presence",
            "could not record the presence of agent %s",
            agent,
            level=logging.ERROR,
            extra={"autoassign_agent": agent},
        )
        return False
    degradations.recovered(logger, "presence")
    return bool(before != ONLINE)


class PresenceMiddleware:
    """Keeps authenticated agents (``AUTOASSIGN['IS_AGENT']``, default: active staff)
    online while they make requests. Place it after ``AuthenticationMiddleware``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._lock = threading.Lock()
        self._last: dict[AgentId, datetime] = {}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and getattr(user, "is_authenticated", False):
            self._seen(user)
        return self.get_response(request)

    def _seen(self, user: Any) -> None:
        try:
            app = get_autoassign()
        except Exception:
            logger.exception("autoassign is not configured; presence not recorded")
            return
        if not app.is_agent(user):
            return
        now = _now(app)
        interval = app.backend.presence.window / 4
        with self._lock:
            last = self._last.get(user.pk)
            if last is not None and now - last < interval:
                return
            self._last[user.pk] = now
        agent_seen(app, user.pk)


def _logged_in(sender: Any, request: Any, user: Any, **_: Any) -> None:
    app = get_autoassign()
    if app.is_agent(user):
        agent_seen(app, user.pk, logged_in=True)


def _logged_out(sender: Any, request: Any, user: Any, **_: Any) -> None:
    if user is None:
        return
    app = get_autoassign()
    if not app.is_agent(user):
        return
    try:
        app.backend.presence.set_status(app.account, user.pk, OFFLINE)
    except Exception:
        degradations.failed(
            logger,
            "presence",
            "could not record agent %s logging out",
            user.pk,
            level=logging.ERROR,
            extra={"autoassign_agent": user.pk},
        )


def connect_presence() -> None:
    """Connect the login/logout hooks (idempotent)."""
    user_logged_in.connect(_logged_in, dispatch_uid="autoassign-login")
    user_logged_out.connect(_logged_out, dispatch_uid="autoassign-logout")
