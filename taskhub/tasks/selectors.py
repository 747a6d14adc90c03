"""Reads of tasks."""

from uuid import UUID

from django.db.models import QuerySet

from taskhub.labels.selectors import TaskLabelIds
from taskhub.tasks.models import Task

# The annotation holding a task's label ids (sorted): ``TaskSerializer.labels`` reads it.
LABEL_IDS = "label_ids"


def task_list(*, organization_id: UUID | str) -> QuerySet[Task]:
    """The organization's tasks, each with its labels' ids in the same statement (no query per task)."""
    return Task.objects.filter(organization_id=organization_id).annotate(**{LABEL_IDS: TaskLabelIds()})
