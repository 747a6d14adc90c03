"""Bare Django: the list, retrieve and creates a Django user writes, on the app's rows.

No authentication and no row-level security: the organization comes from the URL, the database
role bypasses RLS (settings.py). ``.values()`` and ``JsonResponse``, no model instances on reads.
The answers carry the fields of the API's serializers (ProjectSerializer: id, key, name,
description, status, created_by, created_at, updated_at), with JsonResponse's encoding
(timestamps to the millisecond), not the API's envelope: these are floors, not copies.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_http_methods

from scripts.bench.baseline.models import Project, Task

PROJECT_FIELDS = ("id", "key", "name", "description", "status", "created_by", "created_at", "updated_at")
TASK_FIELDS = (
    "id", "project", "number", "title", "description", "status", "priority", "assignee", "due_date",
    "created_by", "created_at", "updated_at",
)  # fmt: skip
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def _page_size(request: HttpRequest) -> int:
    try:
        size = int(request.GET.get("page_size", DEFAULT_PAGE_SIZE))
    except ValueError:
        return DEFAULT_PAGE_SIZE
    return min(max(size, 1), MAX_PAGE_SIZE)


def _body(request: HttpRequest) -> dict[str, Any] | None:
    try:
        data = json.loads(request.body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _invalid(detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=400)


def _not_found() -> JsonResponse:
    return JsonResponse({"detail": "Not found."}, status=404)


def live(request: HttpRequest) -> JsonResponse:
    """What the server start waits for (tests.support.servers.AppServer)."""
    return JsonResponse({"status": "ok"})


@require_http_methods(["GET", "POST"])
def project_list(request: HttpRequest, organization_id: UUID) -> JsonResponse:
    """GET: the organization's newest projects (``?page_size=``, at most 100); POST: create one."""
    if request.method == "POST":
        return _create_project(request, organization_id)
    rows = Project.objects.filter(organization_id=organization_id).order_by("-created_at").values(*PROJECT_FIELDS)
    return JsonResponse({"results": list(rows[: _page_size(request)])})


def _create_project(request: HttpRequest, organization_id: UUID) -> JsonResponse:
    data = _body(request)
    if data is None or not data.get("key") or not data.get("name"):
        return _invalid("Send a JSON object with key and name.")
    try:
        project = Project.objects.create(
            organization_id=organization_id,
            key=data["key"],
            name=data["name"],
            description=data.get("description", ""),
        )
    except IntegrityError:
        return JsonResponse({"detail": "A project of this organization has this key."}, status=409)
    columns = {"created_by": "created_by_id"}
    return JsonResponse({name: getattr(project, columns.get(name, name)) for name in PROJECT_FIELDS}, status=201)


@require_GET
def project_detail(request: HttpRequest, organization_id: UUID, project_id: UUID) -> JsonResponse:
    try:
        row = Project.objects.filter(organization_id=organization_id).values(*PROJECT_FIELDS).get(pk=project_id)
    except Project.DoesNotExist:
        return _not_found()
    return JsonResponse(row)


@require_http_methods(["POST"])
def task_create(request: HttpRequest, organization_id: UUID, project_id: UUID) -> JsonResponse:
    """Create a task with the project's next number: the counter goes up by an F() update, then the insert."""
    data = _body(request)
    if data is None or not data.get("title"):
        return _invalid("Send a JSON object with a title.")
    with transaction.atomic():
        counted = Project.objects.filter(pk=project_id, organization_id=organization_id).update(
            task_counter=F("task_counter") + 1
        )
        if not counted:
            return _not_found()
        number = Project.objects.values_list("task_counter", flat=True).get(pk=project_id)
        task = Task.objects.create(
            organization_id=organization_id,
            project_id=project_id,
            number=number,
            title=data["title"],
            description=data.get("description", ""),
        )
    columns = {"project": "project_id", "assignee": "assignee_id", "created_by": "created_by_id"}
    return JsonResponse({name: getattr(task, columns.get(name, name)) for name in TASK_FIELDS}, status=201)
