"""The shipped PolicyStore contract on :class:`DjangoPolicyStore` over the configuration
models, on this run's PostgreSQL database (``integer_ids``: agents are ``auth.User``
primary keys; inboxes and users carry an account, as on a multi-tenant host)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, cast

import pytest
from aa_djtest.models import AdminAgentAccount, AdminInbox
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.color import no_style
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from helpdesk.models import Queue

from autoassign.admin import AgentInfo, InboxInfo, PolicyStore
from autoassign.integrations.django import DjangoDirectory
from autoassign.integrations.django.config.models import (
    AssignmentPolicyRow,
    CapacityPolicyRow,
    InboxPolicyLink,
)
from autoassign.integrations.django.config.source import ModelPolicies
from autoassign.integrations.django.config.store import DjangoPolicyStore
from autoassign.model import AgentId, InboxId
from autoassign.ports import Directory
from autoassign.testing import FakeClock
from autoassign.testing.policy_store_contract import PolicyStoreContract

pytestmark = pytest.mark.postgres


def _empty() -> None:
    CapacityPolicyRow.objects.all().delete()
    AssignmentPolicyRow.objects.all().delete()
    AdminInbox.objects.all().delete()
    AdminAgentAccount.objects.all().delete()
    get_user_model().objects.all().delete()


def seed(inboxes: Sequence[InboxInfo], users: Sequence[AgentInfo]) -> None:
    """The suite's inboxes and users as rows (users keep their int ids)."""
    _empty()
    for info in inboxes:
        AdminInbox.objects.create(id=info.id, account=info.account, name=info.name)
    User = get_user_model()
    for user in users:
        row = User.objects.create(
            pk=user.id,
            username=f"u{user.id}",
            first_name=user.name if user.name != str(user.id) else "",
            email=user.email or "",
            is_superuser=user.role == "administrator",
        )
        AdminAgentAccount.objects.create(user_id=row.pk, account=user.account)
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [User]):
            cursor.execute(sql)


def policy_store(clock: FakeClock) -> DjangoPolicyStore:
    return DjangoPolicyStore(
        AdminInbox,
        clock,
        inbox_account="account",
        agents=lambda account: get_user_model().objects.filter(
            pk__in=AdminAgentAccount.objects.filter(account=account).values("user_id")
        ),
    )


class TestDjangoPolicyStore(PolicyStoreContract):
    integer_ids: ClassVar[bool] = True

    @pytest.fixture(autouse=True)
    def _database(self, db: Any) -> Iterator[None]:
        yield
        _empty()

    def make_store(
        self,
        clock: FakeClock,
        *,
        inboxes: Sequence[InboxInfo],
        members: Mapping[InboxId, Sequence[AgentId]],
        users: Sequence[AgentInfo],
    ) -> tuple[PolicyStore, Directory]:
        # "cy" is an inbox member without a user record in the suite; on Django every
        # agent is a user, so members become users too (named by their id)
        known = {user.id for user in users}
        extra = [
            AgentInfo(id=agent, account=info.account, name=str(agent))
            for info in inboxes
            for agent in members[info.id]
            if agent not in known
        ]
        seed(inboxes, [*users, *{a.id: a for a in extra}.values()])
        return policy_store(clock), cast(Directory, ModelPolicies())

    def close_connections(self) -> None:
        connection.close()


def test_new_rows_take_the_account_setting_and_sources_read_their_own(
    db: Any,
) -> None:
    _empty()
    try:
        with override_settings(AUTOASSIGN={**settings.AUTOASSIGN, "ACCOUNT": 5}):
            mine = AssignmentPolicyRow.objects.create(name="Mine")
            capacity = CapacityPolicyRow.objects.create(name="C")
        assert (mine.account, capacity.account) == (5, 5)
        capacity.limits.create(inbox_id=10, conversation_limit=1)
        InboxPolicyLink.objects.create(inbox_id=10, policy=mine)
        theirs = AssignmentPolicyRow.objects.create(name="Theirs", account=6)
        InboxPolicyLink.objects.create(inbox_id=11, policy=theirs)
        source = ModelPolicies(5)
        found = source.policy_for_inbox(10)
        assert found is not None
        assert found.name == "Mine"
        assert source.policy_for_inbox(11) is None
        assert source.linked([10, 11]) == {10}
        assert [c.id for c in source.capacity_policies_for_inbox(10)] == [capacity.pk]
        assert ModelPolicies(6).capacity_policies_for_inbox(10) == ()
    finally:
        _empty()


def test_the_periodic_cycle_reads_a_page_of_policies_in_one_query(db: Any) -> None:
    """``DjangoDirectory.iter_inboxes_with_policies`` with the configuration models:
    each inbox paired with what ``policy_for_inbox`` returns, and the policies of a
    page read in one query, however many inboxes the page holds."""
    _empty()
    try:
        Queue.objects.all().delete()
        Queue.objects.bulk_create(
            Queue(id=n, title=f"Queue {n}", slug=f"q{n}") for n in range(1, 31)
        )
        first = AssignmentPolicyRow.objects.create(name="First")
        second = AssignmentPolicyRow.objects.create(name="Second")
        for n in range(1, 31):
            if n % 3:
                InboxPolicyLink.objects.create(
                    inbox_id=n, policy=first if n % 2 else second
                )
        directory = DjangoDirectory(
            inbox_model="helpdesk.Queue",
            members=lambda inbox: (),
            account_id=1,
            policy_source=ModelPolicies(1),
        )
        with CaptureQueriesContext(connection) as small:
            pages = list(directory.iter_inboxes_with_policies([1], batch_size=5))
        pairs = [pair for page in pages for pair in page]
        assert [inbox.id for inbox, _ in pairs] == [n for n in range(1, 31) if n % 3]
        assert all(len(page) <= 5 for page in pages)
        for inbox, policy in pairs:
            assert policy == directory.policy_for_inbox(inbox.id)
        with CaptureQueriesContext(connection) as large:
            assert (
                len(list(directory.iter_inboxes_with_policies([1], batch_size=100)))
                == 1
            )
        # rows and links once, then one query per page
        assert (
            len(small.captured_queries) - len(pages) == len(large.captured_queries) - 1
        )
        assert list(directory.iter_inboxes_with_policies([2], batch_size=5)) == []
    finally:
        _empty()
        Queue.objects.all().delete()
