"""A person's own account: proving an address, resetting a password, changing the address.

Each flow mails a link carrying a single-use ``AccountToken`` (services.account_tokens), made
by the email job when it sends (services.account_emails).

An address is a user's only once verified (``User.email_verified``): the link mailed to it was
opened, or a password reset sent to it was used. Only verified addresses are unique, so an
unverified claim (a typo, or someone squatting another person's address) never blocks the real
owner: when they verify, every other user's unverified claim to the address is dropped
(``email_claim``), and its holder is told nothing.
"""

from __future__ import annotations

import logging
from uuid import UUID

from django.db import IntegrityError, transaction

from taskhub.accounts import guard
from taskhub.accounts.models import AccountTokenPurpose, User
from taskhub.accounts.services.account_emails import EmailKind, email_queue
from taskhub.accounts.services.account_tokens import (
    PAGE_PURPOSES,
    account_token_peek,
    account_token_use,
    account_tokens_drop,
    normalize_email,
    token_invalid,
)
from taskhub.accounts.services.auth import password_validate, user_sessions_end
from taskhub.core.errors import Conflict, DomainError

__all__ = [
    "account_token_peek",
    "email_change_request",
    "email_claim",
    "email_verification_resend",
    "email_verify",
    "password_reset_confirm",
    "password_reset_request",
]

logger = logging.getLogger(__name__)


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
    account_token = account_token_use(token=token, purposes=PAGE_PURPOSES[AccountTokenPurpose.VERIFY_EMAIL])
    user = User.objects.select_for_update().get(pk=account_token.user_id)
    if account_token.purpose == AccountTokenPurpose.VERIFY_EMAIL and user.email.lower() != account_token.email.lower():
        # The user has moved to another address, or their unverified claim was dropped because
        # somebody else verified this address: the link no longer names their address.
        if User.objects.filter(email__iexact=account_token.email, email_verified=True).exclude(pk=user.pk).exists():
            raise Conflict("Another account uses this email address.", code="email_taken", field="token")
        raise token_invalid()
    email_claim(user=user, email=account_token.email)
    # Whatever other link was out to verify an address of this user has nothing left to do.
    account_tokens_drop(user=user, purposes=(AccountTokenPurpose.VERIFY_EMAIL,))
    return user


def email_verification_queue(*, user: User) -> None:
    """Queue the email that carries a link to verify the user's address."""
    email_queue(EmailKind.VERIFY, user_id=user.pk, email=user.email)


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


@transaction.atomic
def password_reset_request(*, email: str) -> None:
    """Queue a reset link for every active user holding ``email``; nothing is sent for an unknown address.

    The job finds the users (services.account_emails): the request queues one job whatever the
    address, so neither its answer nor its timing says whether the address is known.
    """
    email_queue(EmailKind.RESET, user_id=None, email=normalize_email(email))


@transaction.atomic
def password_reset_confirm(*, token: str, new_password: str) -> User:
    """Set a new password with a reset link; every session of the user ends and sign-in failures are forgiven.

    Using the link proves control of the address it was sent to: an unverified address becomes
    verified (unless somebody else verified it meanwhile).
    """
    account_token = account_token_use(token=token, purposes=(AccountTokenPurpose.RESET_PASSWORD,))
    user = User.objects.select_for_update().get(pk=account_token.user_id)
    password_validate(new_password, user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    # Other reset links die, and so does a change of address not confirmed yet: whoever asked
    # for it may have known the old password.
    account_tokens_drop(user=user, purposes=(AccountTokenPurpose.RESET_PASSWORD, AccountTokenPurpose.CHANGE_EMAIL))
    if not user.email_verified and user.email and user.email.lower() == account_token.email.lower():
        try:
            with transaction.atomic():
                email_claim(user=user, email=account_token.email)
        except Conflict:
            logger.info("reset used, but another account verified the address meanwhile")
    user_sessions_end(user_id=user.pk)
    guard.forgive(username=user.username)
    return user


@transaction.atomic
def email_change_request(*, user_id: UUID, new_email: str, password: str, ip: str | None) -> None:
    """Mail a confirmation link to the new address and a notice to the old one.

    The answer is the same whether or not the new address belongs to another account (that
    account's owner gets a notice instead of a link), so it tells nobody who uses an address.
    """
    user = User.objects.get(pk=user_id)
    guard.password_confirm(user=user, password=password, ip=ip)
    new_email = normalize_email(new_email)
    if user.email_verified and user.email.lower() == new_email.lower():
        raise DomainError("This is already your verified email address.", code="email_unchanged", field="new_email")
    email_queue(EmailKind.CHANGE, user_id=user.pk, email=new_email)
    if user.email and user.email.lower() != new_email.lower():
        email_queue(EmailKind.CHANGE_NOTICE, user_id=user.pk, email=user.email, new_email=new_email)
