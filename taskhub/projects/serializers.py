from typing import Any

from rest_framework import serializers

from taskhub.core import fields
from taskhub.projects.models import PROJECT_KEY_MAX_LENGTH, PROJECT_KEY_PATTERN, Project, ProjectStatus

DESCRIPTION_MAX_LENGTH = 10_000
KEY_HELP = "Short code unique in the organization: a capital letter, then 1 to 9 capitals or digits."
KEY_ERRORS: dict[str, Any] = {"invalid": "Use a capital letter, then 1 to 9 capitals or digits (e.g. WEB, OPS2)."}


class ProjectSerializer(serializers.ModelSerializer[Project]):
    created_by = serializers.UUIDField(source="created_by_id", read_only=True, allow_null=True)

    class Meta:
        model = Project
        fields = ["id", "key", "name", "description", "status", "created_by", "created_at", "updated_at"]
        read_only_fields = fields


class ProjectCreateInputSerializer(serializers.Serializer[Any]):
    key = fields.RegexField(
        PROJECT_KEY_PATTERN, max_length=PROJECT_KEY_MAX_LENGTH, help_text=KEY_HELP, error_messages=KEY_ERRORS
    )
    name = fields.CharField(max_length=200)
    description = fields.CharField(max_length=DESCRIPTION_MAX_LENGTH, allow_blank=True, required=False)
    status = serializers.ChoiceField(choices=ProjectStatus.choices, required=False)


class ProjectUpdateInputSerializer(serializers.Serializer[Any]):
    """Every field for PUT; any of them for PATCH. Archive with ``{"status": "archived"}``."""

    key = fields.RegexField(
        PROJECT_KEY_PATTERN, max_length=PROJECT_KEY_MAX_LENGTH, help_text=KEY_HELP, error_messages=KEY_ERRORS
    )
    name = fields.CharField(max_length=200)
    description = fields.CharField(max_length=DESCRIPTION_MAX_LENGTH, allow_blank=True)
    status = serializers.ChoiceField(choices=ProjectStatus.choices)
