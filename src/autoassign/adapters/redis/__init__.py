"""Redis adapters: shared state for many workers (extra ``autoassign[redis]``).

The host passes in a redis-py client it built (standalone, Sentinel-managed or
``RedisCluster``; ``decode_responses`` on or off); autoassign never builds clients or
owns pools::

    import redis
    from autoassign.adapters.redis import RedisBackend

    backend = RedisBackend(redis.Redis.from_url(url), prefix="myapp:autoassign")
    app = autoassign.build_autoassign(
        directory=..., conversations=...,            # the host's own adapters
        presence=backend.presence, ledger=backend.ledger,
        reservations=backend.reservations,
        rotation=backend.rotation, lease=backend.lease,
        outbox=backend.outbox,                       # no event is ever lost
        events=..., jobs=...,
    )

Keys, scripts and cluster notes: ``docs/redis.md``. Every method raises only
:class:`~autoassign.errors.BackendError` / :class:`~autoassign.errors.BackendUnavailable`
on Redis failures (with the driver's error as ``__cause__``).
"""

from __future__ import annotations

try:
    import redis as _redis  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "autoassign.adapters.redis needs redis-py: install autoassign[redis]"
    ) from exc

from datetime import timedelta
from typing import TYPE_CHECKING

from autoassign.ports import Clock

from ._keys import KeySchema
from ._lease import RedisInboxLease, RedisLease
from ._ledger import DEFAULT_MAX_CLOCK_SKEW, RedisRateLimitLedger
from ._outbox import RedisEventOutbox
from ._presence import DEFAULT_PRESENCE_WINDOW, RedisPresence
from ._reservations import RedisReservations
from ._rotation import RedisRotationStore

if TYPE_CHECKING:
    from ._types import RedisClient

__all__ = [
    "DEFAULT_MAX_CLOCK_SKEW",
    "DEFAULT_PRESENCE_WINDOW",
    "KeySchema",
    "RedisBackend",
    "RedisEventOutbox",
    "RedisInboxLease",
    "RedisLease",
    "RedisPresence",
    "RedisRateLimitLedger",
    "RedisReservations",
    "RedisRotationStore",
]


class RedisBackend:
    """Every Redis adapter over one client and one key prefix: ``presence``,
    ``ledger``, ``reservations`` (presence and ledger in one round trip), ``rotation``,
    ``lease`` and ``outbox`` (pass it to ``build_autoassign(outbox=...)``: then no
    assignment event is lost).

    Args:
        client: a redis-py client built by the host.
        prefix: the key prefix (non-empty, no ``{`` or ``}``).
        presence_window: how fresh a heartbeat must be for an agent to count as
            present (the reference's 20 seconds).
        clock: the clock presence freshness is judged by (default
            :class:`autoassign.SystemClock`); pass the same clock as the core.
        require_heartbeat: ``False`` reads statuses from the status hash alone.
        online_index: a pass reads who is online from the presence index the
            presence helpers keep (one range read, not one per member; see
            :class:`RedisPresence`). Only when every status and heartbeat is written
            through ``presence.set_status`` / ``presence.heartbeat``.
        max_clock_skew: how far from true time any worker's clock may be (default
            :data:`DEFAULT_MAX_CLOCK_SKEW`, one second): the ledger (and the
            reservations, which record into it) count and trim with a margin of twice
            that, so no skew within the bound lets an agent pass its limit
            (``docs/redis.md``, *Clock skew*). ``timedelta(0)``: exact windows.

    Raises:
        ConfigurationError: a bad ``prefix``, ``presence_window`` or
            ``max_clock_skew``.
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str = "autoassign",
        presence_window: timedelta = DEFAULT_PRESENCE_WINDOW,
        clock: Clock | None = None,
        require_heartbeat: bool = True,
        max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW,
        online_index: bool = False,
    ) -> None:
        self.client = client
        self.keys = KeySchema(prefix)
        self.presence = RedisPresence(
            client,
            prefix=self.keys,
            window=presence_window,
            clock=clock,
            require_heartbeat=require_heartbeat,
            online_index=online_index,
        )
        self.ledger = RedisRateLimitLedger(
            client, prefix=self.keys, max_clock_skew=max_clock_skew
        )
        self.reservations = RedisReservations(self.presence, self.ledger)
        self.rotation = RedisRotationStore(client, prefix=self.keys)
        self.lease = RedisInboxLease(client, prefix=self.keys)
        self.outbox = RedisEventOutbox(client, prefix=self.keys)

    def __repr__(self) -> str:
        return f"RedisBackend(prefix={self.keys.prefix!r})"
