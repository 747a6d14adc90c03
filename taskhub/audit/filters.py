import django_filters

from taskhub.audit.models import AuditEvent
from taskhub.core.filters import UtcIsoDateTimeFilter


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
        ]
