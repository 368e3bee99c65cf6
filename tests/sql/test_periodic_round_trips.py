"""The periodic cycle on SQL + Redis costs O(1) round trips per page of inboxes (issue
17): the inboxes are read with their policies (one statement per page) and each page is
marked pending in one pipeline, so the counts grow with the pages, not the inboxes."""

from __future__ import annotations

from typing import Any

import fakeredis
import pytest
import sqlalchemy as sa

from autoassign import AssignmentPolicy, PeriodicAssignmentJob
from autoassign.adapters.memory import InMemoryJobQueue
from autoassign.adapters.redis import RedisInboxLease
from autoassign.adapters.sql import SqlDirectory, SqlWriter
from autoassign.jobs import DEFAULT_PENDING_TTL
from autoassign.model import Account

PER_ACCOUNT = 10
BATCH = 100


class CountingFakeRedis(fakeredis.FakeRedis):
    """One round trip per command, one per pipeline ``execute``."""

    round_trips = 0

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.round_trips += 1
        return super().execute_command(*args, **options)

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        pipe = super().pipeline(*args, **kwargs)
        run = pipe.execute
        owner = self

        def execute(*eargs: Any, **ekwargs: Any) -> Any:
            owner.round_trips += 1
            return run(*eargs, **ekwargs)

        pipe.execute = execute
        return pipe


def _seed(db: Any, accounts: int) -> SqlDirectory:
    engine, schema = db.make()
    writer = SqlWriter(engine, schema)
    inboxes, links = [], []
    for account in range(1, accounts + 1):
        writer.put_account(Account(id=account, features={"assignment_v2"}))
        writer.put_policy(AssignmentPolicy(id=account, account=account))
        for number in range(PER_ACCOUNT):
            inbox = account * 1000 + number
            inboxes.append(
                {"id": inbox, "account_id": account, "enable_auto_assignment": True}
            )
            links.append({"inbox_id": inbox, "assignment_policy_id": account})
    with engine.begin() as conn:
        conn.execute(sa.insert(schema.inboxes), inboxes)
        conn.execute(sa.insert(schema.inbox_assignment_policies), links)
    return SqlDirectory(engine, schema)


def _cycle(db: Any, statement_counter: Any, accounts: int) -> tuple[int, int, int]:
    """(inboxes enqueued, SQL statements, Redis round trips) of one cycle."""
    directory = _seed(db, accounts)
    client = CountingFakeRedis(server=fakeredis.FakeServer())
    lease = RedisInboxLease(client, prefix="aa-periodic")
    lease.mark_pending_many(["warm-up"], ttl=DEFAULT_PENDING_TTL)
    job = PeriodicAssignmentJob(
        directory=directory,
        lease=lease,
        jobs=InMemoryJobQueue(),
        batch_size=BATCH,
        strict=True,
    )
    counter = statement_counter(directory.engine)
    client.round_trips = 0
    outcome = job.run()
    return len(outcome.enqueued), counter.count, client.round_trips


@pytest.mark.parametrize("sizes", [(5, 50)])
def test_cycle_round_trips_grow_with_pages_not_inboxes(
    db: Any, statement_counter: Any, sizes: tuple[int, int]
) -> None:
    small_accounts, big_accounts = sizes
    small = _cycle(db, statement_counter, small_accounts)
    big = _cycle(db, statement_counter, big_accounts)
    small_inboxes, big_inboxes = (
        small_accounts * PER_ACCOUNT,
        big_accounts * PER_ACCOUNT,
    )
    assert (small[0], big[0]) == (small_inboxes, big_inboxes)  # 50 and 500
    pages_small, pages_big = -(-small_inboxes // BATCH), -(-big_inboxes // BATCH)
    assert (pages_small, pages_big) == (1, 5)
    # SQL: the accounts (ids, features), then one statement per page of inboxes (and
    # one finding the end after a full last page)
    assert small[1] == 2 + pages_small
    assert big[1] == 2 + pages_big + 1
    assert big[1] - small[1] <= pages_big - pages_small + 1
    # Redis: one pipeline per page of inboxes
    assert small[2] == pages_small
    assert big[2] == pages_big
