"""Members of the caller's organization."""

from typing import Any
from uuid import UUID

from django.urls import path

from taskhub.core.actor import Actor
from taskhub.core.schema import ADMIN, VIEWER
from taskhub.organizations.filters import MemberFilter
from taskhub.organizations.models import Membership
from taskhub.organizations.selectors import membership_list
from taskhub.organizations.serializers.members import MemberSerializer, MemberUpdateSerializer
from taskhub.organizations.services.organizations import membership_remove, membership_role_change
from taskhub.tenancy.resources import Operation, ResourcePermissions, TenantDetailApi, TenantListApi
from taskhub.tenancy.roles import Role

# Anyone may DELETE their own membership (leave); the service checks who may remove others.
PERMISSIONS = ResourcePermissions(read="member.read", write="member.manage", delete="member.read")


def _role_change(
    *, organization_id: UUID, membership_id: UUID, actor: Actor, actor_role: Role, role: str | None = None
) -> Membership:
    # A PATCH names the fields it changes: without a role, nothing changes.
    if role is None:
        return membership_list(organization_id=organization_id).get(pk=membership_id)
    return membership_role_change(
        organization_id=organization_id, membership_id=membership_id, role=role, actor=actor, actor_role=actor_role
    )


class MemberListApi(TenantListApi):
    selector = membership_list
    permissions = PERMISSIONS
    tag = "members"
    serializer_class = MemberSerializer
    filterset_class = MemberFilter
    search_fields = ["user__username", "user__email"]
    ordering_fields = ["created_at"]
    operations = {
        "get": Operation(
            "List the organization's members",
            VIEWER,
            "Lists the organization's members with their roles, cursor-paginated. Filter, search by username or "
            "email, and order with the query parameters below.",
        )
    }


class MemberDetailApi(TenantDetailApi):
    selector = membership_list
    permissions = PERMISSIONS
    tag = "members"
    serializer_class = MemberSerializer
    update_input = MemberUpdateSerializer
    update_service = _role_change
    delete_service = membership_remove
    allow_put = False
    operations = {
        "get": Operation(
            "Show a member",
            VIEWER,
            "Shows one membership of the organization: the user and their role.",
            "404 for a membership of another organization.",
        ),
        "patch": Operation(
            "Change a member's role",
            f"{ADMIN} Only owners grant the owner role or change an owner's.",
            "Sets the member's `role`. Their access tokens for this organization stop working on their next "
            "request; their refresh token still works and issues tokens with the new role. A body without "
            "`role` changes nothing.",
            "400 `last_owner` when demoting the last owner; 403 when an admin touches the owner role; 404.",
        ),
        "delete": Operation(
            "Remove a member, or leave the organization",
            "Admin and up to remove someone else (only owners remove an owner); any member to leave, by "
            "deleting their own membership, except the last owner.",
            "Deletes the membership; the member's tokens for this organization stop working on their next "
            "request. Answers 204.",
            "400 `last_owner` when the last owner would go (make another member owner, or delete the "
            "organization); 403 for a viewer or member removing someone else, or an admin removing an owner; 404.",
        ),
    }

    def service_arguments(self) -> dict[str, Any]:
        return {"actor_role": self.tenant.role}


urlpatterns = [
    path("members/", MemberListApi.as_view(), name="member-list"),
    path("members/<uuid:id>/", MemberDetailApi.as_view(), name="member-detail"),
]
