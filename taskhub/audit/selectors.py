from uuid import UUID

from django.db.models import QuerySet

from taskhub.audit.models import AuditEvent


def audit_event_list(*, organization_id: UUID | str) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(organization_id=organization_id)
