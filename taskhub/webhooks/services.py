"""Writes to webhooks, each one audited without its secret; pings, redeliveries and the disabled notice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypedDict, Unpack
from urllib.parse import urlsplit
from uuid import UUID

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from taskhub.audit.services import audit_record, changes_between
from taskhub.core import rls
from taskhub.core.actor import Actor
from taskhub.core.errors import Conflict, DomainError, NotFound
from taskhub.tenancy.roles import Role
from taskhub.tenancy.services import locked
from taskhub.webhooks import signing, transport
from taskhub.webhooks.catalog import ALL, EVENT_TYPES, PING
from taskhub.webhooks.events import delivery_queue, event_record, remember_webhooks_exist
from taskhub.webhooks.models import URL_MAX_LENGTH, Delivery, Event, Webhook


class WebhookChanges(TypedDict, total=False):
    url: str
    events: list[str]
    description: str
    active: bool


def _snapshot(webhook: Webhook) -> dict[str, Any]:
    """The fields the audit log shows: never a secret."""
    return {
        "url": webhook.url,
        "events": list(webhook.events),
        "description": webhook.description,
        "active": webhook.active,
    }


def webhook_url_clean(url: str) -> str:
    """Return the URL if a webhook may point at it, else raise a 400 on ``url`` saying why.

    Here only what the URL itself shows is judged (its scheme, credentials, a literal address);
    a host name is resolved and its addresses checked at every delivery (taskhub.webhooks.transport).
    """
    url = url.strip()
    if len(url) > URL_MAX_LENGTH:
        raise DomainError(f"Use a URL of at most {URL_MAX_LENGTH} characters.", code="max_length", field="url")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise DomainError("Enter a valid URL.", code="invalid", field="url") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DomainError("Enter an absolute http or https URL.", code="invalid", field="url")
    refused = transport.scheme_refusal(parts.scheme)
    if refused is not None:
        raise DomainError(f"Use an https URL: {refused}.", code="https_required", field="url")
    if parts.username is not None or parts.password is not None:
        raise DomainError(
            "Leave credentials out of the URL; verify deliveries with the signing secret instead.",
            code="invalid",
            field="url",
        )
    literal = transport.literal_address(parts.hostname)
    if literal is not None:
        reason = transport.refusal(literal)
        if reason is not None:
            raise DomainError(
                f"Webhooks cannot be sent to this address: {reason}.", code="address_not_allowed", field="url"
            )
    return url


def webhook_events_clean(events: list[str]) -> list[str]:
    """Return the subscription in its stored form (each type once, in catalog order), or raise a 400."""
    if not events:
        raise DomainError('Subscribe to at least one event type, or ["*"] for all.', code="required", field="events")
    unknown = sorted({event for event in events if event not in (*EVENT_TYPES, ALL)})
    if unknown:
        raise DomainError(
            f"Unknown event type {', '.join(unknown)}; the types are {', '.join(EVENT_TYPES)}, or * for all.",
            code="unknown_event_type",
            field="events",
        )
    if ALL in events:
        if len(set(events)) > 1:
            raise DomainError('"*" subscribes to every type; send it alone.', code="invalid", field="events")
        return [ALL]
    return [event for event in EVENT_TYPES if event in events]


def _check_room(organization_id: UUID) -> None:
    # Lock the organization's row so two creates cannot both see room for one more.
    organization_model: Any = Webhook._meta.get_field("organization").related_model
    organization_model.objects.select_for_update(no_key=True).filter(pk=organization_id).values_list("pk").first()
    limit = settings.WEBHOOKS_PER_ORGANIZATION
    if Webhook.objects.filter(organization_id=organization_id).count() >= limit:
        raise Conflict(
            f"This organization has {limit} webhooks, the most it may have (WEBHOOKS_PER_ORGANIZATION); "
            "delete one first.",
            code="webhook_limit_reached",
        )


def _ping(webhook: Webhook) -> Event:
    event = event_record(
        organization_id=webhook.organization_id, type=PING, data={"webhook": {"id": webhook.pk, "url": webhook.url}}
    )
    delivery_queue(
        organization_id=webhook.organization_id, webhook_id=webhook.pk, event_id=event.pk, attempt=1, retry=None
    )
    return event


@transaction.atomic
def webhook_create(
    *,
    organization_id: UUID,
    actor: Actor,
    url: str,
    events: list[str] | None = None,
    description: str = "",
    active: bool = True,
) -> Webhook:
    """Subscribe a URL to events; the returned webhook carries its secret in ``revealed_secret``, once.

    A ``webhook.ping`` goes to it at once (as GitHub sends one), so its deliveries show at once
    whether the URL answers.
    """
    url = webhook_url_clean(url)
    events = webhook_events_clean([ALL] if events is None else events)
    _check_room(organization_id)
    secret = signing.new_secret()
    webhook = Webhook(
        organization_id=organization_id,
        url=url,
        events=events,
        description=description,
        active=active,
        secret_encrypted=signing.encrypt(secret),
    )
    webhook.save(force_insert=True)
    audit_record(
        organization_id=organization_id,
        actor=actor,
        action="webhook.created",
        target=webhook,
        changes=changes_between({}, _snapshot(webhook)),
    )
    remember_webhooks_exist(organization_id=organization_id)
    _ping(webhook)
    webhook.revealed_secret = secret  # type: ignore[attr-defined]
    return webhook


@transaction.atomic
def webhook_update(
    *, organization_id: UUID, webhook_id: UUID, actor: Actor, **fields: Unpack[WebhookChanges]
) -> Webhook:
    """Change a webhook's URL, events, description or state; turning it active again clears a disabling."""
    unknown = set(fields) - WebhookChanges.__optional_keys__
    if unknown:
        raise TypeError(f"webhook_update got unknown fields: {', '.join(sorted(unknown))}")
    webhook = locked(Webhook, organization_id=organization_id, pk=webhook_id)
    before = _snapshot(webhook)
    if "url" in fields:
        fields["url"] = webhook_url_clean(fields["url"])
    if "events" in fields:
        fields["events"] = webhook_events_clean(fields["events"])
    for name, value in fields.items():
        setattr(webhook, name, value)
    changes = changes_between(before, _snapshot(webhook))
    if not changes:
        return webhook
    updated = [*changes, "updated_at"]
    if fields.get("active") and webhook.disabled_at is not None:
        webhook.disabled_at, webhook.disabled_reason, webhook.failing_since = None, "", None
        updated += ["disabled_at", "disabled_reason", "failing_since"]
    webhook.save(update_fields=updated)
    audit_record(
        organization_id=organization_id, actor=actor, action="webhook.updated", target=webhook, changes=changes
    )
    remember_webhooks_exist(organization_id=organization_id)
    return webhook


