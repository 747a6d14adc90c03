"""Health endpoints: cheap enough for a load balancer to poll every second."""

from __future__ import annotations

import logging
import time

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from taskhub.core.errors import require_get
from taskhub.core.jobs import check_queue
from taskhub.core.observability import count_cache_error

logger = logging.getLogger(__name__)

# Once every migration is applied it stays applied for the life of this process, so the
# migration plan (a dozen queries) is computed only until it first comes back empty.
_migrations_applied = False


def check_database() -> str | None:
    """Return None when the database answers, else the reason it does not."""
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("health: database unreachable: %s", exc)
        return "unreachable"
    return None


def check_migrations() -> str | None:
    """Return None when no migration is pending, else how many are."""
    global _migrations_applied  # noqa: PLW0603 - a process-wide latch, see above
    if _migrations_applied:
        return None
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError:
        return "unknown"
    if plan:
        return f"{len(plan)} pending"
    _migrations_applied = True
    return None


def check_cache() -> str | None:
    """Return None when the cache answers a write and a read, else why not."""
    key = "health:probe"
    try:
        value = str(time.monotonic_ns())
        cache.set(key, value, timeout=10)
        if cache.get(key) != value:
            return "inconsistent"
    except Exception as exc:  # noqa: BLE001 - any client error means the cache is degraded
        logger.warning("health: cache unreachable: %s", exc)
        count_cache_error()
        return "unreachable"
    return None


# require_get makes the views CSRF-exempt, so a POST or DELETE is a JSON 405 with Allow, not a 403.
@never_cache
@require_get
def health(request: HttpRequest) -> JsonResponse:
    """Answer 200 when the database serves and is migrated, 503 naming the failing check."""
    database = check_database()
    migrations = check_migrations() if database is None else "unknown"
    cache_error = check_cache()
    queue = check_queue_cached() if database is None else None
    checks = {
        "database": database or "ok",
        "migrations": migrations or "ok",
        "cache": cache_error or "ok",
        "queue": queue or "ok",
    }
    if database or migrations:
        return JsonResponse({"status": "error", "checks": checks}, status=503)
    # The API keeps serving without the cache or with a queue that lags (jobs wait, requests do
    # not), so either degrades but does not fail.
    return JsonResponse({"status": "degraded" if cache_error or queue else "ok", "checks": checks})


# The queue's state is one aggregate over its tables: read at most once per QUEUE_CHECK_SECONDS
# per process, so a load balancer polling every second costs the database nothing more.
QUEUE_CHECK_SECONDS = 5.0
_queue_checked: tuple[float, str | None] = (float("-inf"), None)


def check_queue_cached() -> str | None:
    global _queue_checked  # noqa: PLW0603 - a per-process memo of one value
    checked_at, result = _queue_checked
    now = time.monotonic()
    if now - checked_at >= QUEUE_CHECK_SECONDS:
        result = check_queue()
        _queue_checked = (now, result)
    return result


@never_cache
@require_get
def live(request: HttpRequest) -> JsonResponse:
    """Answer 200 while the process serves requests; touches nothing else."""
    return JsonResponse({"status": "ok"})
