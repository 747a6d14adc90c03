"""The job queue: everything slow (email, exports) runs here, not inside a request.

On PostgreSQL the queue is procrastinate's tables in the app's own database. ``enqueue`` inserts
the job through Django's connection, so it belongs to the transaction of the change that
caused it: a rolled-back change leaves no job, a committed one never loses its job. Workers
(``manage.py worker``, on any number of machines) take jobs with ``SELECT ... FOR UPDATE SKIP
LOCKED`` and connect as the app role, like the web processes.

A job is declared with ``@tenant_job("app.name")`` in an app's ``jobs.py`` (imported at
startup). It runs inside its organization's tenant context, so row-level security applies to
it exactly as to a request of that organization, and its log lines carry the organization,
the job and the request id that enqueued it. A job that belongs to no organization (an email
about a person's account) is declared with ``@account_job("app.name")`` instead: it runs with
no tenant context, so no tenant row is visible to it, and is queued without an organization.

A job that raises is retried with exponential backoff (``JOBS_RETRY_BASE_SECONDS`` doubling
up to ``JOBS_RETRY_MAX_SECONDS``) until ``JOBS_MAX_ATTEMPTS`` runs; then it ends as
``failed``, its ``on_failure`` hook runs (in a transaction of its own) and an operator can see
and retry it (``manage.py jobs``, the admin). ``PermanentJobError`` skips the retries.

Inline mode (``JOBS_INLINE``, the default without PostgreSQL, and in the test suite): a job
runs at once where it is enqueued, in a savepoint of the caller's transaction; a failure is
logged and handed to ``on_failure``, never raised to the caller, and never retried.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.utils import timezone
from procrastinate import BaseRetryStrategy, JobContext, RetryDecision
from procrastinate.contrib.django import app
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import Job as QueuedJob

from taskhub.core import rls
from taskhub.core.logformat import current_job, current_request_id

logger = logging.getLogger(__name__)

JobFunction = Callable[..., Any]


class PermanentJobError(Exception):
    """Raised by a job that retrying cannot help (the object is gone, the input is wrong)."""


@dataclass(frozen=True)
class JobSpec:
    name: str
    function: JobFunction
    on_failure: JobFunction | None
    queue: str
    snapshot: bool = False
    # False for an account job: no organization, run with no tenant context.
    tenant: bool = True


_jobs: dict[str, JobSpec] = {}


def registered() -> dict[str, JobSpec]:
    """Every job declared with ``tenant_job`` or ``account_job``, by name."""
    return dict(_jobs)


class Backoff(BaseRetryStrategy):
    """Exponential backoff with a cap and jitter; ``JOBS_MAX_ATTEMPTS`` runs in all."""

    def get_retry_decision(self, *, exception: BaseException, job: QueuedJob) -> RetryDecision | None:
        if isinstance(exception, PermanentJobError):
            return None
        delay = retry_delay(job.attempts)
        return None if delay is None else RetryDecision(retry_at=timezone.now() + timedelta(seconds=delay))


def retry_delay(previous_attempts: int) -> float | None:
    """Seconds until the next run after a failure, or None when the job has had its runs."""
    if previous_attempts + 1 >= settings.JOBS_MAX_ATTEMPTS:
        return None
    delay = min(settings.JOBS_RETRY_MAX_SECONDS, settings.JOBS_RETRY_BASE_SECONDS * 2**previous_attempts)
    # Up to 10% jitter, so jobs that failed together do not all come back in the same second.
    return round(delay * (1 + random.random() / 10), 3)  # noqa: S311 - spreading retries, not a secret


def is_final_attempt(previous_attempts: int) -> bool:
    return previous_attempts + 1 >= settings.JOBS_MAX_ATTEMPTS


@contextmanager
def job_log_context(
    *, name: str, organization_id: str | None, request_id: str | None, job_id: int | None
) -> Iterator[None]:
    """Tag every log line written while the job runs with the job, its tenant (if any) and its origin."""
    tags: dict[str, object] = {"job": name, "job_id": job_id}
    if organization_id is not None:
        tags["organization_id"] = organization_id
    job_token = current_job.set(tags)
    request_token = current_request_id.set(request_id)
    try:
        yield
    finally:
        current_request_id.reset(request_token)
        current_job.reset(job_token)


@contextmanager
def _transaction(snapshot: bool) -> Iterator[None]:
    """The job's own transaction; with ``snapshot``, one view of the database for all of it (REPEATABLE READ)."""
    connection = connections[DEFAULT_DB_ALIAS]
    if not snapshot or connection.vendor != "postgresql" or connection.in_atomic_block:
        # Inline, the job is a savepoint of its caller's transaction and sees what the caller sees.
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            # The first statement of the transaction, as PostgreSQL requires.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


