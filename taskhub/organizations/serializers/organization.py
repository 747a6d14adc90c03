from typing import Any

from rest_framework import serializers

from taskhub.core import fields
from taskhub.organizations.models import Organization


class OrganizationSerializer(serializers.ModelSerializer[Organization]):
    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "created_at", "updated_at"]
        read_only_fields = fields


class OrganizationUpdateSerializer(serializers.Serializer[Any]):
    name = fields.CharField(max_length=200, required=False)
    slug = fields.SlugField(max_length=60, required=False)
