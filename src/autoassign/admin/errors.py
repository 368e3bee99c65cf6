"""The errors :class:`~autoassign.admin.PolicyAdmin` raises; the HTTP layer maps each to
a status code (401, 404, 422)."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["AdminError", "NotFound", "Unauthorized", "ValidationFailed"]

NOT_FOUND = "Resource could not be found"
UNAUTHORIZED = "You are not authorized to do this action"


class AdminError(Exception):
    """Base class of the admin service's errors."""


class Unauthorized(AdminError):
    """The actor may not act on this account (not signed in, not an administrator of
    it): HTTP 401."""

    def __init__(self, message: str = UNAUTHORIZED) -> None:
        super().__init__(message)
        self.message = message


class NotFound(AdminError):
    """The resource does not exist in the account (or belongs to another): HTTP 404."""

    def __init__(self, message: str = NOT_FOUND) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(AdminError):
    """The input is invalid; nothing was changed: HTTP 422.

    ``errors`` maps every invalid field (dotted for nested ones, e.g.
    ``exclusion_rules.excluded_labels``) to its reason; ``error`` is set where the
    reference renders ``{"error": ...}`` instead.
    """

    def __init__(
        self,
        errors: Mapping[str, str],
        *,
        message: str | None = None,
        error: str | None = None,
    ) -> None:
        self.errors: dict[str, str] = dict(errors)
        self.error = error
        self.message = message or "; ".join(
            f"{field} {reason}" for field, reason in self.errors.items()
        )
        super().__init__(self.message)
