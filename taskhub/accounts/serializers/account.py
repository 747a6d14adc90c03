from typing import Any

from rest_framework import serializers

from taskhub.core import fields


class EmailVerifyInputSerializer(serializers.Serializer[Any]):
    token = fields.CharField(max_length=200, help_text="The token from the link mailed to the address.")


class PasswordResetInputSerializer(serializers.Serializer[Any]):
    email = fields.EmailField(max_length=254)


class PasswordResetConfirmInputSerializer(serializers.Serializer[Any]):
    token = fields.CharField(max_length=200, help_text="The token from the reset link.")
    new_password = fields.CharField(max_length=128, trim_whitespace=False)


class EmailChangeInputSerializer(serializers.Serializer[Any]):
    new_email = fields.EmailField(max_length=254)
    password = fields.CharField(max_length=128, trim_whitespace=False, help_text="The current password.")


class AccountDeleteInputSerializer(serializers.Serializer[Any]):
    password = fields.CharField(max_length=128, trim_whitespace=False, help_text="The current password.")


class AcceptedSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField()
