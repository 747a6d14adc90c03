from typing import Any

from rest_framework import serializers

from taskhub.core import fields
from taskhub.webhooks.catalog import ALL, EVENT_TYPES
from taskhub.webhooks.models import DESCRIPTION_MAX_LENGTH, URL_MAX_LENGTH, Delivery, Event, Webhook

URL_HELP = (
    "Where events are POSTed: https (plain http only where `WEBHOOK_ALLOW_PRIVATE_NETWORKS` is on), no "
    "credentials, no private or loopback address (docs/webhooks.md, SSRF)."
)
EVENTS_HELP = f'Event types to receive: any of {", ".join(f"`{t}`" for t in EVENT_TYPES)}; or `["{ALL}"]` for all.'
# The pattern the schema publishes; webhook_url_clean (services) judges the rest.
URL_PATTERN = r"^https?://\S+$"


class WebhookSerializer(serializers.ModelSerializer[Webhook]):
    events = serializers.ListField(child=serializers.CharField(), read_only=True, help_text=EVENTS_HELP)
    active = serializers.BooleanField(
        read_only=True, help_text="False: no events are sent (pings and redeliveries still are)."
    )
    disabled_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When failing deliveries turned it off; PATCH `active` to resume."
    )
    failing_since = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Since when every attempt has failed; null after a success."
    )
    previous_secret_expires_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Until when the secret before the last rotation signs too."
    )

    class Meta:
        model = Webhook
        fields = [
            "id",
            "url",
            "events",
            "description",
            "active",
            "disabled_at",
            "disabled_reason",
            "failing_since",
            "previous_secret_expires_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.SerializerMethodField(
        help_text="The signing secret (`whsec_...`); shown in this response only, never again."
    )

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
        read_only_fields = fields

    def get_secret(self, webhook: Webhook) -> str:
        return str(webhook.revealed_secret)  # type: ignore[attr-defined]


class WebhookSecretSerializer(serializers.Serializer[Any]):
    secret = serializers.CharField(read_only=True, help_text="The new signing secret; shown in this response only.")
    previous_secret_expires_at = serializers.DateTimeField(
        read_only=True, help_text="Until then the previous secret signs too: receivers may switch meanwhile."
    )


class WebhookCreateInputSerializer(serializers.Serializer[Any]):
    url = fields.RegexField(URL_PATTERN, max_length=URL_MAX_LENGTH, help_text=URL_HELP)
    events = serializers.ListField(
        child=fields.CharField(max_length=64), required=False, max_length=len(EVENT_TYPES), help_text=EVENTS_HELP
    )
    description = fields.CharField(max_length=DESCRIPTION_MAX_LENGTH, allow_blank=True, required=False)
    active = serializers.BooleanField(required=False, default=True)


class WebhookUpdateInputSerializer(serializers.Serializer[Any]):
    """Any of the fields, for PATCH."""

    url = fields.RegexField(URL_PATTERN, max_length=URL_MAX_LENGTH, help_text=URL_HELP)
    events = serializers.ListField(
        child=fields.CharField(max_length=64), max_length=len(EVENT_TYPES), help_text=EVENTS_HELP
    )
    description = fields.CharField(max_length=DESCRIPTION_MAX_LENGTH, allow_blank=True)
    active = serializers.BooleanField(help_text="True turns a disabled webhook back on.")


class WebhookEventSerializer(serializers.ModelSerializer[Event]):
    class Meta:
        model = Event
        fields = ["id", "type", "created_at"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer[Delivery]):
    event = serializers.UUIDField(source="event_id", read_only=True, help_text="The event's id: its `webhook-id`.")
    event_type = serializers.CharField(source="event.type", read_only=True)
    response_status = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Null when no answer came (refused, network error, timeout)."
    )
    duration_ms = serializers.IntegerField(read_only=True, allow_null=True)
    response_body = serializers.CharField(read_only=True, help_text="The first 2 KB of the answer's body.")
    next_attempt_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When the next automatic attempt is due; null when none follows."
    )
    succeeded = serializers.BooleanField(read_only=True, help_text="A 2xx answer.")

    class Meta:
        model = Delivery
        fields = [
            "id",
            "event",
            "event_type",
            "attempt",
            "requested_at",
            "response_status",
            "succeeded",
            "duration_ms",
            "response_body",
            "error",
            "next_attempt_at",
            "created_at",
        ]
        read_only_fields = fields


class RedeliverySerializer(serializers.Serializer[Any]):
    event = serializers.UUIDField(read_only=True, help_text="The same event id as the delivery redelivered.")
    event_type = serializers.CharField(read_only=True)
    attempt = serializers.IntegerField(read_only=True, help_text="The number the new attempt will carry.")
