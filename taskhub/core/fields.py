"""Serializer fields that take a string only when a string is sent.

DRF's ``CharField`` reads a number as its text: ``{"slug": 0}`` would set the slug to ``"0"``
although the schema says a string. These refuse anything but a JSON string with the field's
``invalid`` error (a 400 naming the field). Found by schemathesis's negative_data_rejection.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class CharField(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class RegexField(serializers.RegexField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class EmailField(serializers.EmailField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class SlugField(serializers.SlugField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))
