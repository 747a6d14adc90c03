"""Invitations: offering a role in an organization by email, revoking the offer, accepting it.

The raw token exists only in the email: the database keeps its SHA-256. It is 256 random
bits, so a slow hash would add nothing, and the hash still finds the row through its
unique index.

Accepting needs the invited address: a signed-in user whose email is the invited one (the
acceptance then verifies it for them), or a new account that takes the address, verified. The
token holder has shown they read that mailbox; anyone else holding the token is refused.

The email is a job (``organizations.send_invitation_email``, taskhub.organizations.jobs), so
creating an invitation never waits for, or fails with, the mail server. The token is made by
the job when it sends, never before: the queue's rows are readable by every process of the
app and are in backups, so no token may sit in them. Until then the invitation holds the hash
of a random token nobody has.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.contrib.auth.base_user import BaseUserManager
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from taskhub.accounts.links import account_link
from taskhub.accounts.models import User
from taskhub.accounts.services.account import email_claim
from taskhub.accounts.services.auth import password_validate
from taskhub.accounts.tokens import token_pair
from taskhub.audit.services import audit_record
from taskhub.core import jobs, rls
from taskhub.core.actor import Actor
from taskhub.core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthenticated,
)
from taskhub.core.text import single_line
from taskhub.organizations.models import (
    Invitation,
    InvitationDeliveryStatus,
    InvitationStatus,
    Membership,
    Organization,
)
from taskhub.tenancy.roles import Role, role_allows
from taskhub.webhooks.events import emit
from taskhub.webhooks.payloads import object_payload

logger = logging.getLogger(__name__)

RATE_WINDOW_SECONDS = 3600
DAY_SECONDS = 86400
SEND_JOB = "organizations.send_invitation_email"

# Why an invitation cannot be accepted, by its status.
_REFUSALS: dict[InvitationStatus, tuple[str, str]] = {
    InvitationStatus.ACCEPTED: ("This invitation has already been used.", "invitation_used"),
    InvitationStatus.REVOKED: ("This invitation has been revoked.", "invitation_revoked"),
    InvitationStatus.EXPIRED: ("This invitation has expired; ask for a new one.", "invitation_expired"),
}


@dataclass(frozen=True)
class InvitationPreview:
    """What a pending invitation offers, for the page its link opens: who invites whom where."""

    organization_name: str
    role: str
    email: str
    expires_at: datetime


@dataclass(frozen=True)
class Acceptance:
    """The membership an accepted invitation created, and tokens that act in it."""

    membership: Membership
    tokens: dict[str, str]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _unheld_token_hash() -> str:
    """The hash of a random token thrown away at once: no link opens the invitation until the job sends one."""
    return hash_token(secrets.token_urlsafe(32))


def invitation_rate_cache_key(*, organization_id: UUID | str, window: int) -> str:
    return f"org:{organization_id}:invitations:{window}"


def _has_pending_invitation(organization_id: UUID, email: str) -> bool:
    return Invitation.objects.filter(
        organization_id=organization_id,
        email__iexact=email,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).exists()


def invitation_user_rate_cache_key(*, user_id: UUID | str, window: int) -> str:
    return f"invitations:user:{user_id}:{window}"


def invitation_address_rate_cache_key(*, email: str, window: int) -> str:
    # Hashed: the cache holds no addresses (it is shared, dumped, and seen by operators).
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    return f"invitations:address:{digest}:{window}"


@dataclass(frozen=True)
class _Limit:
    key: str
    limit: int
    window_end: int
    detail: str


def _consume_invitation_slot(organization_id: UUID, *, user_id: UUID | None = None, email: str = "") -> None:
    """Count one invitation email against every limit it falls under; refuse past any of them.

    The limits: the organization's per hour (``INVITATIONS_PER_HOUR``), the inviting user's per
    day across their organizations (``INVITATIONS_PER_USER_PER_DAY``), and the recipient
    address's per day from every organization (``INVITATIONS_PER_ADDRESS_PER_DAY``), so that
    throwaway organizations cannot flood one inbox. A refused invitation gives back the slots
    it took under the other limits.

    The counts live in the cache. When the cache is unavailable (Redis down) the invitation
    is allowed and a warning logged: creating invitations takes an admin of the
    organization, so failing open costs little, while failing closed would stop every
    organization from inviting anyone during the outage.
    """
    now = time.time()
    hour, day = int(now // RATE_WINDOW_SECONDS), int(now // DAY_SECONDS)
    limits = [
        _Limit(
            invitation_rate_cache_key(organization_id=organization_id, window=hour),
            settings.INVITATIONS_PER_HOUR,
            (hour + 1) * RATE_WINDOW_SECONDS,
            "This organization has sent too many invitations in the last hour.",
        )
    ]
    if user_id is not None:
        limits.append(
            _Limit(
                invitation_user_rate_cache_key(user_id=user_id, window=day),
                settings.INVITATIONS_PER_USER_PER_DAY,
                (day + 1) * DAY_SECONDS,
                "You have sent too many invitations today.",
            )
        )
    if email:
        limits.append(
            _Limit(
                invitation_address_rate_cache_key(email=email, window=day),
                settings.INVITATIONS_PER_ADDRESS_PER_DAY,
                (day + 1) * DAY_SECONDS,
                "This address has been sent too many invitations today.",
            )
        )
    taken: list[str] = []
    for limit in limits:
        try:
            # add() then incr() is atomic on Redis: concurrent requests cannot share a slot.
            cache.add(limit.key, 0, timeout=limit.window_end - int(now) + 60)
            count = cache.incr(limit.key)
        except Exception:
            logger.warning(
                "cache unavailable: invitation rate limit not enforced",
                extra={"organization_id": str(organization_id)},
                exc_info=True,
            )
            return
        if count > limit.limit:
            _give_back(taken)
            raise TooManyRequests(limit.detail, retry_after=max(1, limit.window_end - int(now)))
        taken.append(limit.key)


def _give_back(keys: list[str]) -> None:
    """Return slots taken under other limits by an invitation that one limit refused."""
    for key in keys:
        try:
            cache.decr(key)
        except Exception:
            logger.warning("cache unavailable: an invitation slot not given back", exc_info=True)


def _send_invitation_email(invitation: Invitation, organization: Organization, token: str) -> None:
    expires = invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    # Quoted, on one line, nothing invisible: the name is the inviter's text, not ours. Stored
    # names are clean already (organization_name_clean); this holds for a row of any age.
    name = f'"{single_line(organization.name)}"'
    body = (
        f"You have been invited to join {name} on Taskhub as {Role(invitation.role).label.lower()}.\n\n"
        f"Accept the invitation: {account_link('accept-invitation', token)}\n\n"
        f"Or paste this invitation token into the app: {token}\n\n"
        f"The invitation is for {invitation.email}: accept it signed in with the account that uses "
        "this address, or create an account with it. "
        f"It works once and expires on {expires}. "
        "If you did not expect it, ignore this email.\n"
    )
    send_mail(
        subject=f"You're invited to join {name} on Taskhub",
        message=body,
        from_email=None,
        recipient_list=[invitation.email],
        fail_silently=False,
    )


@transaction.atomic
def _invitation_insert(*, organization_id: UUID, actor: Actor, actor_role: Role, email: str, role: Role) -> Invitation:
    _check_may_invite(actor_role, role)
    # Locking the organization serializes invitations to it, so two concurrent requests
    # cannot both pass the "no pending invitation" check for the same email. NO KEY UPDATE, so it
    # never waits on the foreign-key checks other writes of the organization run at COMMIT.
    organization = Organization.objects.select_for_update(no_key=True).get(pk=organization_id)
    # A member holding the address verified is that person; an unverified claim proves nothing
    # and must not keep the address's owner out.
    if Membership.objects.filter(
        organization_id=organization_id, user__email__iexact=email, user__email_verified=True
    ).exists():
        raise Conflict("This person is already a member.", code="already_member", field="email")
    if _has_pending_invitation(organization_id, email):
        raise Conflict("This email already has a pending invitation.", code="invitation_pending", field="email")
    _consume_invitation_slot(organization_id, user_id=actor.user_id, email=email)

    invitation = Invitation.objects.create(
        organization=organization,
        email=email,
        role=role,
        token_hash=_unheld_token_hash(),
        invited_by_id=actor.user_id,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_LIFETIME_DAYS),
    )
    audit_record(
        organization_id=organization_id,
        actor=actor,
        action="invitation.created",
        target=invitation,
        changes={"email": [None, email], "role": [None, role.value]},
    )
    return invitation


def _check_may_invite(actor_role: Role, role: Role) -> None:
    if not role_allows(actor_role, "invitation.manage"):
        raise Forbidden("Your role in this organization does not allow this action.")
    if role == Role.OWNER and actor_role != Role.OWNER:
        raise Forbidden("Only owners may invite an owner.")


def _queue_email(invitation: Invitation) -> Invitation:
    """Queue the invitation email in the caller's transaction; return the invitation as it is now.

    Inline (no queue) the job has already run when ``enqueue`` returns: reading the row again
    shows whether it sent. Queued, nothing has changed yet and the row is not read again.
    """
    # One waiting email job per invitation: a resend while one waits (a mail outage's retries)
    # makes that one due now instead of queueing another email.
    jobs.enqueue(
        SEND_JOB,
        organization_id=invitation.organization_id,
        once_key=f"invitation-email:{invitation.pk}",
        invitation_id=str(invitation.pk),
    )
    if not jobs.queue_enabled():
        invitation.refresh_from_db()
    return invitation


@transaction.atomic
def invitation_create(*, organization_id: UUID, actor: Actor, actor_role: Role, email: str, role: str) -> Invitation:
    """Invite ``email`` to the organization with ``role`` and queue the email that carries the token.

    The job is queued in this transaction: an invitation rolled back leaves no job, one
    committed always gets its email (retried while the mail server is down).
    """
    email = BaseUserManager.normalize_email(email.strip())
    invitation = _invitation_insert(
        organization_id=organization_id, actor=actor, actor_role=actor_role, email=email, role=Role(role)
    )
    return _queue_email(invitation)


@transaction.atomic
def invitation_resend(*, organization_id: UUID, invitation_id: UUID, actor: Actor, actor_role: Role) -> Invitation:
    """Email a pending invitation again, with a new token; the previous one stops working now.

    Counts against the invitation limits like a new invitation: it is one more email to the address.
    """
    invitation = (
        Invitation.objects.select_for_update().filter(pk=invitation_id, organization_id=organization_id).first()
    )
    if invitation is None:
        raise NotFound("Not found.")
    _check_may_invite(actor_role, Role(invitation.role))
    if invitation.status != InvitationStatus.PENDING:
        raise Conflict(
            f"Only a pending invitation can be sent again; this one is {invitation.status.value}.",
            code="invitation_not_pending",
        )
    _consume_invitation_slot(organization_id, user_id=actor.user_id, email=invitation.email)
    previous = invitation.delivery_status
    invitation.token_hash = _unheld_token_hash()
    invitation.delivery_status = InvitationDeliveryStatus.QUEUED
    invitation.delivery_error = ""
    invitation.save(update_fields=["token_hash", "delivery_status", "delivery_error", "updated_at"])
    audit_record(
        organization_id=organization_id,
        actor=actor,
        action="invitation.resent",
        target=invitation,
        changes={"delivery_status": [previous, InvitationDeliveryStatus.QUEUED.value]},
    )
    return _queue_email(invitation)


def invitation_email_send(*, organization_id: UUID, invitation_id: UUID) -> bool:
    """Make the invitation's token, email it and mark the invitation sent; False when not pending.

    Runs in the job's transaction: when the mail server refuses, the new token hash and the
    ``sent`` mark roll back with it, and the next attempt makes a new token. The link in an
    earlier email (a resend, or a send whose commit failed) stops working.
    """
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("organization")
        .filter(pk=invitation_id, organization_id=organization_id)
        .first()
    )
    if invitation is None or invitation.status != InvitationStatus.PENDING:
        return False
    token = secrets.token_urlsafe(32)
    invitation.token_hash = hash_token(token)
    invitation.delivery_status = InvitationDeliveryStatus.SENT
    invitation.sent_at = timezone.now()
    invitation.delivery_error = ""
    invitation.save(update_fields=["token_hash", "delivery_status", "sent_at", "delivery_error", "updated_at"])
    # Last: once the email is out, nothing here may fail and roll its token back.
    _send_invitation_email(invitation, invitation.organization, token)
    return True


def invitation_email_failed(*, organization_id: UUID, invitation_id: UUID, error: BaseException) -> None:
    """Mark the invitation's email failed for good, with a short reason an admin can read."""
    reason = " ".join(f"{type(error).__name__}: {error}".split())
    # Not over a "sent": an older job of a resent invitation may fail after a newer one sent.
    Invitation.objects.filter(pk=invitation_id, organization_id=organization_id).exclude(
        delivery_status=InvitationDeliveryStatus.SENT
    ).update(
        delivery_status=InvitationDeliveryStatus.FAILED,
        delivery_error=reason[:200],
        updated_at=timezone.now(),
    )


