"""Capture the access log as the JSON lines production writes."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from taskhub.core.logformat import JsonFormatter


class CapturedLines:
    """The JSON lines written to one logger while capturing."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def raw(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    def parsed(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.raw()]


@contextmanager
def capture_access_log() -> Iterator[CapturedLines]:
    """Write ``taskhub.access`` records to a buffer through the production formatter."""
    logger = logging.getLogger("taskhub.access")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield CapturedLines(stream)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
