from typing import Any

from rest_framework import serializers

from taskhub.accounts.models import ApiKey
from taskhub.core import fields
from taskhub.tenancy.roles import API_KEY_ROLE_CHOICES


class ApiKeySerializer(serializers.ModelSerializer[ApiKey]):
    role = serializers.ChoiceField(choices=API_KEY_ROLE_CHOICES, read_only=True)

    class Meta:
        model = ApiKey
        fields = ["id", "name", "role", "prefix", "created_by", "created_at", "last_used_at"]
        read_only_fields = fields


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.SerializerMethodField(help_text="The secret; shown in this response only, never again.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields

    def get_key(self, api_key: ApiKey) -> str:
        return str(self.context["key"])


class ApiKeyCreateInputSerializer(serializers.Serializer[Any]):
    name = fields.CharField(max_length=100)
    role = serializers.ChoiceField(choices=API_KEY_ROLE_CHOICES, help_text="Keys never administer.")
