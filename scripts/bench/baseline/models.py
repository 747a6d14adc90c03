"""The app's tables as a plain Django project sees them: unmanaged models, no migrations of their own.

Only the columns the baselines read or write; the app's migrations own the tables
(taskhub/accounts, taskhub/projects, taskhub/tasks). Foreign keys to the organization are plain
UUID columns: the baseline has no organization model and needs none. The managers are declared
because mypy's Django plugin runs with the app's settings, where this app is not installed.
"""

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """accounts_user: AbstractUser's columns with a UUID id, what SimpleJWT's JWTAuthentication loads."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    class Meta:
        managed = False
        db_table = "accounts_user"


class Project(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization_id = models.UUIDField()
    key = models.CharField(max_length=10)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, default="active")
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    task_counter = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects: "models.Manager[Project]" = models.Manager()

    class Meta:
        managed = False
        db_table = "projects_project"

    def __str__(self) -> str:
        return f"{self.key}: {self.name}"


class Task(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization_id = models.UUIDField()
    project = models.ForeignKey(Project, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, default="todo")
    priority = models.CharField(max_length=16, default="medium")
    assignee = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    due_date = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects: "models.Manager[Task]" = models.Manager()

    class Meta:
        managed = False
        db_table = "tasks_task"

    def __str__(self) -> str:
        return f"#{self.number} {self.title}"
