"""Jobs: the per-inbox assignment job and the periodic cycle that discovers inboxes.

Hosts run these from their own job engine: :meth:`AssignmentJob.run` is the body of the
spec's ``AutoAssignment::AssignmentJob`` (queue ``default``), and
:meth:`PeriodicAssignmentJob.run` that of ``PeriodicAssignmentJob`` (queue
``scheduled_jobs``, every 30 minutes).
"""

from __future__ import annotations

import logging
from datetime import timedelta

import attrs

from autoassign.decisions import GateFailure, check_gates
from autoassign.model import ASSIGNMENT_V2_FEATURE, InboxId
from autoassign.ports import Directory, InboxLease, JobQueue, Lease
from autoassign.results import AssignmentResult
from autoassign.service import AssignmentService

__all__ = [
    "DEFAULT_LEASE_TTL",
    "DEFAULT_PENDING_TTL",
    "AssignmentJob",
    "JobOutcome",
    "PeriodicAssignmentJob",
    "PeriodicOutcome",
    "request_assignment",
]

logger = logging.getLogger(__name__)


class _NoLease:
    """Stands in for a lease when the lease store is down."""

    def release(self) -> None:
        return None


_UNLEASED = _NoLease()

DEFAULT_LEASE_TTL = timedelta(minutes=5)
DEFAULT_PENDING_TTL = timedelta(minutes=15)
"""Longer than the lease: a request made during a pass (which holds the lease for at most
``lease_ttl``) is still marked when the pass ends, so the job runs again for it."""


def request_assignment(
    inbox: InboxId,
    *,
    lease: InboxLease,
    jobs: JobQueue,
    pending_ttl: timedelta = DEFAULT_PENDING_TTL,
    strict: bool = False,
) -> bool:
    """Ask for a pass over ``inbox``: mark it pending and enqueue its job unless one is
    already due. A burst of requests queues one job; a request that arrives while a pass
    runs makes that job run again afterwards, so no request is lost.

    Returns whether a job was enqueued. If the lease store fails, the job is enqueued
    anyway (a duplicate job only finds the lease taken). If enqueueing fails, the mark is
    cleared so the next request tries again, the error is logged and ``False`` returned
    (re-raised when ``strict``): a save hook is never broken by autoassign.
    """
    try:
        fresh = lease.mark_pending(inbox, ttl=pending_ttl)
    except Exception:
        logger.warning(
            "could not mark inbox %s pending; enqueueing anyway",
            inbox,
            exc_info=True,
            extra={"autoassign_inbox": inbox},
        )
        fresh = True
    if not fresh:
        return False
    try:
        jobs.enqueue_assignment(inbox)
    except Exception:
        logger.exception(
            "could not enqueue the assignment job of inbox %s",
            inbox,
            extra={"autoassign_inbox": inbox},
        )
        try:
            lease.take_pending(inbox)
        except Exception:
            logger.warning("could not clear the pending mark", exc_info=True)
        if strict:
            raise
        return False
    return True


@attrs.frozen(kw_only=True)
class JobOutcome:
    """What one run of :class:`AssignmentJob` did."""

    inbox: InboxId
    results: tuple[AssignmentResult, ...] = ()
    coalesced: bool = False
    """The lease was held by another pass, which will run again for this request."""
    error: str | None = None
    exception: BaseException | None = attrs.field(default=None, eq=False, repr=False)
    """The exception behind ``error``, for a host's retry decision."""
    unleased: bool = False
    """The lease store failed and at least one pass ran without the lease."""

    @property
    def assigned_count(self) -> int:
        return sum(result.assigned_count for result in self.results)


