"""Reads of webhooks and their deliveries."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from taskhub.webhooks.models import Delivery, Webhook


def webhook_list(*, organization_id: UUID | str) -> QuerySet[Webhook]:
    return Webhook.objects.filter(organization_id=organization_id)


def delivery_list(*, organization_id: UUID | str) -> QuerySet[Delivery]:
    return Delivery.objects.filter(organization_id=organization_id).select_related("event")
