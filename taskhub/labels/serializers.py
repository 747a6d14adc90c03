from typing import Any

from rest_framework import serializers

from taskhub.core import fields
from taskhub.labels.models import LABEL_COLOR_PATTERN, LABEL_DESCRIPTION_MAX_LENGTH, LABEL_NAME_MAX_LENGTH, Label

NAME_HELP = "Unique in the organization whatever its case (`Bug` and `bug` are one name); 1 to 50 characters."
COLOR_HELP = "`#RRGGBB`, six hex digits in either case; stored and shown in lower case (`#d73a4a`)."
COLOR_ERRORS: dict[str, Any] = {"invalid": "Use # and six hex digits, e.g. #d73a4a."}


class LabelSerializer(serializers.ModelSerializer[Label]):
    class Meta:
        model = Label
        fields = ["id", "name", "color", "description", "created_at", "updated_at"]
        read_only_fields = fields


class LabelCreateInputSerializer(serializers.Serializer[Any]):
    name = fields.CharField(max_length=LABEL_NAME_MAX_LENGTH, help_text=NAME_HELP)
    color = fields.RegexField(LABEL_COLOR_PATTERN, max_length=7, help_text=COLOR_HELP, error_messages=COLOR_ERRORS)
    description = fields.CharField(max_length=LABEL_DESCRIPTION_MAX_LENGTH, allow_blank=True, required=False)


class LabelUpdateInputSerializer(serializers.Serializer[Any]):
    """Every field for PUT; any of them for PATCH."""

    name = fields.CharField(max_length=LABEL_NAME_MAX_LENGTH, help_text=NAME_HELP)
    color = fields.RegexField(LABEL_COLOR_PATTERN, max_length=7, help_text=COLOR_HELP, error_messages=COLOR_ERRORS)
    description = fields.CharField(max_length=LABEL_DESCRIPTION_MAX_LENGTH, allow_blank=True)
