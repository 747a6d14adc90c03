"""The pages' forms: input limits as the API's serializers set them; the rules live in the services."""

from __future__ import annotations

from typing import Any

from django import forms

# The API's limits (taskhub.accounts.serializers, taskhub.organizations.serializers).
TOKEN_MAX_LENGTH = 200
USERNAME_MAX_LENGTH = 150
PASSWORD_MAX_LENGTH = 128
USERNAME_PATTERN = r"^[\w.@+-]+\Z"
PASSWORDS_DIFFER = "The two passwords do not match."


def _password(autocomplete: str, label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=PASSWORD_MAX_LENGTH,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}),
    )


class _RepeatedPassword(forms.Form):
    """A new password typed twice: nobody sees what they typed."""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, second = data.get("password"), data.get("password_repeat")
        if first is not None and second is not None and first != second:
            self.add_error("password_repeat", PASSWORDS_DIFFER)
        return data


class ResetPasswordForm(_RepeatedPassword):
    password = _password("new-password", "New password")
    password_repeat = _password("new-password", "New password, again")


class SignInForm(forms.Form):
    username = forms.CharField(
        label="Username", max_length=USERNAME_MAX_LENGTH, widget=forms.TextInput(attrs={"autocomplete": "username"})
    )
    password = _password("current-password", "Password")


class SignUpForm(_RepeatedPassword):
    username = forms.RegexField(
        label="Username",
        regex=USERNAME_PATTERN,
        max_length=USERNAME_MAX_LENGTH,
        error_messages={"invalid": "Use letters, digits and @ . + - _ only."},
        widget=forms.TextInput(attrs={"autocomplete": "username"}),
    )
    password = _password("new-password", "Password")
    password_repeat = _password("new-password", "Password, again")
