from typing import Any

from rest_framework import serializers

from taskhub.accounts.serializers.auth import UserSerializer
from taskhub.organizations.models import Membership
from taskhub.tenancy.roles import Role


class MemberSerializer(serializers.ModelSerializer[Membership]):
    user = UserSerializer(read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "role", "created_at", "updated_at"]
        read_only_fields = fields


class MemberUpdateSerializer(serializers.Serializer[Any]):
    role = serializers.ChoiceField(choices=Role.choices)
