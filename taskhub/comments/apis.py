"""Comments on the organization's tasks: a task's thread, and one comment."""

from typing import Any

from django.db.models import QuerySet
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema

from taskhub.comments.selectors import comment_list
from taskhub.comments.serializers import CommentInputSerializer, CommentSerializer
from taskhub.comments.services import comment_create, comment_delete, comment_update
from taskhub.core.errors import NotFound
from taskhub.core.schema import MEMBER, VIEWER
from taskhub.tasks.selectors import task_list
from taskhub.tenancy.resources import Operation, ResourcePermissions, TenantDetailApi, TenantListApi

PERMISSIONS = ResourcePermissions(read="comment.read", write="comment.write", delete="comment.delete")
STALE = "412 `precondition_failed` for a stale `If-Match`"
BODY = "400 `blank` for an empty body (or one of whitespace only), `max_length` above 10,000 characters"
WRITER = (
    "The writer is the signed-in user, or the API key (role member) that sent it: `author` is the user, `api_key` "
    "the key."
)


@extend_schema(
    parameters=[OpenApiParameter("task_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="A task's id.")],
)
class TaskCommentListApi(TenantListApi):
    selector = comment_list
    permissions = PERMISSIONS
    # Under the tasks tag: a comment is part of a task (a tag of its own needs a description in config).
    tag = "comments"
    serializer_class = CommentSerializer
    create_input = CommentInputSerializer
    create_service = comment_create
    ordering_fields = ["created_at"]
    # A thread reads oldest first; ?ordering=-created_at turns it round.
    ordering = ("created_at", "pk")
    operations = {
        "get": Operation(
            "List a task's comments",
            VIEWER,
            "Lists the comments on one task, oldest first unless `ordering=-created_at`, cursor-paginated.",
            "404 for a task that is not in this organization.",
        ),
        "post": Operation(
            "Comment on a task",
            MEMBER,
            f"Adds a plain-text comment to the task. {WRITER} The creation is audited.",
            f"{BODY}; 404 for a task that is not in this organization.",
        ),
    }

    def scope(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        task_id = self.kwargs["task_id"]
        if not task_list(organization_id=self.tenant.organization_id).filter(pk=task_id).exists():
            raise NotFound("Task not found.")
        return queryset.filter(task_id=task_id)

    def service_arguments(self) -> dict[str, Any]:
        return {"task_id": self.kwargs["task_id"]}


class CommentDetailApi(TenantDetailApi):
    selector = comment_list
    permissions = PERMISSIONS
    tag = "comments"
    serializer_class = CommentSerializer
    update_input = CommentInputSerializer
    update_service = comment_update
    delete_service = comment_delete
    operations = {
        "get": Operation(
            "Show a comment",
            VIEWER,
            "Shows one comment of the organization, with a strong `ETag` to send back as `If-Match`.",
            "404 for a comment of another organization.",
        ),
        "put": Operation(
            "Replace a comment's body",
            f"{MEMBER} Only the comment's writer: another member, even an admin or owner, gets 403 `not_author`.",
            "Replaces the body. The change is audited.",
            f"{BODY}; 403 `not_author`; 404; {STALE}.",
        ),
        "patch": Operation(
            "Edit a comment",
            f"{MEMBER} Only the comment's writer: another member, even an admin or owner, gets 403 `not_author`.",
            "Changes the body when one is sent (it is the only field). The change is audited.",
            f"{BODY}; 403 `not_author`; 404; {STALE}.",
        ),
        "delete": Operation(
            "Delete a comment",
            f"{MEMBER} The comment's writer, or an admin or owner (moderation); anyone else gets 403 `not_author`.",
            "Deletes the comment. Answers 204. The deletion is audited with the comment's last text.",
            f"403 `not_author`; 404; {STALE}.",
        ),
    }

    def service_arguments(self) -> dict[str, Any]:
        # The services decide per comment: the writer edits, the writer or an admin deletes.
        return {"role": self.tenant.role}


urlpatterns = [
    path("tasks/<uuid:task_id>/comments/", TaskCommentListApi.as_view(), name="task-comment-list"),
    path("comments/<uuid:id>/", CommentDetailApi.as_view(), name="comment-detail"),
]
