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
            help_text="Null for an event no user or key made (a command, the platform).",
        ),
        "id": serializers.UUIDField(
            allow_null=True, help_text="The user's or key's id when it acted, kept after it is deleted."
        ),
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
            "seq",
            "prev_hash",
            "hash",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "seq": {"help_text": "The event's place in the organization's hash chain: 1, 2, ... (docs/audit.md)."},
            "prev_hash": {"help_text": "SHA-256 (hex) of the event before it; 64 zeros for the first."},
            "hash": {"help_text": "SHA-256 (hex) of this event's canonical encoding, its previous hash included."},
        }

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


class AuditChainSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField(help_text="Events in the chain, as stored (after any retention purge).")
    head_hash = serializers.CharField(
        help_text="The hash of the newest event (64 zeros for an empty chain): pin it outside the service."
    )
