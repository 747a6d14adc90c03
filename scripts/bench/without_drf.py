"""The projects list without DRF, inside the app: the endpoint's rows and JSON under the app's middleware.

scripts/bench measures ``GET /api/v1/projects/`` against it, in turns with the bare Django
project's list (scripts/bench/baseline) and a naive DRF viewset, and reports the ratios: against
this view, what DRF, authentication, permissions, throttles and filters cost on top of the app's
own floor (every middleware, the verified tenant context, the page query, the JSON); against
the bare Django list, what that floor itself costs. Its SQL count in the app's access log is
the one the real list must match (no authentication query on the hot path). It takes the
organization from its URL and checks no credential, so only scripts.bench.urls
(scripts.bench.settings) routes it; the production URL conf never does
(tests/bench/test_without_drf.py, tests/bench/test_production_urls.py).

As many statements as the endpoint: the tenant context carried by the page query as a read
request carries it (``rls.carried``: autocommit, one round trip), and one page query with the
selector, the ``-created_at`` ordering and cursor filter of taskhub.core.pagination, the model's
own SELECT (rows as tuples through its compiler, no model instances). The same JSON:
ProjectSerializer's fields and DRF's cursor links pointing at /api/v1/projects/ (forward cursors
only: the benchmark follows ``next``), written in Python by orjson, as plain Django code would;
how the endpoint itself writes it (in Python or in the query) is the endpoint's business.
"""

from __future__ import annotations

from base64 import b64decode, b64encode
from typing import Any
from urllib import parse
from uuid import UUID

import orjson
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from rest_framework.utils.urls import replace_query_param

from taskhub.core import rls
from taskhub.core.pagination import CursorPagination
from taskhub.projects.models import Project
from taskhub.projects.selectors import project_list

ORDERING = "created_at"
# Every column of the model in the model's order, as the model's own SELECT returns them.
COLUMNS = tuple(field.attname for field in Project._meta.concrete_fields)
_AT = {name: index for index, name in enumerate(COLUMNS)}


def _page_size(request: HttpRequest) -> int:
    try:
        size = int(request.GET[CursorPagination.page_size_query_param])
    except (KeyError, ValueError):
        return CursorPagination.page_size
    return min(size, CursorPagination.max_page_size) if size > 0 else CursorPagination.page_size


def _cursor(request: HttpRequest) -> tuple[int, str | None]:
    """Return the (offset, position) of a forward cursor, as DRF's CursorPagination decodes it."""
    encoded = request.GET.get("cursor")
    if encoded is None:
        return 0, None
    try:
        tokens = parse.parse_qs(b64decode(encoded.encode("ascii")).decode("ascii"), keep_blank_values=True)
        offset = min(int(tokens.get("o", ["0"])[0]), CursorPagination.offset_cutoff)
        reverse_cursor = bool(int(tokens.get("r", ["0"])[0]))
    except (TypeError, ValueError) as exc:
        raise Http404("Invalid cursor") from exc
    if offset < 0 or reverse_cursor:
        raise Http404("This view follows forward cursors only.")
    return offset, tokens.get("p", [None])[0]


def _link(base_url: str, *, offset: int, reverse: bool, position: str | None) -> str:
    tokens = {}
    if offset:
        tokens["o"] = str(offset)
    if reverse:
        tokens["r"] = "1"
    if position is not None:
        tokens["p"] = position
    encoded = b64encode(parse.urlencode(tokens, doseq=True).encode("ascii")).decode("ascii")
    return replace_query_param(base_url, "cursor", encoded)


def _next_link(positions: list[str], *, following: str, offset: int, current: str | None, size: int) -> tuple[int, Any]:
    """Return the next cursor's (offset, position): DRF's get_next_link for a forward cursor."""
    compare, skip = following, 0
    for position in reversed(positions):
        if position != compare:
            return skip, position
        compare, skip = position, skip + 1
    # Every row of the page ties with the one after it.
    if current is None and offset == 0:
        return size, None
    return offset + size, current


def _previous_link(
    positions: list[str], *, following: str | None, offset: int, current: str | None, size: int
) -> tuple[int, Any]:
    """Return the previous cursor's (offset, position): DRF's get_previous_link for a forward cursor."""
    compare = positions[0] if positions and offset != 0 else current
    skip = 0
    for position in positions:
        if position != compare:
            return skip, position
        compare, skip = position, skip + 1
    if not positions:
        return 0, current
    # Every row of the page ties with the one before it.
    if following is None:
        return size, None
    return 0, following


def _timestamp(value: Any) -> str:
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _project(row: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "id": row[_AT["id"]],
        "key": row[_AT["key"]],
        "name": row[_AT["name"]],
        "description": row[_AT["description"]],
        "status": row[_AT["status"]],
        "created_by": row[_AT["created_by_id"]],
        "created_at": _timestamp(row[_AT["created_at"]]),
        "updated_at": _timestamp(row[_AT["updated_at"]]),
    }


def project_list_without_drf(request: HttpRequest, organization_id: UUID) -> HttpResponse:
    """Answer what GET /api/v1/projects/ answers the organization, with plain Django."""
    size = _page_size(request)
    offset, current = _cursor(request)
    # As taskhub.tenancy.api.TenantAPIView runs a read: in autocommit, the context carried by the
    # statement (inside a caller's transaction, a test's, entered in it instead).
    with rls.carried(organization_id=organization_id, skip_health_check=not connection.in_atomic_block):
        queryset = project_list(organization_id=organization_id).order_by(f"-{ORDERING}")
        if current is not None:
            queryset = queryset.filter(**{f"{ORDERING}__lt": current})
        page_query = queryset[offset : offset + size + 1].query
        compiler = page_query.get_compiler(using=queryset.db)
        rows = list(compiler.results_iter(compiler.execute_sql()))
    page = rows[:size]
    positions = [str(row[_AT[ORDERING]]) for row in page]
    following = str(rows[-1][_AT[ORDERING]]) if len(rows) > size else None
    has_previous = current is not None or offset > 0
    query = request.META.get("QUERY_STRING", "")
    base_url = request.build_absolute_uri(reverse("project-list") + (f"?{query}" if query else ""))
    next_link = None
    if following is not None:
        skip, position = _next_link(positions, following=following, offset=offset, current=current, size=size)
        next_link = _link(base_url, offset=skip, reverse=False, position=position)
    previous_link = None
    if has_previous:
        skip, position = _previous_link(positions, following=following, offset=offset, current=current, size=size)
        previous_link = _link(base_url, offset=skip, reverse=True, position=position)
    body = {"next": next_link, "previous": previous_link, "results": [_project(row) for row in page]}
    # orjson writes UUIDs as strings; times are already DRF's strings.
    return HttpResponse(orjson.dumps(body), content_type="application/json")
