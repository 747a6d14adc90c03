"""The emails about a person's account: queued by the flows, written and sent by the job.

Every one goes through the job queue (``accounts.send_email``, taskhub.accounts.jobs, an
account job: no organization). The job's arguments are ids, a kind and addresses, never a
token: the writer makes the token when it sends, in the job's transaction, so it is stored
(hashed) only if the mail server took the email, and a retry makes a new one. Plain text from
Django templates (templates/accounts/email/<kind>.txt and <kind>_subject.txt).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from enum import StrEnum
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from taskhub.accounts.links import account_link
from taskhub.accounts.models import AccountTokenPurpose, User
from taskhub.accounts.services.account_tokens import account_token_issue
from taskhub.core import jobs

logger = logging.getLogger(__name__)

SEND_EMAIL_JOB = "accounts.send_email"


class EmailKind(StrEnum):
    """What the email job sends."""

    VERIFY = "verify_email"
    SIGNUP_EXISTING = "signup_existing"
    RESET = "reset_password"
    CHANGE = "change_email"
    CHANGE_NOTICE = "email_change_notice"


def email_queue(kind: EmailKind, *, user_id: UUID | None, **kwargs: Any) -> None:
    """Queue one account email in the caller's transaction (``user_id`` None: a reset request, by address)."""
    # One waiting email per user, kind and address: a second click while one waits for a retry
    # makes that one due now instead of sending two.
    address = hashlib.sha256(str(kwargs.get("email", "")).lower().encode()).hexdigest()[:16]
    arguments: dict[str, Any] = {"kind": kind.value, **kwargs}
    if user_id is not None:
        arguments["user_id"] = str(user_id)
    jobs.enqueue(SEND_EMAIL_JOB, once_key=f"account-email:{kind.value}:{user_id or ''}:{address}", **arguments)


def _send(template: str, *, to: str, context: dict[str, Any]) -> None:
    # One line: a line break in a header would make the mail library refuse the message.
    subject = " ".join(render_to_string(f"accounts/email/{template}_subject.txt", context).split())
    body = render_to_string(f"accounts/email/{template}.txt", context).strip() + "\n"
    send_mail(subject=subject, message=body, from_email=None, recipient_list=[to], fail_silently=False)


def _reset_link(user: User) -> str:
    token = account_token_issue(user=user, purpose=AccountTokenPurpose.RESET_PASSWORD, email=user.email)
    return account_link("reset-password", token)


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def _verify(user: User, email: str, new_email: str) -> bool:
    if user.email_verified or not user.email or not _same(user.email, email):
        return False
    token = account_token_issue(user=user, purpose=AccountTokenPurpose.VERIFY_EMAIL, email=user.email)
    _send("verify_email", to=user.email, context=_context(user, link=account_link("verify-email", token)))
    return True


def _signup_existing(user: User, email: str, new_email: str) -> bool:
    if not user.email_verified or not user.email:
        return False
    _send("signup_existing", to=user.email, context=_context(user, link=_reset_link(user)))
    return True


def _reset_recipients(email: str) -> list[User]:
    holders = User.objects.select_for_update().filter(email__iexact=email, is_active=True).order_by("date_joined")
    verified = list(holders.filter(email_verified=True))
    # Nobody has proven the address: every unverified holder gets a link, which proves it.
    return verified or list(holders.filter(email_verified=False))


def _reset(email: str) -> bool:
    """Mail a reset link to every active user holding ``email``; False (nothing sent) for an unknown address.

    The recipients are looked up here, in the job, not in the request: the request does the same
    work (queue one job) for a known and an unknown address, so not even its timing tells them apart.
    """
    recipients = _reset_recipients(email)
    for user in recipients:
        # Issuing makes the user's earlier reset link stop working.
        _send("reset_password", to=user.email, context=_context(user, link=_reset_link(user)))
    return bool(recipients)


def _change(user: User, email: str, new_email: str) -> bool:
    holder = User.objects.filter(email__iexact=email, email_verified=True).exclude(pk=user.pk).first()
    if holder is None:
        token = account_token_issue(user=user, purpose=AccountTokenPurpose.CHANGE_EMAIL, email=email)
        _send("change_email", to=email, context=_context(user, link=account_link("verify-email", token)))
    elif holder.is_active:
        # The address's owner hears of it, with a way back into their own account; the person
        # asking hears nothing, so their request tells them nothing.
        _send("change_email_taken", to=holder.email, context=_context(holder, link=_reset_link(holder)))
    return True


def _change_notice(user: User, email: str, new_email: str) -> bool:
    if not email:
        return False
    # A reset link goes to the old address only while it is still the user's.
    link = _reset_link(user) if _same(user.email, email) else ""
    _send("email_change_notice", to=email, context=_context(user, link=link, new_email=new_email))
    return True


def _context(user: User, **extra: Any) -> dict[str, Any]:
    return {"username": user.username, "hours": settings.VERIFY_EMAIL_TOKEN_HOURS, **extra}


_WRITERS: dict[EmailKind, Callable[[User, str, str], bool]] = {
    EmailKind.VERIFY: _verify,
    EmailKind.SIGNUP_EXISTING: _signup_existing,
    EmailKind.CHANGE: _change,
    EmailKind.CHANGE_NOTICE: _change_notice,
}


def account_email_send(*, kind: str, user_id: UUID | None, email: str = "", new_email: str = "") -> bool:
    """Write and send one account email; False when there is nothing to send any more.

    Nothing is sent when the user is gone or inactive, or the address the email was for is no
    longer theirs (they changed it, or somebody else verified it and their claim was dropped).
    """
    if EmailKind(kind) == EmailKind.RESET or user_id is None:
        return _reset(email)
    user = User.objects.select_for_update().filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    return _WRITERS[EmailKind(kind)](user, email, new_email)
