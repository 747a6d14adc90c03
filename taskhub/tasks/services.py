"""Writes to tasks; each one is audited."""

from __future__ import annotations

from datetime import date
from typing import Any, TypedDict, Unpack
from uuid import UUID

from django.db import transaction
from django.db.models import F

from taskhub.audit.services import audit_record, audit_record_deletion, changes_between
from taskhub.core.actor import Actor
from taskhub.core.errors import DomainError, NotFound
from taskhub.organizations.models import Membership
from taskhub.projects.models import Project
from taskhub.tasks.models import Task, TaskPriority, TaskStatus


class TaskChanges(TypedDict, total=False):
    title: str
    description: str
    status: str
    priority: str
    assignee_id: UUID | None
    due_date: date | None
    # Fixed once the task exists: accepted only when equal to the current value, so a client
    # may send back what it read.
    project_id: UUID
    number: int


_FIXED = {"project_id": "project", "number": "number"}


def _snapshot(task: Task) -> dict[str, Any]:
    """Return the audited fields by their API names, as JSON values."""
    return {
        "project": str(task.project_id),
        "number": task.number,
        "title": task.title,
        "description": task.description,
        "status": task.status,
        "priority": task.priority,
        "assignee": None if task.assignee_id is None else str(task.assignee_id),
        "due_date": None if task.due_date is None else task.due_date.isoformat(),
    }


def _check_assignee(*, organization_id: UUID, assignee_id: UUID | None) -> None:
    if assignee_id is None:
        return
    if not Membership.objects.filter(organization_id=organization_id, user_id=assignee_id).exists():
        raise DomainError("The assignee is not a member of this organization.", code="not_a_member", field="assignee")


def _next_number(*, organization_id: UUID, project_id: UUID) -> int:
    """Take the project's next task number; the row lock lasts until the caller's transaction ends."""
    counter = (
        Project.objects.select_for_update()
        .filter(pk=project_id, organization_id=organization_id)
        .values_list("task_counter", flat=True)
        .first()
    )
    if counter is None:
        raise DomainError("No such project in this organization.", code="does_not_exist", field="project")
    Project.objects.filter(pk=project_id).update(task_counter=F("task_counter") + 1)
    return counter + 1


def _locked(*, organization_id: UUID, task_id: UUID) -> Task:
    task = Task.objects.select_for_update().filter(pk=task_id, organization_id=organization_id).first()
    if task is None:
        # Deleted since the view read it, or never this organization's.
        raise NotFound("Task not found.")
    return task


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
) -> Task:
    """Create a task with the next number of a project of the organization."""
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
    audit_record(
        organization_id=organization_id,
        actor=actor,
        action="task.created",
        target=task,
        changes=changes_between({}, _snapshot(task)),
    )
    return task


@transaction.atomic
def task_update(*, organization_id: UUID, task_id: UUID, actor: Actor, **fields: Unpack[TaskChanges]) -> Task:
    """Change a task's title, description, status, priority, assignee or due date."""
    unknown = set(fields) - TaskChanges.__optional_keys__
    if unknown:
        raise TypeError(f"task_update got unknown fields: {', '.join(sorted(unknown))}")
    task = _locked(organization_id=organization_id, task_id=task_id)
    changing = {name: value for name, value in fields.items() if getattr(task, name) != value}
    for name, api_name in _FIXED.items():
        if name in changing:
            raise DomainError(f"A task's {api_name} cannot change.", code="read_only", field=api_name)
    if "assignee_id" in changing:
        # Only a new assignee is checked: one who has since left may stay until replaced.
        _check_assignee(organization_id=organization_id, assignee_id=fields["assignee_id"])
    if not changing:
        return task
    before = _snapshot(task)
    for name, value in changing.items():
        setattr(task, name, value)
    task.save(update_fields=[*changing, "updated_at"])
    audit_record(
        organization_id=organization_id,
        actor=actor,
        action="task.updated",
        target=task,
        changes=changes_between(before, _snapshot(task)),
    )
    return task


@transaction.atomic
def task_delete(*, organization_id: UUID, task_id: UUID, actor: Actor) -> None:
    """Delete a task; its number is not handed out again."""
    task = _locked(organization_id=organization_id, task_id=task_id)
    audit_record_deletion(
        organization_id=organization_id,
        actor=actor,
        action="task.deleted",
        target=task,
        fields=_snapshot(task),
    )
    task.delete()
