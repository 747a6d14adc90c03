from typing import Any

from rest_framework import serializers

from taskhub.comments.models import BODY_MAX_LENGTH, Comment
from taskhub.core import fields

BODY_HELP = (
    f"Plain text, 1 to {BODY_MAX_LENGTH:,} characters as sent; whitespace at either end is trimmed, and a body "
    "of whitespace alone is blank (a 400). Newlines inside are kept. No NUL character."
)


class CommentSerializer(serializers.ModelSerializer[Comment]):
    # Plain ids from the *_id columns: a page of comments costs one query, whatever its size.
    task = serializers.UUIDField(source="task_id", read_only=True)
    author = serializers.UUIDField(
        source="author_id", read_only=True, allow_null=True, help_text="The user who wrote it; null for an API key's."
    )
    api_key = serializers.UUIDField(
        source="api_key_id", read_only=True, allow_null=True, help_text="The API key that wrote it, or null."
    )

    class Meta:
        model = Comment
        fields = ["id", "task", "author", "api_key", "body", "created_at", "updated_at"]
        read_only_fields = fields


class CommentInputSerializer(serializers.Serializer[Any]):
    """The one writable field, for POST, PUT and PATCH alike."""

    body = fields.CharField(max_length=BODY_MAX_LENGTH, help_text=BODY_HELP)
