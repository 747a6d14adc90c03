"""One access log line and the Prometheus metrics for every request, and the ``/metrics`` view."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.views.decorators.cache import never_cache
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from taskhub.core import env, errors
from taskhub.core.http import client_ip
from taskhub.core.jobs import QueueCollector
from taskhub.core.logformat import current_request_id
from taskhub.core.metrics import REQUEST_DURATION, REQUESTS, count_cache_error, count_db_error

# count_cache_error is part of this module's interface: code that degrades without the cache
# counts through it.
__all__ = ["RequestLogMiddleware", "count_cache_error", "count_db_error", "metrics", "route_of"]

access_logger = logging.getLogger("taskhub.access")

# Set once per process by prometheus_client at import too; gunicorn workers then share the
# directory and any worker's /metrics reports the sum over all of them.
MULTIPROCESS_DIR: str = env.string("PROMETHEUS_MULTIPROC_DIR", "")

# The queue's gauges are read from the database at scrape time, once, whichever worker answers.
QUEUE_COLLECTOR = QueueCollector()
if not MULTIPROCESS_DIR:
    REGISTRY.register(QUEUE_COLLECTOR)

UNMATCHED = "unmatched"
# A label value per arbitrary method name would let any client create series at will.
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _QueryCounter:
    """An execute wrapper that counts the statements of one request and their failures."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        self.count += 1
        try:
            return execute(sql, params, many, context)
        except DatabaseError as exc:
            count_db_error(exc)
            raise


def route_of(request: HttpRequest) -> str:
    """Return the URL pattern that served ``request``: a bounded label, never a raw path."""
    match = request.resolver_match
    if match is None or match.func is errors.not_found:
        return "static" if request.path.startswith(settings.STATIC_URL) else UNMATCHED
    return match.route or UNMATCHED


def _method_of(request: HttpRequest) -> str:
    method = (request.method or "").upper()
    return method if method in _KNOWN_METHODS else "other"


def _identity_of(response: HttpResponseBase) -> dict[str, str | None]:
    """Return who the request acted as, from the DRF request behind a DRF response."""
    context = getattr(response, "renderer_context", None) or {}
    drf_request = context.get("request")
    # Read what authentication stored; DRF's ``auth`` property would authenticate now.
    auth = vars(drf_request).get("_auth") if drf_request is not None else None
    fields = {}
    for name in ("organization_id", "user_id", "api_key_id"):
        value = getattr(auth, name, None)
        fields[name] = None if value is None else str(value)
    return fields


class RequestLogMiddleware:
    """Log one access line and record metrics for every request, with its SQL statement count."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        token = current_request_id.set(getattr(request, "request_id", None))
        try:
            queries = _QueryCounter()
            started = time.perf_counter()
            with connection.execute_wrapper(queries):
                response = self.get_response(request)
            self._record(request, response, time.perf_counter() - started, queries.count)
        finally:
            current_request_id.reset(token)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """Count database errors that escape the view; Django then answers 500."""
        if isinstance(exception, DatabaseError):
            count_db_error(exception)

    def _record(self, request: HttpRequest, response: HttpResponseBase, seconds: float, sql_count: int) -> None:
        method = _method_of(request)
        route = route_of(request)
        status = response.status_code
        REQUEST_DURATION.labels(method, route, f"{status // 100}xx").observe(seconds)
        REQUESTS.labels(method, route, str(status)).inc()
        access_logger.info(
            "%s %s %s",
            method,
            request.path,
            status,
            extra={
                "request_id": getattr(request, "request_id", None),
                **_identity_of(response),
                "method": method,
                "route": route,
                # The path only: a query string may carry a token.
                "path": request.path,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "sql_count": sql_count,
                "client_ip": client_ip(request),
            },
        )


def _bearer_token(request: HttpRequest) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _unauthorized(detail: str, code: str) -> JsonResponse:
    response = JsonResponse(errors.error_body(detail, code), status=401)
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Serve the Prometheus metrics to a holder of METRICS_TOKEN, or to anyone under DEBUG."""
    expected: str = settings.METRICS_TOKEN
    if not expected:
        # Unprotected metrics are for a development machine only; elsewhere the URL does
        # not exist, whatever the method.
        if not settings.DEBUG:
            return errors.not_found(request)
    else:
        given = _bearer_token(request)
        if not given:
            return _unauthorized("Metrics need a bearer token.", "not_authenticated")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return _unauthorized("The metrics token is not valid.", "authentication_failed")
    return _exposition(request)


@errors.require_get
def _exposition(request: HttpRequest) -> HttpResponse:
    registry: CollectorRegistry = REGISTRY
    if MULTIPROCESS_DIR:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=MULTIPROCESS_DIR)
        registry.register(QUEUE_COLLECTOR)
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(registry), content_type=content_type)
