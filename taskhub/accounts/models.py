import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower

from taskhub.core.models import BaseModel


class User(AbstractUser):
    """A person who signs in; what they may do is decided per organization by memberships."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("email address")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="accounts_user_email_ci_unique",
                condition=~models.Q(email=""),
            ),
        ]


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
    revoked_at = models.DateTimeField(null=True, blank=True)

    export_exclude = ("key_hash",)

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at"], name="apikey_org_created_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"
