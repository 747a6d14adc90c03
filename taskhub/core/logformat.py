"""One JSON object per log line, tagged with the id of the request being served."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from django.http import HttpRequest
from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

# Set by RequestLogMiddleware for the length of a request, so every line logged while
# serving it can be joined to its access line.
current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)


class JsonFormatter(BaseJsonFormatter):
    """Format records as JSON; Django's ``request`` extra is reduced to fields safe to keep."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(levelname)s %(name)s %(message)s")
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", True)
        super().__init__(*args, **kwargs)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        # django.request and django.server pass the request (or socket) itself: its repr
        # carries the query string, which may hold a token.
        request = log_data.pop("request", None)
        if isinstance(request, HttpRequest):
            log_data.setdefault("request_id", getattr(request, "request_id", None))
            log_data.setdefault("method", request.method)
            log_data.setdefault("path", request.path)
        request_id = current_request_id.get()
        if request_id is not None:
            log_data.setdefault("request_id", request_id)
        return log_data
