"""Filters for the invitation list; the status is computed from the timestamps, as on the model."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet
from django.utils import timezone

from taskhub.organizations.models import Invitation, InvitationStatus


def invitation_status_q(status: InvitationStatus) -> Q:
    """Return the condition for ``status``, in the same precedence as ``Invitation.status``."""
    if status == InvitationStatus.ACCEPTED:
        return Q(accepted_at__isnull=False)
    open_ = Q(accepted_at__isnull=True)
    if status == InvitationStatus.REVOKED:
        return open_ & Q(revoked_at__isnull=False)
    now = timezone.now()
    if status == InvitationStatus.EXPIRED:
        return open_ & Q(revoked_at__isnull=True, expires_at__lte=now)
    return open_ & Q(revoked_at__isnull=True, expires_at__gt=now)


class InvitationFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=InvitationStatus.choices, method="filter_status")

    class Meta:
        model = Invitation
        fields = ["status"]

    def filter_status(self, queryset: QuerySet[Invitation], name: str, value: str) -> QuerySet[Invitation]:
        return queryset.filter(invitation_status_q(InvitationStatus(value)))
