""":class:`DjangoPolicyStore`: the admin API's :class:`~autoassign.admin.PolicyStore`
over the configuration models, so :class:`~autoassign.admin.PolicyAdmin` (and the admin
HTTP API, as Django views or the WSGI app) edits what
:class:`~autoassign.integrations.django.config.source.ModelPolicies` reads.

The host owns inboxes and users: the store reads them from ``inbox_model`` (with an
optional account field) and the user model (``agents``, per account).
Every method is one transaction; the uniqueness invariants are database constraints
(one name per account, one link per inbox, one limit per inbox per policy) and, for
"one capacity policy per agent", a row lock on the user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import IntegrityError, models, transaction

from autoassign.admin.store import (
    POLICY_FIELDS,
    AgentInfo,
    CapacityPolicyRecord,
    CapacityPolicyValues,
    DuplicateInboxLimit,
    InboxInfo,
    InboxLimitRecord,
    LimitId,
    NameTaken,
    PolicyRecord,
    PolicyValues,
    StoreConflict,
)
from autoassign.integrations.django.config.models import (
    AssignmentPolicyRow,
    CapacityLimitRow,
    CapacityPolicyRow,
    InboxPolicyLink,
)
from autoassign.integrations.django.repository import _errors
from autoassign.model import (
    AccountId,
    AgentId,
    AssignmentOrder,
    ConversationPriority,
    Id,
    InboxId,
    PolicyId,
    id_sort_key,
    stored_routing_seconds,
    stored_skill_routing,
    stored_total_limit,
)
from autoassign.ports import Clock

__all__ = ["DjangoPolicyStore"]


def _pk(value: Id) -> int | None:
    """The primary key ``value`` names, or ``None`` (no row can have it)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _default_agents() -> models.QuerySet[Any]:
    return get_user_model().objects.filter(is_active=True)