@transaction.atomic
def invitation_revoke(*, organization_id: UUID, invitation_id: UUID, actor: Actor) -> Invitation:
    """Revoke a pending invitation so its token stops working."""
    invitation = (
        Invitation.objects.select_for_update().filter(pk=invitation_id, organization_id=organization_id).first()
    )
    if invitation is None:
        raise NotFound("Not found.")
    if invitation.status != InvitationStatus.PENDING:
        raise DomainError(
            f"Only a pending invitation can be revoked; this one is {invitation.status.value}.",
            code="invitation_not_pending",
        )
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at", "updated_at"])
    audit_record(
        organization_id=organization_id,
        actor=actor,
        action="invitation.revoked",
        target=invitation,
        changes={"status": [InvitationStatus.PENDING.value, InvitationStatus.REVOKED.value]},
    )
    return invitation


def invitation_peek(*, token: str) -> InvitationPreview | None:
    """Show what the pending invitation ``token`` opens, for the page its link leads to; None for any other token.

    Reads only: nothing is locked or used up, and an invitation accepted, revoked or expired
    shows as None, like a token that never existed.
    """
    token_hash = hash_token(token)
    # No tenant: row-level security admits the one invitation whose token the caller holds.
    with rls.scoped(invitation_token_hash=token_hash):
        invitation = Invitation.objects.select_related("organization").filter(token_hash=token_hash).first()
    if invitation is None or invitation.status != InvitationStatus.PENDING:
        return None
    return InvitationPreview(
        organization_name=single_line(invitation.organization.name),
        role=invitation.role,
        email=invitation.email,
        expires_at=invitation.expires_at,
    )


