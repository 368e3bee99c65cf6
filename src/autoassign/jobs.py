"""Jobs: the per-inbox assignment job and the periodic cycle that discovers inboxes.

Hosts run these from their own job engine: :meth:`AssignmentJob.run` is the body of the
spec's ``AutoAssignment::AssignmentJob`` (queue ``default``), and
:meth:`PeriodicAssignmentJob.run` that of ``PeriodicAssignmentJob`` (queue
``scheduled_jobs``, every 30 minutes).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Collection, Sequence
from datetime import timedelta
from typing import TypeVar

import attrs

from autoassign import _program
from autoassign._program import Program, call
from autoassign._quietlog import degradations
from autoassign.decisions import GateFailure, check_gates
from autoassign.errors import ConfigurationError
from autoassign.metrics import Metrics, observe_quietly
from autoassign.model import ASSIGNMENT_V2_FEATURE, Account, InboxId
from autoassign.ports import (
    BatchPendingLease,
    Directory,
    HandOff,
    InboxLease,
    JobQueue,
    Lease,
    PagedPolicyDirectory,
)
from autoassign.results import AssignmentResult
from autoassign.service import AssignmentService

__all__ = [
    "DEFAULT_LEASE_TTL",
    "DEFAULT_MAX_ROUNDS",
    "DEFAULT_PENDING_TTL",
    "DEFAULT_RERUN_SLACK",
    "AssignmentJob",
    "JobOutcome",
    "PeriodicAssignmentJob",
    "PeriodicOutcome",
    "request_assignment",
    "request_assignment_program",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


class _NoLease:
    """Stands in for a lease when the lease store is down."""

    def release(self) -> None:
        return None


_UNLEASED = _NoLease()

DEFAULT_LEASE_TTL = timedelta(minutes=5)
DEFAULT_PENDING_TTL = timedelta(minutes=15)
"""Longer than the lease: a request handed to a pass (which holds the lease for at most
``lease_ttl``) is still marked when the pass ends, so the job runs again for it. It does
not delay recovery from a crashed holder (a mark handed to a holder whose lease is gone
no longer coalesces); it bounds how long a queued mark whose job was lost blocks
triggers."""
DEFAULT_MAX_ROUNDS = 5
"""Passes one run of :class:`AssignmentJob` makes at most before re-enqueuing itself."""
DEFAULT_RERUN_SLACK = timedelta(milliseconds=100)
"""How long after the holder's lease expiry a handed-off job's delayed re-run is due."""
_HAND_OFF_ATTEMPTS = 3


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

    The rule is :func:`request_assignment_program`, which ``autoassign.aio`` runs over
    async ports.
    """
    program = request_assignment_program(inbox, pending_ttl=pending_ttl, strict=strict)
    return _program.run(program, {"lease": lease, "jobs": jobs})


def request_assignment_program(
    inbox: InboxId,
    *,
    pending_ttl: timedelta = DEFAULT_PENDING_TTL,
    strict: bool = False,
) -> Program[bool]:
    """:func:`request_assignment` as a program over the ports ``lease``
    (:class:`~autoassign.ports.InboxLease`) and ``jobs``
    (:class:`~autoassign.ports.JobQueue`), for any driver."""
    extra = {"autoassign_inbox": inbox}
    try:
        fresh: bool = yield from call("lease", "mark_pending", inbox, ttl=pending_ttl)
    except Exception:
        degradations.failed(
            logger,
            "lease",
            "could not mark inbox %s pending; enqueueing anyway",
            inbox,
            extra=extra,
        )
        fresh = True
    else:
        degradations.recovered(logger, "lease")
    if not fresh:
        return False
    try:
        yield from call("jobs", "enqueue_assignment", inbox)
    except Exception:
        degradations.failed(
            logger,
            "job queue",
            "could not enqueue the assignment job of inbox %s",
            inbox,
            level=logging.ERROR,
            extra=extra,
        )
        try:
            yield from call("lease", "take_pending", inbox)
        except Exception:
            degradations.failed(
                logger, "lease", "could not clear the pending mark", extra=extra
            )
        if strict:
            raise
        return False
    degradations.recovered(logger, "job queue")
    return True


