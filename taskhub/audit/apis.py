"""The organization's audit log: who did what to which object, when and from where."""

from django.urls import path
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.request import Request
from rest_framework.response import Response

from taskhub.audit.filters import AuditEventFilter
from taskhub.audit.selectors import audit_event_list
from taskhub.audit.serializers import AuditEventSerializer
from taskhub.core.filters import StrictOrderingFilter
from taskhub.core.schema import ADMIN, operation_description
from taskhub.tenancy.api import TenantAPIView


@extend_schema(tags=["audit"])
class AuditEventListApi(mixins.ListModelMixin, TenantAPIView):
    selector = audit_event_list
    permission_by_method = {"GET": "audit.read"}
    serializer_class = AuditEventSerializer
    # No free-text search: the log is read by exact filters, which its indexes serve.
    filter_backends = [DjangoFilterBackend, StrictOrderingFilter]
    filterset_class = AuditEventFilter
    # Newest first by default (the paginator's ordering); oldest first on request.
    ordering_fields = ["created_at"]

    @extend_schema(
        summary="List the organization's audit events",
        description=operation_description(
            ADMIN,
            "Lists who did what to which object, when and from where (actor, action, target, changes, IP, "
            "request id), newest first (`ordering=created_at` for oldest first), cursor-paginated. Filter with "
            "the query parameters below; there is no free-text search.",
        ),
    )
    def get(self, request: Request) -> Response:
        """List the organization's audit events, newest first."""
        return self.list(request)


@extend_schema(tags=["audit"])
class AuditEventDetailApi(TenantAPIView):
    selector = audit_event_list
    permission_by_method = {"GET": "audit.read"}
    serializer_class = AuditEventSerializer

    @extend_schema(
        summary="Show an audit event",
        description=operation_description(
            ADMIN, "Shows one audit event of the organization.", "404 for an event of another organization."
        ),
    )
    def get(self, request: Request, id: str) -> Response:
        """Show one audit event."""
        return Response(AuditEventSerializer(self.get_object()).data)


urlpatterns = [
    path("audit-events/", AuditEventListApi.as_view(), name="audit-event-list"),
    path("audit-events/<uuid:id>/", AuditEventDetailApi.as_view(), name="audit-event-detail"),
]
