"""Tasks of the caller's organization, and one project's tasks."""

from typing import Any

from django.db.models import QuerySet
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema

from taskhub.core.errors import NotFound
from taskhub.core.schema import MEMBER, VIEWER
from taskhub.labels.models import MAX_LABELS_PER_TASK
from taskhub.projects.selectors import project_list
from taskhub.tasks.filters import TASK_ORDERING_FIELDS, TASK_ORDERING_SUBSTITUTES, TaskFilter
from taskhub.tasks.selectors import task_list
from taskhub.tasks.serializers import TaskCreateInputSerializer, TaskSerializer, TaskUpdateInputSerializer
from taskhub.tasks.services import task_create, task_delete, task_update
from taskhub.tenancy.resources import Operation, ResourcePermissions, TenantDetailApi, TenantListApi

PERMISSIONS = ResourcePermissions(read="task.read", write="task.write", delete="task.delete")
STALE = "412 `precondition_failed` for a stale `If-Match`"
FIXED = "400 `read_only` for a different `project` or `number`, `not_a_member` for an assignee who is not a member"
LABELS = (
    "400 `does_not_exist` (on `labels`, naming the ids) for a label not in this organization, `max_length` for more "
    f"than {MAX_LABELS_PER_TASK} ids"
)


class TaskListApi(TenantListApi):
    selector = task_list
    permissions = PERMISSIONS
    tag = "tasks"
    serializer_class = TaskSerializer
    create_input = TaskCreateInputSerializer
    create_service = task_create
    filterset_class = TaskFilter
    search_fields = ["title", "description"]
    ordering_fields = TASK_ORDERING_FIELDS
    ordering_substitutes = TASK_ORDERING_SUBSTITUTES
    operations = {
        "get": Operation(
            "List the organization's tasks",
            VIEWER,
            "Lists the tasks of every project of the organization, newest first unless `ordering` says "
            "otherwise, cursor-paginated. Filter (project, status, priority, assignee, label, ...), search (title, "
            "description) and order with the query parameters below. Each task shows its labels' ids.",
            "400 `invalid` for a filter, ordering or `page_size` that does not parse.",
        ),
        "post": Operation(
            "Create a task in a project",
            MEMBER,
            "Creates a task in `project`; it takes the project's next number and carries the `labels` given "
            "(ids of the organization's labels). The creation is audited.",
            "400 `does_not_exist` (on `project`) for a project not in this organization, `not_a_member` (on "
            f"`assignee`) for an assignee who is not a member; {LABELS}.",
        ),
    }


@extend_schema(
    parameters=[
        OpenApiParameter("project_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="A project's id.")
    ],
)
class ProjectTaskListApi(TaskListApi):
    # Tasks are created at tasks/, naming their project.
    create_input = None  # type: ignore[assignment]
    operations = {
        "get": Operation(
            "List one project's tasks",
            VIEWER,
            "Lists the tasks of one project, with the same filters, search, ordering and cursor pagination as "
            "`GET /api/v1/tasks/`.",
            "404 for a project that is not in this organization.",
        )
    }

    def scope(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        project_id = self.kwargs["project_id"]
        if not project_list(organization_id=self.tenant.organization_id).filter(pk=project_id).exists():
            raise NotFound("Project not found.")
        return queryset.filter(project_id=project_id)


class TaskDetailApi(TenantDetailApi):
    selector = task_list
    permissions = PERMISSIONS
    tag = "tasks"
    serializer_class = TaskSerializer
    update_input = TaskUpdateInputSerializer
    update_service = task_update
    delete_service = task_delete
    operations = {
        "get": Operation(
            "Show a task",
            VIEWER,
            "Shows one task of the organization, with a strong `ETag` to send back as `If-Match`.",
            "404 for a task of another organization.",
        ),
        "put": Operation(
            "Replace a task",
            MEMBER,
            "Replaces the task's title, description, status, priority, assignee and due date, and its labels when "
            "`labels` is sent (left out, the task keeps them). Its project and number never change: send them "
            "back as read, or leave them out.",
            f"{FIXED}; {LABELS}; 404; {STALE}.",
        ),
        "patch": Operation(
            "Update some of a task's fields",
            MEMBER,
            "Changes the fields sent and leaves the others; `labels` replaces the task's labels with the ids sent "
            "(`[]` takes them all off). Its project and number never change.",
            f"{FIXED}; {LABELS}; 404; {STALE}.",
        ),
        "delete": Operation("Delete a task", MEMBER, "Deletes the task. Answers 204.", f"404; {STALE}."),
    }


urlpatterns = [
    path("tasks/", TaskListApi.as_view(), name="task-list"),
    path("tasks/<uuid:id>/", TaskDetailApi.as_view(), name="task-detail"),
    path("projects/<uuid:project_id>/tasks/", ProjectTaskListApi.as_view(), name="project-task-list"),
]