@attrs.frozen(kw_only=True)
class JobOutcome:
    """What one run of :class:`AssignmentJob` did.

    ``results`` holds every pass this run made, whatever else is set: a run may make
    passes and then hand off, requeue or fail.
    """

    inbox: InboxId
    results: tuple[AssignmentResult, ...] = ()
    handed_off: bool = False
    """The run ended by finding the inbox's lease held by another pass and leaving its
    request to that pass (which runs again for it). Passes this run made before that
    are still in ``results`` (possibly none)."""
    rerun_after: timedelta | None = None
    """When handed off through a :class:`~autoassign.ports.DelayedJobQueue`: the delay
    of the re-run it asked for, at about the holder's lease expiry (``None``: none
    asked, e.g. the queue cannot delay or a re-run for that holder was already asked)."""
    requeued: bool = False
    """The run asked for another run of the inbox's job (through
    :func:`request_assignment`): after ``max_rounds`` passes with more to do (a full
    page, or a new request), or after a failed pass with a request pending."""
    error: str | None = None
    exception: BaseException | None = attrs.field(default=None, eq=False, repr=False)
    """The exception behind ``error``, for a host's retry decision."""
    unleased: bool = False
    """The lease store failed and at least one pass ran without the lease."""

    @property
    def assigned_count(self) -> int:
        """Conversations assigned by every pass of this run."""
        return sum(result.assigned_count for result in self.results)

    @property
    def coalesced(self) -> bool:
        """Deprecated alias of :attr:`handed_off` (it never meant "no pass ran")."""
        warnings.warn(
            "JobOutcome.coalesced is deprecated; use JobOutcome.handed_off (and "
            "JobOutcome.results for the passes that ran)",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.handed_off


@attrs.frozen
class _HandedOff:
    rerun_after: timedelta | None


def _check_max_rounds(_instance: object, _attribute: object, value: int) -> None:
    if isinstance(value, bool) or value < 1:
        raise ConfigurationError(
            f"max_rounds must be a positive int, got {value!r}", field="max_rounds"
        )


@attrs.define
class AssignmentJob:
    """Runs passes over one inbox, one at a time across every worker.

    Takes the inbox's lease and runs a pass. It runs another if a request arrived
    meanwhile **or the pass assigned a full page** (``limit`` conversations: a burst
    bigger than a page drains), up to ``max_rounds`` passes; past that it re-enqueues
    itself, so other inboxes' jobs run in between (bounded work per run, fair across
    inboxes). A pass that assigns less than a page, or that stops (nobody can take
    more, a gate failed), ends the drain.

    If another pass holds the lease, the job hands its request to that holder
    (:meth:`~autoassign.ports.InboxLease.hand_off`) and returns; with a
    :class:`~autoassign.ports.DelayedJobQueue` it also asks for a re-run at the
    holder's lease expiry plus ``rerun_slack``, so a holder that died is replaced within
    about one lease TTL. Errors are logged with the inbox id and swallowed, or
    re-raised when ``strict`` (tests).
    """

    service: AssignmentService
    lease: InboxLease
    jobs: JobQueue
    lease_ttl: timedelta = DEFAULT_LEASE_TTL
    pending_ttl: timedelta = DEFAULT_PENDING_TTL
    strict: bool = False
    max_rounds: int = attrs.field(
        default=DEFAULT_MAX_ROUNDS, validator=_check_max_rounds
    )
    rerun_slack: timedelta = DEFAULT_RERUN_SLACK
    metrics: Metrics | None = None
    """Told of each run's outcome; ``None`` (the default): no call. (Passes are
    reported by the service's own ``metrics``.)"""

    def run(self, inbox: InboxId, *, limit: int | None = None) -> JobOutcome:
        """Run the job for ``inbox`` (the body of the spec's ``AssignmentJob``).

        Args:
            inbox: the inbox to serve.
            limit: the page size of each pass (default: the service's bulk limit).

        Returns:
            What the run did; see :class:`JobOutcome`.
        """
        outcome = self._run(inbox, limit)
        if self.metrics is not None:
            self._observe(self.metrics.job_finished, outcome)
        return outcome

    def _run(self, inbox: InboxId, limit: int | None) -> JobOutcome:
        page = self.service.bulk_limit if limit is None else limit
        results: list[AssignmentResult] = []
        unleased = False
        for _round in range(self.max_rounds):
            handle = self._acquire_or_hand_off(inbox)
            if isinstance(handle, _HandedOff):
                return JobOutcome(
                    inbox=inbox,
                    results=tuple(results),
                    handed_off=True,
                    rerun_after=handle.rerun_after,
                    unleased=unleased,
                )
            unleased = unleased or handle is _UNLEASED
            error: Exception | None = None
            try:
                self._lease_call("take", inbox)
                result = self._pass(inbox, limit)
                results.append(result)
                logger.info(
                    "Assigned %d conversations for inbox %s",
                    result.assigned_count,
                    inbox,
                    extra={"autoassign_inbox": inbox},
                )
            except Exception as exc:
                degradations.failed(
                    logger,
                    "assignment pass",
                    "Bulk assignment failed for inbox %s",
                    inbox,
                    level=logging.ERROR,
                    extra={"autoassign_inbox": inbox},
                )
                if self.strict:
                    raise
                error = exc
            else:
                degradations.recovered(logger, "assignment pass")
            finally:
                self._release(handle, inbox)
            if error is not None:
                requeued = self._lease_call("take", inbox)
                if requeued:
                    self._requeue(inbox)
                return JobOutcome(
                    inbox=inbox,
                    results=tuple(results),
                    requeued=requeued,
                    error=f"{type(error).__name__}: {error}",
                    exception=error,
                    unleased=unleased,
                )
            if results[-1].gate is GateFailure.INBOX_NOT_FOUND:
                break
            requested = self._lease_call("take", inbox)
            if not requested and not _full_page(results[-1], page):
                break
        else:
            self._requeue(inbox)
            return JobOutcome(
                inbox=inbox, results=tuple(results), requeued=True, unleased=unleased
            )
        return JobOutcome(inbox=inbox, results=tuple(results), unleased=unleased)

    def _pass(self, inbox: InboxId, limit: int | None) -> AssignmentResult:
        """One pass (the service reports it to its observer, if any)."""
        return self.service.perform_bulk_assignment(inbox, limit=limit)

    @staticmethod
    def _observe(report: Callable[[_T], None], value: _T) -> None:
        """Call the observer; an observer's failure is logged, never the job's."""
        observe_quietly(report, value)

    def _acquire_or_hand_off(self, inbox: InboxId) -> Lease | _HandedOff:
        """The lease, or the request handed to whoever holds it."""
        for _attempt in range(_HAND_OFF_ATTEMPTS):
            handle = self._acquire(inbox)
            if handle is not None:
                return handle
            try:
                hand_off = self.lease.hand_off(inbox, ttl=self.pending_ttl)
            except Exception:
                self._degrade(
                    "lease", "lease store failed (hand off) for inbox %s", inbox
                )
                # Degraded: a queued mark (it lapses after pending_ttl) and a re-run
                # after a whole lease TTL, if the queue can delay.
                self._lease_call("mark", inbox)
                return _HandedOff(self._schedule_rerun(inbox, self.lease_ttl))
            if hand_off is not None:
                rerun = (
                    self._schedule_rerun(inbox, hand_off.holder_expires_in)
                    if hand_off.first
                    else None
                )
                return _HandedOff(rerun)
            # The holder let go between the two calls: try to take the lease again.
        self._requeue(inbox)
        return _HandedOff(None)

    def _schedule_rerun(
        self, inbox: InboxId, expires_in: timedelta
    ) -> timedelta | None:
        """Ask a :class:`~autoassign.ports.DelayedJobQueue` for a re-run once the
        holder's lease has expired; ``None`` if the queue cannot delay or failed."""
        enqueue_after = getattr(self.jobs, "enqueue_assignment_after", None)
        if enqueue_after is None:
            return None
        delay = expires_in + self.rerun_slack
        try:
            enqueue_after(inbox, delay=delay)
        except Exception:
            self._degrade(
                "job queue",
                "could not schedule a re-run of the assignment job of inbox %s",
                inbox,
            )
            return None
        return delay

    def _degrade(self, kind: str, message: str, inbox: InboxId) -> None:
        """Report the exception being handled as a ``kind`` degradation (re-raise it
        when ``strict``)."""
        degradations.failed(
            logger, kind, message, inbox, extra={"autoassign_inbox": inbox}
        )
        if self.strict:
            raise  # noqa: PLE0704 - called from an except block only

    def _acquire(self, inbox: InboxId) -> Lease | None:
        """The lease, ``None`` if another pass holds it, or :data:`_UNLEASED` if the
        lease store failed: the pass then runs anyway (degraded), since claims are
        compare-and-set and never double-assign."""
        try:
            handle = self.lease.acquire(inbox, ttl=self.lease_ttl)
        except Exception:
            degradations.failed(
                logger,
                "lease",
                "inbox lease unavailable; running the pass without it",
                extra={"autoassign_inbox": inbox},
            )
            if self.strict:
                raise
            return _UNLEASED
        degradations.recovered(logger, "lease")
        return handle

    def _release(self, handle: Lease, inbox: InboxId) -> None:
        try:
            handle.release()
        except Exception:
            # The lease lapses by its TTL.
            degradations.failed(
                logger,
                "lease",
                "could not release the lease of inbox %s",
                inbox,
                extra={"autoassign_inbox": inbox},
            )

    def _lease_call(self, what: str, inbox: InboxId) -> bool:
        """``mark_pending`` or ``take_pending``, logging a lease-store failure (which
        then reads as "not pending")."""
        try:
            if what == "mark":
                found = self.lease.mark_pending(inbox, ttl=self.pending_ttl)
            else:
                found = self.lease.take_pending(inbox)
        except Exception:
            degradations.failed(
                logger,
                "lease",
                "lease store failed (%s pending) for inbox %s",
                what,
                inbox,
                extra={"autoassign_inbox": inbox},
            )
            return False
        degradations.recovered(logger, "lease")
        return found

    def _requeue(self, inbox: InboxId) -> None:
        request_assignment(
            inbox, lease=self.lease, jobs=self.jobs, pending_ttl=self.pending_ttl
        )


def _full_page(result: AssignmentResult, page: int) -> bool:
    """Whether ``result`` assigned a whole page and was not stopped: the inbox may have
    more to assign."""
    return (
        result.gate is None and result.stopped is None and result.assigned_count >= page
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
    metrics: Metrics | None = None
    """Told of each cycle (``cycle_finished(outcome, *, seconds)``, if the observer has
    it); ``None`` (the default): no call, no timer read."""

    def run(self) -> PeriodicOutcome:
        """Run one cycle (the body of the spec's ``PeriodicAssignmentJob``).

        With a :class:`~autoassign.ports.PagedPolicyDirectory`, each page of accounts
        has its inboxes read with their policies, one query per page of inboxes; if
        that read fails, the page's accounts not yet done are read account by account,
        so the failure stays with its account. With a
        :class:`~autoassign.ports.BatchPendingLease`, each page of inboxes is marked
        pending in one call. Otherwise the per-account and per-inbox calls are used.
        """
        if self.metrics is None:
            return self._cycle()
        started = time.perf_counter()
        outcome = self._cycle()
        report = getattr(self.metrics, "cycle_finished", None)
        if report is not None:
            seconds = time.perf_counter() - started
            observe_quietly(lambda done: report(done, seconds=seconds), outcome)
        return outcome

    def _cycle(self) -> PeriodicOutcome:
        tally = _Tally()
        paged = self.directory
        for accounts in self.directory.iter_accounts(
            feature=ASSIGNMENT_V2_FEATURE, batch_size=self.batch_size
        ):
            if isinstance(paged, PagedPolicyDirectory) and _declares(
                paged, PagedPolicyDirectory
            ):
                self._run_paged(paged, accounts, tally)
            else:
                for account in accounts:
                    self._run_account(account, tally, done=frozenset())
        return PeriodicOutcome(
            enqueued=tuple(tally.enqueued),
            already_due=tuple(tally.already),
            failed_accounts=tuple(tally.failed),
        )

    def _run_paged(
        self,
        directory: PagedPolicyDirectory,
        accounts: Sequence[Account],
        tally: _Tally,
    ) -> None:
        by_id = {account.id: account for account in accounts}
        done: set[InboxId] = set()
        try:
            for page in directory.iter_inboxes_with_policies(
                list(by_id), batch_size=self.batch_size
            ):
                self._request(
                    [
                        inbox.id
                        for inbox, policy in page
                        if check_gates(by_id.get(inbox.account), inbox, policy) is None
                    ],
                    tally,
                )
                done.update(inbox.id for inbox, _policy in page)
        except Exception:
            if self.strict:
                raise
            degradations.failed(
                logger,
                "directory",
                "periodic assignment: reading the inboxes of %d accounts failed; "
                "reading them account by account",
                len(accounts),
            )
            for account in accounts:
                self._run_account(account, tally, done=done)
        else:
            degradations.recovered(logger, "directory")

    def _run_account(
        self, account: Account, tally: _Tally, *, done: Collection[InboxId]
    ) -> None:
        """Every inbox of ``account`` (but those in ``done``), page by page; an error is
        logged and the account counted as failed (re-raised when ``strict``)."""
        try:
            for inboxes in self.directory.iter_inboxes(
                account.id, batch_size=self.batch_size
            ):
                due: list[InboxId] = []
                try:
                    for inbox in inboxes:
                        if inbox.id in done:
                            continue
                        policy = self.directory.policy_for_inbox(inbox.id)
                        if check_gates(account, inbox, policy) is None:
                            due.append(inbox.id)
                finally:
                    # the inboxes read before a failure are still requested
                    self._request(due, tally)
        except Exception:
            degradations.failed(
                logger,
                "periodic cycle",
                "periodic assignment failed for account %s",
                account.id,
                level=logging.ERROR,
                extra={"autoassign_account": account.id},
            )
            if self.strict:
                raise
            tally.failed.append(account.id)
        else:
            degradations.recovered(logger, "periodic cycle")

    def _request(self, inboxes: Sequence[InboxId], tally: _Tally) -> None:
        """:func:`request_assignment` for each of ``inboxes``, their marks set in one
        call when the lease is a :class:`~autoassign.ports.BatchPendingLease`."""
        if not inboxes:
            return
        lease: InboxLease = self.lease
        fresh: Sequence[bool] | None = None
        error: Exception | None = None
        if isinstance(lease, BatchPendingLease) and _declares(lease, BatchPendingLease):
            try:
                fresh = lease.mark_pending_many(inboxes, ttl=self.pending_ttl)
                if len(fresh) != len(inboxes):
                    raise ValueError(
                        f"mark_pending_many answered {len(fresh)} marks for "
                        f"{len(inboxes)} inboxes"
                    )
            except Exception as exc:
                # each request below degrades as for its own failed mark: enqueued
                error, fresh = exc, [True] * len(inboxes)
        for at, inbox in enumerate(inboxes):
            marked = lease if fresh is None else _Marked(lease, fresh[at], error)
            if request_assignment(
                inbox,
                lease=marked,
                jobs=self.jobs,
                pending_ttl=self.pending_ttl,
                strict=self.strict,
            ):
                tally.enqueued.append(inbox)
            else:
                tally.already.append(inbox)


@attrs.define
class _Tally:
    enqueued: list[InboxId] = attrs.field(factory=list)
    already: list[InboxId] = attrs.field(factory=list)
    failed: list[object] = attrs.field(factory=list)


def _declares(port: object, capability: type) -> bool:
    """Whether ``port``'s class has the methods of ``capability`` (a proxy forwarding
    attributes through ``__getattr__`` does not, and keeps the base calls)."""
    return issubclass(type(port), capability)


@attrs.frozen
class _Marked:
    """``lease`` with the answer of :meth:`~autoassign.ports.InboxLease.mark_pending`
    already known (from :meth:`~autoassign.ports.BatchPendingLease.mark_pending_many`),
    so :func:`request_assignment` applies its rules without a round trip of its own."""

    lease: InboxLease
    fresh: bool
    #: the batch mark failed with this: ``mark_pending`` raises it (without a round
    #: trip), so :func:`request_assignment` degrades as for a failed mark of its own
    error: Exception | None = None

    def acquire(self, inbox: InboxId, *, ttl: timedelta) -> Lease | None:
        return self.lease.acquire(inbox, ttl=ttl)

    def mark_pending(self, inbox: InboxId, *, ttl: timedelta) -> bool:
        if self.error is not None:
            raise self.error
        return self.fresh

    def hand_off(self, inbox: InboxId, *, ttl: timedelta) -> HandOff | None:
        return self.lease.hand_off(inbox, ttl=ttl)

    def take_pending(self, inbox: InboxId) -> bool:
        return self.lease.take_pending(inbox)

    def is_pending(self, inbox: InboxId) -> bool:
        return self.lease.is_pending(inbox)
