"""The admin API's OpenAPI 3.1 description, shipped inside the package."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

__all__ = ["OPENAPI_RESOURCE", "openapi_document"]

OPENAPI_RESOURCE = "openapi.json"
"""The document's file name inside the ``autoassign.admin`` package."""


def openapi_document() -> dict[str, Any]:
    """Read the OpenAPI 3.1 description of :class:`~autoassign.admin.AdminApp`.

    The document ships in the wheel (``autoassign/admin/openapi.json``), so a host can
    serve it or feed it to its API gateway without a source checkout.

    Returns:
        The parsed document, a new dictionary on every call.
    """
    text = (
        resources.files("autoassign.admin")
        .joinpath(OPENAPI_RESOURCE)
        .read_text(encoding="utf-8")
    )
    document: dict[str, Any] = json.loads(text)
    return document
