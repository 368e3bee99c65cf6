"""``RedisInboxLease.mark_pending_many`` (issue 17): one round trip for a page of
inboxes, by one multi-key script on a standalone server or one ``lease_mark_pending``
per inbox in a pipeline (what a ``RedisCluster`` client gets), with the answers
``mark_pending`` would give."""

from __future__ import annotations

from datetime import timedelta

import pytest

from autoassign.adapters.redis import RedisInboxLease
from autoassign.errors import BackendError

from .conftest import Target

TTL = timedelta(minutes=15)


@pytest.mark.parametrize("one_script", [True, False], ids=["script", "pipeline"])
def test_a_page_is_marked_in_one_round_trip(
    any_redis: Target, one_script: bool
) -> None:
    lease = RedisInboxLease(any_redis.client, prefix=any_redis.prefix)
    if one_script and any_redis.kind == "cluster":
        pytest.skip("a cluster client always pipelines")
    lease._one_script = one_script
    assert lease.mark_pending(3, ttl=TTL) is True
    held = lease.acquire(4, ttl=TTL)
    assert held is not None
    assert lease.hand_off(4, ttl=TTL) is not None
    lease.mark_pending_many(["warm-up"], ttl=TTL)  # scripts loaded
    inboxes = list(range(2_500))  # more than one script call's chunk
    any_redis.recorder.reset()

    fresh = lease.mark_pending_many(inboxes, ttl=TTL)

    assert any_redis.recorder.commands == ["PIPELINE"]
    assert list(fresh) == [inbox not in (3, 4) for inbox in inboxes]
    assert lease.mark_pending_many([1, 2_499, 2_500], ttl=TTL) == [False, False, True]
    assert all(lease.is_pending(inbox) for inbox in inboxes)
    held.release()
    assert lease.mark_pending_many([4, 4], ttl=TTL) == [True, False]


def test_a_failed_mark_raises_a_backend_error(fake_redis: Target) -> None:
    lease = RedisInboxLease(fake_redis.client, prefix=fake_redis.prefix)
    fake_redis.client.set(lease.keys.pending(7), "x")
    fake_redis.client.rpush(lease.keys.lease(7), "not a string")  # GET fails
    with pytest.raises(BackendError):
        lease.mark_pending_many([6, 7], ttl=TTL)
