"""Everything an organization owns, as plain data (the owner's export)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.utils import timezone

from taskhub.organizations.models import Membership, Organization
from taskhub.tenancy.registry import tenant_models


def organization_export(*, organization_id: UUID) -> dict[str, Any]:
    """Return the organization, its members' accounts and every row of every tenant-owned table.

    Secrets (hashes of API keys and invitation tokens, password hashes) are left out: a model
    names its own in ``export_exclude``.
    """
    organization = Organization.objects.values().get(pk=organization_id)
    tables: dict[str, list[dict[str, Any]]] = {}
    for model in tenant_models():
        excluded = set(getattr(model, "export_exclude", ()))
        names = [f.attname for f in model._meta.concrete_fields if f.attname not in excluded]
        tables[model._meta.label_lower] = list(
            model._default_manager.filter(organization_id=organization_id).order_by("pk").values(*names)
        )
    users = list(
        Membership.objects.filter(organization_id=organization_id)
        .order_by("user_id")
        .values("user_id", "user__username", "user__email", "user__date_joined")
    )
    return {
        "exported_at": timezone.now(),
        "organization": organization,
        "users": [
            {
                "id": u["user_id"],
                "username": u["user__username"],
                "email": u["user__email"],
                "date_joined": u["user__date_joined"],
            }
            for u in users
        ],
        "tables": tables,
    }
