"""Webhooks: the URLs an organization subscribes to its events, the events, and every delivery attempt."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from taskhub.tenancy.models import TenantModel

URL_MAX_LENGTH = 2000
DESCRIPTION_MAX_LENGTH = 500
# What a delivery keeps of the receiver's answer.
RESPONSE_BODY_KEPT_BYTES = 2048


class Webhook(TenantModel):
    """A URL that receives the organization's events, signed with a secret only it and we hold."""

    url = models.CharField(max_length=URL_MAX_LENGTH)
    # Event types (taskhub.webhooks.catalog), or ["*"] for every one.
    events = models.JSONField(default=list)
    description = models.CharField(max_length=DESCRIPTION_MAX_LENGTH, blank=True)
    active = models.BooleanField(default=True)
    # The signing secret ("whsec_..."), encrypted at rest (taskhub.webhooks.secrets); never exported.
    secret_encrypted = models.TextField()
    # After a rotation the previous secret signs too, until it expires.
    previous_secret_encrypted = models.TextField(blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # Since when every attempt has failed (NULL after a success); a day of it disables the webhook.
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True)

    # The secrets cannot leave in an export, and an import could not sign without them.
    exported = False

    class Meta:
        indexes = [models.Index(fields=["organization", "created_at"], name="webhook_org_created_idx")]

    def __str__(self) -> str:
        return self.url


class Event(TenantModel):
    """One event of the organization as receivers get it: the outbox row, written with the change.

    Its id is the ``webhook-id`` header and the body's ``id``: the same across retries and
    redeliveries, so a receiver de-duplicates on it.
    """

    type = models.CharField(max_length=64)
    data = models.JSONField(encoder=DjangoJSONEncoder)

    exported = False

    def __str__(self) -> str:
        return f"{self.type} {self.pk}"


class Delivery(TenantModel):
    """One attempt to deliver one event to one webhook, and what came back."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    attempt = models.PositiveIntegerField()
    requested_at = models.DateTimeField()
    # NULL when no answer came (refused address, network error, timeout).
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    error = models.TextField(blank=True)
    # When the next automatic attempt is due; NULL when none will follow.
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    exported = False

    class Meta:
        indexes = [models.Index(fields=["organization", "webhook", "created_at"], name="delivery_org_webhook_idx")]

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.webhook_id} #{self.attempt}"

    @property
    def succeeded(self) -> bool:
        return self.response_status is not None and 200 <= self.response_status < 300
