"""Writes to organizations and memberships."""

from __future__ import annotations

import logging
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.text import slugify

from taskhub.accounts import api_keys
from taskhub.accounts.models import ApiKey, User
from taskhub.accounts.services.api_keys import api_keys_revoke_for_member
from taskhub.audit.services import audit_record, changes_between
from taskhub.core import rls
from taskhub.core.actor import Actor
from taskhub.core.errors import Conflict, DomainError, Forbidden
from taskhub.core.representation import represent
from taskhub.core.text import single_line
from taskhub.organizations.models import Membership, Organization, slug_matches
from taskhub.organizations.selectors import memberships_of_user, token_version_cache_key
from taskhub.tenancy.roles import Role
from taskhub.webhooks.events import emit
from taskhub.webhooks.payloads import change_payload, object_payload

logger = logging.getLogger(__name__)


def _unique_slug(name: str) -> str:
    """A slug from ``name`` that no organization has in any case: ``acme``, else ``acme-2``, ``acme-3``..."""
    base = slugify(name)[:50] or "org"
    slug, suffix = base, 2
    while Organization.objects.filter(slug_matches(slug)).exists():
        slug = f"{base}-{suffix}"
        suffix += 1
    return slug


def _slug_taken() -> Conflict:
    return Conflict("An organization with this slug exists.", code="slug_taken", field="slug")


def organization_name_clean(name: str, *, field: str = "name") -> str:
    """The name as it is stored and shown: no control or format characters, one line; 400 when nothing is left.

    Organization names are shown to other people, in email subjects and bodies too
    (taskhub.core.text says what is dropped and why).
    """
    cleaned = single_line(name)
    if not cleaned:
        raise DomainError("The name has no visible characters.", code="name_invalid", field=field)
    return cleaned


def _publish_token_versions(memberships: list[tuple[UUID, UUID, int]]) -> None:
    """Put each membership's new token version (0: gone) into the cache.

    The entries are dropped at once, so no request trusts the old version, and written again
    after commit, so a request that re-read the old row before the commit cannot leave it cached.
    """
    values = {token_version_cache_key(organization_id=org, user_id=user): version for org, user, version in memberships}
    try:
        cache.delete_many(list(values))
    except Exception:
        logger.error("cache unavailable while revoking tokens", exc_info=True)

    def publish() -> None:
        try:
            cache.set_many(values, timeout=settings.AUTH_CACHE_SECONDS)
        except Exception:
            logger.critical("cache unavailable: revoked tokens may work until their entries expire", exc_info=True)

    transaction.on_commit(publish)


def membership_tokens_revoke(*, user_id: UUID, organization_id: UUID | None = None) -> None:
    """Make the user's access tokens fail from the next request, in one organization or all."""
    if organization_id is None:
        organization_ids = [membership.organization_id for membership in memberships_of_user(user_id=user_id)]
    else:
        organization_ids = [organization_id]
    published = []
    for org_id in organization_ids:
        # Writes need the tenant, so each organization's row is bumped under its own scope.
        with rls.scoped(organization_id=org_id):
            memberships = Membership.objects.filter(organization_id=org_id, user_id=user_id)
            memberships.update(token_version=F("token_version") + 1)
            published += list(memberships.values_list("organization_id", "user_id", "token_version"))
    _publish_token_versions(published)


def _organization_insert(*, name: str, slug: str | None) -> Organization:
    """Insert the organization; a slug made from the name is made again if taken meanwhile."""
    # Two sign-ups naming their organizations alike at once both find "acme" free; the
    # second insert breaks the unique index and tries "acme-2". A slug asked for is refused.
    for attempt in range(3):
        try:
            with transaction.atomic():
                return Organization.objects.create(name=name, slug=slug or _unique_slug(name))
        except IntegrityError as exc:
            if slug or attempt == 2:
                raise _slug_taken() from exc
    raise AssertionError("unreachable")


@transaction.atomic
def organization_create(
    *, name: str, owner: User, slug: str | None = None, actor: Actor | None = None, name_field: str = "name"
) -> tuple[Organization, Membership]:
    """Create an organization with ``owner`` as its first owner; the transaction then acts in it.

    ``name_field`` is the input that carried the name, named by a refusal (register's ``organization_name``).
    """
    name = organization_name_clean(name, field=name_field)
    if slug and Organization.objects.filter(slug_matches(slug)).exists():
        raise _slug_taken()
    organization = _organization_insert(name=name, slug=slug)
    rls.set_context(organization_id=organization.pk)
    membership = Membership.objects.create(organization=organization, user=owner, role=Role.OWNER)
    actor = actor or Actor(user_id=owner.pk)
    audit_record(organization_id=organization.pk, actor=actor, action="organization.created", target=organization)
    audit_record(
        organization_id=organization.pk,
        actor=actor,
        action="member.added",
        target=membership,
        changes={"role": [None, Role.OWNER]},
    )
    # No member.added event: an organization created in this transaction has no webhook to send it to.
    return organization, membership


