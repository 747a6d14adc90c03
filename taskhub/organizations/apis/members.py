"""Members of the caller's organization."""

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.request import Request
from rest_framework.response import Response

from taskhub.organizations.filters import MemberFilter
from taskhub.organizations.selectors import membership_list
from taskhub.organizations.serializers.members import MemberSerializer, MemberUpdateSerializer
from taskhub.organizations.services.organizations import membership_remove, membership_role_change
from taskhub.organizations.tenancy import TenantAPIView


@extend_schema(tags=["members"])
class MemberListApi(mixins.ListModelMixin, TenantAPIView):
    selector = membership_list
    permission_by_method = {"GET": "member.read"}
    serializer_class = MemberSerializer
    filterset_class = MemberFilter
    search_fields = ["user__username", "user__email"]
    ordering_fields = ["created_at"]

    def get(self, request: Request) -> Response:
        """List the organization's members."""
        return self.list(request)


@extend_schema(tags=["members"])
class MemberDetailApi(TenantAPIView):
    selector = membership_list
    # Anyone may DELETE their own membership (leave); the service checks who may remove others.
    permission_by_method = {"GET": "member.read", "PATCH": "member.manage", "DELETE": "member.read"}
    serializer_class = MemberSerializer

    def get(self, request: Request, id: str) -> Response:
        """Show one member."""
        return Response(MemberSerializer(self.get_object()).data)

    @extend_schema(request=MemberUpdateSerializer, responses={200: MemberSerializer})
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
