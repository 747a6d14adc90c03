"""The single-use tokens mailed to a person about their account (``AccountToken``).

256 random bits, stored only as their SHA-256 (like invitations' tokens: a slow hash adds
nothing to a random secret, and the hash still finds the row through its unique index). A
token is made by the email job when it sends (taskhub.accounts.jobs), never before: the
queue's rows are readable by every process of the app and are in backups, so no token may
sit in them.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.base_user import BaseUserManager
from django.db.models import QuerySet
from django.utils import timezone

from taskhub.accounts.models import AccountToken, AccountTokenPurpose, User
from taskhub.core.errors import DomainError

RESET_TOKEN_LIFETIME = timedelta(hours=1)

# The pages that take a token, by the purposes whose tokens they accept: a change of address
# is confirmed through the same verify-email link as a first address.
PAGE_PURPOSES: dict[str, tuple[str, ...]] = {
    AccountTokenPurpose.VERIFY_EMAIL: (AccountTokenPurpose.VERIFY_EMAIL, AccountTokenPurpose.CHANGE_EMAIL),
    AccountTokenPurpose.CHANGE_EMAIL: (AccountTokenPurpose.CHANGE_EMAIL,),
    AccountTokenPurpose.RESET_PASSWORD: (AccountTokenPurpose.RESET_PASSWORD,),
}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_email(email: str) -> str:
    """The address as stored: blanks stripped, the domain lowercased (the local part is the mailbox's)."""
    return BaseUserManager.normalize_email(email.strip())


def token_invalid() -> DomainError:
    return DomainError("This link is invalid, expired or already used.", code="token_invalid", field="token")


def _lifetime(purpose: str) -> timedelta:
    if purpose == AccountTokenPurpose.RESET_PASSWORD:
        return RESET_TOKEN_LIFETIME
    return timedelta(hours=settings.VERIFY_EMAIL_TOKEN_HOURS)


def account_token_issue(*, user: User, purpose: str, email: str) -> str:
    """Make a token for ``user`` and store its hash; the user's older unused ones of ``purpose`` stop working.

    Called by the email job, in its transaction: if sending fails, the token rolls back with it.
    """
    # One live link per purpose: a new request (or a retried send) supersedes the previous email.
    AccountToken.objects.filter(user=user, purpose=purpose, used_at__isnull=True).delete()
    token = secrets.token_urlsafe(32)
    AccountToken.objects.create(
        user=user,
        purpose=purpose,
        email=email,
        token_hash=hash_token(token),
        expires_at=timezone.now() + _lifetime(purpose),
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
    purposes = PAGE_PURPOSES.get(purpose)
    if purposes is None or not token:
        return None
    return _live_tokens(token, purposes).first()


def account_token_use(*, token: str, purposes: tuple[str, ...]) -> AccountToken:
    """Return the live token's row, locked, and mark it used (for good if the caller's transaction commits)."""
    if not token:
        raise token_invalid()
    # The lock queues concurrent uses of one token: the second sees used_at and is refused.
    account_token = _live_tokens(token, purposes).select_for_update(of=("self",)).first()
    if account_token is None:
        raise token_invalid()
    account_token.used_at = timezone.now()
    account_token.save(update_fields=["used_at"])
    return account_token


def account_tokens_drop(*, user: User, purposes: tuple[str, ...]) -> None:
    """Make every unused token of the user for ``purposes`` stop working."""
    AccountToken.objects.filter(user=user, purpose__in=purposes, used_at__isnull=True).delete()
