from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.db.models.lookups import Exact
from django.utils import timezone

from taskhub.core.models import BaseModel
from taskhub.tenancy.models import TenantModel
from taskhub.tenancy.roles import Role


class Organization(BaseModel):
    """A tenant: every row of work belongs to exactly one.

    Slugs are unique case-insensitively: ``Acme`` and ``acme`` would name one organization to a
    person typing it, so only one may exist (match them with ``slug_matches``).
    """

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)

    class Meta:
        constraints = [models.UniqueConstraint(Lower("slug"), name="organizations_organization_slug_ci_unique")]

    def __str__(self) -> str:
        return self.name


def slug_matches(slug: str, field: str = "slug") -> Exact:
    """A filter for the organization whose slug is ``slug`` in any case, through the ``Lower(slug)`` index.

    ``field`` reaches the slug from another model (``organization__slug``). A slug is ASCII; a
    reference that is not (U+212A, the Kelvin sign, lowers to "k" in Python) matches nothing: it is
    compared as a space, which no slug contains.
    """
    return Exact(Lower(field), slug.lower() if slug.isascii() else " ")


class Membership(BaseModel):
    """A user's place in an organization, with the role that decides what they may do."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    # Access tokens carry the version they were issued under; bumping it revokes them all.
    token_version = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="organizations_membership_unique"),
        ]
        indexes = [models.Index(fields=["organization", "-created_at"], name="membership_org_created_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.organization_id} as {self.role}"


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"


class InvitationDeliveryStatus(models.TextChoices):
    """Where the invitation email is: waiting for the job queue, sent, or given up on."""

    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Invitation(BaseModel):
    """An offer to join an organization with a role; single use, expiring, token stored hashed."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    delivery_status = models.CharField(
        max_length=8, choices=InvitationDeliveryStatus.choices, default=InvitationDeliveryStatus.QUEUED
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    # Why the last delivery failed for good (the error's type and message, cut short).
    delivery_error = models.CharField(max_length=200, blank=True, default="")

    export_exclude = ("token_hash",)

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at"], name="invitation_org_created_idx")]

    def __str__(self) -> str:
        return f"{self.email} to {self.organization_id}"

    @property
    def status(self) -> InvitationStatus:
        if self.accepted_at is not None:
            return InvitationStatus.ACCEPTED
        if self.revoked_at is not None:
            return InvitationStatus.REVOKED
        if self.expires_at <= timezone.now():
            return InvitationStatus.EXPIRED
        return InvitationStatus.PENDING


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"


class OrganizationExport(TenantModel):
    """One owner's export of the organization: a gzip NDJSON file written by a job (docs/exports.md).

    ``status`` is stored as the job leaves it; a ready export past ``expires_at`` reads as
    expired (``state``) before the delayed job or ``purge_exports`` deletes its file.
    """

    status = models.CharField(max_length=8, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The queue's job id, while queued: a worker holding it makes the export read "running".
    job_id = models.BigIntegerField(null=True, blank=True)
    # The file's name in STORAGES["exports"]; empty until ready and again once deleted.
    file_name = models.CharField(max_length=255, blank=True, default="")
    size = models.BigIntegerField(null=True, blank=True)
    # SHA-256 of the file, and rows written per table.
    checksum = models.CharField(max_length=64, blank=True, default="")
    counts = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=200, blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    # Not part of what an export carries: its files stay on the instance that wrote them.
    exported = False

    class Meta:
        constraints = [
            # One export at a time per organization (queued or running), also against a race.
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(status__in=["queued", "running"]),
                name="organizations_export_one_pending",
            ),
        ]
        indexes = [models.Index(fields=["organization", "-created_at"], name="export_org_created_idx")]

    def __str__(self) -> str:
        return f"export {self.pk} of {self.organization_id} ({self.status})"

    @property
    def state(self) -> ExportStatus:
        if self.status == ExportStatus.READY and self.expires_at is not None and self.expires_at <= timezone.now():
            return ExportStatus.EXPIRED
        return ExportStatus(self.status)
