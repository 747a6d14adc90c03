"""Invitations to the caller's organization, and accepting one."""

from typing import Any

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from taskhub.core.errors import DomainError, Forbidden
from taskhub.core.http import client_ip, request_id
from taskhub.core.schema import ADMIN, operation_description
from taskhub.core.throttling import AnonymousThrottle, CredentialThrottle, SignInThrottle
from taskhub.organizations.invitation_filters import InvitationFilter
from taskhub.organizations.selectors import invitation_list
from taskhub.organizations.serializers.invitations import (
    InvitationAcceptInputSerializer,
    InvitationAcceptOutputSerializer,
    InvitationCreateInputSerializer,
    InvitationSerializer,
)
from taskhub.organizations.services.invitations import (
    Acceptance,
    invitation_accept,
    invitation_accept_new_user,
    invitation_create,
    invitation_resend,
    invitation_revoke,
)
from taskhub.tenancy.api import TenantAPIView, actor_of
from taskhub.tenancy.context import TenantContext
from taskhub.tenancy.resources import Operation, ResourcePermissions, TenantDetailApi, TenantListApi

PERMISSIONS = ResourcePermissions(read="invitation.manage", write="invitation.manage", delete="invitation.manage")


class InvitationListApi(TenantListApi):
    selector = invitation_list
    permissions = PERMISSIONS
    tag = "invitations"
    serializer_class = InvitationSerializer
    create_input = InvitationCreateInputSerializer
    filterset_class = InvitationFilter
    search_fields = ["email"]
    ordering_fields = ["created_at", "expires_at"]
    operations = {
        "get": Operation(
            "List the organization's invitations",
            ADMIN,
            "Lists the organization's invitations (pending, accepted, revoked or expired), without their "
            "tokens, cursor-paginated. Filter, search by email and order with the query parameters below.",
        ),
        "post": Operation(
            "Invite someone by email",
            f"{ADMIN} Only owners invite an owner.",
            "Creates an invitation with a `role` (default `member`), valid for `INVITATION_LIFETIME_DAYS` "
            "(7 by default), and queues the email that carries its token: the answer (201) never waits for "
            "the mail server. `delivery_status` says where the email is: `queued`, then `sent` (with "
            "`sent_at`), or `failed` once every retry has failed (`delivery_error` says why; resend it with "
            "`POST /api/v1/invitations/{id}/resend/`). The token never appears in the answer; the invitee "
            "sends it to `POST /api/v1/invitations/accept/`.",
            "409 `already_member` (a member holds this address verified), `invitation_pending`; 403 when an "
            "admin invites an owner; 429 `throttled` with `Retry-After` past the organization's "
            "`INVITATIONS_PER_HOUR` (50 by default), the inviting user's `INVITATIONS_PER_USER_PER_DAY` (100) "
            "or the address's `INVITATIONS_PER_ADDRESS_PER_DAY` (5, counted over every organization).",
        ),
    }

    def perform_create(self, fields: dict[str, Any]) -> Any:
        return invitation_create(
            organization_id=self.tenant.organization_id,
            actor=self.actor,
            actor_role=self.tenant.role,
            email=fields["email"],
            role=fields["role"],
        )


class InvitationDetailApi(TenantDetailApi):
    selector = invitation_list
    permissions = PERMISSIONS
    tag = "invitations"
    serializer_class = InvitationSerializer
    delete_service = invitation_revoke
    # A revoked invitation stays in the list as revoked; there is no detail page to contradict the 204.
    retrievable = False
    operations = {
        "delete": Operation(
            "Revoke a pending invitation",
            ADMIN,
            "Revokes the invitation: its token stops working. Answers 204.",
            "400 `invitation_not_pending` for an invitation already accepted, revoked or expired; 404.",
        ),
    }


