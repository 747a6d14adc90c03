"""Sign-up, tokens, sessions and passwords."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from uuid import UUID

from django.contrib.auth import password_validation
from django.contrib.auth.signals import user_logged_in
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from taskhub.accounts import guard
from taskhub.accounts.authentication import access_token_context, denied_token_cache_key
from taskhub.accounts.models import User
from taskhub.accounts.services import account_emails, account_tokens
from taskhub.accounts.tokens import OrganizationRefreshToken, token_pair
from taskhub.core.actor import Actor
from taskhub.core.errors import DomainError, Forbidden, Unauthenticated
from taskhub.organizations.models import Membership, Organization
from taskhub.organizations.selectors import membership_for_token, membership_in
from taskhub.organizations.services.organizations import membership_tokens_revoke, organization_create
from taskhub.tenancy.context import TenantContext

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Registration:
    user: User
    organization: Organization
    tokens: dict[str, str]


def _invalid_refresh() -> Unauthenticated:
    return Unauthenticated("Refresh token is invalid, expired or revoked.", code="token_not_valid")


def password_validate(password: str, user: User, field: str = "password") -> None:
    """Run Django's password validators; a failure is a 400 on ``field``."""
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        raise DomainError(" ".join(exc.messages), code="password_invalid", field=field) from exc


def user_register(
    *, username: str, email: str, password: str, organization_name: str, ip: str | None, request_id: str
) -> Registration:
    """Create a user and an organization they own, sign them in to it, and mail the address.

    The answer is the same whether or not the address is someone's already, so sign-up tells
    nobody which addresses have accounts: the user is created with the address unverified, and
    the email says the rest (to a fresh address, a link to verify it; to an address another
    account holds verified, that there is an account already and how to reset its password).
    Usernames stay unique (case-insensitively) and ``username_taken`` stays: the username is the
    sign-in identifier and a handle co-members see, and the sign-in throttle bounds guessing.
    """
    email = account_tokens.normalize_email(email)
    user = User(username=username, email=email, email_verified=False)
    password_validate(password, user)
    user.set_password(password)
    try:
        with transaction.atomic():
            if User.objects.filter(username__iexact=username).exists():
                raise DomainError("This username is taken.", code="username_taken", field="username")
            user.save()
            actor = Actor(user_id=user.pk, label=user.username, ip=ip, request_id=request_id)
            organization, membership = organization_create(
                name=organization_name, owner=user, actor=actor, name_field="organization_name"
            )
            holder = User.objects.filter(email__iexact=email, email_verified=True).exclude(pk=user.pk).first()
            if holder is None:
                account_emails.email_queue(account_emails.EmailKind.VERIFY, user_id=user.pk, email=email)
            else:
                account_emails.email_queue(account_emails.EmailKind.SIGNUP_EXISTING, user_id=holder.pk)
    except IntegrityError as exc:
        # Only the username is unique among what a sign-up writes: a concurrent sign-up took it.
        raise DomainError("This username is taken.", code="username_taken", field="username") from exc
    return Registration(user=user, organization=organization, tokens=token_pair(membership))


def _membership_or_refuse(*, user_id: UUID, organization: str | None) -> Membership:
    membership = membership_for_token(user_id=user_id, organization=organization)
    if membership is None:
        # The same answer whether the organization exists or not.
        raise Forbidden("You are not a member of that organization.", code="not_a_member")
    return membership


def token_obtain(*, username: str, password: str, organization: str | None, ip: str | None) -> dict[str, str]:
    """Check the password (under the guard's limits) and issue tokens for the named organization or the user's first."""
    user = guard.authenticate(username=username, password=password, ip=ip)
    tokens = token_pair(_membership_or_refuse(user_id=user.pk, organization=organization))
    # What login() would announce: last_login is set.
    user_logged_in.send(sender=User, request=None, user=user)
    return tokens


