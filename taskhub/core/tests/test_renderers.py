"""The orjson renderer writes the bytes DRF's JSONRenderer writes."""

import dataclasses
import datetime
import uuid
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils.translation import gettext_lazy
from rest_framework import renderers, serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList

from taskhub.core.renderers import JSONRenderer

UTC = datetime.UTC
SERIALIZER: serializers.Serializer[Any] = serializers.Serializer()

PAYLOADS = {
    "page": {
        "next": "http://testserver/api/v1/projects/?cursor=cD0yMDI2&page_size=50",
        "previous": None,
        "results": ReturnList(
            [
                {
                    "id": "12345678-1234-5678-1234-567812345678",
                    "name": 'Ünïcode ✓ 漢字 😀 "quoted" back\\slash\nnew line\ttab',
                    "created_by": None,
                    "number": 7,
                    "done": False,
                    "created_at": "2026-11-27T21:19:38.938834Z",
                }
            ],
            serializer=SERIALIZER,
        ),
    },
    "error": {
        "detail": "Invalid input.",
        "code": "invalid",
        "errors": ReturnDict({"key": [ErrorDetail("Bad key.", code="invalid")]}, serializer=SERIALIZER),
    },
    "datetimes": [
        datetime.datetime(2026, 11, 27, 21, 19, 38, 938834, tzinfo=UTC),
        datetime.datetime(2026, 11, 27, 21, 19, 38, tzinfo=UTC),
        datetime.datetime(2026, 11, 27, 21, 19, 38, 5, tzinfo=ZoneInfo("Europe/Paris")),
        datetime.datetime(2026, 11, 27, 21, 19, 38, 120000),
        datetime.date(2026, 2, 28),
        datetime.time(9, 30, 0, 250),
        datetime.timedelta(hours=1, microseconds=5),
    ],
    "values": [
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        Decimal("12.50"),
        gettext_lazy("Not found."),
        (1, 2),
        b"bytes",
        0,
        -1,
        2**63 - 1,
        1.5,
        0.1,
        True,
        None,
        "",
        [],
        {},
    ],
    "separators": "line \u2028 paragraph \u2029 end",
    "big integer": 2**70,
    "not-string keys": {1: "one", None: "none"},
    "nested": {"a": [{"b": [{"c": None}]}]},
}


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_renders_the_bytes_drf_renders(name):
    data = PAYLOADS[name]
    assert JSONRenderer().render(data) == renderers.JSONRenderer().render(data)


def test_indentation_requested_by_the_client_is_honoured_as_drf_does():
    data = PAYLOADS["page"]
    media_type = "application/json; indent=4"
    assert JSONRenderer().render(data, media_type, {}) == renderers.JSONRenderer().render(data, media_type, {})


def test_nothing_renders_as_an_empty_body():
    assert JSONRenderer().render(None) == b""


@pytest.mark.parametrize("value", [{1, 2}, object()])
def test_what_drf_cannot_render_fails_as_it_does(value):
    try:
        expected = renderers.JSONRenderer().render(value)
    except TypeError:
        with pytest.raises(TypeError):
            JSONRenderer().render(value)
    else:
        assert JSONRenderer().render(value) == expected


def test_dataclasses_are_refused_as_drf_refuses_them():
    @dataclasses.dataclass
    class Point:
        x: int

    with pytest.raises(TypeError):
        renderers.JSONRenderer().render(Point(1))
    with pytest.raises(TypeError):
        JSONRenderer().render(Point(1))
