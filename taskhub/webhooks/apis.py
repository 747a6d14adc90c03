"""Webhooks of the caller's organization: subscriptions, their secrets, pings, deliveries and redeliveries."""

from typing import Any

from django.db.models import QuerySet
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from taskhub.core.errors import NotFound
from taskhub.core.schema import ADMIN, operation_description
from taskhub.tenancy.api import TenantAPIView
from taskhub.tenancy.resources import Operation, ResourcePermissions, TenantDetailApi, TenantListApi
from taskhub.webhooks.selectors import delivery_list, webhook_list
from taskhub.webhooks.serializers import (
    DeliverySerializer,
    RedeliverySerializer,
    WebhookCreatedSerializer,
    WebhookCreateInputSerializer,
    WebhookEventSerializer,
    WebhookSecretSerializer,
    WebhookSerializer,
    WebhookUpdateInputSerializer,
)
from taskhub.webhooks.services import (
    delivery_redeliver,
    webhook_create,
    webhook_delete,
    webhook_ping,
    webhook_rotate_secret,
    webhook_update,
)

PERMISSIONS = ResourcePermissions(read="webhook.read", write="webhook.write", delete="webhook.delete")
# A body holding a secret: no cache on the way may keep it, and an Idempotency-Key replay keeps only its status.
NO_STORE = {"Cache-Control": "no-store"}
URL_ERRORS = (
    "400 `https_required` for an http URL (unless `WEBHOOK_ALLOW_PRIVATE_NETWORKS`), `address_not_allowed` for a "
    "literal loopback, private, link-local, metadata or multicast address, `invalid` for credentials in the URL "
    "or a URL that does not parse; 400 `unknown_event_type` for an event type not in the catalog"
)
DELIVERY = (
    "Deliveries are POSTs of `{id, type, created_at, organization, data}` signed per Standard Webhooks "
    "(`webhook-id`, `webhook-timestamp`, `webhook-signature`)."
)
WEBHOOK_ID = OpenApiParameter("webhook_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="A webhook's id.")


class WebhookListApi(TenantListApi):
    selector = webhook_list
    permissions = PERMISSIONS
    tag = "webhooks"
    serializer_class = WebhookSerializer
    create_input = WebhookCreateInputSerializer
    created_serializer = WebhookCreatedSerializer
    created_headers = NO_STORE
    create_service = webhook_create
    search_fields = ["url", "description"]
    ordering_fields = ["created_at"]
    ordering = ("created_at", "pk")
    operations = {
        "get": Operation(
            "List the organization's webhooks",
            ADMIN,
            "Lists the webhooks, oldest first, without their secrets, cursor-paginated. `search` finds a URL or "
            "description containing it.",
        ),
        "post": Operation(
            "Create a webhook (its signing secret is shown once)",
            ADMIN,
            f'Subscribes `url` to `events` (default `["*"]`, every type) and answers with `secret`, '
            f"`whsec_...`: this answer (`Cache-Control: no-store`) is the only place it appears; the database "
            f"holds it encrypted. {DELIVERY} A `webhook.ping` is sent at once (also to an inactive webhook), so "
            "its deliveries show whether the URL answers. Audited as `webhook.created`, without the secret.",
            f"{URL_ERRORS}; 409 `webhook_limit_reached` past `WEBHOOKS_PER_ORGANIZATION` (default 10).",
        ),
    }

    def created_body(self, instance: Any) -> dict[str, Any]:
        return dict(WebhookCreatedSerializer(instance).data)


class WebhookDetailApi(TenantDetailApi):
    selector = webhook_list
    permissions = PERMISSIONS
    tag = "webhooks"
    serializer_class = WebhookSerializer
    update_input = WebhookUpdateInputSerializer
    update_service = webhook_update
    delete_service = webhook_delete
    allow_put = False
    operations = {
        "get": Operation(
            "Show a webhook",
            ADMIN,
            "Shows one webhook of the organization, without its secret, with a strong `ETag`.",
            "404 for a webhook of another organization.",
        ),
        "patch": Operation(
            "Update a webhook",
            ADMIN,
            "Changes the fields sent. `active: false` stops events (deliveries already queued are dropped); "
            "`active: true` turns a webhook disabled by failures back on and starts its failure count afresh. "
            "Audited as `webhook.updated`.",
            f"{URL_ERRORS}; 404; 412 `precondition_failed` for a stale `If-Match`.",
        ),
        "delete": Operation(
            "Delete a webhook",
            ADMIN,
            "Deletes the webhook and its delivery log; attempts still queued send nothing. Answers 204. Audited "
            "as `webhook.deleted`.",
            "404; 412 `precondition_failed` for a stale `If-Match`.",
        ),
    }


@extend_schema(tags=["webhooks"])
class WebhookRotateSecretApi(TenantAPIView):
    selector = webhook_list
    permission_by_method = {"POST": "webhook.write"}
    serializer_class = WebhookSecretSerializer

    @extend_schema(
        summary="Rotate a webhook's signing secret (the new one is shown once)",
        description=operation_description(
            ADMIN,
            "Makes a new secret and answers it (`Cache-Control: no-store`), once. For "
            "`WEBHOOK_ROTATION_OVERLAP_SECONDS` (24 hours) both the new and the previous secret sign every "
            "delivery: `webhook-signature` carries two `v1,` signatures, so the receiver can switch to the new "
            "secret without missing one. Rotating again within that time drops the oldest secret. Audited as "
            "`webhook.secret_rotated`, without either secret.",
            "404 for a webhook of another organization.",
        ),
        request=None,
        responses={200: WebhookSecretSerializer},
    )
    def post(self, request: Request, id: str) -> Response:
        """Give the webhook a new signing secret."""
        webhook = webhook_rotate_secret(
            organization_id=self.tenant.organization_id, webhook_id=self.get_object().pk, actor=self.actor
        )
        body = {
            "secret": webhook.revealed_secret,  # type: ignore[attr-defined]
            "previous_secret_expires_at": webhook.previous_secret_expires_at,
        }
        return Response(WebhookSecretSerializer(body).data, headers=NO_STORE)


@extend_schema(tags=["webhooks"])
class WebhookPingApi(TenantAPIView):
    selector = webhook_list
    permission_by_method = {"POST": "webhook.write"}
    serializer_class = WebhookEventSerializer

    @extend_schema(
        summary="Send a test event to a webhook",
        description=operation_description(
            ADMIN,
            f"Queues a `webhook.ping` event to this webhook only, active or not: one attempt, no retries; its "
            f"result appears in the webhook's deliveries. {DELIVERY} Answers 202 with the event.",
            "404 for a webhook of another organization.",
        ),
        request=None,
        responses={202: WebhookEventSerializer},
    )
    def post(self, request: Request, id: str) -> Response:
        """Queue a ping to the webhook."""
        event = webhook_ping(
            organization_id=self.tenant.organization_id, webhook_id=self.get_object().pk, actor=self.actor
        )
        return Response(WebhookEventSerializer(event).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(parameters=[WEBHOOK_ID])
class WebhookDeliveryListApi(TenantListApi):
    selector = delivery_list
    permissions = ResourcePermissions(read="webhook.read")
    tag = "webhooks"
    serializer_class = DeliverySerializer
    ordering_fields = ["created_at"]
    # The newest attempt first: what an admin looks for when a receiver misbehaves.
    ordering = ("-created_at", "-pk")
    operations = {
        "get": Operation(
            "List a webhook's delivery attempts",
            ADMIN,
            "Lists every attempt to deliver an event to this webhook, newest first, cursor-paginated: the event's "
            "id (its `webhook-id`) and type, the attempt's number, when it was sent, the answer's status, the "
            "time it took, the first 2 KB of the answer's body, the error (refused address, network error, "
            "timeout, redirect not followed) and when the next automatic attempt is due.",
            "404 for a webhook of another organization.",
        ),
    }

    def scope(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        webhook_id = self.kwargs["webhook_id"]
        if not webhook_list(organization_id=self.tenant.organization_id).filter(pk=webhook_id).exists():
            raise NotFound("Webhook not found.")
        return queryset.filter(webhook_id=webhook_id)


@extend_schema(tags=["webhooks"], parameters=[WEBHOOK_ID])
class WebhookRedeliverApi(TenantAPIView):
    selector = delivery_list
    permission_by_method = {"POST": "webhook.write"}
    serializer_class = RedeliverySerializer
    lookup_url_kwarg = "delivery_id"

    @extend_schema(
        summary="Send a delivery's event again",
        description=operation_description(
            ADMIN,
            "Queues a new attempt to deliver the same event (the same `id` and `webhook-id`, so a receiver that "
            "has it already can tell) to this webhook, active or not, signed anew: one attempt, no automatic "
            "retries. Answers 202 with the event and the attempt's number.",
            "404 for a webhook or delivery of another organization, or a delivery of another webhook.",
        ),
        request=None,
        responses={202: RedeliverySerializer},
    )
    def post(self, request: Request, webhook_id: str, delivery_id: str) -> Response:
        """Queue the delivery's event to its webhook again."""
        delivery = delivery_redeliver(
            organization_id=self.tenant.organization_id,
            webhook_id=self.kwargs["webhook_id"],
            delivery_id=self.get_object().pk,
            actor=self.actor,
        )
        body = {"event": delivery.event_id, "event_type": delivery.event.type, "attempt": delivery.queued_attempt}  # type: ignore[attr-defined]
        return Response(RedeliverySerializer(body).data, status=status.HTTP_202_ACCEPTED)


urlpatterns = [
    path("webhooks/", WebhookListApi.as_view(), name="webhook-list"),
    path("webhooks/<uuid:id>/", WebhookDetailApi.as_view(), name="webhook-detail"),
    path("webhooks/<uuid:id>/rotate-secret/", WebhookRotateSecretApi.as_view(), name="webhook-rotate-secret"),
    path("webhooks/<uuid:id>/ping/", WebhookPingApi.as_view(), name="webhook-ping"),
    path("webhooks/<uuid:webhook_id>/deliveries/", WebhookDeliveryListApi.as_view(), name="webhook-delivery-list"),
    path(
        "webhooks/<uuid:webhook_id>/deliveries/<uuid:delivery_id>/redeliver/",
        WebhookRedeliverApi.as_view(),
        name="webhook-redeliver",
    ),
]
