"""The organization's audit log: who did what to which object, when and from where."""

from django.urls import path
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from taskhub.audit.filters import AuditEventFilter
from taskhub.audit.selectors import audit_chain_verify, audit_event_list
from taskhub.audit.serializers import AuditChainSerializer, AuditEventSerializer
from taskhub.core.filters import StrictOrderingFilter
from taskhub.core.schema import ADMIN, operation_description
from taskhub.tenancy.api import TenantAPIView
from taskhub.tenancy.resources import Operation, ResourcePermissions, TenantDetailApi, TenantListApi

PERMISSIONS = ResourcePermissions(read="audit.read")


class AuditEventListApi(TenantListApi):
    selector = audit_event_list
    permissions = PERMISSIONS
    tag = "audit"
    serializer_class = AuditEventSerializer
    # No free-text search: the log is read by exact filters, which its indexes serve.
    filter_backends = [DjangoFilterBackend, StrictOrderingFilter]
    filterset_class = AuditEventFilter
    # Newest first by default (the paginator's ordering); oldest first on request.
    ordering_fields = ["created_at"]
    operations = {
        "get": Operation(
            "List the organization's audit events",
            ADMIN,
            "Lists who did what to which object, when and from where (actor, action, target, changes, IP, "
            "request id), newest first (`ordering=created_at` for oldest first), cursor-paginated. Filter with "
            "the query parameters below; there is no free-text search.",
        )
    }


class AuditEventDetailApi(TenantDetailApi):
    selector = audit_event_list
    permissions = PERMISSIONS
    tag = "audit"
    serializer_class = AuditEventSerializer
    operations = {
        "get": Operation(
            "Show an audit event",
            ADMIN,
            "Shows one audit event of the organization.",
            "404 for an event of another organization.",
        )
    }


@extend_schema(tags=["audit"])
class AuditChainVerifyApi(TenantAPIView):
    selector = audit_event_list
    permission_by_method = {"GET": "audit.read"}
    # The events come through a server-side cursor, which needs a transaction.
    read_in_transaction = True
    error_answers = ((409, "The chain is broken (`audit_chain_broken`): `detail` names the first event where."),)

    @extend_schema(
        summary="Verify the organization's audit chain",
        description=operation_description(
            ADMIN,
            "Walks the organization's hash chain of audit events (docs/audit.md): every event's hash is the "
            "SHA-256 of its contents and the hash before it. Answers how many events it holds and the newest "
            "event's hash: pin `head_hash` outside the service, and a later answer whose chain no longer leads "
            "through it shows that history was rewritten. Events removed by the retention purge are replaced by "
            "an `audit.purged` event naming the last one removed.",
            "409 `audit_chain_broken` when an event was edited, removed or reordered, naming where.",
        ),
        responses={200: AuditChainSerializer},
    )
    def get(self, request: Request) -> Response:
        """Verify the organization's audit chain."""
        verified = audit_chain_verify(organization_id=self.tenant.organization_id)
        return Response(AuditChainSerializer({"count": verified.count, "head_hash": verified.head_hash}).data)


urlpatterns = [
    path("audit-events/", AuditEventListApi.as_view(), name="audit-event-list"),
    path("audit-events/verify/", AuditChainVerifyApi.as_view(), name="audit-chain-verify"),
    path("audit-events/<uuid:id>/", AuditEventDetailApi.as_view(), name="audit-event-detail"),
]
