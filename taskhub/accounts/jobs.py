"""The accounts app's jobs (taskhub.core.jobs): the emails about a person's account."""

from __future__ import annotations

import logging
import smtplib
from uuid import UUID

from taskhub.accounts.services.account_emails import SEND_EMAIL_JOB, account_email_send
from taskhub.core.jobs import PermanentJobError, account_job

logger = logging.getLogger(__name__)


@account_job(SEND_EMAIL_JOB)
def send_account_email(*, kind: str, user_id: str = "", email: str = "", new_email: str = "") -> None:
    """Send one account email (a link with a token made now, or a notice).

    An email with nothing left to say (the user gone, the address no longer theirs) is simply
    not sent: retrying cannot change that. A mail server refusing the address is a
    ``PermanentJobError``; any other error is retried, each attempt with a new token.
    """
    try:
        sent = account_email_send(
            kind=kind, user_id=UUID(user_id) if user_id else None, email=email, new_email=new_email
        )
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentJobError("the mail server refused the address") from exc
    if not sent:
        # No address in the log: an unknown one may be anybody's typo.
        logger.info("account email not sent: nobody to send it to", extra={"kind": kind, "user_id": user_id})