@transaction.atomic
def webhook_delete(*, organization_id: UUID, webhook_id: UUID, actor: Actor) -> None:
    """Delete a webhook with its deliveries; attempts still queued find it gone and send nothing."""
    webhook = locked(Webhook, organization_id=organization_id, pk=webhook_id)
    audit_record(
        organization_id=organization_id,
        actor=actor,
        action="webhook.deleted",
        target=webhook,
        changes=changes_between(_snapshot(webhook), dict.fromkeys(_snapshot(webhook))),
    )
    webhook.delete()
    remember_webhooks_exist(organization_id=organization_id)


@transaction.atomic
def webhook_rotate_secret(*, organization_id: UUID, webhook_id: UUID, actor: Actor) -> Webhook:
    """Give the webhook a new secret (returned in ``revealed_secret``, once); the old one signs too for a while.

    Both sign for ``WEBHOOK_ROTATION_OVERLAP_SECONDS`` (a day), so a receiver can switch without
    losing a delivery. A second rotation within the overlap drops the oldest secret.
    """
    webhook = locked(Webhook, organization_id=organization_id, pk=webhook_id)
    secret = signing.new_secret()
    webhook.previous_secret_encrypted = webhook.secret_encrypted
    webhook.previous_secret_expires_at = timezone.now() + timedelta(seconds=settings.WEBHOOK_ROTATION_OVERLAP_SECONDS)
    webhook.secret_encrypted = signing.encrypt(secret)
    webhook.save(
        update_fields=["secret_encrypted", "previous_secret_encrypted", "previous_secret_expires_at", "updated_at"]
    )
    audit_record(
        organization_id=organization_id,
        actor=actor,
        action="webhook.secret_rotated",
        target=webhook,
        changes={"previous_secret_expires_at": [None, webhook.previous_secret_expires_at.isoformat()]},
    )
    webhook.revealed_secret = secret  # type: ignore[attr-defined]
    return webhook


