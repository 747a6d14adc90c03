from django.conf import settings
from django.db import models

from taskhub.tenancy.models import TenantModel


class TaskStatus(models.TextChoices):
    TODO = "todo", "To do"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


class TaskPriority(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class Task(TenantModel):
    """A piece of work in a project, numbered 1, 2, 3 … within it."""

    # Not indexed alone (the base's db_index): lists read task_org_created_idx. An index on the time
    # alone let the planner walk another organization's newest rows for this one's first page.
    created_at = models.DateTimeField(auto_now_add=True)

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="tasks")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.TODO)
    priority = models.CharField(max_length=16, choices=TaskPriority.choices, default=TaskPriority.MEDIUM)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_date = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="tasks_task_project_number_unique"),
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="task_org_created_idx"),
            models.Index(fields=["organization", "status"], name="task_org_status_idx"),
            # Sync clients: tasks/?updated_since=... (and ordering=updated_at) within one organization.
            models.Index(fields=["organization", "updated_at"], name="task_org_updated_idx"),
            # One project's tasks, newest first: the projects/{id}/tasks/ page.
            models.Index(fields=["project", "-created_at"], name="task_project_created_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.title}"