class DjangoPolicyStore:
    """A :class:`~autoassign.admin.PolicyStore` over the ``autoassign_config`` tables.

    Args:
        inbox_model: the host's inbox model (django-helpdesk's ``"helpdesk.Queue"``) or
            its label; an inbox's name is ``str(row)``.
        clock: the source of ``created_at``/``updated_at``.
        account: the one account of a single-account host (used where
            ``inbox_account`` / ``agent_account`` is ``None``).
        inbox_account: the inbox model's account field (multi-tenant hosts).
        agents: ``agents(account)`` returns the users of ``account`` who may be put
            on a capacity policy; default: the active users (of ``account`` only). An
            agent id is the user's primary key.
    """

    def __init__(
        self,
        inbox_model: type[models.Model] | str,
        clock: Clock,
        *,
        account: AccountId = 1,
        inbox_account: str | None = None,
        agents: Callable[[AccountId], models.QuerySet[Any]] | None = None,
    ) -> None:
        self._inbox_model = inbox_model
        self._clock = clock
        self._account = account
        self._inbox_account = inbox_account
        self._agents = agents

    # -- internals -----------------------------------------------------------------------

    @contextmanager
    def _tx(
        self, what: str, conflict: Callable[[], StoreConflict] | None = None
    ) -> Iterator[None]:
        """One transaction; a constraint violation raises ``conflict()``."""
        with _errors(what):
            try:
                with transaction.atomic():
                    yield
            except IntegrityError as exc:
                if conflict is None:
                    raise
                raise conflict() from exc

    def _inboxes(self) -> type[models.Model]:
        if isinstance(self._inbox_model, str):
            return apps.get_model(self._inbox_model)
        return self._inbox_model

    def _scoped(
        self, queryset: models.QuerySet[Any], field: str | None, account: AccountId
    ) -> models.QuerySet[Any]:
        if field is None:
            return queryset if account == self._account else queryset.none()
        return queryset.filter(**{field: account})

    def _inbox_rows(self, account: AccountId) -> models.QuerySet[Any]:
        rows = self._inboxes()._default_manager.all()
        return self._scoped(rows, self._inbox_account, account)

    def _agent_rows(self, account: AccountId) -> models.QuerySet[Any]:
        if self._agents is not None:
            return self._agents(account)
        return self._scoped(_default_agents(), None, account)

    def _inbox_in(self, account: AccountId, inbox: InboxId) -> bool:
        pk = _pk(inbox)
        return pk is not None and self._inbox_rows(account).filter(pk=pk).exists()

    def _policy_row(self, account: AccountId, policy: PolicyId) -> Any:
        pk = _pk(policy)
        if pk is None:
            return None
        return AssignmentPolicyRow.objects.filter(account=account, pk=pk).first()

    def _capacity_row(
        self, account: AccountId, policy: PolicyId, *, lock: bool = False
    ) -> Any:
        pk = _pk(policy)
        if pk is None:
            return None
        rows = CapacityPolicyRow.objects.filter(account=account, pk=pk)
        return (rows.select_for_update() if lock else rows).first()

    def _linked_inboxes(self, row: Any) -> list[int]:
        linked = list(row.links.values_list("inbox_id", flat=True))
        present = set(
            self._inbox_rows(row.account)
            .filter(pk__in=linked)
            .values_list("pk", flat=True)
        )
        return sorted(i for i in linked if i in present)

    def _policy_record(self, row: Any) -> PolicyRecord:
        return PolicyRecord(
            id=row.pk,
            account=row.account,
            values=PolicyValues(
                name=row.name,
                description=row.description,
                assignment_order=AssignmentOrder(row.assignment_order),
                conversation_priority=ConversationPriority(row.conversation_priority),
                fair_distribution_limit=row.fair_distribution_limit,
                fair_distribution_window=row.fair_distribution_window,
                enabled=row.enabled,
                sticky_window=stored_routing_seconds(row.sticky_window),
                skill_routing=stored_skill_routing(row.skill_routing),
                skill_relax_after=stored_routing_seconds(row.skill_relax_after),
            ),
            assigned_inbox_count=len(self._linked_inboxes(row)),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @staticmethod
    def _limit_record(row: Any) -> InboxLimitRecord:
        return InboxLimitRecord(
            id=row.pk,
            policy_id=row.policy_id,
            inbox=row.inbox_id,
            conversation_limit=row.conversation_limit,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def _capacity_record(self, row: Any) -> CapacityPolicyRecord:
        return CapacityPolicyRecord(
            id=row.pk,
            account=row.account,
            values=CapacityPolicyValues(
                name=row.name,
                description=row.description,
                exclusion_rules=row.rules(),
                total_limit=stored_total_limit(row.total_limit),
            ),
            inbox_limits=tuple(
                self._limit_record(limit) for limit in row.limits.order_by("pk")
            ),
            assigned_agent_count=row.agents.count(),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def _now(self) -> datetime:
        return self._clock.now()

    @staticmethod
    def _policy_fields(values: PolicyValues) -> dict[str, Any]:
        fields = {name: getattr(values, name) for name in POLICY_FIELDS}
        fields["assignment_order"] = values.assignment_order.value
        fields["conversation_priority"] = values.conversation_priority.value
        return fields

    @staticmethod
    def _capacity_fields(values: CapacityPolicyValues) -> dict[str, Any]:
        rules = values.exclusion_rules
        return {
            "name": values.name,
            "description": values.description,
            "excluded_labels": list(rules.excluded_labels),
            "exclude_older_than_hours": rules.exclude_older_than_hours,
            "total_limit": values.total_limit,
        }

    @staticmethod
    def _write(row: Any, fields: dict[str, Any], now: datetime) -> bool:
        """Set ``fields`` on ``row`` and save it if one changed (stamping it)."""
        changed = [
            name for name, value in fields.items() if getattr(row, name) != value
        ]
        if not changed:
            return False
        for name in changed:
            setattr(row, name, fields[name])
        row.updated_at = now
        row.save(update_fields=[*changed, "updated_at"])
        return True

    # -- assignment policies -------------------------------------------------------------

    def list_policies(self, account: AccountId) -> Sequence[PolicyRecord]:
        with self._tx("list policies"):
            rows = AssignmentPolicyRow.objects.filter(account=account).order_by("pk")
            return tuple(self._policy_record(row) for row in rows)

    def get_policy(self, account: AccountId, policy: PolicyId) -> PolicyRecord | None:
        with self._tx("get policy"):
            row = self._policy_row(account, policy)
            return None if row is None else self._policy_record(row)

    def create_policy(self, account: AccountId, values: PolicyValues) -> PolicyRecord:
        now = self._now()
        with self._tx("create policy", lambda: NameTaken(values.name)):
            row = AssignmentPolicyRow.objects.create(
                account=account,
                created_at=now,
                updated_at=now,
                **self._policy_fields(values),
            )
            return self._policy_record(row)

    def update_policy(
        self, account: AccountId, policy: PolicyId, values: PolicyValues
    ) -> PolicyRecord | None:
        with self._tx("update policy", lambda: NameTaken(values.name)):
            row = self._policy_row(account, policy)
            if row is None:
                return None
            self._write(row, self._policy_fields(values), self._now())
            return self._policy_record(row)

    def delete_policy(self, account: AccountId, policy: PolicyId) -> bool:
        with self._tx("delete policy"):
            row = self._policy_row(account, policy)
            if row is None:
                return False
            row.delete()  # its links cascade
            return True

    # -- inbox links ---------------------------------------------------------------------

    def policy_of_inbox(
        self, account: AccountId, inbox: InboxId
    ) -> PolicyRecord | None:
        with self._tx("policy of inbox"):
            if not self._inbox_in(account, inbox):
                return None
            link = (
                InboxPolicyLink.objects.select_related("policy")
                .filter(inbox_id=inbox, policy__account=account)
                .first()
            )
            return None if link is None else self._policy_record(link.policy)

    def link_inbox(self, account: AccountId, inbox: InboxId, policy: PolicyId) -> bool:
        with self._tx("link inbox"):
            row = self._policy_row(account, policy)
            if row is None or not self._inbox_in(account, inbox):
                return False
            # one INSERT ... ON CONFLICT: concurrent links leave exactly one
            InboxPolicyLink.objects.bulk_create(
                [InboxPolicyLink(inbox_id=inbox, policy=row)],
                update_conflicts=True,
                unique_fields=["inbox_id"],
                update_fields=["policy"],
            )
            return True

    def unlink_inbox(self, account: AccountId, inbox: InboxId) -> bool:
        with self._tx("unlink inbox"):
            if not self._inbox_in(account, inbox):
                return False
            deleted, _ = InboxPolicyLink.objects.filter(
                inbox_id=inbox, policy__account=account
            ).delete()
            return deleted > 0

    def inboxes_of_policy(
        self, account: AccountId, policy: PolicyId
    ) -> Sequence[InboxInfo]:
        with self._tx("inboxes of policy"):
            row = self._policy_row(account, policy)
            if row is None:
                return ()
            names = {
                inbox.pk: str(inbox)
                for inbox in self._inbox_rows(account).filter(
                    pk__in=self._linked_inboxes(row)
                )
            }
            return tuple(
                InboxInfo(id=pk, account=account, name=names[pk])
                for pk in sorted(names, key=id_sort_key)
            )

    # -- capacity policies ---------------------------------------------------------------

    def list_capacity_policies(
        self, account: AccountId
    ) -> Sequence[CapacityPolicyRecord]:
        with self._tx("list capacity policies"):
            rows = CapacityPolicyRow.objects.filter(account=account).order_by("pk")
            return tuple(self._capacity_record(row) for row in rows)

    def get_capacity_policy(
        self, account: AccountId, policy: PolicyId
    ) -> CapacityPolicyRecord | None:
        with self._tx("get capacity policy"):
            row = self._capacity_row(account, policy)
            return None if row is None else self._capacity_record(row)

    def create_capacity_policy(
        self, account: AccountId, values: CapacityPolicyValues
    ) -> CapacityPolicyRecord:
        now = self._now()
        with self._tx("create capacity policy"):
            row = CapacityPolicyRow.objects.create(
                account=account,
                created_at=now,
                updated_at=now,
                **self._capacity_fields(values),
            )
            return self._capacity_record(row)

    def update_capacity_policy(
        self, account: AccountId, policy: PolicyId, values: CapacityPolicyValues
    ) -> CapacityPolicyRecord | None:
        with self._tx("update capacity policy"):
            row = self._capacity_row(account, policy, lock=True)
            if row is None:
                return None
            self._write(row, self._capacity_fields(values), self._now())
            return self._capacity_record(row)

    def delete_capacity_policy(self, account: AccountId, policy: PolicyId) -> bool:
        with self._tx("delete capacity policy"):
            row = self._capacity_row(account, policy, lock=True)
            if row is None:
                return False
            row.delete()  # limits cascade, agent links go with it
            return True

    # -- inbox limits --------------------------------------------------------------------

    def _limit_row(self, account: AccountId, policy: PolicyId, limit: LimitId) -> Any:
        pk, policy_pk = _pk(limit), _pk(policy)
        if pk is None or policy_pk is None:
            return None
        return CapacityLimitRow.objects.filter(
            pk=pk, policy_id=policy_pk, policy__account=account
        ).first()

    def get_inbox_limit(
        self, account: AccountId, policy: PolicyId, limit: LimitId
    ) -> InboxLimitRecord | None:
        with self._tx("get inbox limit"):
            row = self._limit_row(account, policy, limit)
            return None if row is None else self._limit_record(row)

    def add_inbox_limit(
        self,
        account: AccountId,
        policy: PolicyId,
        inbox: InboxId,
        conversation_limit: int | None,
    ) -> InboxLimitRecord | None:
        now = self._now()
        with self._tx("add inbox limit", lambda: DuplicateInboxLimit(inbox)):
            row = self._capacity_row(account, policy)
            if row is None or not self._inbox_in(account, inbox):
                return None
            limit = CapacityLimitRow.objects.create(
                policy=row,
                inbox_id=inbox,
                conversation_limit=conversation_limit,
                created_at=now,
                updated_at=now,
            )
            return self._limit_record(limit)

    def update_inbox_limit(
        self,
        account: AccountId,
        policy: PolicyId,
        limit: LimitId,
        conversation_limit: int | None,
    ) -> InboxLimitRecord | None:
        with self._tx("update inbox limit"):
            row = self._limit_row(account, policy, limit)
            if row is None:
                return None
            fields = {"conversation_limit": conversation_limit}
            self._write(row, fields, self._now())
            return self._limit_record(row)

    def delete_inbox_limit(
        self, account: AccountId, policy: PolicyId, limit: LimitId
    ) -> bool:
        with self._tx("delete inbox limit"):
            row = self._limit_row(account, policy, limit)
            if row is None:
                return False
            row.delete()
            return True

    # -- agents --------------------------------------------------------------------------

    def _agent_info(self, account: AccountId, user: Any) -> AgentInfo:
        name = user.get_full_name() if hasattr(user, "get_full_name") else ""
        return AgentInfo(
            id=user.pk,
            account=account,
            name=name or str(user.get_username()),
            email=getattr(user, "email", None) or None,
            role="administrator" if getattr(user, "is_superuser", False) else "agent",
        )

    def agents_of_capacity_policy(
        self, account: AccountId, policy: PolicyId
    ) -> Sequence[AgentInfo]:
        with self._tx("agents of capacity policy"):
            row = self._capacity_row(account, policy)
            if row is None:
                return ()
            return tuple(
                self._agent_info(account, user) for user in row.agents.order_by("pk")
            )

    def capacity_policy_of_agent(
        self, account: AccountId, agent: AgentId
    ) -> PolicyId | None:
        pk = _pk(agent)
        if pk is None:
            return None
        with self._tx("capacity policy of agent"):
            found: PolicyId | None = (
                CapacityPolicyRow.objects.filter(account=account, agents__pk=pk)
                .order_by("pk")
                .values_list("pk", flat=True)
                .first()
            )
            return found

    def add_agent(self, account: AccountId, policy: PolicyId, agent: AgentId) -> bool:
        pk = _pk(agent)
        with self._tx("add agent"):
            row = self._capacity_row(account, policy)
            if row is None or pk is None:
                return False
            # the user's row lock serialises moves of one agent
            if not self._agent_rows(account).filter(pk=pk).select_for_update().exists():
                return False
            field: Any = CapacityPolicyRow._meta.get_field("agents")
            user, policy_side = field.m2m_reverse_name(), field.m2m_column_name()
            CapacityPolicyRow.agents.through.objects.filter(
                **{user: pk, f"{field.m2m_field_name()}__account": account}
            ).exclude(**{policy_side: row.pk}).delete()
            row.agents.add(pk)
            return True

    def remove_agent(
        self, account: AccountId, policy: PolicyId, agent: AgentId
    ) -> bool:
        pk = _pk(agent)
        with self._tx("remove agent"):
            row = self._capacity_row(account, policy)
            if row is None or pk is None or not row.agents.filter(pk=pk).exists():
                return False
            row.agents.remove(pk)
            return True

    # -- host lookups --------------------------------------------------------------------

    def inbox_exists(self, account: AccountId, inbox: InboxId) -> bool:
        with self._tx("inbox exists"):
            return self._inbox_in(account, inbox)

    def agent_exists(self, account: AccountId, agent: AgentId) -> bool:
        pk = _pk(agent)
        if pk is None:
            return False
        with self._tx("agent exists"):
            return self._agent_rows(account).filter(pk=pk).exists()

    def inbox_info(self, account: AccountId, inbox: InboxId) -> InboxInfo | None:
        pk = _pk(inbox)
        if pk is None:
            return None
        with self._tx("inbox info"):
            row = self._inbox_rows(account).filter(pk=pk).first()
            return (
                None
                if row is None
                else InboxInfo(id=pk, account=account, name=str(row))
            )

    def agent_info(self, account: AccountId, agent: AgentId) -> AgentInfo | None:
        pk = _pk(agent)
        if pk is None:
            return None
        with self._tx("agent info"):
            user = self._agent_rows(account).filter(pk=pk).first()
            return None if user is None else self._agent_info(account, user)
