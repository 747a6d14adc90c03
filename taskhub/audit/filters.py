import django_filters
from django import forms
from drf_spectacular.utils import extend_schema_field

from taskhub.audit.models import AuditEvent
from taskhub.core.filters import UtcIsoDateTimeFilter

BIGINT_MAX = 2**63 - 1


# The schema says what the form checks, so a client (or a fuzzer) knows 0 is out of range.
@extend_schema_field({"type": "integer", "minimum": 1, "maximum": BIGINT_MAX})
class PlaceFilter(django_filters.NumberFilter):
    """A whole number from 1 to PostgreSQL's largest bigint: anything else is a 400, never a 500."""

    field_class = forms.IntegerField


class AuditEventFilter(django_filters.FilterSet):
    action = django_filters.CharFilter(help_text='e.g. "api_key.created".')
    target_type = django_filters.CharFilter(help_text='App and model, e.g. "accounts.apikey".')
    target_id = django_filters.CharFilter()
    actor_user = django_filters.UUIDFilter(field_name="actor_user")
    actor_api_key = django_filters.UUIDFilter(field_name="actor_api_key")
    created_after = UtcIsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="ISO 8601; events at or after this time."
    )
    created_before = UtcIsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="ISO 8601; events strictly before this time."
    )
    seq = PlaceFilter(
        min_value=1,
        max_value=BIGINT_MAX,
        help_text="The event at this place in the organization's hash chain: check a head hash pinned earlier.",
    )

    class Meta:
        model = AuditEvent
        fields = [
            "action",
            "target_type",
            "target_id",
            "actor_user",
            "actor_api_key",
            "created_after",
            "created_before",
            "seq",
        ]
