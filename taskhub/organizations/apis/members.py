"""Members of the caller's organization."""

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.request import Request
from rest_framework.response import Response

from taskhub.core.schema import ADMIN, VIEWER, operation_description
from taskhub.organizations.filters import MemberFilter
from taskhub.organizations.selectors import membership_list
from taskhub.organizations.serializers.members import MemberSerializer, MemberUpdateSerializer
from taskhub.organizations.services.organizations import membership_remove, membership_role_change
from taskhub.tenancy.api import TenantAPIView


@extend_schema(tags=["members"])
class MemberListApi(mixins.ListModelMixin, TenantAPIView):
    selector = membership_list
    permission_by_method = {"GET": "member.read"}
    serializer_class = MemberSerializer
    filterset_class = MemberFilter
    search_fields = ["user__username", "user__email"]
    ordering_fields = ["created_at"]

    @extend_schema(
        summary="List the organization's members",
        description=operation_description(
            VIEWER,
            "Lists the organization's members with their roles, cursor-paginated. Filter, search by username or "
            "email, and order with the query parameters below.",
        ),
    )
    def get(self, request: Request) -> Response:
        """List the organization's members."""
        return self.list(request)


@extend_schema(tags=["members"])
class MemberDetailApi(TenantAPIView):
    selector = membership_list
    # Anyone may DELETE their own membership (leave); the service checks who may remove others.
    permission_by_method = {"GET": "member.read", "PATCH": "member.manage", "DELETE": "member.read"}
    serializer_class = MemberSerializer

    @extend_schema(
        summary="Show a member",
        description=operation_description(
            VIEWER,
            "Shows one membership of the organization: the user and their role.",
            "404 for a membership of another organization.",
        ),
    )
    def get(self, request: Request, id: str) -> Response:
        """Show one member."""
        return Response(MemberSerializer(self.get_object()).data)

    @extend_schema(
        summary="Change a member's role",
        description=operation_description(
            f"{ADMIN} Only owners grant the owner role or change an owner's.",
            "Sets the member's `role`. Their access tokens for this organization stop working on their next "
            "request; their refresh token still works and issues tokens with the new role. A body without "
            "`role` changes nothing.",
            "400 `last_owner` when demoting the last owner; 403 when an admin touches the owner role; 404.",
        ),
        request=MemberUpdateSerializer,
        responses={200: MemberSerializer},
    )
    def patch(self, request: Request, id: str) -> Response:
        """Change a member's role; only owners grant or take the owner role."""
        membership = self.get_object()
        # A PATCH names the fields it changes: without a role, nothing changes.
        serializer = MemberUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if "role" not in serializer.validated_data:
            return Response(MemberSerializer(membership).data)
        membership = membership_role_change(
            organization_id=self.tenant.organization_id,
            membership_id=membership.pk,
            role=serializer.validated_data["role"],
            actor=self.actor,
            actor_role=self.tenant.role,
        )
        return Response(MemberSerializer(membership).data)

    @extend_schema(
        summary="Remove a member, or leave the organization",
        description=operation_description(
            "Admin and up to remove someone else (only owners remove an owner); any member to leave, by "
            "deleting their own membership, except the last owner.",
            "Deletes the membership; the member's tokens for this organization stop working on their next "
            "request. Answers 204.",
            "400 `last_owner` when the last owner would go (make another member owner, or delete the "
            "organization); 403 for a viewer or member removing someone else, or an admin removing an owner; 404.",
        ),
    )
    def delete(self, request: Request, id: str) -> Response:
        """Remove a member, or leave when it is the caller's own membership."""
        membership = self.get_object()
        membership_remove(
            organization_id=self.tenant.organization_id,
            membership_id=membership.pk,
            actor=self.actor,
            actor_role=self.tenant.role,
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("members/", MemberListApi.as_view(), name="member-list"),
    path("members/<uuid:id>/", MemberDetailApi.as_view(), name="member-detail"),
]