def _pending_invitation_for_update(token: str) -> Invitation:
    """Return the invitation ``token`` opens, row-locked until the transaction ends; else refuse."""
    # The lock makes concurrent accepts of one token queue up: the second one sees the
    # first one's accepted_at and is refused.
    token_hash = hash_token(token)
    # No tenant yet: row-level security admits the one invitation whose token the caller holds.
    rls.set_context(invitation_token_hash=token_hash)
    invitation = Invitation.objects.select_for_update().filter(token_hash=token_hash).first()
    if invitation is None:
        raise DomainError("This invitation token is not valid.", code="invitation_invalid", field="token")
    refusal = _REFUSALS.get(invitation.status)
    if refusal is not None:
        detail, code = refusal
        raise DomainError(detail, code=code, field="token")
    # From here on the transaction acts in the organization that sent the invitation.
    rls.set_context(organization_id=invitation.organization_id, invitation_token_hash=token_hash)
    return invitation


def _join(*, invitation: Invitation, user: User, actor: Actor) -> Acceptance:
    """Make ``user`` a member with the invitation's role, verify the invited address as theirs, use the invitation up.

    Whoever accepted has read the email sent to that address: it is theirs now, and every
    other account's unverified claim to it is dropped (``email_claim``).
    """
    if Membership.objects.filter(organization_id=invitation.organization_id, user=user).exists():
        raise Conflict("You are already a member of this organization.", code="already_member")
    email_claim(user=user, email=invitation.email)
    try:
        with transaction.atomic():
            membership = Membership.objects.create(
                organization_id=invitation.organization_id, user=user, role=invitation.role
            )
    except IntegrityError as exc:
        # Joined through another invitation at the same moment.
        raise Conflict("You are already a member of this organization.", code="already_member") from exc
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
    audit_record(
        organization_id=invitation.organization_id,
        actor=actor,
        action="invitation.accepted",
        target=invitation,
        changes={
            "status": [InvitationStatus.PENDING.value, InvitationStatus.ACCEPTED.value],
            "accepted_by": [None, str(user.pk)],
        },
    )
    audit_record(
        organization_id=invitation.organization_id,
        actor=actor,
        action="member.added",
        target=membership,
        changes={"role": [None, invitation.role]},
    )
    membership = Membership.objects.select_related("user", "organization").get(pk=membership.pk)
    organization_id = invitation.organization_id
    emit(organization_id=organization_id, type="invitation.accepted", data=lambda: object_payload(invitation))
    emit(organization_id=organization_id, type="member.added", data=lambda: object_payload(membership))
    return Acceptance(membership=membership, tokens=token_pair(membership))


