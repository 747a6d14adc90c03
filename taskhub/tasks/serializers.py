from typing import Any

from rest_framework import serializers

from taskhub.core import fields
from taskhub.labels.models import MAX_LABELS_PER_TASK
from taskhub.tasks.models import Task, TaskPriority, TaskStatus

DESCRIPTION_MAX_LENGTH = 10_000
ASSIGNEE_HELP = "The user id of a member of the organization, or null."
LABELS_HELP = (
    f"Ids of labels of the organization (`labels/`), at most {MAX_LABELS_PER_TASK}; an id given twice counts once. "
    "The task then carries exactly these: the list replaces the one it had. `[]` takes every label off."
)


def labels_input(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.UUIDField(),
        source="label_ids",
        allow_empty=True,
        max_length=MAX_LABELS_PER_TASK,
        help_text=LABELS_HELP,
        **kwargs,
    )


class TaskSerializer(serializers.ModelSerializer[Task]):
    # Plain ids from the *_id columns: a page of tasks costs one query, whatever its size.
    project = serializers.UUIDField(source="project_id", read_only=True)
    assignee = serializers.UUIDField(source="assignee_id", read_only=True, allow_null=True)
    created_by = serializers.UUIDField(source="created_by_id", read_only=True, allow_null=True)
    # Annotated by the selector (one column, no query per task); sorted.
    labels = serializers.ListField(
        child=serializers.UUIDField(),
        source="label_ids",
        read_only=True,
        help_text="Ids of the labels the task carries, in ascending order.",
    )

    class Meta:
        model = Task
        annotated = ["label_ids"]
        fields = [
            "id",
            "project",
            "number",
            "title",
            "description",
            "status",
            "priority",
            "assignee",
            "due_date",
            "labels",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class TaskCreateInputSerializer(serializers.Serializer[Any]):
    project = serializers.UUIDField(source="project_id", help_text="A project of the organization; fixed afterwards.")
    title = fields.CharField(max_length=200)
    description = fields.CharField(max_length=DESCRIPTION_MAX_LENGTH, allow_blank=True, required=False)
    status = serializers.ChoiceField(choices=TaskStatus.choices, required=False)
    priority = serializers.ChoiceField(choices=TaskPriority.choices, required=False)
    assignee = serializers.UUIDField(source="assignee_id", allow_null=True, required=False, help_text=ASSIGNEE_HELP)
    due_date = serializers.DateField(allow_null=True, required=False)
    labels = labels_input(required=False)


class TaskUpdateInputSerializer(serializers.Serializer[Any]):
    """Every writable field for PUT; any of them for PATCH. ``project`` and ``number`` never change."""

    title = fields.CharField(max_length=200)
    description = fields.CharField(max_length=DESCRIPTION_MAX_LENGTH, allow_blank=True)
    status = serializers.ChoiceField(choices=TaskStatus.choices)
    priority = serializers.ChoiceField(choices=TaskPriority.choices)
    assignee = serializers.UUIDField(source="assignee_id", allow_null=True, help_text=ASSIGNEE_HELP)
    due_date = serializers.DateField(allow_null=True)
    # Optional even for PUT: left out, the task keeps its labels (a client that knows nothing of
    # labels must not take them off by replacing the other fields).
    labels = labels_input(required=False)
    # Optional, so a client may send back a task as it read it; any other value is a 400.
    project = serializers.UUIDField(source="project_id", required=False, help_text="Must equal the task's project.")
    number = serializers.IntegerField(required=False, help_text="Must equal the task's number.")
