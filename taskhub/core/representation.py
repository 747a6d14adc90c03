"""A read-only serializer's output computed straight from columns, for the hot read paths.

``ModelSerializer.data`` costs a model instance per row and a dozen attribute lookups and
method calls per field: about a millisecond for a page of 50. ``Representation`` reads the
serializer's fields once, then turns rows (dicts from ``as_rows``, or a model instance) into
the very same dicts with one converter per field. The serializer stays the declaration: views keep it
as ``serializer_class``, so the OpenAPI schema does not change, and the tests compare both
outputs row for row.

Field types without a converter below fall back to the field's own ``to_representation``.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

import orjson
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import BaseIterable
from django.utils import timezone
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

Converter = Callable[[Any], Any]

if TYPE_CHECKING:
    _DictIterable = BaseIterable[dict[str, Any]]
else:  # not subscriptable at run time
    _DictIterable = BaseIterable


def _uuid(value: uuid.UUID) -> str:
    return str(value)


def _text(value: Any) -> str:
    return value if type(value) is str else str(value)


def _date(value: datetime.date) -> str:
    return value.isoformat()


def _datetime(field: serializers.DateTimeField, zone: datetime.tzinfo) -> Converter:
    fallback = field.to_representation

    def convert(value: Any) -> Any:
        # DRF's DateTimeField with the ISO 8601 format: in the current time zone, UTC as "Z".
        if isinstance(value, datetime.datetime) and value.tzinfo is not None:
            text = value.astimezone(zone).isoformat()
            return text[:-6] + "Z" if text.endswith("+00:00") else text
        return fallback(value)

    return convert


def _choice(field: serializers.ChoiceField) -> Converter:
    known = field.choice_strings_to_values

    def convert(value: Any) -> Any:
        if value == "":
            return value
        return known.get(str(value), value)

    return convert


def _plain_to_representation(field: serializers.Field[Any, Any, Any, Any], kind: type[Any]) -> bool:
    """Return whether ``field`` is a ``kind`` whose output ``kind`` itself defines."""
    return isinstance(field, kind) and type(field).to_representation is kind.to_representation


def _iso_8601(field: serializers.Field[Any, Any, Any, Any], kind: type[Any], default: Any) -> bool:
    """Return whether ``field`` is a plain ``kind`` field writing ISO 8601."""
    if not _plain_to_representation(field, kind):
        return False
    output_format = getattr(field, "format", default)
    return isinstance(output_format, str) and output_format.lower() == ISO_8601


def _plain(field: Any) -> Converter | None:
    """Return a function equal to ``field.to_representation`` that needs no time zone, if there is one."""
    if _plain_to_representation(field, serializers.UUIDField) and field.uuid_format == "hex_verbose":
        return _uuid
    if isinstance(field, serializers.ChoiceField) and not isinstance(field, serializers.MultipleChoiceField):
        return _choice(field)
    if _plain_to_representation(field, serializers.CharField):
        return _text
    if type(field) is serializers.IntegerField:
        return int
    if _iso_8601(field, serializers.DateField, api_settings.DATE_FORMAT):
        return _date
    return None


def _converter(field: Any) -> Callable[[datetime.tzinfo], Converter]:
    """Return a factory, given the current time zone, of a function equal to ``field.to_representation``."""
    plain = _plain(field) or field.to_representation
    aware = settings.USE_TZ and not hasattr(field, "timezone")
    if aware and _iso_8601(field, serializers.DateTimeField, api_settings.DATETIME_FORMAT):
        return lambda zone: _datetime(field, zone)
    return lambda zone: plain


# How a field's output is written by PostgreSQL (``json_rows``), by the kind of serializer field:
# the column as ``row_to_json`` writes it, or a timestamp as DRF's ISO 8601. The columns each kind
# may read: row_to_json then writes exactly what the field would.
_SQL_COLUMNS = {
    "uuid": {"UUIDField"},
    "text": {"CharField", "TextField", "SlugField", "EmailField", "URLField"},
    "integer": {"IntegerField", "BigIntegerField", "SmallIntegerField", "PositiveIntegerField",
                "PositiveSmallIntegerField", "PositiveBigIntegerField", "AutoField", "BigAutoField"},
    "boolean": {"BooleanField"},
    "date": {"DateField"},
    "timestamp": {"DateTimeField"},
    # _column_type names an array of anything but UUIDs otherwise.
    "uuid list": {"ArrayField"},
}  # fmt: skip


def _text_choices(field: Any) -> bool:
    # Every stored value comes out as itself (the choices map each value's text to the value).
    return (
        isinstance(field, serializers.ChoiceField)
        and not isinstance(field, serializers.MultipleChoiceField)
        and all(isinstance(value, str) for value in field.choice_strings_to_values.values())
    )


def _aware_iso_8601(field: Any) -> bool:
    aware = settings.USE_TZ and not hasattr(field, "timezone")
    return aware and _iso_8601(field, serializers.DateTimeField, api_settings.DATETIME_FORMAT)


# The first test a field passes names its kind of output (see _SQL_COLUMNS).
_SQL_KINDS: tuple[tuple[Callable[[Any], bool], str], ...] = (
    (lambda f: _plain_to_representation(f, serializers.UUIDField) and f.uuid_format == "hex_verbose", "uuid"),
    (_text_choices, "text"),
    (lambda f: _plain_to_representation(f, serializers.CharField), "text"),
    (lambda f: type(f) is serializers.IntegerField, "integer"),
    (lambda f: type(f) is serializers.BooleanField, "boolean"),
    (lambda f: _iso_8601(f, serializers.DateField, api_settings.DATE_FORMAT), "date"),
    (_aware_iso_8601, "timestamp"),
    (lambda f: type(f) is serializers.ListField and _sql_kind(f.child) == "uuid", "uuid list"),
)


def _sql_kind(field: Any) -> str | None:
    """The kind of output PostgreSQL can write for ``field`` exactly as it would, or None."""
    return next((kind for test, kind in _SQL_KINDS if test(field)), None)


class Representation:
    """The output of a read-only serializer whose fields each read one column of the row."""

    def __init__(self, serializer_class: type[serializers.Serializer[Any]]) -> None:
        fields: list[Any] = [field for field in serializer_class().fields.values() if not field.write_only]
        meta = getattr(serializer_class, "Meta", None)
        model = getattr(meta, "model", None)
        columns = {f.attname for f in model._meta.concrete_fields} if model is not None else None
        if columns is not None:
            # Columns the view's selector annotates onto every row (``Meta.annotated``): read as the
            # model's own, from the row or the instance (which must then carry the attribute).
            columns |= set(getattr(meta, "annotated", ()))
        for field in fields:
            if "." in field.source or field.source == "*" or (columns is not None and field.source not in columns):
                raise TypeError(f"{serializer_class.__name__}.{field.field_name} does not read one column.")
        self.columns: tuple[str, ...] = tuple(field.source for field in fields)
        self._plan: tuple[tuple[str, str, Callable[[datetime.tzinfo], Converter]], ...] = tuple(
            (field.field_name, field.source, _converter(field)) for field in fields
        )
        # For json_rows: each field's name, column and kind of output (None: PostgreSQL cannot write it).
        self.sql_plan: tuple[tuple[str, str, str | None], ...] = tuple(
            (field.field_name, field.source, _sql_kind(field)) for field in fields
        )

    def row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Return the serializer's output for one row (a mapping of column attname to value)."""
        return self.rows([row])[0]

    def rows(self, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Return the serializer's output for rows, as ``many=True`` would."""
        zone = timezone.get_current_timezone()
        plan = [(name, source, make(zone)) for name, source, make in self._plan]
        return [
            {name: None if (value := row[source]) is None else convert(value) for name, source, convert in plan}
            for row in rows
        ]

    def instance(self, instance: Any) -> dict[str, Any]:
        """Return the serializer's output for one model instance."""
        return self.row({source: getattr(instance, source) for source in self.columns})


@cache
def representation_of(serializer_class: type[serializers.Serializer[Any]]) -> Representation:
    """Return the (shared, built once) ``Representation`` of ``serializer_class``."""
    return Representation(serializer_class)


class _RowIterable(_DictIterable):
    """The model's own SELECT, each row a dict by column attname (and annotation), no model instance."""

    def __iter__(self) -> Iterator[dict[str, Any]]:
        queryset = self.queryset
        compiler = queryset.query.get_compiler(using=queryset.db)
        results = compiler.execute_sql(chunked_fetch=self.chunked_fetch, chunk_size=self.chunk_size)
        names: list[str] = [""] * len(compiler.select)
        for index in compiler.klass_info["select_fields"]:
            names[index] = compiler.select[index][0].target.attname
        for name, index in compiler.annotation_col_map.items():
            names[index] = name
        for row in compiler.results_iter(results):
            yield dict(zip(names, row, strict=True))


# The key of a json_rows row that holds the row's JSON text (no column can be named so).
ROW_JSON = "\x00json"


# DRF's ISO 8601 in UTC: microseconds only when there are any, then "Z". One to_char per value.
def _formatted(date_time: str, zone: str) -> str:
    return (
        "CASE WHEN date_trunc('second', {c}) = {c} "
        f"THEN to_char({{c}} AT TIME ZONE 'UTC', 'YYYY-MM-DD{date_time}HH24:MI:SS{zone}') "
        f"ELSE to_char({{c}} AT TIME ZONE 'UTC', 'YYYY-MM-DD{date_time}HH24:MI:SS.US{zone}') END"
    )


_TIMESTAMP_SQL = _formatted('"T"', '"Z"')
# str() of an aware UTC datetime: what DRF's cursor keeps as a position.
_POSITION_SQL = {
    "DateTimeField": _formatted(" ", '"+00:00"'),
    **dict.fromkeys(_SQL_COLUMNS["text"], "{c}"),
    **dict.fromkeys(_SQL_COLUMNS["uuid"] | _SQL_COLUMNS["integer"], "{c}::text"),
}


def _column_type(field: Any) -> str:
    """The internal type of the column ``field`` stores in (a foreign key: its target's)."""
    internal = str(field.get_internal_type())
    if internal == "ForeignKey":
        internal = str(field.target_field.get_internal_type())
    if internal == "ArrayField" and field.base_field.get_internal_type() != "UUIDField":
        return "ArrayField of another type"
    return internal


class _JsonRowIterable(_DictIterable):
    """Rows as ``{<ordering column>: its position, ROW_JSON: the row's JSON text}``, written by PostgreSQL.

    The model's own page query, wrapped: ``SELECT (row_to_json of the fields), position FROM (page)``.
    No value is parsed into Python or formatted back; the cursor pagination reads the position.
    A subclass per representation (``_json_row_iterable``) carries it: a queryset's clones keep
    their iterable class, not other attributes.
    """

    representation: Representation

    def __iter__(self) -> Iterator[dict[str, Any]]:
        queryset = self.queryset
        query = queryset.query
        ordering = query.order_by[0] if query.order_by else None
        compiler = query.get_compiler(using=queryset.db)
        inner, params = compiler.as_sql(with_col_aliases=True)
        columns: dict[str, tuple[str, str]] = {}
        for index in compiler.klass_info["select_fields"]:
            expression, _, alias = compiler.select[index]
            columns[expression.target.attname] = (alias, _column_type(expression.target))
        for name, index in compiler.annotation_col_map.items():
            expression, _, alias = compiler.select[index]
            columns[name] = (alias, _column_type(expression.output_field))
        attribute = ordering.lstrip("-") if isinstance(ordering, str) else None
        alias, kind = columns.get(attribute or "", ("", ""))
        if ordering is not None and kind not in _POSITION_SQL:
            # An ordering whose position has no SQL form here: the rows in Python, then their JSON.
            yield from _rendered_in_python(queryset, self.representation, attribute)
            return
        # Unordered (one object by its key): no position to read.
        position = _POSITION_SQL[kind].format(c=f'_t."{alias}"') if attribute else "NULL"
        fields = []
        for name, source, sql_kind in self.representation.sql_plan:
            column = f'_t."{columns[source][0]}"'
            value = _TIMESTAMP_SQL.format(c=column) if sql_kind == "timestamp" else column
            fields.append(f'{value} AS "{name}"')
        sql = (
            f"SELECT (SELECT row_to_json(_j)::text FROM (SELECT {', '.join(fields)}) AS _j), {position} "  # noqa: S608
            f"FROM ({inner}) AS _t"
        )
        with connections[queryset.db].cursor() as cursor:
            cursor.execute(sql, params)
            for text, at in cursor.fetchall():
                yield (
                    {ROW_JSON: text} if attribute is None else {attribute: "None" if at is None else at, ROW_JSON: text}
                )


def _rendered_in_python(
    queryset: QuerySet[Any], representation: Representation, attribute: str | None
) -> Iterator[dict[str, Any]]:
    rows = queryset.all()
    rows._iterable_class = _RowIterable
    for row in rows:
        text = orjson.dumps(representation.row(row), default=_DJANGO_ENCODER.default).decode()
        yield {**({attribute: row[attribute]} if attribute else {}), ROW_JSON: text}


_DJANGO_ENCODER = DjangoJSONEncoder()


@cache
def _json_row_iterable(representation: Representation) -> type[_JsonRowIterable]:
    return type("JsonRowIterable", (_JsonRowIterable,), {"representation": representation})


def json_rows(queryset: QuerySet[Any], representation: Representation) -> QuerySet[Any] | None:
    """Return ``queryset`` yielding rows whose JSON PostgreSQL writes (``_JsonRowIterable``), or None.

    None where PostgreSQL would not write exactly what ``representation`` writes: another
    database, a time zone other than UTC, a field or column kind not in ``_SQL_COLUMNS``, an
    ordering whose position has no SQL form. Then the caller renders rows in Python.
    """
    if connections[queryset.db].vendor != "postgresql" or timezone.get_current_timezone_name() != "UTC":
        return None
    if any(kind is None for _, _, kind in representation.sql_plan):
        return None
    model = queryset.model
    annotations = queryset.query.annotations
    for _, source, kind in representation.sql_plan:
        target = annotations.get(source)
        try:
            # get_field knows a foreign key by its attname (``created_by_id``) too.
            column = target.output_field if target is not None else model._meta.get_field(source)
        except (AttributeError, FieldDoesNotExist):
            return None
        if _column_type(column) not in _SQL_COLUMNS[str(kind)]:
            return None
    rows = queryset.all()
    rows._iterable_class = _json_row_iterable(representation)
    return rows


class JsonText:
    """JSON already written (by PostgreSQL): the renderer copies ``text`` into the body unchanged."""

    __slots__ = ("text",)

    def __init__(self, text: bytes) -> None:
        self.text = text

    def parsed(self) -> Any:
        return orjson.loads(self.text)


def json_array(rows: Iterable[Mapping[str, Any]]) -> JsonText:
    """The JSON array of ``json_rows`` rows."""
    return JsonText(("[" + ",".join(row[ROW_JSON] for row in rows) + "]").encode())


def as_rows(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """Return ``queryset`` yielding dicts instead of model instances, with the very same SQL.

    Unlike ``values()``, the statement is the one the model query runs (same columns, no
    aliases), so the page query stays the model's own, as the benchmark's list without DRF sends it.
    """
    rows = queryset.all()
    rows._iterable_class = _RowIterable
    return rows


# The serializer each model's GET answers with, declared by its app (``register_representation``
# in ``AppConfig.ready``), for code that may not import serializers: services send webhook
# payloads that must equal what the API shows.
_REPRESENTATIONS: dict[type[Model], type[serializers.Serializer[Any]]] = {}


def register_representation(model: type[Model], serializer_class: type[serializers.Serializer[Any]]) -> None:
    """Declare ``serializer_class`` as how the API shows ``model``; ``represent`` then uses it."""
    known = _REPRESENTATIONS.setdefault(model, serializer_class)
    if known is not serializer_class:
        raise ValueError(f"{model._meta.label} is represented by {known.__name__} already.")


@cache
def _columns_only(serializer_class: type[serializers.Serializer[Any]]) -> Representation | None:
    try:
        return representation_of(serializer_class)
    except TypeError:  # a field reads through a relation (a nested user)
        return None


def represent(instance: Model) -> dict[str, Any]:
    """Return ``instance`` as the API's GET shows it (its registered serializer's output), as plain JSON values."""
    serializer_class = _REPRESENTATIONS.get(type(instance))
    if serializer_class is None:
        raise LookupError(f"No representation registered for {instance._meta.label}: call register_representation.")
    columns = _columns_only(serializer_class)
    if columns is not None:
        return columns.instance(instance)
    plain: dict[str, Any] = json.loads(json.dumps(serializer_class(instance).data, cls=DjangoJSONEncoder))
    return plain