@extend_schema(tags=["invitations"])
class InvitationResendApi(TenantAPIView):
    selector = invitation_list
    permission_by_method = {"POST": "invitation.manage"}
    serializer_class = InvitationSerializer

    @extend_schema(
        summary="Send a pending invitation's email again, with a new link",
        description=operation_description(
            f"{ADMIN} Only owners resend an owner's invitation.",
            "Queues the invitation email again with a new token: the link and token of every earlier email "
            "stop working at once, and the new one works when it arrives. Answers 202 with the invitation "
            "(`delivery_status` `queued` until the email is out). Counts against the invitation limits "
            "(`INVITATIONS_PER_HOUR`, `INVITATIONS_PER_USER_PER_DAY`, `INVITATIONS_PER_ADDRESS_PER_DAY`) like a "
            "new invitation. While an earlier email still waits to go out "
            "(the mail server down, its retries pending), no second email is queued: the waiting one is "
            "sent at once instead.",
            "409 `invitation_not_pending` for an invitation accepted, revoked or expired; 403 when an admin "
            "resends an owner's invitation; 404; 429 past a limit.",
        ),
        request=None,
        responses={202: InvitationSerializer},
    )
    def post(self, request: Request, id: str) -> Response:
        """Queue a pending invitation's email again, with a new token."""
        invitation = invitation_resend(
            organization_id=self.tenant.organization_id,
            invitation_id=self.get_object().pk,
            actor=self.actor,
            actor_role=self.tenant.role,
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["invitations"])
class InvitationAcceptApi(APIView):
    # Not tenant-scoped: the caller joins an organization they are not in yet, signed in
    # (a Bearer token for any organization) or as a new user (username and password).
    permission_classes = [permissions.AllowAny]
    # Creating an account or guessing tokens: throttled like sign-in.
    throttle_classes = [SignInThrottle, AnonymousThrottle, CredentialThrottle]

    @extend_schema(
        summary="Accept an invitation and get tokens for its organization",
        description=operation_description(
            "The invitee, with the token from the email: signed in (a Bearer token for any organization) as the "
            "user whose email is the invited address, or with no credential and a new `username` and "
            "`password`. An API key gets 403 `api_key_bound`. Throttled like sign-in, per client IP.",
            "Makes the user a member with the invitation's role and answers the organization, the role and a "
            "token pair bound to it (201). The invited address becomes the user's verified email: a new "
            "user's account takes it; any other account's unverified claim to it is dropped.",
            "400 `invitation_invalid`, `invitation_used`, `invitation_revoked`, `invitation_expired`, "
            "`username_taken`, `password_invalid`, `already_signed_in` (a username sent with a Bearer token); "
            "401 with neither a credential nor a username; 403 `invitation_email_mismatch` (signed in as a user "
            "whose email is not the invited address: sign in with the account that uses it); 409 "
            "`already_member`, `email_taken` (an account holds that address verified: sign in and accept).",
        ),
        request=InvitationAcceptInputSerializer,
        responses={201: InvitationAcceptOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        """Accept an invitation, signed in or as a new user; answers tokens for the organization joined."""
        serializer = InvitationAcceptInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        context = request.auth
        if isinstance(context, TenantContext):
            if context.user_id is None:
                raise Forbidden("An API key cannot accept an invitation.", code="api_key_bound")
            if "username" in data:
                # A stale token left in a client would otherwise silently join the wrong account.
                raise DomainError(
                    "Send username and password only when not signed in.", code="already_signed_in", field="username"
                )
            acceptance = invitation_accept(token=data["token"], user_id=context.user_id, actor=actor_of(request))
        elif "username" in data:
            acceptance = invitation_accept_new_user(
                token=data["token"],
                username=data["username"],
                password=data["password"],
                ip=client_ip(request),
                request_id=request_id(request),
            )
        else:
            raise exceptions.NotAuthenticated("Sign in, or send a username and password to join as a new user.")
        return Response(_acceptance_body(acceptance), status=status.HTTP_201_CREATED)


def _acceptance_body(acceptance: Acceptance) -> dict[str, object]:
    membership = acceptance.membership
    body = {"organization": membership.organization, "role": membership.role, **acceptance.tokens}
    return dict(InvitationAcceptOutputSerializer(body).data)


urlpatterns = [
    path("invitations/", InvitationListApi.as_view(), name="invitation-list"),
    # Before the detail route, so "accept" is never read as an id.
    path("invitations/accept/", InvitationAcceptApi.as_view(), name="invitation-accept"),
    path("invitations/<uuid:id>/", InvitationDetailApi.as_view(), name="invitation-detail"),
    path("invitations/<uuid:id>/resend/", InvitationResendApi.as_view(), name="invitation-resend"),
]