@contextmanager
def _scope(spec: JobSpec, organization_id: str | None) -> Iterator[dict[str, Any]]:
    """The job's tenant context and the arguments it adds: its organization, or none at all."""
    if not spec.tenant:
        # An account job sees no tenant's rows: an empty context, also when it runs inline inside
        # a request that acts in an organization (which gets its own context back afterwards).
        with rls.scoped():
            yield {}
        return
    if organization_id is None:
        raise PermanentJobError(f"the tenant job {spec.name!r} was queued without an organization")
    with rls.scoped(organization_id=organization_id):
        yield {"organization_id": UUID(organization_id)}


def _run(spec: JobSpec, organization_id: str | None, kwargs: dict[str, Any]) -> None:
    with _transaction(spec.snapshot), _scope(spec, organization_id) as tenant:
        spec.function(**tenant, **kwargs)


def _fail(spec: JobSpec, organization_id: str | None, kwargs: dict[str, Any], exc: BaseException) -> None:
    """Hand a job's last failure to its ``on_failure`` hook, in a transaction of its own."""
    if spec.on_failure is None:
        return
    try:
        with _scope(spec, organization_id) as tenant:
            spec.on_failure(**tenant, error=exc, **kwargs)
    except Exception:
        logger.exception("job on_failure hook failed", extra={"job": spec.name})


def tenant_job(
    name: str, *, on_failure: JobFunction | None = None, queue: str = "default", snapshot: bool = False
) -> Callable[[JobFunction], JobFunction]:
    """Declare ``function(*, organization_id, **kwargs)`` a job of one organization.

    ``on_failure(*, organization_id, error, **kwargs)`` runs once the job has failed for good.
    ``snapshot``: every query of the job sees the database as of its start (a job reading many
    tables that must agree with each other, like an export).
    Keyword arguments must be JSON (ids as strings); never a secret: the queue's rows are
    readable by every process of the app and are in backups.
    """
    return _declarer(name=name, on_failure=on_failure, queue=queue, snapshot=snapshot, tenant=True)


def account_job(
    name: str, *, on_failure: JobFunction | None = None, queue: str = "default"
) -> Callable[[JobFunction], JobFunction]:
    """Declare ``function(**kwargs)`` a job of no organization (an email about a person's account).

    It runs with no tenant context, so row-level security shows it no tenant's rows; it is
    queued with ``enqueue(name, **kwargs)``, without ``organization_id``. Retries, backoff,
    ``on_failure(*, error, **kwargs)``, inline mode and the worker are those of tenant jobs, and
    the same rule holds for its arguments: JSON, never a secret.
    """
    return _declarer(name=name, on_failure=on_failure, queue=queue, snapshot=False, tenant=False)


def _declarer(**fields: Any) -> Callable[[JobFunction], JobFunction]:
    def declare(function: JobFunction) -> JobFunction:
        spec = JobSpec(function=function, **fields)
        name = spec.name
        if name in _jobs and _jobs[name].function is not function:
            raise RuntimeError(f"two jobs are named {name!r}")
        _jobs[name] = spec

        def run(
            context: JobContext, *, organization_id: str | None = None, request_id: str | None = None, **kwargs: Any
        ) -> None:
            job = context.job
            with job_log_context(name=name, organization_id=organization_id, request_id=request_id, job_id=job.id):
                started = time.monotonic()
                logger.info("job started", extra={"attempt": job.attempts + 1})
                try:
                    _run(spec, organization_id, kwargs)
                except Exception as exc:
                    delay = None if isinstance(exc, PermanentJobError) else retry_delay(job.attempts)
                    if delay is None:
                        logger.error(
                            "job failed for good",
                            extra={"attempt": job.attempts + 1, "error": repr(exc)},
                            exc_info=True,
                        )
                        _fail(spec, organization_id, kwargs, exc)
                    else:
                        logger.warning(
                            "job failed; it will be retried",
                            extra={"attempt": job.attempts + 1, "error": repr(exc), "retry_in_seconds": delay},
                        )
                    raise
                logger.info("job done", extra={"duration_ms": round((time.monotonic() - started) * 1000, 1)})

        app.task(name=name, queue=spec.queue, pass_context=True, retry=Backoff())(run)
        return function

    return declare


