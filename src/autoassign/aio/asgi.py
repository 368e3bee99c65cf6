"""The admin HTTP API in an ASGI app (FastAPI, Starlette, Django's ASGI handler),
extra ``[asgi]``.

:func:`admin_asgi_app` serves the existing :class:`~autoassign.admin.AdminApp` (the
same routes, validation, JSON and authentication; no second copy) through a2wsgi's
``WSGIMiddleware``, which runs each request in a worker thread, so a policy store on a
blocking database never blocks the loop::

    app = FastAPI()
    app.mount("/autoassign", admin_asgi_app(AdminApp(admin, authenticate)))
"""

from __future__ import annotations

from typing import Any

try:
    from a2wsgi import WSGIMiddleware
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "autoassign.aio.asgi needs a2wsgi: install autoassign[asgi]"
    ) from exc

from autoassign.admin import AdminApp

__all__ = ["admin_asgi_app"]


def admin_asgi_app(app: AdminApp, *, workers: int = 10) -> Any:
    """An ASGI application serving ``app``; at most ``workers`` requests run at once
    (a2wsgi's thread pool). Mounted under a prefix, the prefix is the ASGI
    ``root_path`` and the routes are matched below it."""
    return WSGIMiddleware(app, workers=workers)
