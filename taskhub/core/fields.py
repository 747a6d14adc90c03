"""Serializer fields that take a string only when a string is sent, and measure what was sent.

DRF's ``CharField`` reads a number as its text: ``{"slug": 0}`` would set the slug to ``"0"``
although the schema says a string. These refuse anything but a JSON string with the field's
``invalid`` error (a 400 naming the field). Found by schemathesis's negative_data_rejection.

They also check ``max_length`` against the string as sent. DRF checks it after trimming
whitespace, so a 201-character name whose first character is a tab passed a
``max_length=200`` that the schema publishes as ``maxLength: 200`` (found the same way).
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class CharField(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return str(super().to_internal_value(data))


# Each takes CharField's checks first, then its own (the pattern, the address, the slug).
class RegexField(CharField, serializers.RegexField):
    pass


class EmailField(CharField, serializers.EmailField):
    pass


class SlugField(CharField, serializers.SlugField):
    pass
