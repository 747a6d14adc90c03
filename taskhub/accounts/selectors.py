"""Reads about users and their credentials."""

from typing import Any
from uuid import UUID

from django.db.models import QuerySet

from taskhub.accounts.models import ApiKey, User
from taskhub.organizations.selectors import memberships_of_user, organization_get
from taskhub.tenancy.context import TenantContext


def me_for(*, context: TenantContext) -> dict[str, Any]:
    """Return the caller, the organization the credential acts in, the role, and all memberships."""
    user = User.objects.filter(pk=context.user_id).first() if context.user_id else None
    memberships = list(memberships_of_user(user_id=context.user_id)) if context.user_id else []
    return {
        "user": user,
        "organization": organization_get(organization_id=context.organization_id),
        "role": context.role,
        "credential": "token" if context.user_id else "api_key",
        "memberships": [{"organization": m.organization, "role": m.role} for m in memberships],
    }


def api_key_list(*, organization_id: UUID | str) -> QuerySet[ApiKey]:
    """Return the organization's live keys; revoked ones keep their row but are not listed."""
    return ApiKey.objects.filter(organization_id=organization_id, revoked_at__isnull=True)