@transaction.atomic
def invitation_accept(*, token: str, user_id: UUID, actor: Actor) -> Acceptance:
    """Accept an invitation as the signed-in user it was sent to; answers tokens for the organization joined.

    The user's email must be the invited address (in any case): a token forwarded, leaked or
    read over a shoulder does not let another account in. The refusal does not name the
    address, which the caller may not know.
    """
    invitation = _pending_invitation_for_update(token)
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise Unauthenticated("Token is invalid, expired or revoked.", code="token_not_valid")
    if not user.email or user.email.lower() != invitation.email.lower():
        raise Forbidden(
            "This invitation was sent to another address; sign in with the account that uses it.",
            code="invitation_email_mismatch",
        )
    return _join(invitation=invitation, user=user, actor=actor)


@transaction.atomic
def invitation_accept_new_user(
    *, token: str, username: str, password: str, ip: str | None, request_id: str
) -> Acceptance:
    """Create an account with the invitation's email, verified by the acceptance, and accept with it.

    An account holding the address unverified does not stand in the way: its claim is dropped
    (``email_claim``). One holding it verified is the address's owner: 409 ``email_taken``, sign
    in and accept. Only the token holder, who reads that mailbox, gets to see that answer.
    """
    invitation = _pending_invitation_for_update(token)
    if User.objects.filter(username__iexact=username).exists():
        raise DomainError("This username is taken.", code="username_taken", field="username")
    if User.objects.filter(email__iexact=invitation.email, email_verified=True).exists():
        raise Conflict(
            "An account with this email exists; sign in and accept the invitation.",
            code="email_taken",
        )
    user = User(username=username, email=invitation.email)
    password_validate(password, user)
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        raise DomainError("This username is taken.", code="username_taken", field="username") from exc
    actor = Actor(user_id=user.pk, label=username, ip=ip, request_id=request_id)
    return _join(invitation=invitation, user=user, actor=actor)
