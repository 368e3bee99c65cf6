""":class:`DjangoConversationRepository`: the conversations port over the host's own
Django model, configured by a :class:`ConversationMapping` (no subclassing)."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import attrs
from django.apps import apps
from django.core.exceptions import FieldError
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    connections,
    models,
    transaction,
)
from django.db.models.functions import Coalesce, Round
from django.db.models.lookups import LessThan, LessThanOrEqual

from autoassign.errors import BackendError, BackendUnavailable, ConfigurationError
from autoassign.model import (
    MAX_URGENCY,
    MAX_WEIGHT,
    NO_DUE_AT,
    WEIGHT_SCALE,
    AgentId,
    Conversation,
    ConversationId,
    ConversationPriority,
    ConversationStatus,
    ExclusionRules,
    Id,
    InboxId,
    Load,
    TeamId,
    check_weight,
    id_sort_key,
    stored_due_at,
    stored_load,
    stored_urgency,
    stored_weight,
)

__all__ = ["ConversationMapping", "DjangoConversationRepository"]


def _statuses(
    value: Mapping[Any, ConversationStatus | str],
) -> dict[Any, ConversationStatus]:
    out: dict[Any, ConversationStatus] = {}
    for stored, status in dict(value).items():
        try:
            out[stored] = ConversationStatus(status)
        except ValueError:
            raise ConfigurationError(
                f"status_map[{stored!r}] must be one of "
                f"{[s.value for s in ConversationStatus]}, got {status!r}",
                field="status_map",
            ) from None
    if ConversationStatus.OPEN not in out.values():
        raise ConfigurationError(
            "status_map maps no stored value to 'open': nothing could ever be assigned",
            field="status_map",
        )
    return out


def _levels(levels: Mapping[Any, int]) -> dict[Any, int]:
    out = dict(levels)
    for stored, level in out.items():
        if stored_urgency(level) is None:
            raise ConfigurationError(
                f"urgency_levels: {stored!r} maps to {level!r}, not an urgency from 0 "
                f"to {MAX_URGENCY}",
                field="urgency_levels",
            )
    return out


def _weights(weights: Mapping[Any, float]) -> dict[Any, Load]:
    return {
        stored: check_weight(weight, field=f"weight_values[{stored!r}]")
        for stored, weight in dict(weights).items()
    }


@attrs.frozen(kw_only=True)
class ConversationMapping:
    """How the host's conversation model maps onto :class:`~autoassign.Conversation`.

    Args:
        model: the model class or its ``"app_label.ModelName"`` label.
        inbox: the inbox field (a foreign key or a plain column).
        assignee: the assignee field, usually a nullable foreign key to the user model.
        status: the status field.
        status_map: every stored status value and what it means; several values may
            mean one status (``{1: "open", 2: "open", 3: "resolved", ...}``).
        created: the creation time field (aware datetimes, ``USE_TZ = True``).
        last_activity: the last-activity time field; ``None`` uses ``created``.
        team: the team field, or ``None`` for hosts without teams.
        account: the account (tenant) field, or ``None`` for single-account hosts,
            whose conversations all belong to ``default_account``.
        labels: a lookup path from the conversation to a label's text through a
            many-to-many or a tagging table (``"labels__name"``, ``"tags__name"`` for
            django-taggit), or ``None``.
        urgency: the field whose value gives
            :attr:`~autoassign.model.Conversation.urgency` (read by the
            ``highest_urgency`` and ``earliest_due`` priorities), or ``None``.
        urgency_levels: each stored value of ``urgency`` and the urgency it means
            (higher first), for a scale that runs the other way, such as
            django-helpdesk's ``priority`` (1 critical ... 5 very low):
            ``{1: 4, 2: 3, 3: 2, 4: 1, 5: 0}``. Without it the stored integer is the
            urgency. A value it does not list, like a value outside 0 to
            :data:`~autoassign.model.MAX_URGENCY`, reads as no urgency.
        due: the due-time field (django-helpdesk's ``due_date``; aware datetimes),
            or ``None``.
        contact: the field that says whose the conversation is (django-helpdesk's
            ``submitter_email``), for sticky agents (:meth:`previous_agents`), or
            ``None``.
        weight: the field whose value gives
            :attr:`~autoassign.model.Conversation.weight` (weighted capacity), or
            ``None`` (every conversation counts 1).
        weight_values: each stored value of ``weight`` and the weight it means, for
            a weight by channel or kind (``weight="channel", weight_values={"email":
            0.5}``); a value it does not list counts 1. Without it the stored number
            is the weight (a value that is not one, from 0.001 to 1000, counts 1).
        not_assignable: a filter (``Q``) of conversations that are open in
            ``status_map`` but must not be assigned (django-helpdesk's
            ``Q(on_hold=True)``); they read as ``snoozed``.
        claim_values: extra fields set by the claim's UPDATE, e.g.
            ``{"modified": Now()}``.
        using: the database alias (default ``"default"``).

    Raises:
        ConfigurationError: naming the field, for a field the model does not have, a
            status value the model's choices do not allow, or a status map with no
            open value (when :meth:`DjangoConversationRepository` binds it).
    """

    model: type[models.Model] | str
    inbox: str
    assignee: str
    status: str
    status_map: Mapping[Any, ConversationStatus] = attrs.field(converter=_statuses)
    created: str
    last_activity: str | None = None
    team: str | None = None
    account: str | None = None
    default_account: Id = 1
    labels: str | None = None
    urgency: str | None = None
    urgency_levels: Mapping[Any, int] | None = attrs.field(
        default=None, converter=attrs.converters.optional(_levels)
    )
    due: str | None = None
    contact: str | None = None
    weight: str | None = None
    weight_values: Mapping[Any, Load] | None = attrs.field(
        default=None, converter=attrs.converters.optional(_weights)
    )
    not_assignable: models.Q | None = None
    claim_values: Mapping[str, Any] = attrs.field(factory=dict)
    using: str = "default"

    def resolve_model(self) -> type[models.Model]:
        """The model class (resolved through the app registry when given a label)."""
        if isinstance(self.model, str):
            try:
                return apps.get_model(self.model)
            except (LookupError, ValueError) as exc:
                raise ConfigurationError(
                    f"model {self.model!r} is not an installed model: {exc}",
                    field="model",
                ) from None
        return self.model


def _advisory_key(*parts: object) -> int:
    """A signed 64-bit key for ``pg_advisory_xact_lock`` from ``parts`` (stable across
    processes and Python versions)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class _Fields:
    """The mapping checked against the model: the attribute names to read and filter."""

    def __init__(self, mapping: ConversationMapping) -> None:
        self.model = mapping.resolve_model()
        meta = self.model._meta
        self.pk: str = meta.pk.attname

        def column(role: str, name: str) -> str:
            try:
                field = meta.get_field(name)
            except Exception:
                raise ConfigurationError(
                    f"{role}: {meta.label} has no field {name!r}", field=role
                ) from None
            attname = getattr(field, "attname", None)
            if not isinstance(attname, str) or field.many_to_many or field.one_to_many:
                raise ConfigurationError(
                    f"{role}: {meta.label}.{name} is not a column", field=role
                )
            return attname

        self.inbox = column("inbox", mapping.inbox)
        self.assignee = column("assignee", mapping.assignee)
        self.status = column("status", mapping.status)
        self.created = column("created", mapping.created)
        self.activity = (
            column("last_activity", mapping.last_activity)
            if mapping.last_activity
            else None
        )
        self.team = column("team", mapping.team) if mapping.team else None
        self.account = column("account", mapping.account) if mapping.account else None
        self.urgency = column("urgency", mapping.urgency) if mapping.urgency else None
        self.due = column("due", mapping.due) if mapping.due else None
        self.contact = column("contact", mapping.contact) if mapping.contact else None
        self.weight = column("weight", mapping.weight) if mapping.weight else None
        if mapping.urgency_levels is not None and self.urgency is None:
            raise ConfigurationError(
                "urgency_levels needs an urgency field", field="urgency_levels"
            )
        if mapping.weight_values is not None and self.weight is None:
            raise ConfigurationError(
                "weight_values needs a weight field", field="weight_values"
            )
        status_field = meta.get_field(mapping.status)
        choices = getattr(status_field, "flatchoices", None)
        if choices:
            allowed = {value for value, _label in choices}
            stray = [value for value in mapping.status_map if value not in allowed]
            missing = [value for value in allowed if value not in mapping.status_map]
            if stray or missing:
                raise ConfigurationError(
                    f"status_map must map exactly the choices of {meta.label}."
                    f"{mapping.status}: unknown {stray!r}, unmapped {missing!r}",
                    field="status_map",
                )
        self.labels = mapping.labels
        if self.labels is not None:
            try:
                self.model._default_manager.none().values_list(self.labels)
            except FieldError as exc:
                raise ConfigurationError(
                    f"labels: {self.labels!r} is not a lookup path of {meta.label}: {exc}",
                    field="labels",
                ) from None
        self.values = [self.pk, self.inbox, self.assignee, self.status, self.created]
        for extra in (
            self.activity,
            self.team,
            self.account,
            self.urgency,
            self.due,
            self.weight,
        ):
            if extra is not None:
                self.values.append(extra)


class DjangoConversationRepository:
    """:class:`~autoassign.ports.ConversationRepository` over a Django model.

    * ``get``: the row, then its labels (two queries when labels are mapped).
    * ``unassigned_open``: one filtered, ordered, limited query (labels excluded with
      ``NOT EXISTS``/``NOT IN`` in SQL), then the page's labels in one query.
    * ``open_counts``: one ``GROUP BY`` on the assignee.
    * ``claim``: one conditional ``UPDATE ... WHERE pk = %s AND assignee IS NULL AND
      status IN (<open>) [AND NOT <not_assignable>] [AND (SELECT count(*) ...) <
      limit]`` judged by its row count. It never fires ``pre_save``/``post_save``.
    * ``reassign`` (the :class:`~autoassign.triggers.Reassigner` of the legacy path):
      one conditional ``UPDATE`` on the previous assignee.

    With a capacity limit on PostgreSQL, the claim runs in ``transaction.atomic()`` (a
    savepoint when the host is already in a transaction) and first takes a
    transaction-scoped advisory lock on the agent (``pg_advisory_xact_lock``), so two
    claims for one agent run one after the other and the second one's count sees the
    first one's row: capacity is exact under concurrency. Inside a host transaction
    the lock is held until that transaction ends. SQLite serialises writes; MySQL
    cannot count the updated table in the UPDATE and is not supported.

    Database errors are raised as :class:`~autoassign.errors.BackendError`.
    """

    def __init__(self, mapping: ConversationMapping) -> None:
        self.mapping = mapping
        self._f: _Fields | None = None

    # -- binding (lazily: the app registry may not be ready at construction) -----------

    @property
    def fields(self) -> _Fields:
        if self._f is None:
            self._f = _Fields(self.mapping)
        return self._f

    @property
    def model(self) -> type[models.Model]:
        return self.fields.model

    def _manager(self) -> models.QuerySet[Any]:
        return self.model._default_manager.using(self.mapping.using)

    def _open_filter(self) -> models.Q:
        values = [
            stored
            for stored, status in self.mapping.status_map.items()
            if status is ConversationStatus.OPEN
        ]
        q = models.Q(**{f"{self.fields.status}__in": values})
        if self.mapping.not_assignable is not None:
            q &= ~self.mapping.not_assignable
        return q

    # -- reading rows -----------------------------------------------------------------

    def _status(self, row: Mapping[str, Any], held: bool) -> ConversationStatus:
        stored = row[self.fields.status]
        status = self.mapping.status_map.get(stored)
        if status is None:
            # a value the mapping does not know is never assigned
            return ConversationStatus.PENDING
        if status is ConversationStatus.OPEN and held:
            return ConversationStatus.SNOOZED
        return status

    def _conversation(
        self, row: Mapping[str, Any], labels: Collection[str], held: bool
    ) -> Conversation:
        f = self.fields
        created: datetime = row[f.created]
        return Conversation(
            id=row[f.pk],
            inbox=row[f.inbox],
            account=row[f.account] if f.account else self.mapping.default_account,
            status=self._status(row, held),
            assignee=row[f.assignee],
            team=row[f.team] if f.team else None,
            labels=frozenset(labels),
            created_at=created,
            last_activity_at=row[f.activity] if f.activity else created,
            urgency=self._urgency(row[f.urgency]) if f.urgency else None,
            due_at=stored_due_at(row[f.due]) if f.due else None,
            weight=self._weight(row[f.weight]) if f.weight else 1,
        )

    def _weight(self, stored: object) -> Load:
        values = self.mapping.weight_values
        if values is None:
            return stored_weight(stored)
        try:
            return values.get(stored, 1)
        except TypeError:  # an unhashable stored value
            return 1

    def _weight_of(self, prefix: str = "") -> models.Expression:
        """The stored weight as :attr:`~autoassign.model.Conversation.weight`, in SQL
        (``prefix``: a lookup path to the row, ``""`` for the row itself): the mapped
        value, or 1 for one that is not a weight."""
        f = self.fields
        assert f.weight is not None
        name = prefix + f.weight
        out: models.FloatField[float, float] = models.FloatField()
        values = self.mapping.weight_values
        if values is None:
            return models.Case(
                models.When(
                    **{f"{name}__gt": 0, f"{name}__lte": MAX_WEIGHT},
                    then=models.functions.Cast(models.F(name), out),
                ),
                default=models.Value(1.0),
                output_field=out,
            )
        return models.Case(
            *(
                models.When(**{name: stored}, then=models.Value(float(weight)))
                for stored, weight in values.items()
            ),
            default=models.Value(1.0),
            output_field=out,
        )

    def _held_sum(self) -> models.Aggregate:
        """``count(pk)``, or with a weight field the sum of the rows' weights."""
        if self.fields.weight is None:
            return models.Count("pk")
        return models.Sum(self._weight_of())

    def _urgency(self, stored: object) -> int | None:
        levels = self.mapping.urgency_levels
        if levels is None:
            return stored_urgency(stored)
        try:
            return levels.get(stored)
        except TypeError:  # an unhashable stored value
            return None

    def _urgency_rank(self) -> models.Expression:
        """The stored urgency as :attr:`~autoassign.model.Conversation.urgency_rank`:
        ``-urgency``, ``1`` without one (or with a value that is not one)."""
        f, levels = self.fields, self.mapping.urgency_levels
        assert f.urgency is not None
        if levels is None:
            return models.Case(
                models.When(
                    models.Q(
                        **{f"{f.urgency}__gte": 0, f"{f.urgency}__lte": MAX_URGENCY}
                    ),
                    then=-models.F(f.urgency),
                ),
                default=models.Value(1),
                output_field=models.IntegerField(),
            )
        return models.Case(
            *(
                models.When(**{f.urgency: stored}, then=models.Value(-level))
                for stored, level in levels.items()
            ),
            default=models.Value(1),
            output_field=models.IntegerField(),
        )

    def _keys(
        self, priority: ConversationPriority
    ) -> list[tuple[str, models.Expression | None]]:
        """The order of ``priority``: (name, expression to annotate or ``None`` for a
        field), the primary key last. An order whose field is not mapped leaves it
        out (every row would tie on it)."""
        f = self.fields
        keys: list[tuple[str, models.Expression | None]] = []
        if priority is ConversationPriority.LONGEST_WAITING and f.activity:
            keys.append((f.activity, None))
        if priority is ConversationPriority.EARLIEST_DUE and f.due:
            due = Coalesce(
                models.F(f.due),
                models.Value(NO_DUE_AT),
                output_field=models.DateTimeField(),
            )
            keys.append(("_aa_due", due))
        if (
            priority
            in {ConversationPriority.HIGHEST_URGENCY, ConversationPriority.EARLIEST_DUE}
            and f.urgency
        ):
            keys.append(("_aa_urgency", self._urgency_rank()))
        return [*keys, (f.created, None), (f.pk, None)]

    def _labels(self, ids: Collection[Any]) -> dict[Any, set[str]]:
        found: dict[Any, set[str]] = {}
        path = self.fields.labels
        if path is None or not ids:
            return found
        rows = (
            self._manager()
            .filter(**{f"{self.fields.pk}__in": list(ids), f"{path}__isnull": False})
            .values_list(self.fields.pk, path)
        )
        for pk, label in rows:
            found.setdefault(pk, set()).add(str(label))
        return found

    def _rows(self, queryset: models.QuerySet[Any]) -> list[Conversation]:
        held_filter = self.mapping.not_assignable
        qs = queryset
        if held_filter is not None:
            qs = qs.annotate(
                _aa_held=models.ExpressionWrapper(
                    held_filter, output_field=models.BooleanField()
                )
            )
            rows = list(qs.values(*self.fields.values, "_aa_held"))
        else:
            rows = list(qs.values(*self.fields.values))
        labels = self._labels([row[self.fields.pk] for row in rows])
        return [
            self._conversation(
                row,
                labels.get(row[self.fields.pk], ()),
                bool(row.get("_aa_held")),
            )
            for row in rows
        ]

    # -- the port ---------------------------------------------------------------------

    def get(self, conversation: ConversationId) -> Conversation | None:
        with _errors("get conversation"):
            found = self._rows(self._manager().filter(pk=conversation))
        return found[0] if found else None

    def _ordered(
        self, qs: models.QuerySet[Any], priority: ConversationPriority
    ) -> models.QuerySet[Any]:
        keys = self._keys(priority)
        annotations = {name: e for name, e in keys if e is not None}
        if annotations:
            qs = qs.annotate(**annotations)
        return qs.order_by(*(name for name, _ in keys))

    def unassigned_open(
        self,
        inbox: InboxId,
        *,
        limit: int,
        priority: ConversationPriority,
        exclusions: ExclusionRules,
        now: datetime,
        after: Conversation | None = None,
        exclude_teams: Collection[TeamId] = (),
    ) -> Sequence[Conversation]:
        if limit <= 0:
            return ()
        f = self.fields
        qs = self._manager().filter(
            self._open_filter(), **{f.inbox: inbox, f"{f.assignee}__isnull": True}
        )
        cutoff = exclusions.cutoff(now)
        if cutoff is not None:
            qs = qs.filter(**{f"{f.created}__gte": cutoff})
        if exclusions.excluded_labels and f.labels is not None:
            qs = qs.exclude(**{f"{f.labels}__in": sorted(exclusions.excluded_labels)})
        if exclude_teams and f.team is not None:
            qs = qs.filter(
                models.Q(**{f"{f.team}__isnull": True})
                | ~models.Q(**{f"{f.team}__in": list(exclude_teams)})
            )
        qs = self._ordered(qs, priority)
        if after is not None:
            qs = qs.filter(self._after(after, priority))
        qs = qs[:limit]
        with _errors("unassigned open conversations"):
            return tuple(self._rows(qs))

    def _after(self, after: Conversation, priority: ConversationPriority) -> models.Q:
        """Strictly after ``after`` in the priority order (keyset paging)."""
        values = {
            "_aa_due": NO_DUE_AT if after.due_at is None else after.due_at,
            "_aa_urgency": after.urgency_rank,
            self.fields.created: after.created_at,
            self.fields.pk: after.id,
        }
        if self.fields.activity:
            values[self.fields.activity] = after.last_activity_at
        keys = [(name, values[name]) for name, _ in self._keys(priority)]
        q = models.Q()
        equal = models.Q()
        for i, (name, value) in enumerate(keys):
            step = equal & models.Q(**{f"{name}__gt": value})
            q = step if i == 0 else q | step
            equal &= models.Q(**{name: value})
        return q

    def open_counts(
        self, inbox: InboxId, agents: Collection[AgentId]
    ) -> Mapping[AgentId, Load]:
        wanted = list(set(agents))
        if not wanted:
            return {}
        f = self.fields
        qs = (
            self._manager()
            .filter(
                self._open_filter(), **{f.inbox: inbox, f"{f.assignee}__in": wanted}
            )
            .order_by()
            .values(f.assignee)
            .annotate(n=self._held_sum())
        )
        with _errors("open counts"):
            return {row[f.assignee]: stored_load(row["n"]) for row in qs}

    def open_totals(
        self, account: Id, agents: Collection[AgentId]
    ) -> Mapping[AgentId, Load]:
        """:class:`~autoassign.ports.TotalCapacity`: one ``GROUP BY`` on the assignee
        over the account's open conversations (a single-account host: all of them)."""
        wanted = list(set(agents))
        f = self.fields
        if not wanted or (
            f.account is None and account != self.mapping.default_account
        ):
            return {}
        where: dict[str, Any] = {f"{f.assignee}__in": wanted}
        if f.account is not None:
            where[f.account] = account
        qs = (
            self._manager()
            .filter(self._open_filter(), **where)
            .order_by()
            .values(f.assignee)
            .annotate(n=self._held_sum())
        )
        with _errors("open totals"):
            return {row[f.assignee]: stored_load(row["n"]) for row in qs}

    def previous_agents(
        self,
        account: Id,
        conversations: Sequence[Conversation],
        *,
        since: datetime,
    ) -> Mapping[ConversationId, AgentId]:
        """:class:`~autoassign.ports.ContactHistory` over the ``contact`` field (sticky
        agents): the page's contacts (one query), then their conversations with an
        assignee created at or after ``since`` (one query), the newest kept per
        conversation of the page. :class:`ConfigurationError` without the field."""
        f = self.fields
        if f.contact is None:
            raise ConfigurationError(
                "ConversationMapping.contact is not set: name the contact field for "
                "sticky agents",
                field="contact",
            )
        ids = [c.id for c in conversations]
        if not ids or (f.account is None and account != self.mapping.default_account):
            return {}
        scope: dict[str, Any] = {} if f.account is None else {f.account: account}
        with _errors("previous agents"):
            mine = dict(
                self._manager()
                .filter(**{f"{f.pk}__in": ids, f"{f.contact}__isnull": False}, **scope)
                .values_list(f.pk, f.contact)
            )
            if not mine:
                return {}
            rows = list(
                self._manager()
                .filter(
                    **{
                        f"{f.contact}__in": list(set(mine.values())),
                        f"{f.assignee}__isnull": False,
                        f"{f.created}__gte": since,
                    },
                    **scope,
                )
                .values_list(f.contact, f.pk, f.assignee, f.created)
            )
        newest: dict[Any, list[tuple[Any, tuple[int, int | str], Any, AgentId]]] = {}
        for contact, pk, assignee, created in rows:
            newest.setdefault(contact, []).append(
                (created, id_sort_key(pk), pk, assignee)
            )
        out: dict[ConversationId, AgentId] = {}
        for conversation, contact in mine.items():
            earlier = [e for e in newest.get(contact, ()) if e[2] != conversation]
            if earlier:
                out[conversation] = max(earlier, key=lambda e: e[:2])[3]
        return out

    def _room(self, agent: AgentId, same: str | None, limit: int) -> models.Lookup:
        """The claim's capacity condition: ``agent``'s open conversations with the
        claimed row's value of ``same`` (its inbox, or its account; ``None``: every
        row, a single-account host) are fewer than ``limit``, or with a weight field,
        the claimed row's weight fits beside theirs (compared in thousandths)."""
        held = self._held(agent, same)
        if self.fields.weight is None:
            return LessThan(held, limit)
        return LessThanOrEqual(
            Round((held + self._weight_of()) * WEIGHT_SCALE), limit * WEIGHT_SCALE
        )

    def _held(self, agent: AgentId, same: str | None) -> models.Expression:
        """``COALESCE((SELECT count(*) ...), 0)`` (or the sum of weights): ``agent``'s
        open conversations with the claimed row's value of ``same``."""
        f = self.fields
        where: dict[str, Any] = {f.assignee: agent}
        if same is not None:
            where[same] = models.OuterRef(same)
        held = (
            self.model._default_manager.filter(self._open_filter(), **where)
            .order_by()
            .values(f.assignee)
            .annotate(n=self._held_sum())
            .values("n")
        )
        if self.fields.weight is None:
            return Coalesce(models.Subquery(held), 0)
        out: models.FloatField[float, float] = models.FloatField()
        return Coalesce(models.Subquery(held, output_field=out), 0.0, output_field=out)

    def claim(
        self,
        conversation: ConversationId,
        agent: AgentId,
        *,
        capacity_limit: int | None = None,
        total_limit: int | None = None,
    ) -> bool:
        """The port's claim; ``total_limit`` (:class:`~autoassign.ports.TotalCapacity`)
        adds a count of the agent's open conversations in the account's inboxes."""
        limits = (capacity_limit, total_limit)
        if any(limit is not None and limit <= 0 for limit in limits):
            return False
        f = self.fields
        qs = self._manager().filter(
            self._open_filter(), pk=conversation, **{f"{f.assignee}__isnull": True}
        )
        if capacity_limit is not None:
            qs = qs.filter(self._room(agent, f.inbox, capacity_limit))
        if total_limit is not None:
            qs = qs.filter(self._room(agent, f.account, total_limit))
        values = {f.assignee: agent, **self.mapping.claim_values}
        connection = connections[self.mapping.using]
        with (
            _errors("claim conversation"),
            transaction.atomic(using=self.mapping.using),
        ):
            if limits != (None, None) and connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT pg_advisory_xact_lock(%s)",
                        [
                            _advisory_key(
                                "autoassign-claim", self.model._meta.db_table, agent
                            )
                        ],
                    )
            return int(qs.update(**values)) == 1

    def reassign(
        self, conversation: ConversationId, agent: AgentId, *, previous: AgentId
    ) -> bool:
        """:class:`~autoassign.triggers.Reassigner` (the legacy path, accounts without
        ``assignment_v2``): one conditional ``UPDATE ... WHERE pk = %s AND assignee =
        previous AND status IN (<open>) [AND NOT <not_assignable>]``, judged by its
        row count. Like :meth:`claim`, it fires no signals."""
        f = self.fields
        qs = self._manager().filter(
            self._open_filter(), pk=conversation, **{f.assignee: previous}
        )
        with _errors("reassign conversation"):
            return int(qs.update(**{f.assignee: agent})) == 1


@contextmanager
def _errors(what: str) -> Iterator[None]:
    """Translate Django database errors into :class:`BackendError`, and connection
    failures into :class:`BackendUnavailable`."""
    try:
        yield
    except (InterfaceError, OperationalError) as exc:
        raise BackendUnavailable(f"{what} failed: {exc}") from exc
    except DatabaseError as exc:
        raise BackendError(f"{what} failed: {exc}") from exc
