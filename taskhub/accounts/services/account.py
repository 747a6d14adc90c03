"""A person's own account: proving an address, resetting a password, changing the address.

Every link mailed here carries an ``AccountToken``: 256 random bits, stored only as its
SHA-256 (like invitations' tokens: a slow hash adds nothing to a random secret, and the hash
still finds the row through its unique index), single-use, and short-lived. The token is made
by the email job when it sends (taskhub.accounts.jobs), never before: the queue's rows are
readable by every process of the app and are in backups, so they carry only ids and addresses.

An address is a user's only once verified (``User.email_verified``): the link mailed to it was
opened, or a password reset sent to it was used. Only verified addresses are unique, so an
unverified claim (a typo, or someone squatting another person's address) never blocks the real
owner: when they verify, every other user's unverified claim to the address is dropped
(``email_claim``), and its holder is told nothing.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth.base_user import BaseUserManager
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from taskhub.accounts.models import AccountToken, AccountTokenPurpose, User
from taskhub.accounts.services.auth import password_validate, user_sessions_end
from taskhub.core import jobs
from taskhub.core.errors import Conflict, DomainError

logger = logging.getLogger(__name__)

SEND_EMAIL_JOB = "accounts.send_email"
RESET_TOKEN_LIFETIME = timedelta(hours=1)


class EmailKind(StrEnum):
    """What the email job sends (taskhub.accounts.jobs, services.account_emails)."""

    VERIFY = "verify_email"
    SIGNUP_EXISTING = "signup_existing"
    RESET = "reset_password"
    CHANGE = "change_email"
    CHANGE_NOTICE = "email_change_notice"


# The pages that take a token, by the purposes whose tokens they accept: a change of address
# is confirmed through the same verify-email link as a first address.
_PAGE_PURPOSES: dict[str, tuple[str, ...]] = {
    AccountTokenPurpose.VERIFY_EMAIL: (AccountTokenPurpose.VERIFY_EMAIL, AccountTokenPurpose.CHANGE_EMAIL),
    AccountTokenPurpose.CHANGE_EMAIL: (AccountTokenPurpose.CHANGE_EMAIL,),
    AccountTokenPurpose.RESET_PASSWORD: (AccountTokenPurpose.RESET_PASSWORD,),
}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_email(email: str) -> str:
    """The address as stored: blanks stripped, the domain lowercased (the local part is the mailbox's)."""
    return BaseUserManager.normalize_email(email.strip())


def _token_invalid() -> DomainError:
    return DomainError("This link is invalid, expired or already used.", code="token_invalid", field="token")


def _lifetime(purpose: str) -> timedelta:
    if purpose == AccountTokenPurpose.RESET_PASSWORD:
        return RESET_TOKEN_LIFETIME
    return timedelta(hours=settings.VERIFY_EMAIL_TOKEN_HOURS)


def account_token_issue(*, user: User, purpose: str, email: str) -> str:
    """Make a token for ``user`` and store its hash; the user's older unused ones of ``purpose`` stop working.

    Called by the email job, in its transaction: if sending fails, the token rolls back with it.
    """
    now = timezone.now()
    # One live link per purpose: a new request (or a retried send) supersedes the previous email.
    AccountToken.objects.filter(user=user, purpose=purpose, used_at__isnull=True).delete()
    token = secrets.token_urlsafe(32)
    AccountToken.objects.create(
        user=user,
        purpose=purpose,
        email=email,
        token_hash=hash_token(token),
        expires_at=now + _lifetime(purpose),
    )
    return token


def _live_tokens(token: str, purposes: tuple[str, ...]) -> QuerySet[AccountToken]:
    return AccountToken.objects.select_related("user").filter(
        token_hash=hash_token(token),
        purpose__in=purposes,
        used_at__isnull=True,
        expires_at__gt=timezone.now(),
        user__is_active=True,
    )


def account_token_peek(*, token: str, purpose: str) -> AccountToken | None:
    """Return the valid unused token (for a page showing its form before the submit), else None.

    ``verify_email`` also finds a ``change_email`` token: both are confirmed on the verify-email page.
    """
    purposes = _PAGE_PURPOSES.get(purpose)
    if purposes is None or not token:
        return None
    return _live_tokens(token, purposes).first()


def _use(token: str, purposes: tuple[str, ...]) -> AccountToken:
    """Return the live token row, locked; it is used up if the caller's transaction commits."""
    if not token:
        raise _token_invalid()
    # The lock queues concurrent uses of one token: the second sees used_at and is refused.
    account_token = _live_tokens(token, purposes).select_for_update(of=("self",)).first()
    if account_token is None:
        raise _token_invalid()
    account_token.used_at = timezone.now()
    account_token.save(update_fields=["used_at"])
    return account_token


@transaction.atomic
def email_claim(*, user: User, email: str) -> None:
    """Make ``email`` the user's verified address, dropping every other user's unverified claim to it.

    Those users' ``email`` is blanked and they are not told: their claim was never proven, and
    telling them would tell them who owns the address. Another user holding it verified is a
    Conflict ``email_taken``.
    """
    email = normalize_email(email)
    others = User.objects.filter(email__iexact=email).exclude(pk=user.pk)
    if others.filter(email_verified=True).exists():
        raise Conflict("Another account uses this email address.", code="email_taken", field="email")
    others.filter(email_verified=False).update(email="")
    user.email = email
    user.email_verified = True
    try:
        # A savepoint: a concurrent claim that committed first trips the unique index here.
        with transaction.atomic():
            user.save(update_fields=["email", "email_verified"])
    except IntegrityError as exc:
        raise Conflict("Another account uses this email address.", code="email_taken", field="email") from exc


@transaction.atomic
def email_verify(*, token: str) -> User:
    """Verify an address with the token mailed to it (a first address, or the new one of a change)."""
    account_token = _use(token, _PAGE_PURPOSES[AccountTokenPurpose.VERIFY_EMAIL])
    user = User.objects.select_for_update().get(pk=account_token.user_id)
    if account_token.purpose == AccountTokenPurpose.VERIFY_EMAIL and user.email.lower() != account_token.email.lower():
        # The user has moved to another address, or their unverified claim was dropped because
        # somebody else verified this address: the link no longer names their address.
        if User.objects.filter(email__iexact=account_token.email, email_verified=True).exclude(pk=user.pk).exists():
            raise Conflict("Another account uses this email address.", code="email_taken", field="token")
        raise _token_invalid()
    email_claim(user=user, email=account_token.email)
    # Whatever other link was out to verify an address of this user has nothing left to do.
    AccountToken.objects.filter(user=user, purpose=AccountTokenPurpose.VERIFY_EMAIL, used_at__isnull=True).delete()
    return user


def _queue_email(kind: EmailKind, *, user_id: UUID, **kwargs: Any) -> None:
    # One waiting email per user, kind and address: a second click while one waits for a retry
    # makes that one due now instead of sending two.
    address = hashlib.sha256(kwargs.get("email", "").lower().encode()).hexdigest()[:16]
    jobs.enqueue(
        SEND_EMAIL_JOB,
        once_key=f"account-email:{kind}:{user_id}:{address}",
        kind=kind.value,
        user_id=str(user_id),
        **kwargs,
    )


def email_verification_queue(*, user: User) -> None:
    """Queue the email that carries a link to verify the user's address."""
    _queue_email(EmailKind.VERIFY, user_id=user.pk, email=user.email)


def signup_existing_notice_queue(*, holder: User) -> None:
    """Queue the email telling ``holder`` someone signed up with their address, with a reset link."""
    _queue_email(EmailKind.SIGNUP_EXISTING, user_id=holder.pk)


@transaction.atomic
def email_verification_resend(*, user_id: UUID) -> None:
    """Send the verification link again, for a user whose address is not verified yet."""
    user = User.objects.get(pk=user_id)
    if not user.email:
        raise DomainError(
            "Your account has no email address; set one with an email change.", code="email_missing", field="email"
        )
    if user.email_verified:
        raise Conflict("Your email address is already verified.", code="email_already_verified")
    email_verification_queue(user=user)


def _reset_recipients(email: str) -> list[User]:
    holders = User.objects.filter(email__iexact=email, is_active=True)
    verified = list(holders.filter(email_verified=True))
    # Nobody has proven the address: every unverified holder gets a link, which proves it.
    return verified or list(holders.filter(email_verified=False))


@transaction.atomic
def password_reset_request(*, email: str) -> None:
    """Mail a reset link to every active user holding ``email``; nothing for an unknown address.

    The caller answers the same either way, so the answer tells nobody whether the address is known.
    """
    email = normalize_email(email)
    if not email:
        return
    for user in _reset_recipients(email):
        # A new request makes any earlier link stop working now, not only when the email is sent.
        AccountToken.objects.filter(
            user=user, purpose=AccountTokenPurpose.RESET_PASSWORD, used_at__isnull=True
        ).delete()
        _queue_email(EmailKind.RESET, user_id=user.pk, email=user.email)


def _forgive(username: str) -> None:
    from taskhub.accounts import guard  # noqa: PLC0415 - the sign-in guard's module, written alongside

    guard.forgive(username=username)


@transaction.atomic
def password_reset_confirm(*, token: str, new_password: str) -> User:
    """Set a new password with a reset link; every session of the user ends and sign-in failures are forgiven.

    Using the link proves control of the address it was sent to: an unverified address becomes
    verified (unless somebody else verified it meanwhile).
    """
    account_token = _use(token, (AccountTokenPurpose.RESET_PASSWORD,))
    user = User.objects.select_for_update().get(pk=account_token.user_id)
    password_validate(new_password, user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    AccountToken.objects.filter(user=user, purpose=AccountTokenPurpose.RESET_PASSWORD, used_at__isnull=True).delete()
    if not user.email_verified and user.email and user.email.lower() == account_token.email.lower():
        try:
            with transaction.atomic():
                email_claim(user=user, email=account_token.email)
        except Conflict:
            logger.info("reset used, but the address was verified by another account meanwhile")
    user_sessions_end(user_id=user.pk)
    _forgive(user.username)
    return user


def _password_confirm(*, user: User, password: str, ip: str | None) -> None:
    from taskhub.accounts import guard  # noqa: PLC0415 - the sign-in guard's module, written alongside

    guard.password_confirm(user=user, password=password, ip=ip)


@transaction.atomic
def email_change_request(*, user_id: UUID, new_email: str, password: str, ip: str | None) -> None:
    """Mail a confirmation link to the new address and a notice to the old one.

    The answer is the same whether or not the new address belongs to another account (that
    account's owner gets a notice instead of a link), so it tells nobody who uses an address.
    """
    user = User.objects.get(pk=user_id)
    _password_confirm(user=user, password=password, ip=ip)
    new_email = normalize_email(new_email)
    if user.email_verified and user.email.lower() == new_email.lower():
        raise DomainError("This is already your verified email address.", code="email_unchanged", field="new_email")
    _queue_email(EmailKind.CHANGE, user_id=user.pk, email=new_email)
    if user.email and user.email.lower() != new_email.lower():
        _queue_email(EmailKind.CHANGE_NOTICE, user_id=user.pk, email=user.email, new_email=new_email)
