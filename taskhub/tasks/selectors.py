"""Reads of tasks."""

from uuid import UUID

from django.db.models import QuerySet

from taskhub.tasks.models import Task


def task_list(*, organization_id: UUID | str) -> QuerySet[Task]:
    return Task.objects.filter(organization_id=organization_id)