@attrs.define
class AssignmentJob:
    """Runs passes over one inbox, one at a time across every worker.

    Takes the inbox's lease; if another pass holds it, returns at once (that pass sees
    the pending mark and runs again). After each pass, if a request arrived meanwhile, it
    runs another, up to ``max_rounds``; past that it re-enqueues itself. Errors are logged
    with the inbox id and swallowed, or re-raised when ``strict`` (tests).
    """

    service: AssignmentService
    lease: InboxLease
    jobs: JobQueue
    lease_ttl: timedelta = DEFAULT_LEASE_TTL
    pending_ttl: timedelta = DEFAULT_PENDING_TTL
    strict: bool = False
    max_rounds: int = 5

    def run(self, inbox: InboxId, *, limit: int | None = None) -> JobOutcome:
        results: list[AssignmentResult] = []
        unleased = False
        for _round in range(self.max_rounds):
            handle = self._acquire(inbox)
            if handle is None:
                # Leave the request to the holder: (re-)mark the inbox so it runs again
                # after its pass, even if this job was not enqueued through a trigger or
                # its trigger's mark has lapsed while it waited in the queue.
                self._lease_call("mark", inbox)
                return JobOutcome(inbox=inbox, results=tuple(results), coalesced=True)
            unleased = unleased or handle is _UNLEASED
            error: Exception | None = None
            try:
                self._lease_call("take", inbox)
                result = self.service.perform_bulk_assignment(inbox, limit=limit)
                results.append(result)
                logger.info(
                    "Assigned %d conversations for inbox %s",
                    result.assigned_count,
                    inbox,
                    extra={"autoassign_inbox": inbox},
                )
            except Exception as exc:
                logger.exception(
                    "Bulk assignment failed for inbox %s: %s",
                    inbox,
                    exc,
                    extra={"autoassign_inbox": inbox},
                )
                if self.strict:
                    raise
                error = exc
            finally:
                self._release(handle, inbox)
            if error is not None:
                if self._lease_call("take", inbox):
                    self._requeue(inbox)
                return JobOutcome(
                    inbox=inbox,
                    results=tuple(results),
                    error=f"{type(error).__name__}: {error}",
                    exception=error,
                    unleased=unleased,
                )
            if results[-1].gate is GateFailure.INBOX_NOT_FOUND:
                break
            if not self._lease_call("take", inbox):
                break
        else:
            self._requeue(inbox)
        return JobOutcome(inbox=inbox, results=tuple(results), unleased=unleased)

    def _acquire(self, inbox: InboxId) -> Lease | None:
        """The lease, ``None`` if another pass holds it, or :data:`_UNLEASED` if the
        lease store failed: the pass then runs anyway (degraded), since claims are
        compare-and-set and never double-assign."""
        try:
            return self.lease.acquire(inbox, ttl=self.lease_ttl)
        except Exception:
            logger.warning(
                "inbox lease unavailable; running the pass without it",
                exc_info=True,
                extra={"autoassign_inbox": inbox},
            )
            if self.strict:
                raise
            return _UNLEASED

    def _release(self, handle: Lease, inbox: InboxId) -> None:
        try:
            handle.release()
        except Exception:
            # The lease lapses by its TTL.
            logger.warning(
                "could not release the lease of inbox %s",
                inbox,
                exc_info=True,
                extra={"autoassign_inbox": inbox},
            )

    def _lease_call(self, what: str, inbox: InboxId) -> bool:
        """``mark_pending`` or ``take_pending``, logging a lease-store failure (which
        then reads as "not pending")."""
        try:
            if what == "mark":
                return self.lease.mark_pending(inbox, ttl=self.pending_ttl)
            return self.lease.take_pending(inbox)
        except Exception:
            logger.warning(
                "lease store failed (%s pending) for inbox %s",
                what,
                inbox,
                exc_info=True,
                extra={"autoassign_inbox": inbox},
            )
            return False

    def _requeue(self, inbox: InboxId) -> None:
        request_assignment(
            inbox, lease=self.lease, jobs=self.jobs, pending_ttl=self.pending_ttl
        )


@attrs.frozen(kw_only=True)
class PeriodicOutcome:
    enqueued: tuple[InboxId, ...] = ()
    already_due: tuple[InboxId, ...] = ()
    failed_accounts: tuple[object, ...] = ()


@attrs.define
class PeriodicAssignmentJob:
    """The periodic cycle: every account with ``assignment_v2``, in batches; every inbox
    of it with a linked policy, in batches; an assignment job for each inbox that passes
    its gates (policy enabled, auto-assignment on). An error on one account is logged
    and the cycle goes on (re-raised when ``strict``)."""

    directory: Directory
    lease: InboxLease
    jobs: JobQueue
    batch_size: int = 1000
    pending_ttl: timedelta = DEFAULT_PENDING_TTL
    strict: bool = False

    def run(self) -> PeriodicOutcome:
        enqueued: list[InboxId] = []
        already: list[InboxId] = []
        failed: list[object] = []
        for accounts in self.directory.iter_accounts(
            feature=ASSIGNMENT_V2_FEATURE, batch_size=self.batch_size
        ):
            for account in accounts:
                try:
                    for inboxes in self.directory.iter_inboxes(
                        account.id, batch_size=self.batch_size
                    ):
                        for inbox in inboxes:
                            policy = self.directory.policy_for_inbox(inbox.id)
                            if check_gates(account, inbox, policy) is not None:
                                continue
                            if request_assignment(
                                inbox.id,
                                lease=self.lease,
                                jobs=self.jobs,
                                pending_ttl=self.pending_ttl,
                                strict=self.strict,
                            ):
                                enqueued.append(inbox.id)
                            else:
                                already.append(inbox.id)
                except Exception:
                    logger.exception(
                        "periodic assignment failed for account %s", account.id
                    )
                    if self.strict:
                        raise
                    failed.append(account.id)
        return PeriodicOutcome(
            enqueued=tuple(enqueued),
            already_due=tuple(already),
            failed_accounts=tuple(failed),
        )
