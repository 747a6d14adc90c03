"""Reads of labels, and how a task's labels are read in the same statement as the task."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from django.db import models
from django.db.models import Exists, OuterRef, QuerySet, Subquery

from taskhub.labels.models import Label, TaskLabel


def label_list(*, organization_id: UUID | str) -> QuerySet[Label]:
    return Label.objects.filter(organization_id=organization_id)


def sorted_ids(ids: Any) -> list[UUID]:
    """The ids as a task shows them: UUIDs, each once, in ascending order."""
    return sorted({value if isinstance(value, UUID) else UUID(str(value)) for value in ids})


class _IdList(models.Field):
    """An annotation's type: a list of ids, read from a PostgreSQL ``uuid[]`` or SQLite's JSON text."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> list[UUID]:
        if value is None:
            return []
        if isinstance(value, str):
            value = json.loads(value)
        return sorted_ids(value)


class TaskLabelIds(Subquery):
    """The ids of the outer task's labels as one column, sorted: no query per task.

    PostgreSQL: ``ARRAY(SELECT label_id ...)``; SQLite: ``json_group_array`` over the same
    subquery. Annotate it onto a task queryset (``label_ids=TaskLabelIds()``).
    """

    template = "ARRAY(%(subquery)s)"

    def __init__(self, task: str = "pk") -> None:
        carried = TaskLabel.objects.filter(task_id=OuterRef(task)).order_by("label_id").values("label_id")
        super().__init__(carried, output_field=_IdList())

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        template = "(SELECT json_group_array(carried.label_id) FROM (%(subquery)s) AS carried)"
        return self.as_sql(compiler, connection, template=template, **extra_context)


def carries_label(label_id: UUID) -> Exists:
    """A condition on a task queryset: the task carries the label ``label_id``."""
    return Exists(
        TaskLabel.objects.filter(organization_id=OuterRef("organization_id"), task_id=OuterRef("pk"), label_id=label_id)
    )
