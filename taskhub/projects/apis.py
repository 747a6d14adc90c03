"""Projects of the caller's organization."""

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.filters import SearchFilter
from rest_framework.request import Request
from rest_framework.response import Response

from taskhub.core.filters import FilterSetBackend, StrictOrderingFilter
from taskhub.core.representation import RepresentedListMixin, representation_of
from taskhub.organizations.tenancy import TenantAPIView
from taskhub.projects.filters import ProjectFilter
from taskhub.projects.selectors import project_list
from taskhub.projects.serializers import (
    ProjectCreateInputSerializer,
    ProjectSerializer,
    ProjectUpdateInputSerializer,
)
from taskhub.projects.services import project_create, project_delete, project_update


@extend_schema(tags=["projects"])
class ProjectListApi(RepresentedListMixin, TenantAPIView):
    selector = project_list
    permission_by_method = {"GET": "project.read", "POST": "project.write"}
    serializer_class = ProjectSerializer
    filter_backends = [FilterSetBackend, SearchFilter, StrictOrderingFilter]
    filterset_class = ProjectFilter
    search_fields = ["name", "key", "description"]
    ordering_fields = ["name", "created_at", "updated_at"]

    def get(self, request: Request) -> Response:
        """List the organization's projects, newest first unless ``ordering`` says otherwise."""
        return self.list(request)

    @extend_schema(request=ProjectCreateInputSerializer, responses={201: ProjectSerializer})
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

    def get(self, request: Request, id: str) -> Response:
        """Show one project."""
        return Response(representation_of(ProjectSerializer).instance(self.get_object()))

    @extend_schema(request=ProjectUpdateInputSerializer, responses={200: ProjectSerializer})
    def put(self, request: Request, id: str) -> Response:
        """Replace a project's key, name, description and status."""
        return self._update(request, partial=False)

    @extend_schema(request=ProjectUpdateInputSerializer, responses={200: ProjectSerializer})
    def patch(self, request: Request, id: str) -> Response:
        """Change some of a project's fields; archive it with ``{"status": "archived"}``."""
        return self._update(request, partial=True)

    @extend_schema(responses={204: None})
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