@transaction.atomic
def organization_update(
    *, organization_id: UUID, actor: Actor, name: str | None = None, slug: str | None = None
) -> Organization:
    organization = Organization.objects.select_for_update(no_key=True).get(pk=organization_id)
    before = {"name": organization.name, "slug": organization.slug}
    if name is not None:
        organization.name = organization_name_clean(name)
    if slug is not None and slug != organization.slug:
        # Its own slug in another case ("Acme" for "acme") is no conflict.
        if Organization.objects.filter(slug_matches(slug)).exclude(pk=organization.pk).exists():
            raise _slug_taken()
        organization.slug = slug
    changes = changes_between(before, {"name": organization.name, "slug": organization.slug})
    if changes:
        try:
            with transaction.atomic():
                organization.save(update_fields=["name", "slug", "updated_at"])
        except IntegrityError as exc:
            raise _slug_taken() from exc
        audit_record(
            organization_id=organization.pk,
            actor=actor,
            action="organization.updated",
            target=organization,
            changes=changes,
        )
    return organization


@transaction.atomic
def organization_delete(*, organization_id: UUID, actor: Actor) -> None:
    """Delete the organization and everything it owns but its audit log; every token for it stops working."""
    organization = Organization.objects.select_for_update().get(pk=organization_id)
    members = list(organization.memberships.values_list("organization_id", "user_id"))
    key_prefixes = list(ApiKey.objects.filter(organization_id=organization_id).values_list("prefix", flat=True))
    logger.warning(
        "organization deleted",
        extra={"organization_id": str(organization.pk), "actor_user_id": str(actor.user_id)},
    )
    # The last event of its chain: the audit log is kept (no cascade reaches it) until the retention purge.
    audit_record(
        organization_id=organization.pk,
        actor=actor,
        action="organization.deleted",
        target=organization,
        changes={"name": [organization.name, None], "slug": [organization.slug, None]},
    )
    organization.delete()
    _publish_token_versions([(org, user, 0) for org, user in members])
    # The keys' rows go with the organization; their cached records would work until they expire.
    transaction.on_commit(lambda: api_keys.forget_many(key_prefixes))


def _owner_count(organization_id: UUID) -> int:
    return Membership.objects.filter(organization_id=organization_id, role=Role.OWNER).count()


def _lock_members(organization_id: UUID) -> None:
    # Serializes owner changes per organization, so two concurrent demotions cannot both
    # pass the last-owner check. NO KEY UPDATE: it must not wait for, or block, the foreign-key
    # checks other writes of the organization run at COMMIT (see taskhub.tenancy.services.locked).
    Organization.objects.select_for_update(no_key=True).filter(pk=organization_id).values_list("pk").first()


@transaction.atomic
def membership_role_change(
    *, organization_id: UUID, membership_id: UUID, role: str, actor: Actor, actor_role: Role
) -> Membership:
    """Change a member's role; only owners touch owners, and the last owner stays owner."""
    _lock_members(organization_id)
    membership = Membership.objects.select_related("user").get(pk=membership_id, organization_id=organization_id)
    new_role = Role(role)
    if (Role.OWNER in (membership.role, new_role)) and actor_role != Role.OWNER:
        raise Forbidden("Only owners may grant or change the owner role.")
    if membership.role == new_role:
        return membership
    if membership.role == Role.OWNER and _owner_count(organization_id) == 1:
        raise DomainError("The last owner cannot be demoted.", code="last_owner", field="role")
    old_role = membership.role
    shown = represent(membership)
    membership.role = new_role
    membership.save(update_fields=["role", "updated_at"])
    membership_tokens_revoke(user_id=membership.user_id, organization_id=organization_id)
    membership.refresh_from_db(fields=["token_version"])
    audit_record(
        organization_id=organization_id,
        actor=actor,
        action="member.role_changed",
        target=membership,
        changes={"role": [old_role, new_role]},
    )
    emit(organization_id=organization_id, type="member.role_changed", data=lambda: change_payload(shown, membership))
    # Their keys of a role above the new one go with the change (a member key, for a new viewer).
    api_keys_revoke_for_member(organization_id=organization_id, user_id=membership.user_id, role=new_role, actor=actor)
    return membership


@transaction.atomic
def membership_remove(*, organization_id: UUID, membership_id: UUID, actor: Actor, actor_role: Role) -> None:
    """Remove a member (or let one leave); their tokens for this organization stop at once."""
    _lock_members(organization_id)
    membership = Membership.objects.select_related("user").get(pk=membership_id, organization_id=organization_id)
    leaving = membership.user_id == actor.user_id
    if not leaving:
        if not actor_role.at_least(Role.ADMIN):
            raise Forbidden("Your role in this organization does not allow this action.")
        if membership.role == Role.OWNER and actor_role != Role.OWNER:
            raise Forbidden("Only owners may remove an owner.")
    if membership.role == Role.OWNER and _owner_count(organization_id) == 1:
        raise DomainError(
            "The last owner cannot leave; make another member owner or delete the organization.",
            code="last_owner",
        )
    audit_record(
        organization_id=organization_id,
        actor=actor,
        action="member.left" if leaving else "member.removed",
        target=membership,
        changes={"role": [membership.role, None]},
    )
    user_id = membership.user_id
    # One event whether the member was removed or left (the audit log tells them apart). Emitted
    # first, so the payload is read while the membership has an id; the delete follows in this transaction.
    emit(organization_id=organization_id, type="member.removed", data=lambda: object_payload(membership))
    membership.delete()
    _publish_token_versions([(organization_id, user_id, 0)])
    api_keys_revoke_for_member(organization_id=organization_id, user_id=user_id, role=None, actor=actor)
