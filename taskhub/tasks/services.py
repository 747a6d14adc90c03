"""Writes to tasks; each one is audited and sends its webhook event (taskhub.webhooks.payloads)."""

from __future__ import annotations

from datetime import date
from typing import Any, TypedDict, Unpack
from uuid import UUID

from django.db import connections, router, transaction

from taskhub.audit.services import audit_record, audit_record_creation, audited_delete, changes_between
from taskhub.core.actor import Actor
from taskhub.core.errors import DomainError
from taskhub.core.representation import represent
from taskhub.labels.services import task_labels_replace
from taskhub.organizations.models import Membership
from taskhub.projects.models import Project
from taskhub.tasks.models import Task, TaskPriority, TaskStatus
from taskhub.tasks.selectors import LABEL_IDS, task_list
from taskhub.tenancy.services import locked
from taskhub.webhooks.events import emit
from taskhub.webhooks.payloads import change_payload, object_payload


class TaskChanges(TypedDict, total=False):
    title: str
    description: str
    status: str
    priority: str
    assignee_id: UUID | None
    due_date: date | None
    # The labels the task carries from now on (replacing the ones it had).
    label_ids: list[UUID]
    # Fixed once the task exists: accepted only when equal to the current value, so a client
    # may send back what it read.
    project_id: UUID
    number: int


_FIXED = {"project_id": "project", "number": "number"}


def _label_ids(task: Task) -> list[UUID]:
    """The ids of the labels ``task`` carries: annotated by ``task_list``, or set by the write below."""
    ids: list[UUID] = getattr(task, LABEL_IDS)
    return ids


def _set_label_ids(task: Task, ids: list[UUID]) -> None:
    setattr(task, LABEL_IDS, ids)


def _snapshot(task: Task) -> dict[str, Any]:
    """Return the audited fields by their API names, as JSON values.

    ``task`` comes from ``task_list`` (or was given ``label_ids`` by a service here): its labels
    are read with it.
    """
    return {
        "project": str(task.project_id),
        "number": task.number,
        "title": task.title,
        "description": task.description,
        "status": task.status,
        "priority": task.priority,
        "assignee": None if task.assignee_id is None else str(task.assignee_id),
        "due_date": None if task.due_date is None else task.due_date.isoformat(),
        "labels": [str(label_id) for label_id in _label_ids(task)],
    }


def _check_assignee(*, organization_id: UUID, assignee_id: UUID | None) -> None:
    if assignee_id is None:
        return
    if not Membership.objects.filter(organization_id=organization_id, user_id=assignee_id).exists():
        raise DomainError("The assignee is not a member of this organization.", code="not_a_member", field="assignee")


def _next_number(*, organization_id: UUID, project_id: UUID) -> int:
    """Take the project's next task number; the row lock lasts until the caller's transaction ends.

    One statement: the counter goes up and comes back (``UPDATE ... RETURNING``). The update
    locks the row FOR NO KEY UPDATE, as every row lock that serializes writes here does
    (docs/audit.md), so concurrent creates in one project take turns and get 1, 2, 3 ...
    """
    using = router.db_for_write(Project)
    connection = connections[using]
    table = connection.ops.quote_name(Project._meta.db_table)
    sql = (
        f'UPDATE {table} SET "task_counter" = "task_counter" + 1 '  # noqa: S608 - the model's names, values bound
        'WHERE "id" = %s AND "organization_id" = %s RETURNING "task_counter"'
    )
    pk = Project._meta.pk
    organization = Project._meta.get_field("organization").target_field
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [pk.get_db_prep_value(project_id, connection), organization.get_db_prep_value(organization_id, connection)],
        )
        row = cursor.fetchone()
    if row is None:
        raise DomainError("No such project in this organization.", code="does_not_exist", field="project")
    return int(row[0])


