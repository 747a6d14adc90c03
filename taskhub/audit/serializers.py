from typing import Any

from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from taskhub.audit.models import AuditEvent

# Schema only: ``label`` cannot be a declared field of a Serializer class (it is an attribute of Field).
_ACTOR_SCHEMA = inline_serializer(
    name="AuditEventActor",
    fields={
        "type": serializers.ChoiceField(
            choices=["user", "api_key"],
            allow_null=True,
            help_text="Null when the user or key that acted no longer exists.",
        ),
        "id": serializers.UUIDField(allow_null=True),
        "label": serializers.CharField(help_text="Who it was at the time: kept after the user or key is gone."),
    },
)


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "action",
            "actor",
            "target_type",
            "target_id",
            "target_label",
            "changes",
            "ip_address",
            "request_id",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(_ACTOR_SCHEMA)
    def get_actor(self, event: AuditEvent) -> dict[str, Any]:
        # The ids are read off the row itself: listing events joins nothing.
        if event.actor_api_key_id is not None:
            kind, actor_id = "api_key", event.actor_api_key_id
        elif event.actor_user_id is not None:
            kind, actor_id = "user", event.actor_user_id
        else:
            kind, actor_id = None, None
        return {"type": kind, "id": str(actor_id) if actor_id else None, "label": event.actor_label}
