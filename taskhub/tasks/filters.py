"""The task lists' query parameters: filters, and the orderings with what each sorts by.

docs/lists.md describes every parameter for clients; the OpenAPI schema carries the same text.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import django_filters
from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Expression, QuerySet
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ErrorDetail, ValidationError

from taskhub.core.filters import ChoiceListFilter, RequestedFilterSet, UtcIsoDateTimeFilter
from taskhub.labels.models import MAX_LABELS_PER_TASK
from taskhub.labels.selectors import carries_label
from taskhub.tasks.models import DUE_DATE_ORDER, PRIORITY_ORDER, Task, TaskPriority, TaskStatus
from taskhub.tenancy.context import TenantContext

# ?ordering= terms the task lists accept, and what some of them really sort by.
TASK_ORDERING_FIELDS = ["created_at", "updated_at", "due_date", "number", "priority"]

TASK_ORDERING_SUBSTITUTES: dict[str, Expression] = {
    # Tasks without a due date sort after every dated one (first when descending). Cursor pages
    # need a value that is never NULL.
    "due_date": DUE_DATE_ORDER,
    # low < medium < high < urgent.
    "priority": PRIORITY_ORDER,
}

ME = "me"
NONE = "none"
UUID_TEXT = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
ASSIGNEE_PATTERN = f"^({ME}|{NONE}|{UUID_TEXT})$"
ASSIGNEE_HELP = (
    f'A member\'s user id (a UUID, 8-4-4-4-12 hex digits); "{ME}", the signed-in user (a 400 with an API '
    f'key, which is no user); or "{NONE}", unassigned tasks. Anything else is a 400.'
)
ME_WITHOUT_USER = f'"{ME}" is the signed-in user, and an API key is none: give a member\'s user id instead.'


class AssigneeField(forms.Field):
    """``me``, ``none`` or a user id written as the schema's pattern says; anything else is invalid."""

    default_error_messages = {
        "invalid": f'Give a member\'s user id (a UUID), "{ME}" or "{NONE}".',
    }

    def to_python(self, value: Any) -> str | UUID | None:
        if value in self.empty_values:
            return None
        if value in (ME, NONE):
            return str(value)
        if not isinstance(value, str) or not re.fullmatch(UUID_TEXT, value):
            raise DjangoValidationError(self.error_messages["invalid"], code="invalid")
        return UUID(value)


class AssigneeFilter(django_filters.Filter):
    """Tasks assigned to one user, to the caller (``me``), or to no one (``none``)."""

    field_class = AssigneeField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The schema: a string of the pattern (drf-spectacular would guess a UUID).
        extend_schema_field({"type": "string", "pattern": ASSIGNEE_PATTERN, "description": ASSIGNEE_HELP})(self)

    def filter(self, qs: QuerySet[Any], value: Any) -> QuerySet[Any]:
        if value is None:
            return qs
        if value == NONE:
            return qs.filter(**{f"{self.field_name}__isnull": True})
        if value == ME:
            value = self._caller_user_id()
        return qs.filter(**{self.field_name: value})

    def _caller_user_id(self) -> UUID:
        request = getattr(self.parent, "request", None)
        context = getattr(request, "auth", None)
        user_id = context.user_id if isinstance(context, TenantContext) else None
        if user_id is None:
            raise ValidationError({self.parent_name: [ErrorDetail(ME_WITHOUT_USER, code="invalid")]})
        return user_id

    @property
    def parent_name(self) -> str:
        """The query parameter's name: this filter's name in its FilterSet."""
        return next(name for name, filter_ in self.parent.filters.items() if filter_ is self)


LABEL_HELP = (
    "A label's id (a UUID, 8-4-4-4-12 hex digits); repeat the parameter for several, "
    f"`label=<id>&label=<id>` (at most {MAX_LABELS_PER_TASK}): tasks that carry every one of them. Another "
    "organization's label, or an unknown id, finds nothing; anything but an id is a 400."
)


class LabelIdsField(forms.Field):
    """Every value the query string gives the parameter, each a UUID as the schema writes it."""

    widget = forms.MultipleHiddenInput  # hands over every value of a repeated parameter

    def to_python(self, value: Any) -> list[UUID] | None:
        if value and len(value) > MAX_LABELS_PER_TASK:
            # As the schema's maxItems: every value counts, a repeated or empty one too.
            raise DjangoValidationError(
                "At most %(most)s labels at once: no task carries more.",
                code="invalid",
                params={"most": MAX_LABELS_PER_TASK},
            )
        texts = [text for text in (value or []) if text not in self.empty_values]
        if not texts:
            return None
        refused = [text for text in texts if not isinstance(text, str) or not re.fullmatch(UUID_TEXT, text)]
        if refused:
            # Through params: a value may hold a "%", and the message is %-formatted with them.
            raise DjangoValidationError(
                "Not a label id: %(refused)s. Give a label's id (a UUID), the parameter repeated for several.",
                code="invalid",
                params={"refused": ", ".join(map(repr, dict.fromkeys(refused)))},
            )
        return list(dict.fromkeys(UUID(text) for text in texts))


class LabelFilter(django_filters.UUIDFilter):
    """Tasks that carry every label given (``label=<id>&label=<id>``): each one an ``EXISTS`` on the join table."""

    field_class = LabelIdsField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The schema: an array of ids, one parameter per value (form, exploded).
        extend_schema_field(
            {
                "type": "array",
                "items": {"type": "string", "format": "uuid", "pattern": f"^{UUID_TEXT}$"},
                "maxItems": MAX_LABELS_PER_TASK,
                "description": LABEL_HELP,
            }
        )(self)

    def filter(self, qs: QuerySet[Any], value: Any) -> QuerySet[Any]:
        for label_id in value or ():
            qs = qs.filter(carries_label(label_id))
        return qs


class TaskFilter(RequestedFilterSet):
    project = django_filters.UUIDFilter(field_name="project_id", help_text="A project's id.")
    status = ChoiceListFilter(
        field_name="status",
        choices=TaskStatus.choices,
        help_text="One status or several, comma-separated (`todo,in_progress`): tasks in any of them. An unknown "
        "value is a 400 naming it; the parameter given twice is a 400 too.",
    )
    priority = ChoiceListFilter(
        field_name="priority",
        choices=TaskPriority.choices,
        help_text="One priority or several, comma-separated (`high,urgent`): tasks with any of them. An unknown "
        "value is a 400 naming it; the parameter given twice is a 400 too. `ordering=priority` sorts by rank, "
        "low < medium < high < urgent.",
    )
    assignee = AssigneeFilter(field_name="assignee_id", help_text=ASSIGNEE_HELP)
    due_after = django_filters.DateFilter(
        field_name="due_date", lookup_expr="gte", help_text="YYYY-MM-DD; tasks due on or after this day (inclusive)."
    )
    due_before = django_filters.DateFilter(
        field_name="due_date", lookup_expr="lt", help_text="YYYY-MM-DD; tasks due strictly before this day (exclusive)."
    )
    updated_since = UtcIsoDateTimeFilter(
        field_name="updated_at",
        lookup_expr="gte",
        help_text="ISO 8601 date and time (`2030-01-31T09:00:00Z`, or an offset such as `+02:00`, written `%2B02:00` "
        "in a URL; none means UTC): tasks changed at or after it (inclusive). Deleted tasks are not listed.",
    )
    label = LabelFilter(help_text=LABEL_HELP)

    class Meta:
        model = Task
        fields = ["project", "status", "priority", "assignee", "due_after", "due_before", "updated_since", "label"]
