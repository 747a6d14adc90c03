"""The base of every tenant resource's model."""

from django.conf import settings
from django.db import models

from taskhub.core.models import BaseModel


class TenantModel(BaseModel):
    """A row that belongs to one organization: a UUID id, creation and update times, the organization.

    Subclass it and run ``makemigrations``: the migration it writes for a new model also
    enables and forces row-level security on its table (``taskhub.tenancy`` overrides the
    command); the system check ``taskhub.E003`` fails while a tenant model's app has no such
    migration operation.
    """

    organization = models.ForeignKey(
        getattr(settings, "TENANT_MODEL", "organizations.Organization"), on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        abstract = True
