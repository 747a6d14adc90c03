"""One delivery attempt: sign the event, send it through the guard, record it, decide what follows."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.utils import timezone

from taskhub.core import jobs
from taskhub.webhooks import signing, transport
from taskhub.webhooks.events import delivery_queue, encoded
from taskhub.webhooks.models import Delivery, Event, Webhook

logger = logging.getLogger(__name__)

DISABLED_EMAIL_JOB = "webhooks.send_disabled_email"


def body_of(event: Event) -> str:
    """The JSON body receivers get; the same bytes for every attempt of the event."""
    return encoded(
        {
            "id": str(event.pk),
            "type": event.type,
            "created_at": event.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "organization": str(event.organization_id),
            "data": event.data,
        }
    )


def signing_secrets(webhook: Webhook, now: datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous one while its overlap lasts."""
    secrets_in_use = [signing.decrypt(webhook.secret_encrypted)]
    expires = webhook.previous_secret_expires_at
    if webhook.previous_secret_encrypted and expires is not None and expires > now:
        secrets_in_use.append(signing.decrypt(webhook.previous_secret_encrypted))
    return secrets_in_use


def headers_for(webhook: Webhook, event: Event, body: str, now: datetime) -> dict[str, str]:
    message_id = str(event.pk)
    return {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signing.signature_header(
            secrets_in_use=signing_secrets(webhook, now), message_id=message_id, timestamp=now, body=body
        ),
    }


def next_delay(answer: transport.Answer, retry: int | None) -> float | None:
    """Seconds until the next automatic attempt, or None when none follows.

    The schedule's wait for this retry, or the receiver's ``Retry-After`` when that is longer
    (capped at the schedule's longest wait, so a receiver cannot park an event for ever).
    """
    schedule = settings.WEBHOOK_RETRY_SCHEDULE_SECONDS
    if retry is None or not answer.retryable or retry >= len(schedule):
        return None
    delay = float(schedule[retry])
    if answer.retry_after is not None:
        delay = max(delay, min(answer.retry_after, float(max(schedule))))
    return delay


def delivery_attempt(
    *, organization_id: UUID, webhook_id: UUID, event_id: UUID, number: int, retry: int | None
) -> None:
    """Make attempt ``number`` to deliver the event to the webhook (the ``webhooks.deliver`` job).

    ``retry`` is where the attempt stands in the retry schedule; None for a single attempt (a
    ping, a redelivery) that no automatic retry follows. Automatic attempts stop for a webhook
    that was deleted, deactivated or disabled; a ping or a redelivery goes to an inactive one too.
    """
    webhook = Webhook.objects.filter(organization_id=organization_id, pk=webhook_id).first()
    event = Event.objects.filter(organization_id=organization_id, pk=event_id).first()
    if webhook is None or event is None:
        logger.info("webhook or event gone: nothing delivered", extra={"webhook_id": str(webhook_id)})
        return
    if retry is not None and not webhook.active:
        logger.info("webhook inactive: delivery dropped", extra={"webhook_id": str(webhook_id), "event": event.type})
        return
    now = timezone.now()
    body = body_of(event)
    try:
        headers = headers_for(webhook, event, body, now)
    except signing.SecretUnreadable as exc:
        # A configuration error: nothing is sent unsigned; retried, so the event goes once the key is back.
        logger.error("webhook secret unreadable", extra={"webhook_id": str(webhook.pk)})
        answer = transport.Answer(status=None, body="", error=f"not sent: {exc}", duration_ms=0)
    else:
        answer = transport.post(webhook.url, body.encode(), headers)
    log: dict[str, Any] = {
        "webhook_id": str(webhook.pk),
        "event_id": str(event.pk),
        "event": event.type,
        "attempt": number,
        "status": answer.status,
        "duration_ms": answer.duration_ms,
    }
    delay = None
    if answer.succeeded:
        logger.info("webhook delivered", extra=log)
        if webhook.failing_since is not None:
            Webhook.objects.filter(pk=webhook.pk).update(failing_since=None)
    elif _note_failure(webhook, now):
        logger.warning("webhook delivery failed; the webhook is disabled", extra={**log, "error": answer.error})
    else:
        delay = next_delay(answer, retry)
        logger.warning("webhook delivery failed", extra={**log, "error": answer.error, "retry_in_seconds": delay})
    Delivery.objects.create(
        organization_id=organization_id,
        webhook=webhook,
        event=event,
        attempt=number,
        requested_at=now,
        response_status=answer.status,
        duration_ms=answer.duration_ms,
        response_body=answer.body,
        error=answer.error,
        next_attempt_at=None if delay is None else now + timedelta(seconds=delay),
    )
    if delay is not None and retry is not None:
        delivery_queue(
            organization_id=organization_id,
            webhook_id=webhook.pk,
            event_id=event.pk,
            attempt=number + 1,
            retry=retry + 1,
            delay_seconds=delay,
        )


def _note_failure(webhook: Webhook, now: datetime) -> bool:
    """Start the webhook's failing streak, or disable it once the streak has lasted its limit; True when disabled."""
    if webhook.failing_since is None:
        Webhook.objects.filter(pk=webhook.pk, failing_since__isnull=True).update(failing_since=now)
        return False
    failing_for = now - webhook.failing_since
    if not webhook.active or failing_for < timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS):
        return False
    hours = int(failing_for.total_seconds() // 3600)
    reason = f"every delivery failed for {hours} hours"
    disabled = Webhook.objects.filter(pk=webhook.pk, active=True).update(
        active=False, disabled_at=now, disabled_reason=reason
    )
    if not disabled:
        return False
    logger.warning("webhook disabled", extra={"webhook_id": str(webhook.pk), "reason": reason})
    jobs.enqueue(DISABLED_EMAIL_JOB, organization_id=webhook.organization_id, webhook_id=str(webhook.pk))
    return True
