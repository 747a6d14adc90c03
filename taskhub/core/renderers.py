"""The API's JSON renderer: DRF's output, written by orjson.

``json.dumps`` with DRF's encoder is a few hundred microseconds for a page of 50 rows; orjson
is a fraction of that. The bytes are DRF's: compact separators, UTF-8 rather than ``\\u``
escapes, U+2028 and U+2029 escaped, and every date, time, Decimal, lazy string or other
non-JSON type converted by DRF's own encoder. A list page's rows may arrive already written by
PostgreSQL, as a ``JsonText`` (taskhub.core.representation.json_rows): orjson copies them in.
Anything orjson refuses (integers beyond 64 bits, keys that are not strings) and any request
for indentation goes to DRF's renderer unchanged.
"""

from __future__ import annotations

from typing import Any

import orjson
from rest_framework import renderers
from rest_framework.utils import encoders

from taskhub.core.representation import JsonText

# Dates and times through DRF's encoder (UTC as "Z", its handling of aware times); dataclasses
# too, which DRF refuses rather than serializes.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_LINE_SEPARATOR = "\u2028".encode()
_PARAGRAPH_SEPARATOR = "\u2029".encode()
_drf_encoder = encoders.JSONEncoder()


class JSONRenderer(renderers.JSONRenderer):
    """``rest_framework.renderers.JSONRenderer`` on orjson, byte for byte."""

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if data is None:
            return b""
        drf_format = self.ensure_ascii or not self.compact or not self.strict
        if drf_format or self.get_indent(accepted_media_type or "", renderer_context or {}) is not None:
            return super().render(_parsed(data), accepted_media_type, renderer_context)
        try:
            body = orjson.dumps(data, default=_default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            # DRF's renderer writes it, or raises the error it always raised.
            return super().render(_parsed(data), accepted_media_type, renderer_context)
        # Valid JSON but not valid JavaScript: DRF escapes them, so must this.
        if _LINE_SEPARATOR in body or _PARAGRAPH_SEPARATOR in body:
            body = body.replace(_LINE_SEPARATOR, b"\\u2028").replace(_PARAGRAPH_SEPARATOR, b"\\u2029")
        return body


def _default(value: Any) -> Any:
    if isinstance(value, JsonText):
        return orjson.Fragment(value.text)
    return _drf_encoder.default(value)


def _parsed(data: Any) -> Any:
    """``data`` with every ``JsonText`` (JSON written by PostgreSQL) parsed, for DRF's encoder."""
    if isinstance(data, JsonText):
        return data.parsed()
    if isinstance(data, dict):
        return {key: _parsed(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_parsed(value) for value in data]
    return data
