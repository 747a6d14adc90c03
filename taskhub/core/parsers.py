"""The JSON parser of the API: DRF's, made strict about input that would otherwise end in a 500."""

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


class StrictJSONParser(JSONParser):
    """Refuse JSON nested too deeply to parse and strings holding NUL, with a 400."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON nested too deeply.", code="parse_error") from exc
        # PostgreSQL text cannot hold NUL: refuse here rather than fail at the database.
        if _has_nul(data):
            raise ParseError("Strings may not contain NUL characters.", code="parse_error")
        return data
