"""One error shape for the whole service: ``{"detail", "code"}`` plus ``errors`` per field.

Services, selectors and models raise the domain errors below (``DomainError`` and its
subclasses), never DRF's exceptions (an import-linter contract holds them to it);
``exception_handler`` is the one place that turns them, and DRF's own exceptions, into a
response: status, code, detail, field errors, ``WWW-Authenticate`` and ``Retry-After``.
Everything Django answers by itself
(unknown URLs, a bad Host header, an unhandled exception) goes through the handler views
below, so no API client ever gets an HTML page (the account pages, HTML by design, answer
their own CSRF refusals as pages: ``csrf_failure``).

A lost database (``OperationalError``, ``InterfaceError``) answers 503 ``service_unavailable``
with ``Retry-After`` wherever it surfaces: in a DRF view (``exception_handler``), outside DRF's
handling (``taskhub.core.middleware_db``), or in a middleware before the view (``server_error``).
A transaction PostgreSQL rolled back to break a deadlock or a serialization conflict with a
concurrent one (SQLSTATE 40P01, 40001) is no outage: nothing was written and the same request
succeeds when sent again, so it answers 409 ``concurrent_write`` with ``Retry-After: 1``.
See docs/degradation.md.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, RequestDataTooBig
from django.db import IntegrityError, InterfaceError, OperationalError, connections
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.log import log_response
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response

from taskhub.core.http import request_id
from taskhub.core.metrics import count_db_error

logger = logging.getLogger(__name__)

# Connection-level failures: the database is down, restarting, unreachable, or dropped the
# connection mid-request. The request may be retried, so the answer is a 503, never a 500.
DATABASE_UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5
SERVICE_UNAVAILABLE_DETAIL = "The service is temporarily unavailable. Try again shortly."
# Deadlock detected, serialization failure: PostgreSQL rolled the transaction back for another.
CONCURRENT_WRITE_SQLSTATES = frozenset({"40P01", "40001"})
CONCURRENT_WRITE_DETAIL = "The request met a concurrent change and was rolled back, nothing written; send it again."
CONCURRENT_WRITE_RETRY_AFTER_SECONDS = 1


def is_concurrent_write(exc: BaseException) -> bool:
    """Whether ``exc`` is PostgreSQL giving up this transaction for a concurrent one (a retry will do)."""
    return getattr(exc.__cause__, "sqlstate", None) in CONCURRENT_WRITE_SQLSTATES


def violates(exc: BaseException, constraint: str) -> bool:
    """Whether an ``IntegrityError`` is the database refusing a row for the constraint named ``constraint``.

    PostgreSQL names it in the error's diagnostics; SQLite only in the message.
    """
    cause = exc.__cause__
    diagnostics = getattr(cause, "diag", None)
    if diagnostics is not None:
        return bool(diagnostics.constraint_name == constraint)
    return f"'{constraint}'" in str(cause or exc)


@contextmanager
def refused_by(constraint: str, error: Callable[[], DomainError]) -> Iterator[None]:
    """Turn the database refusing a write in the block for ``constraint`` into ``error()``.

    Any other ``IntegrityError`` goes on as it is. Inside a service's ``atomic()`` the refused
    write is rolled back to its savepoint, so nothing of the block is kept.
    """
    try:
        yield
    except IntegrityError as exc:
        if violates(exc, constraint):
            raise error() from exc
        raise


class DomainError(Exception):
    """A rule of the product was broken; services raise it, the handler answers 400.

    ``field`` names the input at fault: the answer then carries it in ``errors``.
    """

    status_code: int = status.HTTP_400_BAD_REQUEST
    code = "invalid"
    # Seconds after which a retry may succeed: answered as ``Retry-After`` when set.
    retry_after: int | None = None

    def __init__(self, detail: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        if code is not None:
            self.code = code


class Unauthenticated(DomainError):
    """No credential, or one that is invalid, expired or revoked.

    401 with the view's ``WWW-Authenticate`` challenge; a view with no authentication scheme to
    name answers 403 instead, as DRF does for its own ``AuthenticationFailed``.
    """

    status_code = status.HTTP_401_UNAUTHORIZED
    code = "not_authenticated"


class Forbidden(DomainError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "permission_denied"


class NotFound(DomainError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"


class Conflict(DomainError):
    status_code = status.HTTP_409_CONFLICT
    code = "conflict"


class TooManyRequests(DomainError):
    """A limit of the product was reached: 429 ``throttled``.

    With ``retry_after`` the answer carries ``Retry-After`` and its detail ends with when to
    try again, worded as DRF words its own throttles.
    """

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    code = "throttled"

    def __init__(self, detail: str, *, retry_after: int | None = None, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.retry_after = retry_after


class ServiceUnavailable(DomainError):
    """Something the request needs is down (a mail server): 503, ``Retry-After`` when known."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "service_unavailable"

    def __init__(self, detail: str, *, retry_after: int | None = None, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.retry_after = retry_after


def error_body(detail: str, code: str, errors: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": detail, "code": code}
    if errors is not None:
        body["errors"] = errors
    return body


def _log_database_unavailable(request: Any, response: HttpResponse, exc: BaseException) -> None:
    """One WARNING line with the request id, no stack trace; Django's ERROR line is skipped."""
    # Answered here, the exception never reaches the metrics middleware: count it now.
    count_db_error(exc)  # type: ignore[arg-type]
    summary = (str(exc).strip().splitlines() or [""])[0][:200]
    log_response(
        "Database unavailable, answered 503: %s %s request_id=%s %s: %s",
        getattr(request, "method", ""),
        getattr(request, "path", ""),
        request_id(request) if request is not None else "",
        type(exc).__name__,
        summary,
        response=response,
        request=getattr(request, "_request", request),
        logger=logger,
        level="warning",
    )


def _roll_back_open_transactions() -> None:
    # The transaction cannot commit anyway: roll it back (Django closes the connection if even
    # that fails) rather than try a COMMIT on the way out.
    for connection in connections.all(initialized_only=True):
        if connection.in_atomic_block:
            connection.set_rollback(True)


def _concurrent_write_body() -> tuple[dict[str, Any], int, dict[str, str]]:
    return (
        error_body(CONCURRENT_WRITE_DETAIL, "concurrent_write"),
        status.HTTP_409_CONFLICT,
        {"Retry-After": str(CONCURRENT_WRITE_RETRY_AFTER_SECONDS)},
    )


def _log_concurrent_write(request: Any, exc: BaseException) -> None:
    logger.warning(
        "Concurrent write rolled back, answered 409: %s %s request_id=%s %s",
        getattr(request, "method", ""),
        getattr(request, "path", ""),
        request_id(request) if request is not None else "",
        (str(exc).strip().splitlines() or [""])[0][:200],
    )


def database_unavailable(request: HttpRequest, exc: BaseException) -> JsonResponse:
    """The 503 a request gets when the database is unreachable; logs it at WARNING.

    A deadlock or serialization failure is not that: 409 ``concurrent_write`` instead.
    """
    if is_concurrent_write(exc):
        body, code, headers = _concurrent_write_body()
        _log_concurrent_write(request, exc)
        return JsonResponse(body, status=code, headers=headers)
    response = JsonResponse(
        error_body(SERVICE_UNAVAILABLE_DETAIL, "service_unavailable"),
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
    _log_database_unavailable(request, response, exc)
    return response


def set_rollback() -> None:
    """DRF's ``set_rollback``: roll back the request's transaction once the error is answered.

    Imported when called: ``rest_framework.views`` loads the authentication classes from the
    settings, and they import this module for ``Unauthenticated``.
    """
    from rest_framework.views import set_rollback as drf_set_rollback  # noqa: PLC0415

    drf_set_rollback()


def _authenticate_header(context: dict[str, Any]) -> str | None:
    """The challenge the view names for a 401, as DRF's ``APIView.handle_exception`` asks it."""
    view, request = context.get("view"), context.get("request")
    if view is None or request is None:
        return None
    header: str | None = view.get_authenticate_header(request)
    return header


def _domain_error_response(exc: DomainError, context: dict[str, Any]) -> Response:
    """Answer a domain error: its status, code and detail, the field at fault, its headers."""
    status_code, detail = exc.status_code, exc.detail
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthenticated):
        # DRF's rule for its own AuthenticationFailed: a 401 names the scheme to use, and a view
        # without one answers 403.
        if challenge := _authenticate_header(context):
            headers["WWW-Authenticate"] = challenge
        else:
            status_code = status.HTTP_403_FORBIDDEN
    if exc.retry_after is not None:
        headers["Retry-After"] = str(math.ceil(exc.retry_after))
        if isinstance(exc, TooManyRequests):
            # "... Expected available in N seconds.", in DRF's words (and translations).
            detail = str(exceptions.Throttled(wait=exc.retry_after, detail=exc.detail).detail)
    errors = {exc.field: [{"message": detail, "code": exc.code}]} if exc.field else None
    set_rollback()
    return Response(error_body(detail, exc.code, errors), status=status_code, headers=headers)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Turn domain and DRF exceptions into the service's error shape."""
    if isinstance(exc, DATABASE_UNAVAILABLE_ERRORS) and is_concurrent_write(exc):
        _roll_back_open_transactions()
        body, code, retry = _concurrent_write_body()
        _log_concurrent_write(context.get("request"), exc)
        return Response(body, status=code, headers=retry)
    if isinstance(exc, DATABASE_UNAVAILABLE_ERRORS):
        _roll_back_open_transactions()
        response = Response(
            error_body(SERVICE_UNAVAILABLE_DETAIL, "service_unavailable"),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
        _log_database_unavailable(context.get("request"), response, exc)
        return response
    if isinstance(exc, DomainError):
        return _domain_error_response(exc, context)
    if isinstance(exc, RequestDataTooBig):
        set_rollback()
        return Response(error_body("Request body is too large.", "request_too_large"), status=413)
    # A row that went away mid-request (its organization deleted by a concurrent request, while
    # the caller's credential was still cached) is gone: a 404, not a 500.
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        # Unhandled: Django logs it and answers through server_error below.
        return None

    headers: dict[str, str] = {}
    if auth_header := getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = auth_header
    if wait := getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(wait))

    if isinstance(exc, exceptions.ValidationError):
        details = exc.get_full_details()
        if isinstance(details, list):
            details = {"non_field_errors": details}
        body = error_body("Invalid input.", "invalid", details)
    else:
        detail = exc.detail
        body = error_body(str(detail), getattr(detail, "code", None) or exc.default_code)
    set_rollback()
    return Response(body, status=exc.status_code, headers=headers)


def _json(status_code: int, detail: str, code: str) -> JsonResponse:
    return JsonResponse(error_body(detail, code), status=status_code)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _json(400, "Bad request.", "bad_request")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _json(403, "You do not have permission to perform this action.", "permission_denied")


# Also the catch-all route: a write to an unknown URL is a 404, not a CSRF refusal.
@csrf_exempt
def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _json(404, "Not found.", "not_found")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Answer a refused CSRF check (a cookie-authenticated write: the admin) in the error shape.

    A view serving an HTML form (the account pages) answers its own refusals, as a page: its
    ``csrf_failure`` attribute, called with the same arguments.
    """
    view = getattr(getattr(request, "resolver_match", None), "func", None)
    if page := getattr(view, "csrf_failure", None):
        response: HttpResponse = page(request, reason)
        return response
    return _json(403, "CSRF verification failed.", "csrf_failed")


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this handler while the exception is being handled. A database failure that
    # escaped the view middleware (a middleware before it read the session or the user) is
    # still a 503.
    exc = sys.exc_info()[1]
    if isinstance(exc, DATABASE_UNAVAILABLE_ERRORS):
        return database_unavailable(request, exc)
    return _json(500, "A server error occurred.", "server_error")


def method_not_allowed(request: HttpRequest, allowed: tuple[str, ...]) -> HttpResponse:
    """The JSON 405 for a method the URL does not take, with the ``Allow`` header."""
    response = _json(405, f'Method "{request.method}" not allowed.', "method_not_allowed")
    response["Allow"] = ", ".join(allowed)
    return response


def require_get(view: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """Answer anything but GET and HEAD with a JSON 405.

    The view is CSRF-exempt: it only reads, so there is nothing to protect, and without the
    exemption a POST or DELETE would get the CSRF middleware's 403 before it got here.
    """

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return method_not_allowed(request, ("GET", "HEAD"))
        return view(request)

    return wrapper
