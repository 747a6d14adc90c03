"""A person's own account: verifying the address, resetting the password, changing the address."""

from typing import Any

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from taskhub.accounts.apis.auth import PublicApi
from taskhub.accounts.serializers.account import (
    AcceptedSerializer,
    EmailChangeInputSerializer,
    EmailVerifyInputSerializer,
    PasswordResetConfirmInputSerializer,
    PasswordResetInputSerializer,
)
from taskhub.accounts.services import account
from taskhub.core.errors import Forbidden
from taskhub.core.http import client_ip
from taskhub.core.schema import ANYONE, SIGNED_IN, operation_description
from taskhub.core.throttling import (
    AccountEmailThrottle,
    AnonymousThrottle,
    CredentialThrottle,
    OrganizationThrottle,
    PasswordResetAddressThrottle,
    PasswordResetThrottle,
    SignInThrottle,
)
from taskhub.tenancy.context import tenant_of

# One answer for every address, known or not: the response says nothing about who has an account.
RESET_ACCEPTED = {"detail": "If an account uses this address, a link to reset its password is on its way."}
VERIFICATION_QUEUED = {"detail": "A link to verify your address is on its way."}
CHANGE_QUEUED = {"detail": "A link to confirm the change is on its way to the new address."}


def _valid(serializer_class: type[serializers.Serializer[Any]], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _user_id(request: Request) -> Any:
    context = tenant_of(request)
    if context.user_id is None:
        raise Forbidden("An API key has no email address or password.", code="api_key_bound")
    return context.user_id


class AccountMailApi(APIView):
    """A signed-in user's request that mails them: a few per hour per user, besides the usual limits."""

    throttle_classes = [AccountEmailThrottle, CredentialThrottle, OrganizationThrottle]


@extend_schema(tags=["auth"])
class EmailVerifyApi(PublicApi):
    throttle_classes = [SignInThrottle, AnonymousThrottle]

    @extend_schema(
        summary="Verify an email address with the token mailed to it",
        description=operation_description(
            f"{ANYONE} The token is the credential. Throttled like sign-in, per client IP.",
            "Takes the token from a verification link (sign-up, resend) or from the link confirming an email "
            "change, and makes that address the user's verified one. Every other account's unverified claim to "
            "the address is dropped (its `email` emptied; nobody is told). A token works once and expires after "
            "`VERIFY_EMAIL_TOKEN_HOURS` (72 by default). Answers 204.",
            "400 `token_invalid` for a token that is unknown, used or expired; 409 `email_taken` when another "
            "account verified the address first.",
        ),
        request=EmailVerifyInputSerializer,
        responses={204: None},
    )
    def post(self, request: Request) -> Response:
        """Make the address the token was mailed to the user's verified address."""
        data = _valid(EmailVerifyInputSerializer, request)
        account.email_verify(token=data["token"])
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["auth"])
class EmailVerifyResendApi(AccountMailApi):
    @extend_schema(
        summary="Send the verification link again",
        description=operation_description(
            f"{SIGNED_IN} A few per hour per user (`THROTTLE_ACCOUNT_EMAIL_RATE`).",
            "Mails a new verification link to the user's address, which is not verified yet (accounts from "
            "before email verification existed start unverified); the previous link stops working. Answers 202: "
            "the email goes through the job queue.",
            "400 `email_missing` when the account has no address (use an email change); 409 "
            "`email_already_verified`; 403 `api_key_bound` for an API key; 429 `throttled`.",
        ),
        request=None,
        responses={202: AcceptedSerializer},
    )
    def post(self, request: Request) -> Response:
        """Mail the user a new link to verify their address."""
        account.email_verification_resend(user_id=_user_id(request))
        return Response(VERIFICATION_QUEUED, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["auth"])
