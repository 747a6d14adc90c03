"""Answer 503, not 500, when a request loses the database outside DRF's exception handling.

DRF's handler (``taskhub.core.errors.exception_handler``) covers exceptions raised inside a
DRF view's handling. This middleware covers the rest of the view: a ``transaction.atomic()``
around ``dispatch`` (``TenantAPIView`` opens the connection there, before DRF handles
anything), plain Django views, the admin. It is the last entry of MIDDLEWARE, so its
``process_exception`` runs first. Anything else passes through untouched.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from taskhub.core.errors import DATABASE_UNAVAILABLE_ERRORS, database_unavailable


class DatabaseUnavailableMiddleware:
    """Turn ``OperationalError`` and ``InterfaceError`` from a view into a JSON 503 with Retry-After."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_UNAVAILABLE_ERRORS):
            return database_unavailable(request, exception)
        return None
