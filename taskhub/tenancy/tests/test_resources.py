"""The resource bases: the seal over the whole MRO, ETag / If-Match on every detail, and the schema."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import QuerySet
from rest_framework import mixins

from taskhub.audit.models import AuditEvent
from taskhub.projects.apis import ProjectDetailApi, ProjectListApi
from taskhub.projects.models import Project
from taskhub.tenancy.api import TenantAPIView
from taskhub.tenancy.resources import HOOKS, TenantDetailApi, TenantListApi, etag_of
from taskhub.tenancy.roles import Role

# The seal


class _FilteringMixin:
    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset


@pytest.mark.parametrize("name", ["get", "post", "list", "create", "filter_queryset", "paginate_queryset"])
def test_a_list_resource_may_not_replace_what_the_base_owns(name):
    with pytest.raises(TypeError) as refused:
        type("Sneaky", (ProjectListApi,), {name: lambda self, *args, **kwargs: None})
    message = str(refused.value)
    assert f"may not override {name}" in message
    # The error names the hooks to use instead.
    assert all(hook in message for hook in HOOKS)


@pytest.mark.parametrize("name", ["get", "put", "patch", "delete", "update", "destroy", "retrieve"])
def test_a_detail_resource_may_not_replace_its_handlers(name):
    with pytest.raises(TypeError, match=f"may not override {name}"):
        type("Sneaky", (ProjectDetailApi,), {name: lambda self, *args, **kwargs: None})


@pytest.mark.parametrize("name", ["get_queryset", "get_object", "dispatch", "initial", "check_permissions"])
def test_no_tenant_view_may_replace_the_lookup_the_transaction_or_the_permission_check(name):
    with pytest.raises(TypeError, match=f"may not override {name}"):
        type("Sneaky", (TenantAPIView,), {name: lambda self, *args, **kwargs: None})


def test_a_mixin_ahead_of_the_base_is_refused_too():
    with pytest.raises(TypeError) as refused:
        type("Sneaky", (_FilteringMixin, TenantListApi), {})
    assert "through _FilteringMixin" in str(refused.value)
    assert "filter_queryset" in str(refused.value)


def test_drf_s_list_mixin_cannot_bring_its_own_list():
    with pytest.raises(TypeError, match=r"through ListModelMixin\) may not override list"):
        type("Sneaky", (mixins.ListModelMixin, TenantAPIView), {})


def test_the_hooks_are_open():
    view = type("Scoped", (ProjectListApi,), {"scope": lambda self, queryset: queryset.none()})
    assert issubclass(view, TenantListApi)
    detail = type("Argued", (ProjectDetailApi,), {"service_arguments": lambda self: {}})
    assert issubclass(detail, TenantDetailApi)


def test_methods_follow_the_declared_services():
    assert ProjectListApi.permission_by_method == {"GET": "project.read", "POST": "project.write"}
    read_only = type("ReadOnly", (ProjectDetailApi,), {"update_service": None, "delete_service": None})
    assert set(read_only.permission_by_method) == {"GET"}
    assert "delete" not in read_only.http_method_names


# ETag / If-Match


def _project(clients: dict[Role, Any], key: str = "WEB") -> str:
    response = clients[Role.MEMBER].post("/api/v1/projects/", {"key": key, "name": "Website"}, format="json")
    assert response.status_code == 201, response.content
    return f"/api/v1/projects/{response.json()['id']}/"


@pytest.mark.django_db
def test_get_answers_a_strong_etag_of_the_body(clients_a):
    url = _project(clients_a)
    response = clients_a[Role.VIEWER].get(url)
    assert response.status_code == 200
    etag = response["ETag"]
    assert etag.startswith('"')  # strong, not W/
    assert etag == etag_of(response.json())
    # Unchanged object, same tag; a change, a new one.
    assert clients_a[Role.VIEWER].get(url)["ETag"] == etag
    changed = clients_a[Role.MEMBER].patch(url, {"name": "Site"}, format="json")
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert changed["ETag"] == clients_a[Role.VIEWER].get(url)["ETag"]


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["put", "patch"])
def test_a_stale_if_match_is_a_412_and_changes_nothing(clients_a, method):
    url = _project(clients_a)
    stale = clients_a[Role.MEMBER].get(url)["ETag"]
    assert clients_a[Role.MEMBER].patch(url, {"name": "Moved on"}, format="json").status_code == 200
    before = clients_a[Role.MEMBER].get(url).json()
    events = AuditEvent.objects.count()

    body = {"key": "WEB", "name": "Lost update", "description": "", "status": "active"}
    response = getattr(clients_a[Role.MEMBER], method)(url, body, format="json", HTTP_IF_MATCH=stale)

    assert response.status_code == 412, response.content
    assert response.json()["code"] == "precondition_failed"
    assert clients_a[Role.MEMBER].get(url).json() == before
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_a_current_if_match_or_a_star_lets_the_write_through(clients_a):
    url = _project(clients_a)
    current = clients_a[Role.MEMBER].get(url)["ETag"]
    response = clients_a[Role.MEMBER].patch(url, {"name": "One"}, format="json", HTTP_IF_MATCH=f'"other", {current}')
    assert response.status_code == 200, response.content
    response = clients_a[Role.MEMBER].patch(url, {"name": "Two"}, format="json", HTTP_IF_MATCH="*")
    assert response.status_code == 200, response.content
    # A weak tag never matches: If-Match compares strongly.
    weak = "W/" + clients_a[Role.MEMBER].get(url)["ETag"]
    assert clients_a[Role.MEMBER].patch(url, {"name": "3"}, format="json", HTTP_IF_MATCH=weak).status_code == 412


@pytest.mark.django_db
def test_a_stale_delete_is_a_412_and_the_object_stays(clients_a):
    url = _project(clients_a)
    stale = clients_a[Role.ADMIN].get(url)["ETag"]
    clients_a[Role.MEMBER].patch(url, {"description": "edited"}, format="json")

    response = clients_a[Role.ADMIN].delete(url, HTTP_IF_MATCH=stale)

    assert response.status_code == 412
    assert Project.objects.filter(pk=url.rstrip("/").rsplit("/", 1)[1]).exists()
    fresh = clients_a[Role.ADMIN].get(url)["ETag"]
    assert clients_a[Role.ADMIN].delete(url, HTTP_IF_MATCH=fresh).status_code == 204


@pytest.mark.django_db
def test_without_if_match_writes_behave_as_before(clients_a):
    url = _project(clients_a)
    assert clients_a[Role.MEMBER].patch(url, {"name": "Free"}, format="json").status_code == 200
    assert clients_a[Role.ADMIN].delete(url).status_code == 204


@pytest.mark.django_db
def test_task_details_carry_etags_too(clients_a):
    project = clients_a[Role.MEMBER].post("/api/v1/projects/", {"key": "OPS", "name": "Ops"}, format="json").json()
    task = clients_a[Role.MEMBER].post("/api/v1/tasks/", {"project": project["id"], "title": "T"}, format="json")
    url = f"/api/v1/tasks/{task.json()['id']}/"
    etag = clients_a[Role.VIEWER].get(url)["ETag"]
    clients_a[Role.MEMBER].patch(url, {"status": "done"}, format="json")
    stale = clients_a[Role.MEMBER].patch(url, {"title": "Lost"}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    assert clients_a[Role.VIEWER].get(url).json()["title"] == "T"


def test_the_schema_lists_412_on_conditional_writes():
    from drf_spectacular.generators import SchemaGenerator  # noqa: PLC0415

    schema = SchemaGenerator().get_schema(request=None, public=True)
    detail = schema["paths"]["/api/v1/projects/{id}/"]
    for method in ("put", "patch", "delete"):
        assert "412" in detail[method]["responses"], method
    assert "412" not in detail["get"]["responses"]


@pytest.mark.django_db
def test_a_detail_without_get_serves_neither_get_nor_head(clients_a):
    created = clients_a[Role.ADMIN].post("/api/v1/invitations/", {"email": "x@example.com"}, format="json")
    assert created.status_code == 201, created.content
    url = f"/api/v1/invitations/{created.json()['id']}/"
    assert clients_a[Role.OWNER].get(url).status_code == 405
    assert clients_a[Role.OWNER].head(url).status_code == 405
    assert clients_a[Role.OWNER].delete(url).status_code == 204


@pytest.mark.django_db
def test_an_error_answer_changes_nothing_even_after_a_write(clients_a, monkeypatch):
    from taskhub.core.errors import DomainError  # noqa: PLC0415
    from taskhub.projects.services import project_create  # noqa: PLC0415

    def create_then_refuse(**fields: Any) -> Any:
        project_create(**fields)  # committed to its own savepoint: only the request's rollback undoes it
        raise DomainError("Refused after the write.", code="refused")

    monkeypatch.setattr(ProjectListApi, "create_service", staticmethod(create_then_refuse))

    response = clients_a[Role.MEMBER].post("/api/v1/projects/", {"key": "GONE", "name": "Gone"}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "refused"
    assert not Project.objects.filter(key="GONE").exists()
    assert not AuditEvent.objects.filter(action="project.created").exists()
