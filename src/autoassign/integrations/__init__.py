"""Job-engine integrations: run the assignment job, the periodic cycle and the triggers'
queue on the host's own job engine.

* :mod:`autoassign.integrations.celery` (extra ``autoassign[celery]``):
  :class:`~autoassign.integrations.celery.CeleryJobQueue` and
  :func:`~autoassign.integrations.celery.register_tasks` (tasks plus a beat entry).
* :mod:`autoassign.integrations.rq` (extra ``autoassign[rq]``):
  :class:`~autoassign.integrations.rq.RQJobQueue`, the worker-side functions
  :func:`~autoassign.integrations.rq.run_assignment_job` and
  :func:`~autoassign.integrations.rq.run_periodic_cycle`, and
  :func:`~autoassign.integrations.rq.schedule_periodic`.

Neither is imported by ``autoassign`` itself; importing one without its engine installed
raises an :class:`ImportError` naming the extra. See ``docs/jobs.md``.
"""

from __future__ import annotations

from autoassign.integrations._common import (
    PerProcessFactory,
    RetryablePassError,
    raise_if_retryable,
)

__all__ = ["PerProcessFactory", "RetryablePassError", "raise_if_retryable"]
