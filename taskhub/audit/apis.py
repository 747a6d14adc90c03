"""The organization's audit log: who did what to which object, when and from where."""

from django.urls import path
from django_filters.rest_framework import DjangoFilterBackend

from taskhub.audit.filters import AuditEventFilter
from taskhub.audit.selectors import audit_event_list
from taskhub.audit.serializers import AuditEventSerializer
from taskhub.core.filters import StrictOrderingFilter
from taskhub.core.schema import ADMIN
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


urlpatterns = [
    path("audit-events/", AuditEventListApi.as_view(), name="audit-event-list"),
    path("audit-events/<uuid:id>/", AuditEventDetailApi.as_view(), name="audit-event-detail"),
]
