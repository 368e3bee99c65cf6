"""Type aliases for the clients the adapters accept (import under TYPE_CHECKING)."""

from __future__ import annotations

from typing import TypeAlias

from redis import Redis
from redis.cluster import RedisCluster

__all__ = ["RedisClient"]

RedisClient: TypeAlias = "Redis | RedisCluster"
"""A client the host built: standalone, Sentinel-managed (``Sentinel.master_for``) or
``RedisCluster``, with ``decode_responses`` on or off."""
