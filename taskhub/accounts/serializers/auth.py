from typing import Any

from rest_framework import serializers

from taskhub.accounts.models import User
from taskhub.organizations.models import Organization
from taskhub.organizations.roles import Role


class UserSerializer(serializers.ModelSerializer[User]):
    class Meta:
        model = User
        fields = ["id", "username", "email"]
        read_only_fields = fields


class OrganizationSummarySerializer(serializers.ModelSerializer[Organization]):
    class Meta:
        model = Organization
        fields = ["id", "name", "slug"]
        read_only_fields = fields


class RegisterInputSerializer(serializers.Serializer[Any]):
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    organization_name = serializers.CharField(max_length=200)


class TokenPairSerializer(serializers.Serializer[Any]):
    access = serializers.CharField()
    refresh = serializers.CharField()


class RegisterOutputSerializer(TokenPairSerializer):
    user = UserSerializer()
    organization = OrganizationSummarySerializer()


class TokenObtainInputSerializer(serializers.Serializer[Any]):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False)
    organization = serializers.CharField(
        max_length=100, required=False, help_text="Organization id or slug; default: the user's first."
    )


class TokenRefreshInputSerializer(serializers.Serializer[Any]):
    refresh = serializers.CharField(max_length=4096)


class TokenVerifyInputSerializer(serializers.Serializer[Any]):
    token = serializers.CharField(max_length=4096)


class LogoutInputSerializer(serializers.Serializer[Any]):
    refresh = serializers.CharField(max_length=4096)
    everywhere = serializers.BooleanField(
        default=False, help_text="End every session of the user, in every organization."
    )


class SwitchInputSerializer(serializers.Serializer[Any]):
    organization = serializers.CharField(max_length=100, help_text="Organization id or slug.")


class PasswordChangeInputSerializer(serializers.Serializer[Any]):
    old_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)


class MembershipSummarySerializer(serializers.Serializer[Any]):
    organization = OrganizationSummarySerializer()
    role = serializers.ChoiceField(choices=Role.choices)


class MeSerializer(serializers.Serializer[Any]):
    user = UserSerializer(allow_null=True, help_text="Null when the caller is an API key.")
    organization = OrganizationSummarySerializer()
    role = serializers.ChoiceField(choices=Role.choices)
    credential = serializers.ChoiceField(choices=["token", "api_key"])
    memberships = MembershipSummarySerializer(many=True)
