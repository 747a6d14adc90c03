from typing import Any

from rest_framework import serializers

from taskhub.accounts.models import User
from taskhub.core import fields
from taskhub.organizations.models import Organization
from taskhub.tenancy.roles import Role


class UserSerializer(serializers.ModelSerializer[User]):
    class Meta:
        model = User
        fields = ["id", "username", "email", "email_verified"]
        read_only_fields = fields


class OrganizationSummarySerializer(serializers.ModelSerializer[Organization]):
    class Meta:
        model = Organization
        fields = ["id", "name", "slug"]
        read_only_fields = fields


class RegisterInputSerializer(serializers.Serializer[Any]):
    username = fields.RegexField(r"^[\w.@+-]+\Z", max_length=150)
    email = fields.EmailField(max_length=254)
    password = fields.CharField(max_length=128, write_only=True, trim_whitespace=False)
    organization_name = fields.CharField(max_length=200)


class TokenPairSerializer(serializers.Serializer[Any]):
    access = fields.CharField()
    refresh = fields.CharField()


class RegisterOutputSerializer(TokenPairSerializer):
    user = UserSerializer()
    organization = OrganizationSummarySerializer()


class TokenObtainInputSerializer(serializers.Serializer[Any]):
    username = fields.CharField(max_length=150)
    password = fields.CharField(max_length=128, trim_whitespace=False)
    organization = fields.CharField(
        max_length=100, required=False, help_text="Organization id or slug; default: the user's first."
    )


class TokenRefreshInputSerializer(serializers.Serializer[Any]):
    refresh = fields.CharField(max_length=4096)


class TokenVerifyInputSerializer(serializers.Serializer[Any]):
    token = fields.CharField(max_length=4096)


class LogoutInputSerializer(serializers.Serializer[Any]):
    refresh = fields.CharField(max_length=4096)
    everywhere = serializers.BooleanField(
        default=False, help_text="End every session of the user, in every organization."
    )


class SwitchInputSerializer(serializers.Serializer[Any]):
    organization = fields.CharField(max_length=100, help_text="Organization id or slug.")


class PasswordChangeInputSerializer(serializers.Serializer[Any]):
    old_password = fields.CharField(max_length=128, trim_whitespace=False)
    new_password = fields.CharField(max_length=128, trim_whitespace=False)


class MembershipSummarySerializer(serializers.Serializer[Any]):
    organization = OrganizationSummarySerializer()
    role = serializers.ChoiceField(choices=Role.choices)


class MeSerializer(serializers.Serializer[Any]):
    user = UserSerializer(allow_null=True, help_text="Null when the caller is an API key.")
    organization = OrganizationSummarySerializer()
    role = serializers.ChoiceField(choices=Role.choices)
    credential = serializers.ChoiceField(choices=["token", "api_key"])
    memberships = MembershipSummarySerializer(many=True)
