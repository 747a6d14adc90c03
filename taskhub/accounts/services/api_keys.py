"""Creating and revoking API keys."""

from __future__ import annotations

from uuid import UUID

from django.db import transaction
from django.utils import timezone

from taskhub.accounts import api_keys
from taskhub.accounts.models import ApiKey
from taskhub.audit.services import audit_record, changes_between
from taskhub.core.actor import Actor
from taskhub.core.errors import DomainError, NotFound
from taskhub.tenancy.roles import API_KEY_ROLES, Role


@transaction.atomic
def api_key_create(*, organization_id: UUID, actor: Actor, name: str, role: str) -> tuple[ApiKey, str]:
    """Create a key in the organization; return it with its secret, which is stored only as a hash."""
    if role not in API_KEY_ROLES:
        raise DomainError("An API key's role is member or viewer.", code="invalid_choice", field="role")
    generated = api_keys.generate_key()
    api_key = ApiKey.objects.create(
        organization_id=organization_id,
        name=name,
        role=Role(role),
        prefix=generated.prefix,
        key_hash=generated.key_hash,
        created_by_id=actor.user_id,
    )
    audit_record(
        organization_id=organization_id,
        actor=actor,
        action="api_key.created",
        target=api_key,
        # Name and role only: the key and its hash never go into the audit log.
        changes=changes_between({}, {"name": name, "role": api_key.role, "prefix": api_key.prefix}),
    )
    return api_key, generated.key


@transaction.atomic
def api_key_revoke(*, organization_id: UUID, api_key_id: UUID, actor: Actor) -> None:
    """Revoke a live key; it fails from the next request, and its row stays for audit and export."""
    api_key = (
        ApiKey.objects.select_for_update()
        .filter(pk=api_key_id, organization_id=organization_id, revoked_at__isnull=True)
        .first()
    )
    if api_key is None:
        raise NotFound("API key not found.")
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at", "updated_at"])
    audit_record(
        organization_id=organization_id,
        actor=actor,
        action="api_key.revoked",
        target=api_key,
        changes={"revoked_at": [None, api_key.revoked_at.isoformat()]},
    )
    prefix = api_key.prefix
    # After commit: dropped earlier, a request could re-cache the still-live row.
    transaction.on_commit(lambda: api_keys.forget(prefix))