@transaction.atomic
def webhook_ping(*, organization_id: UUID, webhook_id: UUID, actor: Actor) -> Event:
    """Send a ``webhook.ping`` event to this webhook alone (active or not); one attempt, no retries."""
    webhook = locked(Webhook, organization_id=organization_id, pk=webhook_id)
    return _ping(webhook)


@transaction.atomic
def delivery_redeliver(*, organization_id: UUID, webhook_id: UUID, delivery_id: UUID, actor: Actor) -> Delivery:
    """Send a delivery's event to its webhook again: the same event id, the next attempt number, no retries."""
    webhook = locked(Webhook, organization_id=organization_id, pk=webhook_id)
    delivery = Delivery.objects.filter(organization_id=organization_id, webhook=webhook, pk=delivery_id).first()
    if delivery is None:
        raise NotFound("Delivery not found.")
    last = Delivery.objects.filter(organization_id=organization_id, webhook=webhook, event_id=delivery.event_id)
    number = (last.aggregate(number=Max("attempt"))["number"] or 0) + 1
    delivery_queue(
        organization_id=organization_id, webhook_id=webhook.pk, event_id=delivery.event_id, attempt=number, retry=None
    )
    delivery.queued_attempt = number  # type: ignore[attr-defined]
    return delivery


def webhook_disabled_email_send(*, organization_id: UUID, webhook_id: UUID) -> None:
    """Email the organization's admins and owners that a webhook was disabled (the job's body)."""
    webhook = Webhook.objects.filter(organization_id=organization_id, pk=webhook_id, active=False).first()
    if webhook is None or webhook.disabled_at is None:
        return  # re-enabled or deleted since: nothing to tell
    recipients = sorted(
        set(
            get_user_model()
            .objects.filter(
                memberships__organization_id=organization_id,
                memberships__role__in=[Role.OWNER, Role.ADMIN],
                is_active=True,
            )
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )
    if not recipients:
        return
    body = (
        f"The webhook {webhook.url} (id {webhook.pk}) was disabled on "
        f"{webhook.disabled_at.strftime('%Y-%m-%d %H:%M UTC')}: {webhook.disabled_reason}.\n\n"
        "Its recent attempts and the answers it gave are at "
        f"GET /api/v1/webhooks/{webhook.pk}/deliveries/. Once the receiver works again, turn it back on "
        f'with PATCH /api/v1/webhooks/{webhook.pk}/ {{"active": true}} and redeliver what it missed.\n'
    )
    # One message each: the admins of one organization need not see each other's addresses.
    for recipient in recipients:
        send_mail(
            subject="A webhook of your organization on Taskhub was disabled",
            message=body,
            from_email=None,
            recipient_list=[recipient],
            fail_silently=False,
        )


def webhook_secrets_reencrypt() -> int:
    """Encrypt every webhook's secrets under the current key, as the platform; return how many webhooks.

    All or nothing: one secret that no configured key decrypts raises ``SecretUnreadable`` and
    the transaction leaves every row as it was.
    """
    with rls.bypass("re-encrypt webhook secrets under the current key"):
        webhooks = list(Webhook.objects.select_for_update().order_by("pk"))
        for webhook in webhooks:
            webhook.secret_encrypted = signing.reencrypt(webhook.secret_encrypted)
            if webhook.previous_secret_encrypted:
                webhook.previous_secret_encrypted = signing.reencrypt(webhook.previous_secret_encrypted)
        Webhook.objects.bulk_update(webhooks, ["secret_encrypted", "previous_secret_encrypted"])
    return len(webhooks)


def seed_webhooks(*, organization_id: UUID, actor: Actor) -> None:
    """A webhook, turned off, with one past event and its logged delivery (``seed_tenants``, taskhub.tenancy.seeding).

    Records, not traffic: the webhook is inactive and nothing is queued, so a seeded
    organization sends nothing anywhere.
    """
    webhook = Webhook.objects.create(
        organization_id=organization_id,
        url="https://hooks.example.com/taskhub",
        events=[ALL],
        description="Sample (inactive)",
        active=False,
        secret_encrypted=signing.encrypt(signing.new_secret()),
    )
    sent = timezone.now() - timedelta(days=2)
    event = Event.objects.create(organization_id=organization_id, type=PING, data={"webhook": {"id": str(webhook.pk)}})
    Delivery.objects.create(
        organization_id=organization_id,
        webhook=webhook,
        event=event,
        attempt=1,
        requested_at=sent,
        response_status=200,
        duration_ms=120,
        response_body="ok",
    )
