"""A user deleting their own account.

What they made in their organizations stays: tasks, comments, projects and audit events keep
existing, with the reference to them emptied (an unassigned task, a comment by nobody). Every
such reference is ``on_delete=SET_NULL``, and the database agrees (``ON DELETE SET NULL``,
migration 0008): Django emulates SET_NULL with its own UPDATE, which under row-level security
reaches only the rows of the organization in context, so an organization the user left long
ago would otherwise keep a row pointing at nobody and the delete would fail.
"""

from __future__ import annotations

import logging
from uuid import UUID

from django.db import models, transaction
from django.utils import timezone

from taskhub.accounts import guard
from taskhub.accounts.models import User
from taskhub.accounts.services.api_keys import api_keys_revoke_for_member
from taskhub.accounts.services.auth import user_sessions_end
from taskhub.audit.services import audit_record
from taskhub.core import rls
from taskhub.core.actor import Actor
from taskhub.core.errors import Conflict
from taskhub.organizations.models import Membership, Organization
from taskhub.organizations.selectors import memberships_of_user
from taskhub.tenancy.registry import tenant_models
from taskhub.tenancy.roles import Role

logger = logging.getLogger(__name__)


def _user_references(model: type[models.Model]) -> list[str]:
    """The names of ``model``'s SET_NULL foreign keys to the user model."""
    return [
        field.name
        for field in model._meta.get_fields()
        if isinstance(field, models.ForeignKey)
        and field.related_model is User
        and field.remote_field.on_delete is models.SET_NULL
    ]


def _sole_owned(memberships: list[Membership]) -> list[Organization]:
    """The organizations among ``memberships`` in which the user is the only owner, each locked."""
    sole = []
    for membership in memberships:
        if membership.role != Role.OWNER:
            continue
        organization_id = membership.organization_id
        with rls.scoped(organization_id=organization_id):
            # Locked like every owner change, so a concurrent demotion cannot leave no owner.
            Organization.objects.select_for_update(no_key=True).filter(pk=organization_id).values_list("pk").first()
            if Membership.objects.filter(organization_id=organization_id, role=Role.OWNER).count() == 1:
                sole.append(membership.organization)
    return sole


def _leave(membership: Membership, actor: Actor) -> None:
    """Take the user out of one organization, in its tenant context: keys revoked, references emptied."""
    organization_id, user_id = membership.organization_id, membership.user_id
    with rls.scoped(organization_id=organization_id):
        # Before the references are emptied: the keys are found by their creator.
        api_keys_revoke_for_member(organization_id=organization_id, user_id=user_id, role=None, actor=actor)
        now = timezone.now()
        for model in tenant_models():
            for name in _user_references(model):
                changes: dict[str, object] = {name: None}
                if any(field.name == "updated_at" for field in model._meta.concrete_fields):
                    # A new version: an ETag taken before the change no longer matches.
                    changes["updated_at"] = now
                model._default_manager.filter(organization_id=organization_id, **{name: user_id}).update(**changes)
        audit_record(
            organization_id=organization_id,
            actor=actor,
            action="user.deleted",
            target=membership,
            changes={"role": [membership.role, None]},
        )
        membership.delete()


@transaction.atomic
def account_delete(*, user_id: UUID, password: str, ip: str | None, request_id: str) -> None:
    """Delete the user's account after checking their password; refused while they are an organization's last owner.

    Their tasks stay, unassigned; the keys they created are revoked; each organization records
    ``user.deleted``; every token they hold stops working.
    """
    user = User.objects.select_for_update().get(pk=user_id)
    guard.password_confirm(user=user, password=password, ip=ip)
    memberships = memberships_of_user(user_id=user.pk)
    sole = _sole_owned(memberships)
    if sole:
        names = ", ".join(f'"{organization.name}"' for organization in sole)
        raise Conflict(
            f"You are the last owner of {names}: make another member owner, or delete the organization, first.",
            code="last_owner",
        )
    actor = Actor(user_id=user.pk, label=user.username, ip=ip, request_id=request_id)
    # First, while the memberships exist: their token versions move, so access tokens fail now.
    user_sessions_end(user_id=user.pk)
    for membership in memberships:
        _leave(membership, actor)
    logger.warning("account deleted", extra={"user_id": str(user.pk), "organizations": len(memberships)})
    user.delete()
