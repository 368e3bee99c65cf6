"""The exceptions autoassign raises.

::

    AutoassignError(Exception)
    ├── ConfigurationError(AutoassignError, ValueError)  # bad policy, override or argument
    ├── BackendError(AutoassignError)                    # an adapter's I/O failed
    │   └── BackendUnavailable(BackendError)             # connection / timeout failures
    └── ContractViolation(AutoassignError)               # an adapter returned the impossible

Expected outcomes (no agent online, everyone rate limited or at capacity, a conversation
claimed by someone else) are *results*, never exceptions: see
:class:`autoassign.AssignmentResult`.
"""

from __future__ import annotations

__all__ = [
    "AutoassignError",
    "BackendError",
    "BackendUnavailable",
    "ConfigurationError",
    "ContractViolation",
]


class AutoassignError(Exception):
    """Base class of every error autoassign raises on purpose."""


class ConfigurationError(AutoassignError, ValueError):
    """A policy, override, limit or argument is invalid.

    Raised at the boundary, before anything is changed. The message names the field and
    the problem.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class BackendError(AutoassignError):
    """A port's adapter failed to do its I/O. ``__cause__`` holds the driver's error."""


class BackendUnavailable(BackendError):
    """The backend could not be reached (connection refused, timeout, ...)."""


class ContractViolation(AutoassignError):
    """An adapter returned something its port's contract rules out."""
