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


class IdempotencyRecord(TenantModel):
    """The first answer to a tenant ``POST`` sent with an ``Idempotency-Key`` (docs/idempotency.md).

    One row per organization and key. It is written as a placeholder (no status) inside the
    request's transaction before the handler runs, so a concurrent duplicate waits on the unique
    index; a 2xx answer fills in ``response_status`` and ``response_body``, any other answer
    deletes the row. ``response_body`` is the JSON text as first sent, or NULL when the answer
    was marked ``Cache-Control: no-store`` (a secret shown once): then only the status is kept.
    Rows older than ``taskhub.tenancy.idempotency.TTL`` are treated as absent and removed by
    ``manage.py purge_idempotency_keys`` (through the ``created_at`` index).
    """

    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.TextField()
    # SHA-256 (hex) of the method, the path with its query string and the canonical JSON body.
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    # NULL: not kept (no-store); "": an answer without a body. Two meanings, so NULL is allowed.
    response_body = models.TextField(null=True)  # noqa: DJ001

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="tenancy_idempotency_organization_key"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.key})"
