"""The webhooks app's jobs (taskhub.core.jobs): one delivery attempt, and the email when a webhook is disabled."""

from __future__ import annotations

from uuid import UUID

from taskhub.core.jobs import tenant_job
from taskhub.webhooks.delivery import DISABLED_EMAIL_JOB, delivery_attempt
from taskhub.webhooks.events import DELIVER_JOB
from taskhub.webhooks.services import webhook_disabled_email_send


@tenant_job(DELIVER_JOB)
def deliver(*, organization_id: UUID, webhook_id: str, event_id: str, attempt: int, retry: int | None) -> None:
    """Make one attempt to deliver an event to a webhook; a failure queues the next attempt itself.

    A failed delivery is not a failed job: the retry schedule is the webhook's own
    (``WEBHOOK_RETRY_SCHEDULE_SECONDS``), each attempt a job queued for later, so the queue's
    backoff applies only when the job itself breaks (the database unreachable).
    """
    delivery_attempt(
        organization_id=organization_id,
        webhook_id=UUID(webhook_id),
        event_id=UUID(event_id),
        number=attempt,
        retry=retry,
    )


@tenant_job(DISABLED_EMAIL_JOB)
def send_disabled_email(*, organization_id: UUID, webhook_id: str) -> None:
    """Tell the organization's admins and owners that a webhook was disabled, and why."""
    webhook_disabled_email_send(organization_id=organization_id, webhook_id=UUID(webhook_id))
