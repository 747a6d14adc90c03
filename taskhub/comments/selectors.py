"""Reads of comments."""

from uuid import UUID

from django.db.models import QuerySet

from taskhub.comments.models import Comment


def comment_list(*, organization_id: UUID | str) -> QuerySet[Comment]:
    return Comment.objects.filter(organization_id=organization_id)
