"""``Ticket``: a conversation model whose id columns take the contract suites' int and
str ids (``MixedIdField``); ``TicketLabel``: its tagging table."""

from __future__ import annotations

from typing import Any

from django.db import models

_OFFSET = 2**63


class MixedIdField(models.CharField):  # type: ignore[type-arg]
    """Stores an ``int | str`` id as text that sorts as ``id_sort_key`` does: ints
    (offset, zero-padded) before strs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 255)
        super().__init__(*args, **kwargs)

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool):
            raise TypeError("bool is not an id")
        if isinstance(value, int):
            return f"i{value + _OFFSET:020d}"
        return f"s{value}"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return self.to_python(value)

    def to_python(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value.startswith("i") and value[1:].isdigit():
            return int(value[1:]) - _OFFSET
        if value.startswith("s"):
            return value[1:]
        return value


STATUSES = [(s, s) for s in ("open", "resolved", "pending", "snoozed")]


class Ticket(models.Model):
    id = MixedIdField(primary_key=True)
    inbox = MixedIdField()
    account = MixedIdField()
    assignee = MixedIdField(null=True)
    team = MixedIdField(null=True)
    status = models.CharField(max_length=16, choices=STATUSES)
    created = models.DateTimeField()
    activity = models.DateTimeField()
    urgency = models.IntegerField(null=True)
    due = models.DateTimeField(null=True)
    weight = models.DecimalField(max_digits=10, decimal_places=3, null=True)
    channel = models.CharField(max_length=16, default="chat")

    class Meta:
        app_label = "aa_djtest"


class TicketLabel(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=255)

    class Meta:
        app_label = "aa_djtest"


class AdminInbox(models.Model):
    """An inbox of a multi-tenant host, for the PolicyStore contract on the config
    models (the suite's inboxes belong to accounts 1 and 2)."""

    id = models.BigIntegerField(primary_key=True)
    account = models.BigIntegerField()
    name = models.CharField(max_length=100)

    class Meta:
        app_label = "aa_djtest"

    def __str__(self) -> str:
        return str(self.name)


class AdminAgentAccount(models.Model):
    """The account of a user (``DjangoPolicyStore(agents=...)`` reads it)."""

    user_id = models.BigIntegerField(unique=True)
    account = models.BigIntegerField()

    class Meta:
        app_label = "aa_djtest"
