from uuid import UUID

from django.db.models import QuerySet

from taskhub.audit import chain
from taskhub.audit.models import AuditEvent
from taskhub.core.errors import Conflict


def audit_event_list(*, organization_id: UUID | str) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(organization_id=organization_id)


class AuditChainBroken(Conflict):
    code = "audit_chain_broken"


def audit_chain_verify(*, organization_id: UUID | str) -> chain.Verified:
    """Walk the organization's chain; a broken one is refused with where it breaks (409 ``audit_chain_broken``)."""
    verified = chain.verify(organization_id)
    if verified.broken is not None:
        raise AuditChainBroken(f"The audit log's hash chain is broken at {verified.broken}.")
    return verified