def enqueue(
    name: str,
    *,
    organization_id: UUID | str | None = None,
    schedule_in_seconds: float | None = None,
    once_key: str | None = None,
    **kwargs: Any,
) -> int | None:
    """Queue the job ``name`` for ``organization_id`` in the current transaction; return its id.

    A tenant job needs ``organization_id``; an account job takes none.

    ``once_key``: at most one job with this key waits in the queue. When one waits already (queued,
    or waiting for a retry), no second job is made: the waiting one is made due now and its id
    returned (a resent invitation gets one email, not one per click).
    Inline mode runs it now instead (see the module doc) and returns None.
    """
    spec = _jobs.get(name)
    if spec is None:
        raise LookupError(f"no job named {name!r}; declare it with @tenant_job in an app's jobs.py")
    if spec.tenant and organization_id is None:
        raise TypeError(f"the tenant job {name!r} needs an organization_id")
    if not spec.tenant and organization_id is not None:
        raise TypeError(f"the account job {name!r} belongs to no organization")
    organization = None if organization_id is None else str(organization_id)
    tenant = {} if organization is None else {"organization_id": organization}
    request_id = current_request_id.get()
    if settings.JOBS_INLINE:
        if schedule_in_seconds is None:
            run_inline(spec, organization, request_id, kwargs)
        return None
    when = timezone.now() + timedelta(seconds=schedule_in_seconds) if schedule_in_seconds else None
    task = app.configure_task(name, schedule_at=when, queueing_lock=once_key)
    try:
        # A savepoint: a refused insert must not abort the caller's transaction.
        with transaction.atomic():
            job_id = task.defer(**tenant, request_id=request_id, **kwargs)
    except AlreadyEnqueued:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute(
                "UPDATE procrastinate_jobs SET scheduled_at = NULL"
                " WHERE queueing_lock = %s AND status = 'todo' RETURNING id",
                [once_key],
            )
            row = cursor.fetchone()
        waiting: int | None = row[0] if row else None
        logger.info("job already waiting; made due now", extra={"job": name, "job_id": waiting})
        return waiting
    logger.info("job queued", extra={"job": name, "job_id": job_id, **tenant})
    return job_id


def run_inline(spec: JobSpec, organization_id: str | None, request_id: str | None, kwargs: dict[str, Any]) -> None:
    with job_log_context(name=spec.name, organization_id=organization_id, request_id=request_id, job_id=None):
        try:
            with transaction.atomic():
                _run(spec, organization_id, kwargs)
        except Exception as exc:
            logger.exception("job failed (inline: not retried)")
            _fail(spec, organization_id, kwargs, exc)
        else:
            logger.info("job done (inline)")


# -- what operators see: the queue's state ------------------------------------------------

QUEUE_STATE_SQL = """
SELECT
    count(*) FILTER (WHERE j.status = 'todo' AND coalesce(j.scheduled_at, e.at) <= now()) AS due,
    count(*) FILTER (WHERE j.status = 'todo' AND j.scheduled_at > now()) AS scheduled,
    count(*) FILTER (WHERE j.status = 'doing') AS running,
    count(*) FILTER (WHERE j.status = 'failed') AS failed,
    coalesce(extract(epoch FROM now() - min(coalesce(j.scheduled_at, e.at))
        FILTER (WHERE j.status = 'todo' AND coalesce(j.scheduled_at, e.at) <= now())), 0) AS oldest_due_seconds,
    (SELECT extract(epoch FROM now() - max(w.last_heartbeat)) FROM procrastinate_workers w) AS worker_silent_seconds
FROM procrastinate_jobs j
LEFT JOIN LATERAL (
    SELECT min(ev.at) AS at FROM procrastinate_events ev WHERE ev.job_id = j.id AND ev.type = 'deferred'
) e ON true
WHERE j.status IN ('todo', 'doing', 'failed')
"""


