"""Adapters for the ports. Nothing is imported eagerly: ``autoassign.adapters.memory``
has no dependencies; ``autoassign.adapters.redis`` needs the ``autoassign[redis]``
extra."""

from __future__ import annotations

__all__: list[str] = []
