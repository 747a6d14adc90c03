"""The benchmark's bare projects list: the real endpoint's SQL and JSON from plain Django, no DRF.

scripts/bench measures ``GET /api/v1/projects/`` against this view, alternately in one run, and
reports the ratio: what authentication, permissions, throttles, filters and serializers cost on
top of the transaction, the RLS variable, the page query and the JSON. It takes the organization
from its URL and checks no credential, so only config.urls_bench (config.settings.bench) routes
it; the production URL conf never does (taskhub/projects/tests/test_bare.py).

Same SQL: the selector, ``-created_at`` ordering and cursor filter of taskhub.core.pagination.
Same JSON: ProjectSerializer's fields, and DRF's cursor links pointing at /api/v1/projects/
(forward cursors only: the benchmark follows ``next``).
"""

from __future__ import annotations

import json
from base64 import b64decode, b64encode
from typing import Any
from urllib import parse
from uuid import UUID

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from rest_framework.utils.urls import replace_query_param

from taskhub.core import rls
from taskhub.core.pagination import CursorPagination
from taskhub.projects.models import Project
from taskhub.projects.selectors import project_list

ORDERING = "created_at"


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
        raise Http404("The bare view follows forward cursors only.")
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


def _position(project: Project) -> str:
    return str(getattr(project, ORDERING))


def _next_link(page: list[Project], *, following: str, offset: int, current: str | None, size: int) -> tuple[int, Any]:
    """Return the next cursor's (offset, position): DRF's get_next_link for a forward cursor."""
    compare, skip = following, 0
    for project in reversed(page):
        position = _position(project)
        if position != compare:
            return skip, position
        compare, skip = position, skip + 1
    # Every row of the page ties with the one after it.
    if current is None and offset == 0:
        return size, None
    return offset + size, current


def _previous_link(
    page: list[Project], *, following: str | None, offset: int, current: str | None, size: int
) -> tuple[int, Any]:
    """Return the previous cursor's (offset, position): DRF's get_previous_link for a forward cursor."""
    compare = _position(page[0]) if page and offset != 0 else current
    skip = 0
    for project in page:
        position = _position(project)
        if position != compare:
            return skip, position
        compare, skip = position, skip + 1
    if not page:
        return 0, current
    # Every row of the page ties with the one before it.
    if following is None:
        return size, None
    return 0, following


def _timestamp(value: Any) -> str:
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _project(project: Project) -> dict[str, Any]:
    return {
        "id": str(project.id),
        "key": project.key,
        "name": project.name,
        "description": project.description,
        "status": project.status,
        "created_by": None if project.created_by_id is None else str(project.created_by_id),
        "created_at": _timestamp(project.created_at),
        "updated_at": _timestamp(project.updated_at),
    }


def project_list_bare(request: HttpRequest, organization_id: UUID) -> HttpResponse:
    """Answer what GET /api/v1/projects/ answers the organization, with plain Django."""
    size = _page_size(request)
    offset, current = _cursor(request)
    with transaction.atomic():
        rls.set_context(organization_id=organization_id)
        queryset = project_list(organization_id=organization_id).order_by(f"-{ORDERING}")
        if current is not None:
            queryset = queryset.filter(**{f"{ORDERING}__lt": current})
        rows = list(queryset[offset : offset + size + 1])
    page = rows[:size]
    following = _position(rows[-1]) if len(rows) > size else None
    has_previous = current is not None or offset > 0
    query = request.META.get("QUERY_STRING", "")
    base_url = request.build_absolute_uri(reverse("project-list") + (f"?{query}" if query else ""))
    next_link = None
    if following is not None:
        skip, position = _next_link(page, following=following, offset=offset, current=current, size=size)
        next_link = _link(base_url, offset=skip, reverse=False, position=position)
    previous_link = None
    if has_previous:
        skip, position = _previous_link(page, following=following, offset=offset, current=current, size=size)
        previous_link = _link(base_url, offset=skip, reverse=True, position=position)
    body = {"next": next_link, "previous": previous_link, "results": [_project(project) for project in page]}
    return HttpResponse(json.dumps(body, ensure_ascii=False, separators=(",", ":")), content_type="application/json")
