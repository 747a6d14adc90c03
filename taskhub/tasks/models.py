from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import Case, Value, When
from django.db.models.functions import Coalesce

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


# What ?ordering=due_date and ?ordering=priority sort by (taskhub.tasks.filters), indexed as they
# are written (the index's expression must be the query's): undated tasks after every dated one,
# and priorities by rank (low < medium < high < urgent), not by the alphabet.
PRIORITY_RANK = {priority: rank for rank, priority in enumerate(TaskPriority, start=1)}
DUE_DATE_ORDER = Coalesce("due_date", Value(date.max, output_field=models.DateField()))
PRIORITY_ORDER = Case(
    *(When(priority=priority.value, then=Value(rank)) for priority, rank in PRIORITY_RANK.items()),
    default=Value(0),
    output_field=models.IntegerField(),
)


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
            # The task list's other orderings, ending with the id that breaks ties: no page sorts the
            # organization, or a run of equal values (every project has a task 1, most tasks no due
            # date, there are four priorities). tenancy/tests/test_list_orderings.py.
            models.Index(fields=["organization", "number", "id"], name="task_org_number_idx"),
            models.Index(models.F("organization"), DUE_DATE_ORDER, models.F("id"), name="task_org_due_idx"),
            models.Index(models.F("organization"), PRIORITY_ORDER, models.F("id"), name="task_org_priority_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.title}"
