from typing import Any

from rest_framework import serializers

from taskhub.accounts.models import ApiKey
from taskhub.core import fields
from taskhub.tenancy.roles import API_KEY_ROLE_CHOICES


class ApiKeySerializer(serializers.ModelSerializer[ApiKey]):
    role = serializers.ChoiceField(choices=API_KEY_ROLE_CHOICES, read_only=True)
    created_by = serializers.UUIDField(
        source="created_by_id",
        read_only=True,
        allow_null=True,
        help_text="The user who answers for the key: it works while they are a member with at least its role. "
        "Null when their account was deleted: the key is refused until transferred.",
    )
    expires_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When the key stops working; null for never."
    )

    class Meta:
        model = ApiKey
        fields = ["id", "name", "role", "prefix", "created_by", "created_at", "expires_at", "last_used_at"]
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
    expires_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="When the key stops working (in the future); omitted or null, it works until revoked.",
    )


class ApiKeyTransferInputSerializer(serializers.Serializer[Any]):
    user = serializers.UUIDField(
        help_text="The id of the member who answers for the key from now on; their role must be at least the key's."
    )