class PasswordResetApi(PublicApi):
    throttle_classes = [PasswordResetAddressThrottle, PasswordResetThrottle, AnonymousThrottle]

    @extend_schema(
        summary="Ask for a password-reset link",
        description=operation_description(
            f"{ANYONE} Throttled per address (`THROTTLE_PASSWORD_RESET_ADDRESS_RATE`, 3 an hour by default) and "
            "per client IP (`THROTTLE_PASSWORD_RESET_RATE`, 10 an hour).",
            "Mails a single-use link, valid 1 hour, to every active account that holds `email` as its verified "
            "address or, when none does, as an unverified one (opening the link proves the address). A new "
            "request makes the previous link stop working. The answer is the same 202, byte for byte, whether "
            "or not any account uses the address; nothing is sent for an unknown one.",
            "400 for an invalid address; 429 `throttled`.",
        ),
        request=PasswordResetInputSerializer,
        responses={202: AcceptedSerializer},
    )
    def post(self, request: Request) -> Response:
        """Mail a reset link to the accounts using the address; the same answer for any address."""
        data = _valid(PasswordResetInputSerializer, request)
        account.password_reset_request(email=data["email"])
        return Response(RESET_ACCEPTED, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["auth"])
class PasswordResetConfirmApi(PublicApi):
    throttle_classes = [SignInThrottle, AnonymousThrottle]

    @extend_schema(
        summary="Set a new password with a reset link's token",
        description=operation_description(
            f"{ANYONE} The token is the credential. Throttled like sign-in, per client IP.",
            "Validates `new_password` and sets it; the token is used up. Every refresh and access token of the "
            "user stops working (sign in again), the user's failed sign-ins are forgiven, any other reset link "
            "and any unconfirmed email change stop working, and an unverified address the link was sent to "
            "becomes verified. Answers 204.",
            "400 `token_invalid` (on `token`) for a token that is unknown, used or expired; 400 "
            "`password_invalid` (on `new_password`), the token still unused.",
        ),
        request=PasswordResetConfirmInputSerializer,
        responses={204: None},
    )
    def post(self, request: Request) -> Response:
        """Set the password; every session of the user ends."""
        data = _valid(PasswordResetConfirmInputSerializer, request)
        account.password_reset_confirm(token=data["token"], new_password=data["new_password"])
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["auth"])
class EmailChangeApi(AccountMailApi):
    @extend_schema(
        summary="Change the email address (confirmed from the new address)",
        description=operation_description(
            f"{SIGNED_IN} A few per hour per user (`THROTTLE_ACCOUNT_EMAIL_RATE`).",
            "Checks `password` (wrong ones count toward the password guard's limit), then mails a link to "
            "`new_email` and a notice to the current address, if any. Opening the link "
            "(`POST /api/v1/auth/email/verify/` with its token, valid `VERIFY_EMAIL_TOKEN_HOURS`) makes "
            "`new_email` the verified address. The answer is the same 202 whether or not another account uses "
            "`new_email` (that account's owner is told instead, and no link is sent).",
            "400 `wrong_password` (on `password`), `email_unchanged` (on `new_email`); 403 `api_key_bound` "
            "for an API key; 429 `locked_out` after repeated wrong passwords, `throttled`.",
        ),
        request=EmailChangeInputSerializer,
        responses={202: AcceptedSerializer},
    )
    def post(self, request: Request) -> Response:
        """Mail a confirmation link to the new address and a notice to the old one."""
        user_id = _user_id(request)
        data = _valid(EmailChangeInputSerializer, request)
        account.email_change_request(
            user_id=user_id, new_email=data["new_email"], password=data["password"], ip=client_ip(request)
        )
        return Response(CHANGE_QUEUED, status=status.HTTP_202_ACCEPTED)


urlpatterns = [
    path("email/verify/", EmailVerifyApi.as_view(), name="auth-email-verify"),
    path("email/verify/resend/", EmailVerifyResendApi.as_view(), name="auth-email-verify-resend"),
    path("email/change/", EmailChangeApi.as_view(), name="auth-email-change"),
    path("password/reset/", PasswordResetApi.as_view(), name="auth-password-reset"),
    path("password/reset/confirm/", PasswordResetConfirmApi.as_view(), name="auth-password-reset-confirm"),
]
