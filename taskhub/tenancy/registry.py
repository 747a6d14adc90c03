"""Which models are tenant data: found, never listed by hand.

A model is tenant-owned when it has an ``organization`` foreign key to the tenant model
(``settings.TENANT_MODEL``). Every list of tenant tables (row-level security checks, grants,
the export, the isolation and role walks, the backup tests) comes from here, so a new resource
is covered the moment its model exists.
"""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import models


def tenant_model_label() -> str:
    return str(getattr(settings, "TENANT_MODEL", "organizations.Organization"))


def tenant_models() -> list[type[models.Model]]:
    """Return every concrete model with an ``organization`` foreign key to the tenant model."""
    tenant = apps.get_model(tenant_model_label())
    owned = []
    for model in apps.get_models():
        try:
            field = model._meta.get_field("organization")
        except FieldDoesNotExist:
            continue
        if isinstance(field, models.ForeignKey) and field.related_model is tenant:
            owned.append(model)
    return sorted(owned, key=lambda model: model._meta.label_lower)


def tenant_tables() -> list[str]:
    """Return the database tables of ``tenant_models()``, sorted."""
    return sorted(model._meta.db_table for model in tenant_models())
