from django.conf import settings
from django.db import models
from django.utils import timezone

from taskhub.core.models import BaseModel
from taskhub.tenancy.roles import Role


class Organization(BaseModel):
    """A tenant: every row of work belongs to exactly one."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)

    def __str__(self) -> str:
        return self.name


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
