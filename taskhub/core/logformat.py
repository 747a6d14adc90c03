"""How the service writes to its console.

Production: one JSON object per log line, tagged with the id of the request being served
(``JsonFormatter``). Development (config.settings.local): one short line a person can read
(``HumanFormatter``), and each email the console backend prints in a marked block
(``ConsoleEmailBackend``).
"""

from __future__ import annotations

import copy
import logging
from contextvars import ContextVar
from email.charset import Charset
from typing import Any

from django.core.mail.backends.console import EmailBackend as DjangoConsoleEmailBackend
from django.core.mail.message import EmailMessage
from django.http import HttpRequest
from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

# Set by RequestLogMiddleware for the length of a request, so every line logged while
# serving it can be joined to its access line.
current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)
# Set by taskhub.core.jobs while a job runs: its name, id and organization, on every line it logs.
current_job: ContextVar[dict[str, Any] | None] = ContextVar("current_job", default=None)


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
        for key, value in (current_job.get() or {}).items():
            log_data.setdefault(key, value)
        return log_data


class HumanFormatter(logging.Formatter):
    """One line per record: ``16:25:30 INFO taskhub.access GET /api/v1/projects/ 200 12ms``."""

    def __init__(self, fmt: str | None = None, datefmt: str | None = None, style: Any = "%", **kwargs: Any) -> None:
        super().__init__(
            fmt or "%(asctime)s %(levelname)s %(name)s %(message)s", datefmt or "%H:%M:%S", style, **kwargs
        )

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        # The access line's duration (an extra the JSON line carries as a field).
        duration = getattr(record, "duration_ms", None)
        if isinstance(duration, int | float):
            line += f" {duration:.0f}ms" if duration >= 10 else f" {duration:.1f}ms"
        return line

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info and record.name.startswith("django.security."):
            # A refused Host or CSRF check: the message says it all; the traceback only shows
            # where Django raised it. A copy, so other handlers still get the traceback.
            record = copy.copy(record)
            record.exc_info = None
            record.exc_text = None
        return super().format(record)


EMAIL_BAR = "=" * 79


class ConsoleEmailBackend(DjangoConsoleEmailBackend):
    """Django's console backend, each email between two bars under a title, so it stands out."""

    def write_message(self, message: EmailMessage) -> None:
        recipients = ", ".join(message.recipients())
        msg = message.message()
        charset = msg.get_charset()
        encoding = charset.get_output_charset() if isinstance(charset, Charset) else None
        text = msg.as_bytes().decode(encoding or "utf-8")
        self.stream.write(f"{EMAIL_BAR}\nEMAIL to {recipients} (console backend: printed, not sent)\n{EMAIL_BAR}\n")
        self.stream.write(f"{text.rstrip()}\n{EMAIL_BAR}\n")
