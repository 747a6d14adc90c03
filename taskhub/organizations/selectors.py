"""Reads of organizations and memberships."""

from __future__ import annotations

import logging
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet

from taskhub.core import jobs, rls
from taskhub.organizations.models import (
    ExportStatus,
    Invitation,
    Membership,
    Organization,
    OrganizationExport,
    slug_matches,
)

logger = logging.getLogger(__name__)

# Cached for a membership that does not exist: no token carries version 0.
NO_MEMBERSHIP = 0


def token_version_cache_key(*, organization_id: UUID | str, user_id: UUID | str) -> str:
    return f"org:{organization_id}:mv:{user_id}"


def membership_token_version(*, organization_id: UUID | str, user_id: UUID | str) -> int:
    """Return the membership's current token version from the database, caching it."""
    with rls.scoped(organization_id=organization_id):
        version = (
            # A deactivated user's tokens fail even if their deactivation skipped user_deactivate.
            Membership.objects.filter(organization_id=organization_id, user_id=user_id, user__is_active=True)
            .values_list("token_version", flat=True)
            .first()
        )
    version = NO_MEMBERSHIP if version is None else version
    try:
        # add, not set: a revocation that committed after this read has written the newer value.
        cache.add(
            token_version_cache_key(organization_id=organization_id, user_id=user_id),
            version,
            timeout=settings.AUTH_CACHE_SECONDS,
        )
    except Exception:
        logger.warning("cache unavailable: token version not cached", exc_info=True)
    return version


def organization_get(*, organization_id: UUID | str) -> Organization:
    return Organization.objects.get(pk=organization_id)


def organization_by_reference(*, reference: str) -> Organization | None:
    """Return the organization whose id or slug is ``reference``."""
    try:
        return Organization.objects.filter(pk=UUID(reference)).first()
    except ValueError:
        return Organization.objects.filter(slug_matches(reference)).first()


def membership_list(*, organization_id: UUID | str) -> QuerySet[Membership]:
    return Membership.objects.filter(organization_id=organization_id).select_related("user")


def memberships_of_user(*, user_id: UUID | str) -> list[Membership]:
    """Return the user's memberships in every organization, oldest first."""
    # Across organizations by nature: row-level security admits them through the user.
    with rls.scoped(user_id=user_id):
        return list(Membership.objects.filter(user_id=user_id).select_related("organization").order_by("created_at"))


def membership_for_token(*, user_id: UUID | str, organization: str | None) -> Membership | None:
    """Return the membership a new token acts through: the named organization, else the user's first."""
    memberships = Membership.objects.filter(user_id=user_id).select_related("user").order_by("created_at")
    if organization is not None:
        try:
            memberships = memberships.filter(organization_id=UUID(organization))
        except ValueError:
            memberships = memberships.filter(slug_matches(organization, "organization__slug"))
    with rls.scoped(user_id=user_id):
        return memberships.first()


def membership_in(*, organization_id: UUID | str, user_id: UUID | str) -> Membership | None:
    """Return the user's membership in the organization, with the user, or None."""
    with rls.scoped(organization_id=organization_id):
        return (
            Membership.objects.select_related("user")
            .filter(organization_id=organization_id, user_id=user_id, user__is_active=True)
            .first()
        )


def invitation_list(*, organization_id: UUID | str) -> QuerySet[Invitation]:
    return Invitation.objects.filter(organization_id=organization_id).select_related("invited_by")


def organization_queryset(*, organization_id: UUID | str) -> QuerySet[Organization]:
    """Return the caller's organization as a one-row queryset, for the tenant API base."""
    return Organization.objects.filter(pk=organization_id)


def export_list(*, organization_id: UUID | str) -> QuerySet[OrganizationExport]:
    return OrganizationExport.objects.filter(organization_id=organization_id).order_by("-created_at")


def export_status(export: OrganizationExport) -> ExportStatus:
    """The export's status as a client sees it: running while a worker holds its job, expired after retention."""
    if export.status == ExportStatus.QUEUED and export.job_id is not None and jobs.job_running(export.job_id):
        return ExportStatus.RUNNING
    return export.state
