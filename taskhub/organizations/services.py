"""Writes to organizations and memberships."""

from __future__ import annotations

from django.db import transaction
from django.utils.text import slugify

from taskhub.accounts.models import User
from taskhub.organizations.models import Membership, Organization
from taskhub.organizations.roles import Role


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "org"
    slug, suffix = base, 2
    while Organization.objects.filter(slug=slug).exists():
        slug = f"{base}-{suffix}"
        suffix += 1
    return slug


@transaction.atomic
def organization_create(*, name: str, owner: User, slug: str | None = None) -> Organization:
    """Create an organization with ``owner`` as its first owner."""
    organization = Organization.objects.create(name=name, slug=slug or _unique_slug(name))
    Membership.objects.create(organization=organization, user=owner, role=Role.OWNER)
    return organization
