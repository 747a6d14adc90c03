"""The caller's own organization: the one the token or key is bound to."""

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from taskhub.core.schema import ADMIN, OWNER, VIEWER, operation_description
from taskhub.organizations.selectors import organization_queryset
from taskhub.organizations.serializers.organization import OrganizationSerializer, OrganizationUpdateSerializer
from taskhub.organizations.services.organizations import organization_delete, organization_update
from taskhub.tenancy.api import TenantAPIView


@extend_schema(tags=["organization"])
class OrganizationApi(TenantAPIView):
    selector = organization_queryset
    permission_by_method = {
        "GET": "organization.read",
        "PATCH": "organization.update",
        "DELETE": "organization.delete",
    }
    serializer_class = OrganizationSerializer

    @extend_schema(
        summary="Show the current organization",
        description=operation_description(
            VIEWER, "Shows the organization the token or API key acts in: its id, name and slug."
        ),
    )
    def get(self, request: Request) -> Response:
        """Show the organization the credential acts in."""
        return Response(OrganizationSerializer(self.get_queryset().get()).data)

    @extend_schema(
        summary="Rename the organization or change its slug",
        description=operation_description(
            ADMIN,
            "Changes the `name`, the `slug`, or both; fields left out stay. The change is audited. The name is "
            "stored without control or format characters (line breaks, bidi overrides, zero-width characters), "
            "its whitespace collapsed to single spaces. Slugs are unique whatever their case.",
            "400 `name_invalid` for a name with no visible characters; 409 `slug_taken` for a slug another "
            "organization has in any case.",
        ),
        request=OrganizationUpdateSerializer,
        responses={200: OrganizationSerializer},
    )
    def patch(self, request: Request) -> Response:
        """Rename the organization or change its slug."""
        serializer = OrganizationUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        organization = organization_update(
            organization_id=self.tenant.organization_id, actor=self.actor, **serializer.validated_data
        )
        return Response(OrganizationSerializer(organization).data)

    @extend_schema(
        summary="Delete the organization and everything it owns",
        description=operation_description(
            OWNER,
            "Deletes the organization with its memberships, invitations, API keys, projects, tasks and audit "
            "events; every member's tokens for it stop working at once. It cannot be undone: "
            "export it first (`POST /api/v1/organization/exports/`). Answers 204.",
        ),
    )
    def delete(self, request: Request) -> Response:
        """Delete the organization and everything it owns."""
        organization_delete(organization_id=self.tenant.organization_id, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("organization/", OrganizationApi.as_view(), name="organization"),
]
