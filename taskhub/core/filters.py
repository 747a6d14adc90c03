"""Filter backends shared by the list endpoints."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Expression, QuerySet
from django_filters.fields import BaseCSVField
from django_filters.rest_framework import DjangoFilterBackend
from django_filters.widgets import BaseCSVWidget
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.views import APIView


class UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 datetime, converted to UTC so the database never sees an offset it cannot hold.

    Python accepts offsets up to ±23:59, PostgreSQL only up to ±15:59: ``+16:29`` used to reach
    the query and fail there (a 500). In UTC every offset is fine; one that moves the time out of
    the years 1-9999 is a 400.
    """

    def to_python(self, value: Any) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(UTC)
        except OverflowError as exc:
            raise DjangoValidationError(self.error_messages["invalid"], code="invalid") from exc


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class _EveryValueWidget(BaseCSVWidget, forms.TextInput):
    """Hands the field every value the query string gives the parameter, so a repeat is seen."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[str] | None:
        values = data.getlist(name) if hasattr(data, "getlist") else ([data[name]] if name in data else [])
        return list(values) or None


class ChoiceListField(BaseCSVField):
    """One parameter holding comma-separated choices: ``status=todo,in_progress``.

    Each value must be one of the choices exactly (no spaces, no empty item); the error names
    the ones that are not. The parameter given twice is a 400 rather than one of them winning
    silently. Empty (``status=``) filters nothing, as every other filter.
    """

    widget = _EveryValueWidget
    choices: Any

    def clean(self, value: Any) -> list[str] | None:
        if not value:
            return None
        if len(value) > 1:
            raise DjangoValidationError(
                "Give this parameter once, its values comma-separated (a,b), not repeated.", code="invalid"
            )
        text = value[0]
        if text == "":
            return None
        known = [str(choice) for choice, _ in self.choices]
        items = text.split(",")
        unknown = [item for item in dict.fromkeys(items) if item not in known]
        if unknown:
            # Through params: the values may hold a "%", and the message is %-formatted with them.
            raise DjangoValidationError(
                "Unknown value %(unknown)s; use one or more of %(known)s, comma-separated.",
                code="invalid",
                params={"unknown": ", ".join(map(repr, unknown)), "known": ", ".join(known)},
            )
        return list(dict.fromkeys(items))


class ChoiceListFilter(django_filters.BaseInFilter):
    """Rows whose field holds any of the comma-separated choices given (``field__in``).

    The schema shows it as an array of the choices, comma-separated (``style: form``,
    ``explode: false``).
    """

    base_field_class = ChoiceListField
    field_class = forms.ChoiceField


# Appended to every requested ordering so rows that tie on the requested field always come back
# in the same order; cursor pages over ties are then stable. It goes the way of the first term, so
# one index (organization, field, id) serves an ordering and its reverse without sorting, however
# many rows tie (taskhub/tenancy/tests/test_list_orderings.py).
TIEBREAKER = "pk"


def substitute_name(field: str) -> str:
    return f"{field}_ordering"


def _named(names: Any, parameters: Any) -> list[str]:
    """Return which of ``names`` some parameter names (exactly or as a prefix, as ``due_after_min``)."""
    return [name for name in names if any(parameter.startswith(name) for parameter in parameters)]


class RequestedFilterSet(django_filters.FilterSet):
    """A FilterSet that copies, builds a form field for and validates only the filters asked for.

    django-filter deep-copies every filter and builds a form of all of them per request; a filter
    absent from the query string filters nothing and cannot fail, so leaving it out changes no
    answer and no error.
    """

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        if data is not None:
            filterset_class: Any = type(self)
            every = filterset_class.base_filters
            self.base_filters = {name: every[name] for name in _named(every, data)}
        super().__init__(data, *args, **kwargs)


class FilterSetBackend(DjangoFilterBackend):
    """django-filter's backend, skipped when no query parameter names one of the view's filters.

    Building and validating the FilterSet's form costs about as much as compiling the page
    query; with no filter asked for, it would hand back the queryset unchanged anyway. A
    parameter that merely starts with a filter's name (``due_after_min``) still runs it.
    """

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: APIView) -> QuerySet[Any]:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None:
            return queryset
        if not _named(filterset_class.base_filters, request.query_params):
            return queryset
        return super().filter_queryset(request, queryset, view)


class StrictOrderingFilter(OrderingFilter):
    """``?ordering=`` over the view's ``ordering_fields`` only: an unknown term is a 400, not ignored.

    A view may also set ``ordering_substitutes`` ({field: expression}) to order a nullable field by
    an expression that never is NULL: cursor pagination reads each page's position from the first
    ordering field of a row and cannot compare a NULL.
    """

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: APIView) -> Any:
        params = request.query_params.get(self.ordering_param)
        if not params:
            return self.get_default_ordering(view)
        terms = params.split(",")
        valid = [name for name, _ in self.get_valid_fields(queryset, view, {"request": request})]
        unknown = [term for term in terms if term.removeprefix("-") not in valid]
        if unknown:
            raise ValidationError(
                {self.ordering_param: [f"Unknown ordering {', '.join(map(repr, unknown))}; use {', '.join(valid)}."]},
                code="invalid",
            )
        substitutes = getattr(view, "ordering_substitutes", {})
        ordering = []
        for term in terms:
            descending, field = term.startswith("-"), term.removeprefix("-")
            name = substitute_name(field) if field in substitutes else field
            ordering.append(f"-{name}" if descending else name)
        if TIEBREAKER not in {term.removeprefix("-") for term in ordering}:
            ordering.append(f"-{TIEBREAKER}" if ordering[0].startswith("-") else TIEBREAKER)
        return tuple(ordering)

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        # The schema names the accepted terms, so a client (or a fuzzer) knows what is a 400.
        fields = "|".join(re.escape(name) for name in getattr(view, "ordering_fields", []))
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["pattern"] = f"^(-?({fields})(,-?({fields}))*)?$"
            parameter["description"] = f"Comma-separated fields, `-` for descending: {fields.replace('|', ', ')}."
        return parameters

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: APIView) -> QuerySet[Any]:
        substitutes: dict[str, Expression] = getattr(view, "ordering_substitutes", {})
        ordering = self.get_ordering(request, queryset, view) or ()
        used = {term.removeprefix("-") for term in ordering}
        annotations = {substitute_name(f): e for f, e in substitutes.items() if substitute_name(f) in used}
        if annotations:
            queryset = queryset.annotate(**annotations)
        return queryset.order_by(*ordering) if ordering else queryset
