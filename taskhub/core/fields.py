"""Serializer fields that take a string only when a string is sent, and measure what was sent.

DRF's ``CharField`` reads a number as its text: ``{"slug": 0}`` would set the slug to ``"0"``
although the schema says a string. These refuse anything but a JSON string with the field's
``invalid`` error (a 400 naming the field). Found by schemathesis's negative_data_rejection.

They also check ``max_length`` against the string as sent. DRF checks it after trimming
whitespace, so a 201-character name whose first character is a tab passed a
``max_length=200`` that the schema publishes as ``maxLength: 200`` (found the same way). And
strings with a pattern or format (regex, email, slug) are not trimmed at all (``_Untrimmed``).
"""

from __future__ import annotations

import re
from typing import Any

from django.core.validators import RegexValidator
from rest_framework import serializers


class CharField(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return str(super().to_internal_value(data))


class _Untrimmed(CharField):
    """A string with a pattern or a format is checked as sent: no whitespace trimmed first.

    The schema publishes the pattern (``^[A-Z][A-Z0-9]+$``) or format for the string as sent, so
    `` ABC`` violates it; DRF would trim it to ``ABC`` and accept it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(*args, **kwargs)

    def run_validators(self, value: Any) -> None:
        super().run_validators(value)
        # Python's ``$`` also matches before a final newline; a schema's (ECMA) ``$`` does not.
        # The pattern must match the whole string: ``"ABC\n"`` is not a key.
        patterns = [v.regex for v in self.validators if isinstance(v, RegexValidator) and not v.inverse_match]
        if any(re.compile(pattern).fullmatch(value) is None for pattern in patterns):
            self.fail("invalid")


# Each takes CharField's checks first, then its own (the pattern, the address, the slug).
class RegexField(_Untrimmed, serializers.RegexField):
    pass


class EmailField(_Untrimmed, serializers.EmailField):
    pass


class SlugField(_Untrimmed, serializers.SlugField):
    pass
