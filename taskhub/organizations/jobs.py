"""The organizations app's jobs (taskhub.core.jobs): the invitation email, the owner's export."""

from __future__ import annotations

import logging
import smtplib
from uuid import UUID

from taskhub.core.jobs import PermanentJobError, tenant_job
from taskhub.organizations.services.exports import EXPIRE_JOB, EXPORT_JOB, export_expire, export_fail, export_run
from taskhub.organizations.services.invitations import SEND_JOB, invitation_email_failed, invitation_email_send

logger = logging.getLogger(__name__)


def _mark_failed(*, organization_id: UUID, error: BaseException, invitation_id: str) -> None:
    invitation_email_failed(organization_id=organization_id, invitation_id=UUID(invitation_id), error=error)


@tenant_job(SEND_JOB, on_failure=_mark_failed)
def send_invitation_email(*, organization_id: UUID, invitation_id: str) -> None:
    """Email a pending invitation with a token made now; mark it sent.

    An invitation no longer pending (accepted, revoked, expired, or gone with its organization)
    gets no email, and the job simply returns: retrying cannot change that, it is not a failure
    for an operator to look at, and its delivery state is left as it was. A mail server that
    refuses the address is a ``PermanentJobError`` (no retries); any other error (the server
    down or busy) is retried, each attempt with a new token.
    """
    try:
        sent = invitation_email_send(organization_id=organization_id, invitation_id=UUID(invitation_id))
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentJobError("the mail server refused the invitation's address") from exc
    if not sent:
        logger.info("invitation no longer pending: no email sent", extra={"invitation_id": invitation_id})


@tenant_job(EXPORT_JOB, on_failure=export_fail, snapshot=True)
def write_organization_export(*, organization_id: UUID, export_id: str) -> None:
    """Write an owner's export: gzip NDJSON from server-side cursors, every table as of one snapshot."""
    export_run(organization_id=organization_id, export_id=export_id)


@tenant_job(EXPIRE_JOB)
def expire_organization_export(*, organization_id: UUID, export_id: str) -> None:
    """Delete an export's file once its retention (EXPORTS_RETENTION_HOURS) is over."""
    export_expire(organization_id=organization_id, export_id=export_id)
