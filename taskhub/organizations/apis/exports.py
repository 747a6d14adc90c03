"""The owner's exports of the organization: asked for here, written by a job, downloaded as a file."""

from typing import Any

from django.http import FileResponse
from django.urls import path, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from taskhub.core.schema import OWNER, operation_description
from taskhub.organizations.models import ExportStatus, OrganizationExport
from taskhub.organizations.selectors import export_list, export_status
from taskhub.organizations.serializers.exports import OrganizationExportQueuedSerializer, OrganizationExportSerializer
from taskhub.organizations.services.exports import (
    ExportExpired,
    ExportNotReady,
    export_request,
    export_storage,
)
from taskhub.tenancy.api import TenantAPIView


def _detail_url(request: Request, export: OrganizationExport, name: str = "organization-export") -> str:
    return request.build_absolute_uri(reverse(name, kwargs={"id": export.pk}))


def _body(request: Request, export: OrganizationExport) -> dict[str, Any]:
    current = export_status(export)
    body: dict[str, Any] = {
        "id": export.pk,
        "status": current.value,
        "created_at": export.created_at,
        "finished_at": export.finished_at,
        "expires_at": export.expires_at,
        "size": export.size,
        "counts": export.counts,
        "error": export.error,
    }
    if current == ExportStatus.READY:
        body["download_url"] = _detail_url(request, export, "organization-export-download")
    return dict(OrganizationExportSerializer(body).data)


@extend_schema(tags=["organization"])
class OrganizationExportListApi(TenantAPIView):
    selector = export_list
    permission_by_method = {"POST": "organization.export"}

    @extend_schema(
        summary="Export the organization (as a job)",
        description=operation_description(
            OWNER,
            "Queues an export of every row the organization owns, with its members' accounts and without "
            "secrets, as gzip-compressed NDJSON (docs/exports.md); `manage.py import_organization` reads it. "
            "Answers 202 with the export's `id` and `status` and a `Location` to follow: "
            "`GET organization/exports/{id}/` until `status` is `ready`, then download its `download_url`. "
            "The file is kept `EXPORTS_RETENTION_HOURS` (24 by default).",
            "409 `export_pending` while another export of the organization is queued or running: one at a time.",
        ),
        request=None,
        responses={202: OrganizationExportQueuedSerializer},
    )
    def post(self, request: Request) -> Response:
        """Queue an export of the organization."""
        export = export_request(organization_id=self.tenant.organization_id, actor=self.actor)
        body = OrganizationExportQueuedSerializer({"id": export.pk, "status": export_status(export)}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": _detail_url(request, export)})


@extend_schema(tags=["organization"])
class OrganizationExportDetailApi(TenantAPIView):
    selector = export_list
    permission_by_method = {"GET": "organization.export"}

    @extend_schema(
        summary="Show an export",
        description=operation_description(
            OWNER,
            "Shows an export's `status` (queued, running, ready, failed, expired), its size and rows per "
            "table once written, and `download_url` while it is ready. 404 for an id of another organization.",
        ),
        responses={200: OrganizationExportSerializer},
    )
    def get(self, request: Request, id: str) -> Response:
        """Show an export."""
        return Response(_body(request, self.get_object()))


@extend_schema(tags=["organization"])
class OrganizationExportDownloadApi(TenantAPIView):
    selector = export_list
    permission_by_method = {"GET": "organization.export"}

    @extend_schema(
        summary="Download an export's file",
        description=operation_description(
            OWNER,
            "Streams the export as an attachment `organization-<id>-<export id>.ndjson.gz` "
            "(`Content-Type: application/gzip`): one JSON object per line, the header first "
            "(docs/exports.md).",
            "409 `export_not_ready` while it is queued, running or failed; 410 `export_expired` once its "
            "file is deleted; 404 for an id of another organization.",
        ),
        responses={
            (200, "application/gzip"): OpenApiResponse(OpenApiTypes.BINARY, description="gzip NDJSON"),
        },
    )
    def get(self, request: Request, id: str) -> FileResponse:
        """Stream an export's file."""
        export = self.get_object()
        current = export_status(export)
        if current == ExportStatus.EXPIRED or (current == ExportStatus.READY and not export.file_name):
            raise ExportExpired("This export's file was deleted when its retention ended; ask for a new export.")
        if current != ExportStatus.READY:
            raise ExportNotReady(f"This export is {current.value}, not ready: follow GET organization/exports/{id}/.")
        return FileResponse(
            export_storage().open(export.file_name, "rb"),
            as_attachment=True,
            filename=f"organization-{export.organization_id}-{export.pk}.ndjson.gz",
            content_type="application/gzip",
        )


urlpatterns = [
    path("organization/exports/", OrganizationExportListApi.as_view(), name="organization-exports"),
    path("organization/exports/<uuid:id>/", OrganizationExportDetailApi.as_view(), name="organization-export"),
    path(
        "organization/exports/<uuid:id>/download/",
        OrganizationExportDownloadApi.as_view(),
        name="organization-export-download",
    ),
]
