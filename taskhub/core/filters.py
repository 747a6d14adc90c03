"""Filter backends shared by the list endpoints."""

from __future__ import annotations

from typing import Any

from django.db.models import Expression, QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.views import APIView

# Appended to every requested ordering so rows that tie on the requested field always come back
# in the same order; cursor pages over ties are then stable.
TIEBREAKER = "pk"


def substitute_name(field: str) -> str:
    return f"{field}_ordering"


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
        terms = [term.strip() for term in params.split(",")]
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
        if TIEBREAKER not in ordering:
            ordering.append(TIEBREAKER)
        return tuple(ordering)

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: APIView) -> QuerySet[Any]:
        substitutes: dict[str, Expression] = getattr(view, "ordering_substitutes", {})
        ordering = self.get_ordering(request, queryset, view) or ()
        used = {term.removeprefix("-") for term in ordering}
        annotations = {substitute_name(f): e for f, e in substitutes.items() if substitute_name(f) in used}
        if annotations:
            queryset = queryset.annotate(**annotations)
        return queryset.order_by(*ordering) if ordering else queryset
