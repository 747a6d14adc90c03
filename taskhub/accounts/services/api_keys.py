"""Creating, transferring and revoking API keys.

A key answers to its creator (``created_by``): it works while the creator is a member of its
organization with at least the key's role. When a membership change takes that away, the keys
go in the same transaction (``api_keys_revoke_for_member``), each with an audit event saying
why; an admin who wants a key to outlive its creator's role transfers it first.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from taskhub.accounts import api_keys
from taskhub.accounts.models import ApiKey
from taskhub.audit.services import audit_record, changes_between
from taskhub.core import rls
from taskhub.core.actor import Actor
from taskhub.core.errors import DomainError, NotFound
from taskhub.organizations.models import Membership, Organization
from taskhub.tenancy.roles import API_KEY_ROLES, Role

# Why a key was revoked without anyone asking for it, as its audit event says.
REASON_CREATOR_LEFT = "creator_left"
REASON_CREATOR_DEMOTED = "creator_below_key_role"


@transaction.atomic
def api_key_create(
    *, organization_id: UUID, actor: Actor, name: str, role: str, expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """Create a key in the organization; return it with its secret, which is stored only as a hash."""
    if role not in API_KEY_ROLES:
        raise DomainError("An API key's role is member or viewer.", code="invalid_choice", field="role")
    if expires_at is not None and expires_at <= timezone.now():
        raise DomainError("expires_at must be in the future.", code="expires_at_past", field="expires_at")
    generated = api_keys.generate_key()
    api_key = ApiKey.objects.create(
        organization_id=organization_id,
        name=name,
        role=Role(role),
        prefix=generated.prefix,
        key_hash=generated.key_hash,
        created_by_id=actor.user_id,
        expires_at=expires_at,
    )
    created = {"name": name, "role": api_key.role, "prefix": api_key.prefix}
    if expires_at is not None:
        created["expires_at"] = expires_at.isoformat()
    audit_record(
        organization_id=organization_id,
        actor=actor,
        action="api_key.created",
        target=api_key,
        # Name, role and expiry only: the key and its hash never go into the audit log.
        changes=changes_between({}, created),
    )
    return api_key, generated.key


def _live_key(*, organization_id: UUID, api_key_id: UUID) -> ApiKey:
    api_key = (
        ApiKey.objects.select_for_update()
        .filter(pk=api_key_id, organization_id=organization_id, revoked_at__isnull=True)
        .first()
    )
    if api_key is None:
        raise NotFound("API key not found.")
    return api_key


def _revoke(api_key: ApiKey, *, actor: Actor, reason: str | None = None) -> None:
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at", "updated_at"])
    changes: dict[str, list[str | None]] = {"revoked_at": [None, api_key.revoked_at.isoformat()]}
    if reason is not None:
        changes["reason"] = [None, reason]
    audit_record(
        organization_id=api_key.organization_id, actor=actor, action="api_key.revoked", target=api_key, changes=changes
    )
    prefix = api_key.prefix
    # After commit: dropped earlier, a request could re-cache the still-live row.
    transaction.on_commit(lambda: api_keys.forget(prefix))


@transaction.atomic
def api_key_revoke(*, organization_id: UUID, api_key_id: UUID, actor: Actor) -> None:
    """Revoke a live key; it fails from the next request, and its row stays for audit and export."""
    _revoke(_live_key(organization_id=organization_id, api_key_id=api_key_id), actor=actor)


@transaction.atomic
def api_key_transfer(*, organization_id: UUID, api_key_id: UUID, user_id: UUID, actor: Actor) -> ApiKey:
    """Make another member answer for the key, so it outlives its creator's role or membership.

    The new creator must be a member with at least the key's role: a transfer never keeps alive
    a key nobody in the organization may hold.
    """
    # The lock membership changes take first: the new creator cannot be removed or demoted
    # between the check below and the commit, unseen by the revocation that change runs.
    Organization.objects.select_for_update().filter(pk=organization_id).values_list("pk").first()
    api_key = _live_key(organization_id=organization_id, api_key_id=api_key_id)
    role = Membership.objects.filter(organization_id=organization_id, user_id=user_id).values_list("role", flat=True)
    new_role = role.first()
    if new_role is None:
        raise DomainError("That user is not a member of this organization.", code="not_a_member", field="user")
    if not Role(new_role).at_least(api_key.role):
        raise DomainError(
            f"That member's role ({new_role}) is below the key's ({api_key.role}).",
            code="role_below_key",
            field="user",
        )
    if api_key.created_by_id == user_id:
        return api_key
    previous = api_key.created_by_id
    api_key.created_by_id = user_id
    api_key.save(update_fields=["created_by", "updated_at"])
    audit_record(
        organization_id=organization_id,
        actor=actor,
        action="api_key.transferred",
        target=api_key,
        changes={"created_by": [str(previous) if previous else None, str(user_id)]},
    )
    prefix = api_key.prefix
    # A key refused for want of a creator may have that refusal cached: read it again.
    transaction.on_commit(lambda: api_keys.refresh(prefix))
    return api_key


@transaction.atomic
def api_keys_revoke_for_member(*, organization_id: UUID, user_id: UUID, role: Role | None, actor: Actor) -> int:
    """Revoke the keys ``user_id`` created that their new ``role`` (None: they left) no longer covers.

    Called in the transaction of the membership change, so the change and the revocations commit
    together; each key gets an ``api_key.revoked`` event with the reason, and its cache entry a
    tombstone at commit. Returns how many keys were revoked.
    """
    # The organization's own scope, whatever the caller's: account deletion calls it per organization.
    with rls.scoped(organization_id=organization_id):
        keys = ApiKey.objects.select_for_update().filter(
            organization_id=organization_id, created_by_id=user_id, revoked_at__isnull=True
        )
        if role is not None:
            keys = keys.filter(role__in=[key_role for key_role in API_KEY_ROLES if not Role(role).at_least(key_role)])
        reason = REASON_CREATOR_LEFT if role is None else REASON_CREATOR_DEMOTED
        revoked = list(keys.order_by("created_at"))
        for api_key in revoked:
            _revoke(api_key, actor=actor, reason=reason)
    return len(revoked)
