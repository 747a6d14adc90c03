"""The Prometheus metrics of the service, and the counters other modules bump.

Kept free of any other taskhub import, so any module (error handling included) can count
without an import cycle.
"""

from __future__ import annotations

from django.db import DatabaseError
from prometheus_client import Counter, Histogram, disable_created_metrics

# The *_created series would double what Prometheus stores and nothing here reads them.
disable_created_metrics()

REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from the request reaching the middleware to its response leaving it.",
    ["method", "route", "status_class"],
)
REQUESTS = Counter("http_requests_total", "HTTP requests answered.", ["method", "route", "status"])
DB_ERRORS = Counter("db_errors_total", "Database errors raised while serving requests.", ["error"])
CACHE_ERRORS = Counter("cache_errors_total", "Cache operations that failed.")

_COUNTED = "_taskhub_counted"


def count_cache_error() -> None:
    """Count one failed cache operation."""
    CACHE_ERRORS.inc()


def count_db_error(exc: DatabaseError) -> None:
    """Count ``exc`` once, however many layers see it go by."""
    if getattr(exc, _COUNTED, False):
        return
    setattr(exc, _COUNTED, True)
    DB_ERRORS.labels(type(exc).__name__).inc()