@dataclass(frozen=True)
class QueueState:
    due: int
    scheduled: int
    running: int
    failed: int
    oldest_due_seconds: float
    # None when no worker has ever registered.
    worker_silent_seconds: float | None


def job_running(job_id: int, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Return whether a worker is running the queued job ``job_id`` now."""
    if not queue_enabled():
        return False
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT status = 'doing' FROM procrastinate_jobs WHERE id = %s", [job_id])
        row = cursor.fetchone()
    return bool(row and row[0])


def queue_enabled() -> bool:
    """True when jobs go to the queue (PostgreSQL), False when they run inline."""
    return not settings.JOBS_INLINE


def queue_state(using: str = DEFAULT_DB_ALIAS) -> QueueState:
    """Read the queue's counts and ages (one statement; raises DatabaseError)."""
    with connections[using].cursor() as cursor:
        cursor.execute(QUEUE_STATE_SQL)
        due, scheduled, running, failed, oldest, silent = cursor.fetchone()
    return QueueState(
        due=due,
        scheduled=scheduled,
        running=running,
        failed=failed,
        oldest_due_seconds=float(oldest),
        worker_silent_seconds=None if silent is None else float(silent),
    )


def check_queue() -> str | None:
    """For /health/: None when the queue keeps up, else why it is degraded (never 'down')."""
    if not queue_enabled():
        return None
    try:
        state = queue_state()
    except DatabaseError as exc:
        logger.warning("health: queue unreadable: %s", exc)
        return "unreadable"
    if state.oldest_due_seconds > settings.JOBS_HEALTH_MAX_AGE_SECONDS:
        return f"oldest job waiting {int(state.oldest_due_seconds)}s"
    return None


# -- housekeeping the workers do -----------------------------------------------------------


@app.periodic(cron="* * * * *", periodic_id="requeue-stalled")
@app.task(name="core.requeue_stalled_jobs", queueing_lock="core.requeue_stalled_jobs", pass_context=True)
async def requeue_stalled_jobs(context: JobContext, timestamp: int) -> None:
    """Give back to the queue the jobs of a worker that died without releasing them.

    A worker killed hard (OOM, SIGKILL, a lost machine) leaves its jobs ``doing``; once its
    heartbeat is older than ``JOBS_STALLED_SECONDS`` another worker runs them again.
    """
    manager = context.app.job_manager
    stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=settings.JOBS_STALLED_SECONDS)
    for job in stalled:
        logger.warning("requeueing a stalled job", extra={"job": job.task_name, "job_id": job.id})
        await manager.retry_job(job)


class QueueCollector:
    """Prometheus metrics of the queue, read from its tables when /metrics is scraped."""

    def describe(self) -> list[Any]:
        return list(self._families(None))

    def collect(self) -> list[Any]:
        if not queue_enabled():
            return []
        try:
            state = queue_state()
        except DatabaseError:
            logger.warning("metrics: queue unreadable", exc_info=True)
            return []
        return list(self._families(state))

    def _families(self, state: QueueState | None) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily  # noqa: PLC0415

        jobs = GaugeMetricFamily(
            "jobs", "Jobs in the queue, by state (due, scheduled, running, failed).", labels=["state"]
        )
        oldest = GaugeMetricFamily("jobs_oldest_due_seconds", "How long the oldest due job has waited for a worker.")
        silent = GaugeMetricFamily(
            "jobs_worker_heartbeat_age_seconds", "Seconds since the last heartbeat of any worker (absent: none ever)."
        )
        if state is not None:
            for label in ("due", "scheduled", "running", "failed"):
                jobs.add_metric([label], getattr(state, label))
            oldest.add_metric([], state.oldest_due_seconds)
            if state.worker_silent_seconds is not None:
                silent.add_metric([], state.worker_silent_seconds)
        yield from (jobs, oldest, silent)
