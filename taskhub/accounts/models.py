import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower

from taskhub.core.models import BaseModel


class User(AbstractUser):
    """A person who signs in; what they may do is decided per organization by memberships.

    ``email`` is the address the user gave; it is theirs only once ``email_verified``: a link
    mailed to it was opened, or an invitation sent to it was accepted. Only verified addresses
    are unique (case-insensitively), so an unverified claim never keeps the address's real
    owner from signing up or accepting an invitation.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("email address", blank=True)
    email_verified = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="accounts_user_verified_email_ci_unique",
                condition=models.Q(email_verified=True) & ~models.Q(email=""),
            ),
            # The sign-in identifier and the handle co-members see: "Alice" and "alice" are one.
            models.UniqueConstraint(Lower("username"), name="accounts_user_username_ci_unique"),
        ]
        indexes = [models.Index(Lower("email"), name="accounts_user_email_ci_idx")]


class AccountTokenPurpose(models.TextChoices):
    VERIFY_EMAIL = "verify_email", "verify email"
    CHANGE_EMAIL = "change_email", "change email"
    RESET_PASSWORD = "reset_password", "reset password"


class AccountToken(models.Model):
    """A single-use token mailed to a user (verify an address, change it, reset the password).

    Only the SHA-256 of the token is stored; the token itself exists only in the email. ``email``
    is the address it was sent to (for a change, the new address it confirms).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account_tokens")
    purpose = models.CharField(max_length=20, choices=AccountTokenPurpose.choices)
    email = models.EmailField()
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "purpose"], name="accounttoken_user_purpose_idx")]

    def __str__(self) -> str:
        return f"{self.purpose} for {self.user_id}"


class ApiKey(BaseModel):
    """A machine credential bound to one organization with a role of member or viewer.

    Only a SHA-256 of the key is stored: the key is 256 random bits, so a slow hash adds
    nothing, and the prefix finds the row without scanning.
    """

    organization = models.ForeignKey("organizations.Organization", on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=16)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    export_exclude = ("key_hash",)

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at"], name="apikey_org_created_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"
