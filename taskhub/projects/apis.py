"""Projects of the caller's organization."""

from django.urls import path

from taskhub.core.schema import ADMIN, MEMBER, VIEWER
from taskhub.projects.filters import ProjectFilter
from taskhub.projects.selectors import project_list
from taskhub.projects.serializers import (
    ProjectCreateInputSerializer,
    ProjectSerializer,
    ProjectUpdateInputSerializer,
)
from taskhub.projects.services import project_create, project_delete, project_update
from taskhub.tenancy.resources import Operation, ResourcePermissions, TenantDetailApi, TenantListApi

PERMISSIONS = ResourcePermissions(read="project.read", write="project.write", delete="project.delete")
KEY_TAKEN = "400 `key_taken` for a key another project of the organization has"


class ProjectListApi(TenantListApi):
    selector = project_list
    permissions = PERMISSIONS
    tag = "projects"
    serializer_class = ProjectSerializer
    create_input = ProjectCreateInputSerializer
    create_service = project_create
    filterset_class = ProjectFilter
    search_fields = ["name", "key", "description"]
    ordering_fields = ["name", "created_at", "updated_at"]
    operations = {
        "get": Operation(
            "List the organization's projects",
            VIEWER,
            "Lists the organization's projects, newest first unless `ordering` says otherwise, cursor-paginated. "
            "Filter, search (name, key, description) and order with the query parameters below.",
            "400 `invalid` for a filter, ordering or `page_size` that does not parse.",
        ),
        "post": Operation(
            "Create a project",
            MEMBER,
            "Creates a project with a `key` (unique in the organization, whatever its case) and a `name`. The "
            "creation is audited.",
            f"{KEY_TAKEN}.",
        ),
    }


class ProjectDetailApi(TenantDetailApi):
    selector = project_list
    permissions = PERMISSIONS
    tag = "projects"
    serializer_class = ProjectSerializer
    update_input = ProjectUpdateInputSerializer
    update_service = project_update
    delete_service = project_delete
    operations = {
        "get": Operation(
            "Show a project",
            VIEWER,
            "Shows one project of the organization, with a strong `ETag` to send back as `If-Match`.",
            "404 for a project of another organization.",
        ),
        "put": Operation(
            "Replace a project",
            MEMBER,
            "Replaces the project's key, name, description and status.",
            f"{KEY_TAKEN}; 404; 412 `precondition_failed` for a stale `If-Match`.",
        ),
        "patch": Operation(
            "Update some of a project's fields",
            MEMBER,
            'Changes the fields sent and leaves the others; archive a project with `{"status": "archived"}`.',
            f"{KEY_TAKEN}; 404; 412 `precondition_failed` for a stale `If-Match`.",
        ),
        "delete": Operation(
            "Delete a project and all its tasks",
            ADMIN,
            "Deletes the project and every task in it. Answers 204.",
            "403 below admin; 404; 412 `precondition_failed` for a stale `If-Match`.",
        ),
    }


urlpatterns = [
    path("projects/", ProjectListApi.as_view(), name="project-list"),
    path("projects/<uuid:id>/", ProjectDetailApi.as_view(), name="project-detail"),
]
