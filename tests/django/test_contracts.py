"""The shipped ConversationRepository contract on :class:`DjangoConversationRepository`
over PostgreSQL, through a mapping (``aa_djtest.Ticket``: its id columns take the
suite's int and str ids; labels in a tagging table). The capacity race must pass every
run: the claim's per-agent advisory lock makes it exact; the race threads close their
Django connections through the suite's ``close_connections`` hook. The Directory
contract runs on :class:`DjangoDirectory` with the ``single_account`` and
``integer_ids`` flags."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from aa_djtest.models import Ticket, TicketLabel
from django.db import connection, connections
from helpdesk.models import FollowUp, Queue
from helpdesk.models import Ticket as HelpdeskTicket

from autoassign.integrations.django import (
    ConversationMapping,
    DjangoConversationRepository,
    DjangoDirectory,
)
from autoassign.model import (
    Account,
    AgentId,
    AssignmentPolicy,
    CapacityPolicy,
    Conversation,
    ConversationStatus,
    Inbox,
    InboxId,
    PolicyId,
    Team,
)
from autoassign.ports import ConversationRepository, Directory
from autoassign.testing.contracts import (
    ConversationRepositoryContract,
    DirectoryContract,
    ReassignerContract,
)

pytestmark = pytest.mark.postgres

MAPPING = ConversationMapping(
    model="aa_djtest.Ticket",
    inbox="inbox",
    assignee="assignee",
    status="status",
    status_map={s.value: s for s in ConversationStatus},
    created="created",
    last_activity="activity",
    team="team",
    account="account",
    labels="labels__name",
    urgency="urgency",
    due="due",
    weight="weight",
)


def seed(conversations: Sequence[Conversation]) -> None:
    """Replace every ticket with ``conversations``."""
    with connection.cursor() as cursor:  # the ORM's delete sorts mixed int/str pks
        cursor.execute(
            f"TRUNCATE {TicketLabel._meta.db_table}, {Ticket._meta.db_table}"
        )
    Ticket.objects.bulk_create(
        Ticket(
            id=c.id,
            inbox=c.inbox,
            account=c.account,
            assignee=c.assignee,
            team=c.team,
            status=c.status.value,
            created=c.created_at,
            activity=c.last_activity_at,
            urgency=c.urgency,
            due=c.due_at,
            weight=None if c.weight == 1 else c.weight,
        )
        for c in conversations
    )
    TicketLabel.objects.bulk_create(
        TicketLabel(ticket_id=c.id, name=label)
        for c in conversations
        for label in sorted(c.labels)
    )


class TestDjangoConversationRepository(ConversationRepositoryContract):
    @pytest.fixture(autouse=True)
    def _db(self, db: Any) -> None:
        return None

    def close_connections(self) -> None:
        connections.close_all()  # the suite's race threads: as a request would

    def make_repository(
        self, conversations: Sequence[Conversation]
    ) -> ConversationRepository:
        seed(conversations)
        return DjangoConversationRepository(MAPPING)


class TestDjangoReassigner(ReassignerContract):
    @pytest.fixture(autouse=True)
    def _db(self, db: Any) -> None:
        return None

    def close_connections(self) -> None:
        connections.close_all()

    def make_repository(
        self, conversations: Sequence[Conversation]
    ) -> ConversationRepository:
        seed(conversations)
        return DjangoConversationRepository(MAPPING)


class TestDjangoDirectory(DirectoryContract):
    """The shipped Directory contract on :class:`DjangoDirectory` over
    django-helpdesk's queues: one account, int ids, per-inbox policies in
    configuration, teams from a callable."""

    single_account = True
    integer_ids = True

    @pytest.fixture(autouse=True)
    def _db(self, db: Any) -> Iterator[None]:
        self._empty()
        yield
        self._empty()  # the queues' explicit ids are not the sequence's

    @staticmethod
    def _empty() -> None:
        FollowUp.objects.all().delete()
        HelpdeskTicket.objects.all().delete()
        Queue.objects.all().delete()

    def make_directory(
        self,
        *,
        accounts: Sequence[Account],
        inboxes: Sequence[Inbox],
        members: Mapping[InboxId, Sequence[AgentId]],
        teams: Sequence[Team],
        policies: Sequence[AssignmentPolicy],
        links: Mapping[InboxId, PolicyId],
        capacity_policies: Sequence[CapacityPolicy],
    ) -> Directory:
        self._empty()
        Queue.objects.bulk_create(
            Queue(
                id=inbox.id,
                title=f"Queue {inbox.id}",
                slug=f"q{inbox.id}",
                allow_email_submission=inbox.enable_auto_assignment,
            )
            for inbox in inboxes
        )
        by_id = {policy.id: policy for policy in policies}
        (account,) = accounts
        return DjangoDirectory(
            inbox_model="helpdesk.Queue",
            members=lambda inbox: members.get(inbox, ()),
            enabled="allow_email_submission",
            account_id=account.id,
            features=account.features,
            policies={inbox: by_id[policy] for inbox, policy in links.items()},
            capacity_policies=capacity_policies,
            teams={team.id: team for team in teams}.get,
        )
