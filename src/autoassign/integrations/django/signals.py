"""Save hooks for the mapped conversation model: triggers that fire once per
transaction (in ``transaction.on_commit``) and the stale-save guard.

**The stale-save guard.** An in-memory instance loaded (or created) while unassigned
and saved again after the engine assigned it would write ``assignee = NULL`` back:
django-helpdesk's ``PublicTicketForm.save()`` saves one ticket three times, and under
autocommit the engine assigns after the first save. In ``pre_save``, when the
instance's assignee is empty *and was empty when it was loaded or last saved*, the
guard re-reads the stored assignee and, if the row has one, keeps it on the instance.
An assignee the code deliberately cleared (it was set when loaded) is saved as
cleared. The guard costs one ``SELECT`` of one column for such saves only.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import attrs
from django.db import connections, models, transaction
from django.db.models.signals import post_init, post_save, pre_save

from autoassign._quietlog import degradations
from autoassign.integrations.django.repository import DjangoConversationRepository
from autoassign.model import Conversation, ConversationId
from autoassign.triggers import AssignmentTriggers

__all__ = ["ConversationHooks", "silenced"]

logger = logging.getLogger("autoassign.integrations.django")

_SILENCED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "autoassign_silenced", default=False
)
_LOADED = "_autoassign_loaded_assignee"
_BEFORE = "_autoassign_before"
_UNSET = object()


@contextmanager
def silenced() -> Iterator[None]:
    """Within this block, saves of the mapped model call no trigger (bulk imports,
    data migrations). The stale-save guard stays on. Run one assignment pass per
    inbox afterwards (or let the periodic cycle find the conversations)."""
    token = _SILENCED.set(True)
    try:
        yield
    finally:
        _SILENCED.reset(token)


@attrs.define
class _Pending:
    before: Conversation | None
    callback: Callable[[], None]


@attrs.define
class ConversationHooks:
    """Connects ``post_init``, ``pre_save`` and ``post_save`` of the repository's model.

    Each saved conversation calls ``triggers().on_conversation_saved(before, after)``
    once per transaction, after it commits: ``before`` is the row as stored before
    the transaction's first save of it (``None`` when created), ``after`` the row as
    committed. Under autocommit every save is its own transaction. A rolled-back
    transaction calls nothing.
    """

    repository: DjangoConversationRepository
    triggers: Callable[[], AssignmentTriggers]
    guard: bool = True
    dispatch_uid: str = "autoassign"

    def connect(self) -> None:
        model = self.repository.model
        uid = self.dispatch_uid
        post_init.connect(
            self._post_init, sender=model, dispatch_uid=f"{uid}-init", weak=False
        )
        pre_save.connect(
            self._pre_save, sender=model, dispatch_uid=f"{uid}-pre", weak=False
        )
        post_save.connect(
            self._post_save, sender=model, dispatch_uid=f"{uid}-post", weak=False
        )

    def disconnect(self) -> None:
        model = self.repository.model
        uid = self.dispatch_uid
        post_init.disconnect(sender=model, dispatch_uid=f"{uid}-init")
        pre_save.disconnect(sender=model, dispatch_uid=f"{uid}-pre")
        post_save.disconnect(sender=model, dispatch_uid=f"{uid}-post")

    @property
    def _attname(self) -> str:
        return self.repository.fields.assignee

    # -- handlers ---------------------------------------------------------------------

    def _post_init(
        self, sender: type[models.Model], instance: models.Model, **_: Any
    ) -> None:
        instance.__dict__[_LOADED] = instance.__dict__.get(self._attname)

    def _pre_save(
        self,
        sender: type[models.Model],
        instance: models.Model,
        raw: bool = False,
        using: str | None = None,
        update_fields: frozenset[str] | None = None,
        **_: Any,
    ) -> None:
        if raw:
            return
        attname = self._attname
        existing = not instance._state.adding and instance.pk is not None
        silent = _SILENCED.get()
        before: Conversation | None = None
        if existing and not silent:
            before = self.repository.get(instance.pk)
        instance.__dict__[_BEFORE] = before
        if not (self.guard and existing):
            return
        if getattr(instance, attname) is not None:
            return
        if instance.__dict__.get(_LOADED, _UNSET) is not None:
            return  # cleared on purpose (it was set when loaded), or not tracked
        if update_fields is not None and not (
            {attname, self.repository.mapping.assignee} & set(update_fields)
        ):
            return
        if before is not None:
            stored = before.assignee
        else:
            stored = (
                self.repository.model._default_manager.using(using or "default")
                .filter(pk=instance.pk)
                .values_list(attname, flat=True)
                .first()
            )
        if stored is not None:
            logger.info(
                "kept the assignee %s of %s %s: the instance being saved was loaded "
                "before it was assigned",
                stored,
                sender._meta.label,
                instance.pk,
            )
            setattr(instance, attname, stored)

    def _post_save(
        self,
        sender: type[models.Model],
        instance: models.Model,
        raw: bool = False,
        using: str | None = None,
        **_: Any,
    ) -> None:
        instance.__dict__[_LOADED] = getattr(instance, self._attname)
        before = instance.__dict__.pop(_BEFORE, None)
        if raw or _SILENCED.get():
            return
        self._schedule(using or "default", instance.pk, before)

    # -- once per transaction ---------------------------------------------------------

    def _schedule(
        self, using: str, pk: ConversationId, before: Conversation | None
    ) -> None:
        connection = connections[using]
        if not connection.in_atomic_block:
            self._fire(pk, before)
            return
        pending: dict[Any, _Pending] = connection.__dict__.setdefault(
            "_autoassign_pending", {}
        )
        key = (self.repository.model._meta.label, pk)
        entry = pending.get(key)
        if entry is not None and any(
            item[1] is entry.callback for item in connection.run_on_commit
        ):
            return  # already due at this transaction's commit: keep the first before
        callback = functools.partial(self._commit, using, key, pk)
        pending[key] = _Pending(before=before, callback=callback)
        transaction.on_commit(callback, using=using, robust=True)

    def _commit(self, using: str, key: Any, pk: ConversationId) -> None:
        pending: dict[Any, _Pending] = connections[using].__dict__.get(
            "_autoassign_pending", {}
        )
        entry = pending.pop(key, None)
        self._fire(pk, entry.before if entry is not None else None)

    def _fire(self, pk: ConversationId, before: Conversation | None) -> None:
        try:
            after = self.repository.get(pk)
            if after is not None:
                self.triggers().on_conversation_saved(before, after)
        except Exception:
            degradations.failed(
                logger,
                "trigger",
                "auto-assignment trigger failed for conversation %s",
                pk,
                level=logging.ERROR,
                extra={"autoassign_conversation": pk},
            )
