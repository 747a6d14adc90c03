"""The caller's own organization: the one the token or key is bound to."""

import json

from django.http import HttpResponse
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from taskhub.core.schema import ADMIN, OWNER, VIEWER, operation_description
from taskhub.organizations.export import organization_export
from taskhub.organizations.selectors import organization_queryset
from taskhub.organizations.serializers.organization import (
    OrganizationExportSerializer,
    OrganizationSerializer,
    OrganizationUpdateSerializer,
)
from taskhub.organizations.services.organizations import organization_delete, organization_update
from taskhub.organizations.transfer import ExactJSONEncoder
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
            "Changes the `name`, the `slug`, or both; fields left out stay. The change is audited.",
            "409 `slug_taken` for a slug another organization has.",
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
            "`GET /api/v1/organization/export/` first. Answers 204.",
        ),
    )
    def delete(self, request: Request) -> Response:
        """Delete the organization and everything it owns."""
        organization_delete(organization_id=self.tenant.organization_id, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["organization"])
class OrganizationExportApi(TenantAPIView):
    selector = organization_queryset
    permission_by_method = {"GET": "organization.export"}

    @extend_schema(
        summary="Export the organization as JSON",
        description=operation_description(
            OWNER,
            "Downloads every row the organization owns, with the users they refer to, as one JSON attachment "
            "(`organization-<id>.json`), in the format `manage.py import_organization` reads back.",
        ),
        responses={200: OrganizationExportSerializer},
    )
    def get(self, request: Request) -> HttpResponse:
        """Download every row the organization owns, as JSON."""
        data = organization_export(organization_id=self.tenant.organization_id)
        # The same encoding as export_organization: full timestamps, so import_organization round-trips it.
        response = HttpResponse(json.dumps(data, cls=ExactJSONEncoder), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="organization-{self.tenant.organization_id}.json"'
        return response


urlpatterns = [
    path("organization/", OrganizationApi.as_view(), name="organization"),
    path("organization/export/", OrganizationExportApi.as_view(), name="organization-export"),
]
