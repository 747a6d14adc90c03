from django.conf import settings
from django.db import models

from taskhub.tenancy.models import TenantModel

BODY_MAX_LENGTH = 10_000


class Comment(TenantModel):
    """Plain text on a task, written by a member or by an API key with role member.

    Exactly one of ``author`` and ``api_key`` names the writer; the writer alone may edit the
    comment. Either becomes null when its user or key is deleted: the comment stays, and no one
    can edit it any more (an admin can still delete it).
    """

    # Not indexed alone (the base's db_index): lists read comment_org_created_idx. An index on the time
    # alone let the planner walk another organization's newest rows for this one's first page.
    created_at = models.DateTimeField(auto_now_add=True)

    task = models.ForeignKey("tasks.Task", on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey("accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()

    class Meta:
        indexes = [
            # One task's thread, oldest first: the tasks/{id}/comments/ page.
            models.Index(fields=["organization", "task", "created_at"], name="comment_task_created_idx"),
            models.Index(fields=["organization", "-created_at"], name="comment_org_created_idx"),
        ]

    def __str__(self) -> str:
        text = " ".join(self.body.split())
        return text if len(text) <= 80 else f"{text[:79]}…"