@transaction.atomic
def task_create(
    *,
    organization_id: UUID,
    actor: Actor,
    project_id: UUID,
    title: str,
    description: str = "",
    status: str = TaskStatus.TODO,
    priority: str = TaskPriority.MEDIUM,
    assignee_id: UUID | None = None,
    due_date: date | None = None,
    label_ids: list[UUID] | None = None,
) -> Task:
    """Create a task with the next number of a project of the organization, carrying ``label_ids``."""
    number = _next_number(organization_id=organization_id, project_id=project_id)
    _check_assignee(organization_id=organization_id, assignee_id=assignee_id)
    task = Task(
        organization_id=organization_id,
        project_id=project_id,
        number=number,
        title=title,
        description=description,
        status=TaskStatus(status),
        priority=TaskPriority(priority),
        assignee_id=assignee_id,
        due_date=due_date,
        created_by_id=actor.user_id,
    )
    task.save(force_insert=True)
    carried = (
        task_labels_replace(organization_id=organization_id, task_id=task.pk, current=[], label_ids=label_ids)
        if label_ids
        else []
    )
    _set_label_ids(task, carried)
    audit_record_creation(
        organization_id=organization_id,
        actor=actor,
        action="task.created",
        target=task,
        fields=_snapshot(task),
    )
    emit(organization_id=organization_id, type="task.created", data=lambda: object_payload(task))
    return task


@transaction.atomic
def task_update(*, organization_id: UUID, task_id: UUID, actor: Actor, **fields: Unpack[TaskChanges]) -> Task:
    """Change a task's title, description, status, priority, assignee, due date or labels."""
    unknown = set(fields) - TaskChanges.__optional_keys__
    if unknown:
        raise TypeError(f"task_update got unknown fields: {', '.join(sorted(unknown))}")
    # The selector's query, so the task comes with its label ids (no query of its own).
    task = locked(task_list(organization_id=organization_id), organization_id=organization_id, pk=task_id)
    label_ids = fields.pop("label_ids", None)
    changing: dict[str, Any] = {name: value for name, value in fields.items() if getattr(task, name) != value}
    for name, api_name in _FIXED.items():
        if name in changing:
            raise DomainError(f"A task's {api_name} cannot change.", code="read_only", field=api_name)
    if "assignee_id" in changing:
        # Only a new assignee is checked: one who has since left may stay until replaced.
        _check_assignee(organization_id=organization_id, assignee_id=fields["assignee_id"])
    before = _snapshot(task)
    shown = represent(task)
    if label_ids is not None:
        carried = task_labels_replace(
            organization_id=organization_id, task_id=task.pk, current=_label_ids(task), label_ids=label_ids
        )
        _set_label_ids(task, carried)
    relabelled = _snapshot(task)["labels"] != before["labels"]
    if not changing and not relabelled:
        return task
    for name, value in changing.items():
        setattr(task, name, value)
    # updated_at moves for a change of labels alone too: sync clients (updated_since) and ETags see it.
    task.save(update_fields=[*changing, "updated_at"])
    audit_record(
        organization_id=organization_id,
        actor=actor,
        action="task.updated",
        target=task,
        changes=changes_between(before, _snapshot(task)),
    )
    emit(organization_id=organization_id, type="task.updated", data=lambda: change_payload(shown, task))
    return task


@transaction.atomic
def task_delete(*, organization_id: UUID, task_id: UUID, actor: Actor) -> None:
    """Delete a task; its number is not handed out again."""
    # The selector's query, so the task comes with its label ids (no query of its own).
    task = locked(task_list(organization_id=organization_id), organization_id=organization_id, pk=task_id)
    # Emitted first, so the payload is read while the task has an id; the delete follows in this transaction.
    emit(organization_id=organization_id, type="task.deleted", data=lambda: object_payload(task))
    audited_delete(
        organization_id=organization_id,
        actor=actor,
        action="task.deleted",
        target=task,
        fields=_snapshot(task),
    )