def _refresh_token(raw: str) -> OrganizationRefreshToken:
    try:
        token = OrganizationRefreshToken(raw)  # type: ignore[arg-type]
        UUID(str(token["org"]))
        UUID(str(token["sub"]))
    except (TokenError, KeyError, ValueError) as exc:
        # SimpleJWT's refusal, translated here: callers see only the domain's 401.
        raise _invalid_refresh() from exc
    return token


def _blacklist_once(token: OrganizationRefreshToken) -> bool:
    """Blacklist ``token``; return False if it already was (a replayed refresh)."""
    # outstand() keeps the token's digest, never the token (taskhub/accounts/tokens.py).
    _, created = BlacklistedToken.objects.get_or_create(token=token.outstand())
    return created


@transaction.atomic
def token_refresh(*, refresh: str) -> dict[str, str]:
    """Rotate: the old refresh token stops working and a new pair is issued."""
    token = _refresh_token(refresh)
    membership = membership_in(organization_id=token["org"], user_id=token["sub"])
    if membership is None or not _blacklist_once(token):
        raise _invalid_refresh()
    return token_pair(membership)


def token_verify(*, token: str) -> None:
    """Accept a live access token (revocation included) or a live refresh token, else 401."""
    try:
        access_token_context(token)
    except Unauthenticated:
        refresh = _refresh_token(token)
        if membership_in(organization_id=refresh["org"], user_id=refresh["sub"]) is None:
            raise _invalid_refresh() from None


def _deny_access_token(context: TenantContext | None) -> None:
    if context is None or context.token_jti is None or context.token_exp is None:
        return
    remaining = int(context.token_exp - time.time())
    if remaining > 0:
        try:
            cache.set(denied_token_cache_key(context.token_jti), 1, timeout=remaining)
        except Exception:  # noqa: BLE001
            logger.error("cache unavailable: the access token used to log out stays valid until it expires")


def _blacklist_all(user_id: UUID | str) -> None:
    live = OutstandingToken.objects.filter(user_id=user_id, expires_at__gt=timezone.now()).filter(
        Q(blacklistedtoken__isnull=True)
    )
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=token) for token in live], ignore_conflicts=True)


@transaction.atomic
def user_sessions_end(*, user_id: UUID) -> None:
    """End every session of the user: refresh tokens blacklisted, access tokens refused from the next request."""
    _blacklist_all(user_id)
    membership_tokens_revoke(user_id=user_id)


@transaction.atomic
def user_deactivate(*, user_id: UUID) -> None:
    """Deactivate the user: no more sign-ins, and every token they hold stops working at once."""
    User.objects.filter(pk=user_id).update(is_active=False)
    user_sessions_end(user_id=user_id)


@transaction.atomic
def logout(*, refresh: str, everywhere: bool, context: TenantContext | None) -> None:
    """End the session of ``refresh`` (and the access token presented), or every session."""
    token = _refresh_token(refresh)
    if everywhere:
        user_sessions_end(user_id=UUID(str(token["sub"])))
    elif not _blacklist_once(token):
        raise _invalid_refresh()
    _deny_access_token(context)


def organization_switch(*, context: TenantContext, organization: str) -> dict[str, str]:
    """Issue tokens for another organization of the same user."""
    if context.user_id is None:
        raise Forbidden("An API key is bound to its organization.", code="api_key_bound")
    return token_pair(_membership_or_refuse(user_id=context.user_id, organization=organization))


@transaction.atomic
def password_change(*, user_id: UUID, old_password: str, new_password: str, ip: str | None) -> None:
    """Change the password; every refresh and access token of the user stops working."""
    user = User.objects.select_for_update().get(pk=user_id)
    # A few wrong tries per window: a stolen access token cannot guess the password through here.
    guard.password_confirm(user=user, password=old_password, ip=ip, field="old_password")
    password_validate(new_password, user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    user_sessions_end(user_id=user.pk)
