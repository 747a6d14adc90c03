from typing import Any

from rest_framework import serializers

from taskhub.accounts.serializers.auth import OrganizationSummarySerializer, TokenPairSerializer
from taskhub.core import fields
from taskhub.organizations.models import Invitation, InvitationStatus
from taskhub.tenancy.roles import Role


class InvitationSerializer(serializers.ModelSerializer[Invitation]):
    status = serializers.ChoiceField(choices=InvitationStatus.choices, read_only=True)

    class Meta:
        model = Invitation
        fields = [
            "id",
            "email",
            "role",
            "status",
            "delivery_status",
            "sent_at",
            "delivery_error",
            "invited_by",
            "expires_at",
            "accepted_at",
            "created_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "delivery_status": {
                "help_text": "The email: `queued` (waiting for a worker, or retried while the mail server is "
                "down), `sent`, or `failed` (given up after every retry; resend it)."
            },
            "sent_at": {"help_text": "When the email with the current link went out; null until then."},
            "delivery_error": {"help_text": "Why the email failed, when `delivery_status` is `failed`; else empty."},
        }


class InvitationCreateInputSerializer(serializers.Serializer[Any]):
    email = fields.EmailField(max_length=254)
    role = serializers.ChoiceField(
        choices=Role.choices, default=Role.MEMBER, help_text="Only an owner may invite an owner."
    )


class InvitationAcceptInputSerializer(serializers.Serializer[Any]):
    token = fields.CharField(max_length=200, trim_whitespace=True, help_text="The token from the email.")
    username = fields.RegexField(
        r"^[\w.@+-]+\Z",
        max_length=150,
        required=False,
        help_text="To join as a new user, with password; leave out when signed in.",
    )
    password = fields.CharField(
        max_length=128,
        required=False,
        write_only=True,
        trim_whitespace=False,
        help_text="The new user's password, with username.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # A new user needs both; one without the other is a mistake worth naming.
        for field, other in (("username", "password"), ("password", "username")):
            if other in attrs and field not in attrs:
                raise serializers.ValidationError({field: [f"Required with {other}."]}, code="required")
        return attrs


class InvitationAcceptOutputSerializer(TokenPairSerializer):
    organization = OrganizationSummarySerializer()
    role = serializers.ChoiceField(choices=Role.choices)
