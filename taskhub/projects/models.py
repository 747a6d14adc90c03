from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Upper

from taskhub.tenancy.models import TenantModel

PROJECT_KEY_PATTERN = r"^[A-Z][A-Z0-9]{1,9}$"
PROJECT_KEY_MAX_LENGTH = 10
# The key is unique per organization whatever its case (the create relies on it: no check first).
KEY_UNIQUE = "projects_project_org_key_unique"


class ProjectStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived"


class Project(TenantModel):
    """A body of work in an organization, named by a short key such as "WEB"."""

    # Not indexed alone (the base's db_index): lists read project_org_created_idx. An index on the time
    # alone let the planner walk another organization's newest rows for this one's first page.
    created_at = models.DateTimeField(auto_now_add=True)

    key = models.CharField(
        max_length=PROJECT_KEY_MAX_LENGTH,
        validators=[RegexValidator(PROJECT_KEY_PATTERN, "A capital letter, then 1 to 9 capitals or digits.")],
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=ProjectStatus.choices, default=ProjectStatus.ACTIVE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The last task number handed out; incremented under a row lock, so numbers never repeat.
    task_counter = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # Case-insensitive even for rows written around the API (admin, shell).
            models.UniqueConstraint(models.F("organization"), Upper("key"), name=KEY_UNIQUE),
        ]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="project_org_created_idx"),
            models.Index(fields=["organization", "status"], name="project_org_status_idx"),
            # ?ordering=name and ?ordering=updated_at, ending with the id that breaks ties: no page
            # sorts the organization, or a run of equal names (tenancy/tests/test_list_orderings.py).
            models.Index(fields=["organization", "name", "id"], name="project_org_name_idx"),
            models.Index(fields=["organization", "updated_at", "id"], name="project_org_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.name}"
