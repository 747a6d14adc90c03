import django_filters

from taskhub.core.filters import RequestedFilterSet
from taskhub.tasks.models import Task, TaskPriority, TaskStatus


class TaskFilter(RequestedFilterSet):
    project = django_filters.UUIDFilter(field_name="project_id", help_text="A project's id.")
    status = django_filters.ChoiceFilter(choices=TaskStatus.choices)
    priority = django_filters.ChoiceFilter(choices=TaskPriority.choices)
    assignee = django_filters.UUIDFilter(field_name="assignee_id", help_text="The assigned member's user id.")
    due_after = django_filters.DateFilter(
        field_name="due_date", lookup_expr="gte", help_text="YYYY-MM-DD; tasks due on or after this day (inclusive)."
    )
    due_before = django_filters.DateFilter(
        field_name="due_date", lookup_expr="lt", help_text="YYYY-MM-DD; tasks due strictly before this day (exclusive)."
    )

    class Meta:
        model = Task
        fields = ["project", "status", "priority", "assignee", "due_after", "due_before"]
