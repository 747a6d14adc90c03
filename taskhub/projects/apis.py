"""Projects of the caller's organization."""

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.filters import SearchFilter
from rest_framework.request import Request
from rest_framework.response import Response

from taskhub.core.filters import FilterSetBackend, StrictOrderingFilter
from taskhub.core.representation import RepresentedListMixin, representation_of
from taskhub.core.schema import ADMIN, MEMBER, VIEWER, operation_description
from taskhub.projects.filters import ProjectFilter
from taskhub.projects.selectors import project_list
from taskhub.projects.serializers import (
    ProjectCreateInputSerializer,
    ProjectSerializer,
    ProjectUpdateInputSerializer,
)
from taskhub.projects.services import project_create, project_delete, project_update
from taskhub.tenancy.api import TenantAPIView


@extend_schema(tags=["projects"])
class ProjectListApi(RepresentedListMixin, TenantAPIView):
    selector = project_list
    permission_by_method = {"GET": "project.read", "POST": "project.write"}
    serializer_class = ProjectSerializer
    filter_backends = [FilterSetBackend, SearchFilter, StrictOrderingFilter]
    filterset_class = ProjectFilter
    search_fields = ["name", "key", "description"]
    ordering_fields = ["name", "created_at", "updated_at"]

    @extend_schema(
        summary="List the organization's projects",
        description=operation_description(
            VIEWER,
            "Lists the organization's projects, newest first unless `ordering` says otherwise, cursor-paginated. "
            "Filter, search (name, key, description) and order with the query parameters below.",
            "400 `invalid` for a filter, ordering or `page_size` that does not parse.",
        ),
    )
    def get(self, request: Request) -> Response:
        """List the organization's projects, newest first unless ``ordering`` says otherwise."""
        return self.list(request)

    @extend_schema(
        summary="Create a project",
        description=operation_description(
            MEMBER,
            "Creates a project with a `key` (unique in the organization, whatever its case) and a `name`. The "
            "creation is audited.",
            "400 `key_taken` for a key another project of the organization has.",
        ),
        request=ProjectCreateInputSerializer,
        responses={201: ProjectSerializer},
    )
    def post(self, request: Request) -> Response:
        """Create a project; its key must be free in the organization."""
        serializer = ProjectCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = project_create(
            organization_id=self.tenant.organization_id, actor=self.actor, **serializer.validated_data
        )
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["projects"])
class ProjectDetailApi(TenantAPIView):
    selector = project_list
    permission_by_method = {
        "GET": "project.read",
        "PUT": "project.write",
        "PATCH": "project.write",
        "DELETE": "project.delete",
    }
    serializer_class = ProjectSerializer

    @extend_schema(
        summary="Show a project",
        description=operation_description(
            VIEWER, "Shows one project of the organization.", "404 for a project of another organization."
        ),
    )
    def get(self, request: Request, id: str) -> Response:
        """Show one project."""
        return Response(representation_of(ProjectSerializer).instance(self.get_object()))

    @extend_schema(
        summary="Replace a project",
        description=operation_description(
            MEMBER,
            "Replaces the project's key, name, description and status.",
            "400 `key_taken` for a key another project of the organization has; 404.",
        ),
        request=ProjectUpdateInputSerializer,
        responses={200: ProjectSerializer},
    )
    def put(self, request: Request, id: str) -> Response:
        """Replace a project's key, name, description and status."""
        return self._update(request, partial=False)

    @extend_schema(
        summary="Update some of a project's fields",
        description=operation_description(
            MEMBER,
            'Changes the fields sent and leaves the others; archive a project with `{"status": "archived"}`.',
            "400 `key_taken` for a key another project of the organization has; 404.",
        ),
        request=ProjectUpdateInputSerializer,
        responses={200: ProjectSerializer},
    )
    def patch(self, request: Request, id: str) -> Response:
        """Change some of a project's fields; archive it with ``{"status": "archived"}``."""
        return self._update(request, partial=True)

    @extend_schema(
        summary="Delete a project and all its tasks",
        description=operation_description(
            ADMIN, "Deletes the project and every task in it. Answers 204.", "403 below admin; 404."
        ),
        responses={204: None},
    )
    def delete(self, request: Request, id: str) -> Response:
        """Delete a project and all its tasks (admins and owners)."""
        project = self.get_object()
        project_delete(organization_id=self.tenant.organization_id, project_id=project.pk, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, request: Request, *, partial: bool) -> Response:
        project = self.get_object()
        serializer = ProjectUpdateInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        project = project_update(
            organization_id=self.tenant.organization_id,
            project_id=project.pk,
            actor=self.actor,
            **serializer.validated_data,
        )
        return Response(ProjectSerializer(project).data)


urlpatterns = [
    path("projects/", ProjectListApi.as_view(), name="project-list"),
    path("projects/<uuid:id>/", ProjectDetailApi.as_view(), name="project-detail"),
]
