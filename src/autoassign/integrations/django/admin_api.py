"""The admin HTTP API as Django views: :class:`AdminApiView` hands a Django request to
the library's :class:`~autoassign.admin.AdminApp` (the same routing, validation and
JSON as the WSGI app, no second copy), after a Django-side permission check.

Mount it with ``path("autoassign/", include("autoassign.integrations.django.admin_urls"))``
(staff users, over the configuration models), or build your own ``AdminApiView`` with
another store or permission check. See ``docs/django.md``.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.module_loading import import_string

from autoassign.admin import DEFAULT_MAX_BODY_BYTES, Actor, AdminApp, PolicyAdmin
from autoassign.admin.store import PolicyStore
from autoassign.clock import SystemClock
from autoassign.model import AccountId
from autoassign.ports import Clock

__all__ = ["ACTOR_KEY", "AdminApiView", "settings_policy_store", "staff_actor"]

ACTOR_KEY = "autoassign.actor"
"""The WSGI environ key the view passes the checked :class:`~autoassign.admin.Actor`
under."""


def _setting(name: str, default: Any = None) -> Any:
    return getattr(settings, "AUTOASSIGN", {}).get(name, default)


def staff_actor(request: HttpRequest) -> Actor | None:
    """The default permission check: an active staff user administers the host's one
    account (``AUTOASSIGN['ACCOUNT']``, default ``1``); anyone else gets 403."""
    user: Any = getattr(request, "user", None)
    if user is None or not (user.is_active and user.is_staff):
        return None
    account: AccountId = _setting("ACCOUNT", 1)
    return Actor(account=account, user=user.pk, role="administrator")


def settings_policy_store() -> PolicyStore:
    """The default store: :class:`~autoassign.integrations.django.config.store.DjangoPolicyStore`
    over the configuration models, the inboxes of ``AUTOASSIGN['INBOX_MODEL']``, the
    active staff users as agents, and ``AUTOASSIGN['CLOCK']`` (default: the system
    clock)."""
    # the config app's models import only once it is installed
    from autoassign.integrations.django.config.store import (  # noqa: PLC0415
        DjangoPolicyStore,
    )

    clock_factory = _setting("CLOCK")
    if isinstance(clock_factory, str):
        clock_factory = import_string(clock_factory)
    clock: Clock = clock_factory() if clock_factory is not None else SystemClock()
    account: AccountId = _setting("ACCOUNT", 1)

    def agents(_account: AccountId) -> Any:
        return get_user_model()._default_manager.filter(is_active=True, is_staff=True)

    return DjangoPolicyStore(
        _setting("INBOX_MODEL"), clock, account=account, agents=agents
    )


class AdminApiView:
    """A Django view serving the admin API under its mount point.

    Args:
        store: the :class:`~autoassign.admin.PolicyStore`; default: ``store_factory()``
            on the first request.
        store_factory: builds the store when ``store`` is not given (default:
            :func:`settings_policy_store`).
        actor: ``actor(request)`` returns the :class:`~autoassign.admin.Actor` the
            request acts as, or ``None`` for a 403 (default: :func:`staff_actor`).
        max_body_bytes: larger bodies get 413.

    The URL pattern must capture the path below the mount point as ``path`` (it starts
    ``api/v1/accounts/...``). CSRF protection applies as to any Django view: a
    session-authenticated client sends the ``X-CSRFToken`` header on writes.
    """

    def __init__(
        self,
        *,
        store: PolicyStore | None = None,
        store_factory: Callable[[], PolicyStore] = settings_policy_store,
        actor: Callable[[HttpRequest], Actor | None] = staff_actor,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self._store = store
        self._store_factory = store_factory
        self._actor = actor
        self._max_body_bytes = max_body_bytes
        self._app: AdminApp | None = None
        self._lock = threading.Lock()

    def app(self) -> AdminApp:
        """The WSGI app the view delegates to (built on the first request)."""
        with self._lock:
            if self._app is None:
                store = self._store or self._store_factory()
                self._app = AdminApp(
                    PolicyAdmin(store),
                    lambda environ: environ.get(ACTOR_KEY),
                    max_body_bytes=self._max_body_bytes,
                )
            return self._app

    def __call__(self, request: HttpRequest, path: str) -> HttpResponse:
        actor = self._actor(request)
        if actor is None:
            return JsonResponse({"error": "Forbidden"}, status=403)
        body = request.body
        environ = dict(request.META)
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ.update(
            {
                "PATH_INFO": "/" + path,
                "CONTENT_LENGTH": str(len(body)),
                "wsgi.input": io.BytesIO(body),
                ACTOR_KEY: actor,
            }
        )
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            started.extend((status, headers))

        content = b"".join(self.app()(environ, start_response))
        status, headers = started
        response = HttpResponse(content, status=int(status.split(" ", 1)[0]))
        for name, value in headers:
            if name.lower() != "content-length":
                response[name] = value
        return response
