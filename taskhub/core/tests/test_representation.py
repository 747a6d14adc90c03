"""``Representation`` gives exactly what the serializer gives, for every kind of column value."""

import datetime
import uuid
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from rest_framework import serializers

from taskhub.core.representation import Representation, representation_of

UTC = datetime.UTC
PARIS = ZoneInfo("Europe/Paris")


class RowSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    owner = serializers.UUIDField(source="owner_id", allow_null=True)
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=[("todo", "To do"), ("done", "Done")])
    number = serializers.IntegerField()
    due_date = serializers.DateField(allow_null=True)
    created_at = serializers.DateTimeField()
    day_only = serializers.DateTimeField(format="%Y-%m-%d")
    compact = serializers.UUIDField(format="hex")
    amount = serializers.DecimalField(max_digits=8, decimal_places=2)
    active = serializers.BooleanField()
    secret = serializers.CharField(write_only=True)


def row(**changes: Any) -> dict[str, Any]:
    values = {
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "owner_id": uuid.uuid4(),
        "name": 'Ünïcode ✓ \u2028 "quoted"',
        "status": "todo",
        "number": 7,
        "due_date": datetime.date(2026, 2, 28),
        "created_at": datetime.datetime(2026, 11, 27, 21, 19, 38, 938834, tzinfo=UTC),
        "day_only": datetime.datetime(2026, 11, 27, 21, 19, tzinfo=UTC),
        "compact": uuid.uuid4(),
        "amount": Decimal("12.50"),
        "active": True,
        "secret": "never shown",
    }
    return {**values, **changes}


ROWS = [
    row(),
    row(owner_id=None, due_date=None, name="", status="done"),
    # No microseconds: isoformat leaves them out, and so must the fast path.
    row(created_at=datetime.datetime(2026, 1, 1, 0, 0, tzinfo=UTC)),
    row(created_at=datetime.datetime(2026, 6, 1, 12, 30, 1, 5, tzinfo=PARIS)),
    row(created_at=datetime.datetime(2026, 6, 1, 12, 30, 1, tzinfo=ZoneInfo("UTC"))),
]


def test_rows_equal_the_serializer_output():
    assert representation_of(RowSerializer).rows(ROWS) == RowSerializer(ROWS, many=True).data


def test_one_row_equals_the_serializer_output():
    for each in ROWS:
        assert Representation(RowSerializer).row(each) == RowSerializer(each).data


def test_datetimes_follow_the_active_time_zone_as_drf_does():
    with timezone.override(PARIS):
        expected = RowSerializer(ROWS, many=True).data
        assert Representation(RowSerializer).rows(ROWS) == expected
    assert expected[0]["created_at"] == "2026-11-27T22:19:38.938834+01:00"


def test_utc_datetimes_end_in_z_and_keep_microseconds_only_when_set():
    first, _, whole, *_ = Representation(RowSerializer).rows(ROWS)
    assert first["created_at"] == "2026-11-27T21:19:38.938834Z"
    assert whole["created_at"] == "2026-01-01T00:00:00Z"


def test_write_only_fields_are_left_out():
    assert "secret" not in Representation(RowSerializer).columns


def test_instance_reads_the_same_columns_as_attributes():
    instance = type("Instance", (), ROWS[0])()
    assert Representation(RowSerializer).instance(instance) == RowSerializer(ROWS[0]).data


def test_nested_sources_are_refused():
    class NestedSerializer(serializers.Serializer[Any]):
        owner_name = serializers.CharField(source="owner.name")

    with pytest.raises(TypeError, match="does not read one column"):
        Representation(NestedSerializer)


def test_columns_a_selector_annotates_are_read_when_the_serializer_names_them():
    from taskhub.projects.models import Project  # noqa: PLC0415 - any model: its columns are what matter

    class Unannounced(serializers.ModelSerializer[Project]):
        tags = serializers.ListField(child=serializers.UUIDField(), source="tag_ids", read_only=True)

        class Meta:
            model = Project
            fields = ["id", "tags"]

    class Annotated(Unannounced):
        class Meta(Unannounced.Meta):
            # The selector annotates tag_ids onto every row and instance.
            annotated = ["tag_ids"]

    # Not a column of the model: refused, unless the serializer says the selector annotates it.
    with pytest.raises(TypeError, match="does not read one column"):
        Representation(Unannounced)
    values = {"id": uuid.uuid4(), "tag_ids": [uuid.UUID(int=1), uuid.UUID(int=2)]}
    representation = Representation(Annotated)
    assert representation.row(values) == Annotated(values).data
    assert representation.instance(type("Instance", (), values)()) == {
        "id": str(values["id"]),
        "tags": [str(uuid.UUID(int=1)), str(uuid.UUID(int=2))],
    }
