"""Sign-up, tokens, sessions and the caller's own account."""

from typing import Any

from django.conf import settings
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from taskhub.accounts import tokens
from taskhub.accounts.selectors import me_for
from taskhub.accounts.serializers.account import AccountDeleteInputSerializer
from taskhub.accounts.serializers.auth import (
    LogoutInputSerializer,
    MeSerializer,
    PasswordChangeInputSerializer,
    RegisterInputSerializer,
    RegisterOutputSerializer,
    SwitchInputSerializer,
    TokenObtainInputSerializer,
    TokenPairSerializer,
    TokenRefreshInputSerializer,
    TokenVerifyInputSerializer,
)
from taskhub.accounts.services import account_deletion, auth
from taskhub.core.errors import Forbidden
from taskhub.core.http import client_ip, request_id
from taskhub.core.schema import ANY_CREDENTIAL, ANYONE, SIGNED_IN, operation_description
from taskhub.core.throttling import AnonymousThrottle, SignInThrottle
from taskhub.tenancy.context import TenantContext, tenant_of


def _valid(serializer_class: type[serializers.Serializer[Any]], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class PublicApi(APIView):
    """An endpoint that takes its credential in the body, so the Authorization header is ignored."""

    authentication_classes: list[type] = []
    permission_classes = [permissions.AllowAny]

    def get_authenticate_header(self, request: Request) -> str:
        # A refused credential in the body is still a 401, with the scheme to use next.
        return 'Bearer realm="api"'


class SignInApi(PublicApi):
    """An endpoint that checks a password or creates an account: throttled per client IP."""

    throttle_classes = [SignInThrottle, AnonymousThrottle]


@extend_schema(tags=["auth"])
class RegisterApi(SignInApi):
    @extend_schema(
        summary="Sign up: create an account and an organization it owns",
        description=operation_description(
            f"{ANYONE} Throttled like sign-in, per client IP.",
            "Creates a user and a new organization with that user as its owner, and answers the user, the "
            "organization and a token pair (`access`, `refresh`) bound to it. The password must pass the "
            "server's password validators. The address starts unverified (`email_verified: false`) and is "
            "mailed a link to verify it (`POST /api/v1/auth/email/verify/`); signing in does not need it "
            "verified. The answer is the same whether or not another account holds the address: that "
            "account's owner is mailed a notice instead of a link, and the address is reserved only by "
            "whoever verifies it. Usernames are unique regardless of case.",
            "400 `username_taken`, `password_invalid`; 403 `signup_disabled` when sign-up is "
            "turned off on this server (`SIGNUP_ENABLED`); 429 `throttled` past the sign-in rate.",
        ),
        request=RegisterInputSerializer,
        responses={201: RegisterOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        """Create an account and an organization it owns; answers tokens for it."""
        if not settings.SIGNUP_ENABLED:
            raise Forbidden("Sign-up is disabled on this server.", code="signup_disabled")
        data = _valid(RegisterInputSerializer, request)
        registration = auth.user_register(**data, ip=client_ip(request), request_id=request_id(request))
        body = {
            "user": registration.user,
            "organization": registration.organization,
            **registration.tokens,
        }
        return Response(RegisterOutputSerializer(body).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["auth"])
class TokenObtainApi(SignInApi):
    @extend_schema(
        summary="Sign in: exchange a username and password for tokens",
        description=operation_description(
            f"{ANYONE} Throttled like sign-in, per client IP.",
            "Answers an access token (15 minutes by default) and a refresh token (7 days) bound to "
            "`organization` (an id or a slug) or, without it, to the user's first organization, with the "
            "user's role there. Send the access token as `Authorization: Bearer <access>`.",
            "401 `invalid_credentials` for an unknown username or a wrong password (the same answer for both); "
            "403 `not_a_member` for an organization the user is not in, whether or not it exists; "
            "429 `locked_out` with `Retry-After` while a wait set by repeated wrong passwords runs (for this "
            "username from this client IP, or for this client IP: a few free failures, then a wait doubling from "
            "1 s; attempts during it are not counted), or `throttled` past the sign-in rate.",
        ),
        request=TokenObtainInputSerializer,
        responses={200: TokenPairSerializer},
    )
    def post(self, request: Request) -> Response:
        """Exchange a username and password for tokens bound to one organization."""
        data = _valid(TokenObtainInputSerializer, request)
        return Response(
            auth.token_obtain(
                username=data["username"],
                password=data["password"],
                organization=data.get("organization"),
                ip=client_ip(request),
            )
        )


@extend_schema(tags=["auth"])
class TokenRefreshApi(PublicApi):
    @extend_schema(
        summary="Refresh: rotate a refresh token for a new token pair",
        description=operation_description(
            ANYONE,
            "Answers a new access and refresh token for the same organization, with the member's current role. "
            "Rotation: the refresh token sent is blacklisted, so a replayed one is refused.",
            "401 `token_not_valid` for a refresh token that is invalid, expired, already used or revoked, or "
            "whose user is no longer a member of the organization.",
        ),
        request=TokenRefreshInputSerializer,
        responses={200: TokenPairSerializer},
    )
    def post(self, request: Request) -> Response:
        """Rotate a refresh token: a new pair, and the old refresh token stops working."""
        data = _valid(TokenRefreshInputSerializer, request)
        return Response(auth.token_refresh(refresh=data["refresh"]))


@extend_schema(tags=["auth"])
class TokenVerifyApi(PublicApi):
    @extend_schema(
        summary="Verify: check that a token is still valid",
        description=operation_description(
            ANYONE,
            'Answers 200 `{"valid": true}` for a live access token (revocation included: a role change, a '
            "removal, a logout, a password change) or a live refresh token.",
            "401 `token_not_valid` for a token that is invalid, expired or revoked.",
        ),
        request=TokenVerifyInputSerializer,
        responses={200: inline_serializer("TokenVerifyOutput", {"valid": serializers.BooleanField()})},
    )
    def post(self, request: Request) -> Response:
        """Answer 200 for a live token, 401 for an invalid, expired or revoked one."""
        data = _valid(TokenVerifyInputSerializer, request)
        auth.token_verify(token=data["token"])
        return Response({"valid": True})


@extend_schema(tags=["auth"])
class LogoutApi(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        summary="Sign out: blacklist a refresh token",
        description=operation_description(
            "Anyone holding a refresh token (in the body). Send the session's access token as well "
            "(`Authorization: Bearer`) and it is refused from then on, not only when it expires.",
            "Ends the session: the refresh token is blacklisted and the access token sent with the request "
            "is denylisted until it expires. With `everywhere: true` every session of the user ends, in every "
            "organization, as after a password change. Answers 204.",
            "401 `token_not_valid` for a refresh token that is invalid, expired or already blacklisted.",
        ),
        request=LogoutInputSerializer,
        responses={204: None},
    )
    def post(self, request: Request) -> Response:
        """End this session (the refresh token and the access token sent with it), or all of them."""
        data = _valid(LogoutInputSerializer, request)
        context = request.auth if isinstance(request.auth, TenantContext) else None
        auth.logout(refresh=data["refresh"], everywhere=data["everywhere"], context=context)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["auth"])
class SwitchApi(APIView):
    @extend_schema(
        summary="Switch organization: get tokens for another organization",
        description=operation_description(
            SIGNED_IN,
            "Answers a new token pair bound to `organization` (an id or a slug), one the user belongs to, with "
            "the user's role there. Tokens already held keep acting in their own organization. "
            "`GET /api/v1/auth/me/` lists the user's organizations.",
            "403 `not_a_member` for an organization the user is not in, whether or not it exists; "
            "403 `api_key_bound` for an API key.",
        ),
        request=SwitchInputSerializer,
        responses={200: TokenPairSerializer},
    )
    def post(self, request: Request) -> Response:
        """Issue tokens for another organization the caller belongs to."""
        data = _valid(SwitchInputSerializer, request)
        return Response(auth.organization_switch(context=tenant_of(request), organization=data["organization"]))


@extend_schema(tags=["auth"])
class MeApi(APIView):
    @extend_schema(
        summary="Show the caller: user, organization, role and memberships",
        description=operation_description(
            ANY_CREDENTIAL,
            "Answers the user (null for an API key), the organization the credential acts in, the role it acts "
            "with, `credential` (`token` or `api_key`) and the user's memberships in every organization.",
        ),
        responses={200: MeSerializer},
    )
    def get(self, request: Request) -> Response:
        """The caller, the organization the credential acts in, their role, and all memberships."""
        return Response(MeSerializer(me_for(context=tenant_of(request))).data)

    @extend_schema(
        summary="Delete the caller's account",
        description=operation_description(
            SIGNED_IN,
            "Checks `password` (wrong ones count toward the password guard's limit), then deletes the user. "
            "In each of their organizations: their tasks stay, unassigned, and what they wrote stays without "
            "its author; the API keys they created are revoked; the audit log records `user.deleted`. Every "
            "token of the user stops working. Answers 204.",
            "400 `wrong_password` (on `password`); 403 `api_key_bound` for an API key; 409 `last_owner` while "
            "the user is the only owner of an organization (named in `detail`: make another member owner or "
            "delete the organization first); 429 `locked_out` after repeated wrong passwords.",
        ),
        request=AccountDeleteInputSerializer,
        responses={204: None},
    )
    def delete(self, request: Request) -> Response:
        """Delete the caller's own account, once they have no organization left without an owner."""
        context = tenant_of(request)
        if context.user_id is None:
            raise Forbidden("An API key cannot delete an account.", code="api_key_bound")
        data = _valid(AccountDeleteInputSerializer, request)
        account_deletion.account_delete(
            user_id=context.user_id, password=data["password"], ip=client_ip(request), request_id=request_id(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["auth"])
class PasswordChangeApi(APIView):
    @extend_schema(
        summary="Change the password and sign out everywhere",
        description=operation_description(
            SIGNED_IN,
            "Checks `old_password`, validates `new_password` and sets it. Every refresh token of the user is "
            "blacklisted and every access token, this one included, stops working: sign in again. Answers 204.",
            "400 `wrong_password` (on `old_password`), `password_invalid` (on `new_password`); "
            "403 `api_key_bound` for an API key; 429 `locked_out` with `Retry-After` after 5 wrong "
            "`old_password`s in 15 minutes (by default), until those 15 minutes end.",
        ),
        request=PasswordChangeInputSerializer,
        responses={204: None},
    )
    def post(self, request: Request) -> Response:
        """Change the password; every token of the user, this one included, stops working."""
        context = tenant_of(request)
        if context.user_id is None:
            raise Forbidden("An API key has no password.", code="api_key_bound")
        data = _valid(PasswordChangeInputSerializer, request)
        auth.password_change(user_id=context.user_id, **data, ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    tags=["auth"],
    responses={200: inline_serializer("JwksOutput", {"keys": serializers.ListField(child=serializers.DictField())})},
)
class JwksApi(PublicApi):
    @extend_schema(
        summary="Get the public keys that verify access tokens (JWKS)",
        description=operation_description(
            "Anyone; no credential needed.",
            "A JSON Web Key Set. Under RS256: `JWT_PUBLIC_KEY` and every key in `JWT_EXTRA_PUBLIC_KEYS`, each "
            "with its `kid` (the RFC 7638 thumbprint that tokens carry). Under HS256 `keys` is empty. Clients "
            "may cache it for five minutes (`Cache-Control: public, max-age=300`).",
        ),
    )
    def get(self, request: Request) -> Response:
        """The public keys that verify access tokens (RS256); empty under HS256."""
        response = Response({"keys": tokens.token_backend.public_jwks})
        response["Cache-Control"] = "public, max-age=300"
        return response


urlpatterns = [
    path("register/", RegisterApi.as_view(), name="auth-register"),
    path("token/", TokenObtainApi.as_view(), name="auth-token"),
    path("token/refresh/", TokenRefreshApi.as_view(), name="auth-token-refresh"),
    path("token/verify/", TokenVerifyApi.as_view(), name="auth-token-verify"),
    path("logout/", LogoutApi.as_view(), name="auth-logout"),
    path("switch/", SwitchApi.as_view(), name="auth-switch"),
    path("me/", MeApi.as_view(), name="auth-me"),
    path("password/change/", PasswordChangeApi.as_view(), name="auth-password-change"),
]
