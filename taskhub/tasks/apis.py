"""Tasks of the caller's organization, and one project's tasks."""

from datetime import date
from typing import Any
from uuid import UUID

from django.db.models import DateField, Value
from django.db.models.functions import Coalesce
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.filters import SearchFilter
from rest_framework.request import Request
from rest_framework.response import Response

from taskhub.core.errors import NotFound
from taskhub.core.filters import FilterSetBackend, StrictOrderingFilter
from taskhub.core.representation import RepresentedListMixin, representation_of
from taskhub.core.schema import MEMBER, VIEWER, operation_description
from taskhub.projects.selectors import project_list
from taskhub.tasks.filters import TaskFilter
from taskhub.tasks.selectors import task_list
from taskhub.tasks.serializers import TaskCreateInputSerializer, TaskSerializer, TaskUpdateInputSerializer
from taskhub.tasks.services import task_create, task_delete, task_update
from taskhub.tenancy.api import TenantAPIView


class TaskListBase(RepresentedListMixin, TenantAPIView):
    """Filters, search and ordering shared by both task lists."""

    serializer_class = TaskSerializer
    filter_backends = [FilterSetBackend, SearchFilter, StrictOrderingFilter]
    filterset_class = TaskFilter
    search_fields = ["title", "description"]
    ordering_fields = ["created_at", "updated_at", "due_date", "number"]
    # Tasks without a due date sort after every dated one (first when descending).
    ordering_substitutes: dict[str, Any] = {"due_date": Coalesce("due_date", Value(date.max, output_field=DateField()))}


@extend_schema(tags=["tasks"])
class TaskListApi(TaskListBase):
    selector = task_list
    permission_by_method = {"GET": "task.read", "POST": "task.write"}

    @extend_schema(
        summary="List the organization's tasks",
        description=operation_description(
            VIEWER,
            "Lists the tasks of every project of the organization, newest first unless `ordering` says "
            "otherwise, cursor-paginated. Filter (project, status, priority, assignee, ...), search (title, "
            "description) and order with the query parameters below.",
            "400 `invalid` for a filter, ordering or `page_size` that does not parse.",
        ),
    )
    def get(self, request: Request) -> Response:
        """List the organization's tasks, newest first unless ``ordering`` says otherwise."""
        return self.list(request)

    @extend_schema(
        summary="Create a task in a project",
        description=operation_description(
            MEMBER,
            "Creates a task in `project`; it takes the project's next number. The creation is audited.",
            "400 `does_not_exist` (on `project`) for a project not in this organization, `not_a_member` (on "
            "`assignee`) for an assignee who is not a member.",
        ),
        request=TaskCreateInputSerializer,
        responses={201: TaskSerializer},
    )
    def post(self, request: Request) -> Response:
        """Create a task in a project; it takes the project's next number."""
        serializer = TaskCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task = task_create(organization_id=self.tenant.organization_id, actor=self.actor, **serializer.validated_data)
        return Response(TaskSerializer(task).data, status=status.HTTP_201_CREATED)


@extend_schema(
    tags=["tasks"],
    parameters=[
        OpenApiParameter("project_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="A project's id.")
    ],
)
class ProjectTaskListApi(TaskListBase):
    selector = task_list
    permission_by_method = {"GET": "task.read"}

    @extend_schema(
        summary="List one project's tasks",
        description=operation_description(
            VIEWER,
            "Lists the tasks of one project, with the same filters, search, ordering and cursor pagination as "
            "`GET /api/v1/tasks/`.",
            "404 for a project that is not in this organization.",
        ),
    )
    def get(self, request: Request, project_id: UUID) -> Response:
        """List one project's tasks."""
        if not project_list(organization_id=self.tenant.organization_id).filter(pk=project_id).exists():
            raise NotFound("Project not found.")
        return self.list_rows(self.filter_queryset(self.get_queryset().filter(project_id=project_id)))


@extend_schema(tags=["tasks"])
class TaskDetailApi(TenantAPIView):
    selector = task_list
    permission_by_method = {
        "GET": "task.read",
        "PUT": "task.write",
        "PATCH": "task.write",
        "DELETE": "task.delete",
    }
    serializer_class = TaskSerializer

    @extend_schema(
        summary="Show a task",
        description=operation_description(
            VIEWER, "Shows one task of the organization.", "404 for a task of another organization."
        ),
    )
    def get(self, request: Request, id: str) -> Response:
        """Show one task."""
        return Response(representation_of(TaskSerializer).instance(self.get_object()))

    @extend_schema(
        summary="Replace a task",
        description=operation_description(
            MEMBER,
            "Replaces the task's title, description, status, priority, assignee and due date. Its project and "
            "number never change: send them back as read, or leave them out.",
            "400 `read_only` for a different `project` or `number`, `not_a_member` for an assignee who is not a "
            "member; 404.",
        ),
        request=TaskUpdateInputSerializer,
        responses={200: TaskSerializer},
    )
    def put(self, request: Request, id: str) -> Response:
        """Replace a task's writable fields; its project and number stay."""
        return self._update(request, partial=False)

    @extend_schema(
        summary="Update some of a task's fields",
        description=operation_description(
            MEMBER,
            "Changes the fields sent and leaves the others. Its project and number never change.",
            "400 `read_only` for a different `project` or `number`, `not_a_member` for an assignee who is not a "
            "member; 404.",
        ),
        request=TaskUpdateInputSerializer,
        responses={200: TaskSerializer},
    )
    def patch(self, request: Request, id: str) -> Response:
        """Change some of a task's fields; its project and number stay."""
        return self._update(request, partial=True)

    @extend_schema(
        summary="Delete a task",
        description=operation_description(MEMBER, "Deletes the task. Answers 204.", "404."),
        responses={204: None},
    )
    def delete(self, request: Request, id: str) -> Response:
        """Delete a task."""
        task = self.get_object()
        task_delete(organization_id=self.tenant.organization_id, task_id=task.pk, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, request: Request, *, partial: bool) -> Response:
        task = self.get_object()
        serializer = TaskUpdateInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        task = task_update(
            organization_id=self.tenant.organization_id,
            task_id=task.pk,
            actor=self.actor,
            **serializer.validated_data,
        )
        return Response(TaskSerializer(task).data)


urlpatterns = [
    path("tasks/", TaskListApi.as_view(), name="task-list"),
    path("tasks/<uuid:id>/", TaskDetailApi.as_view(), name="task-detail"),
    path("projects/<uuid:project_id>/tasks/", ProjectTaskListApi.as_view(), name="project-task-list"),
]
