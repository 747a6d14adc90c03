"""API keys of the caller's organization: machine credentials acting as member or viewer."""

from typing import Any

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from taskhub.accounts.selectors import api_key_list
from taskhub.accounts.serializers.api_keys import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateInputSerializer,
    ApiKeySerializer,
    ApiKeyTransferInputSerializer,
)
from taskhub.accounts.services.api_keys import api_key_create, api_key_revoke, api_key_transfer
from taskhub.core.schema import ADMIN, operation_description
from taskhub.tenancy.api import TenantAPIView
from taskhub.tenancy.resources import Operation, ResourcePermissions, TenantDetailApi, TenantListApi

PERMISSIONS = ResourcePermissions(read="api_key.manage", write="api_key.manage", delete="api_key.manage")

CREATOR_RULE = (
    "A key answers to its creator (`created_by`): it works only while they are a member of the organization "
    "with at least the key's role. Removing them, their leaving or deleting their account, revokes their keys; "
    "demoting them revokes their keys of a role above the new one (a `member` key when they become `viewer`). "
    "Transfer a key to another member first to keep it."
)


class ApiKeyListApi(TenantListApi):
    selector = api_key_list
    permissions = PERMISSIONS
    tag = "api-keys"
    serializer_class = ApiKeySerializer
    create_input = ApiKeyCreateInputSerializer
    created_serializer = ApiKeyCreatedSerializer
    # The body holds a secret: no cache on the way may keep it.
    created_headers = {"Cache-Control": "no-store"}
    filterset_fields = ["role"]
    search_fields = ["name"]
    ordering_fields = ["created_at", "name"]
    operations = {
        "get": Operation(
            "List the organization's API keys",
            ADMIN,
            "Lists the organization's unrevoked keys (expired ones too, with their `expires_at`), without their "
            "secrets, cursor-paginated. Filter by `role`, search by name, order with the query parameters below.",
        ),
        "post": Operation(
            "Create an API key (its secret is shown once)",
            ADMIN,
            "Creates a machine credential with a `name`, a `role` (`member` or `viewer`) and optionally "
            "`expires_at`, and answers it with `key`, `thk_<prefix>_<secret>`: send it as "
            "`Authorization: Api-Key thk_...`. The key acts in this organization with its role until it is "
            f"revoked or expires. {CREATOR_RULE} The caller is the creator. Only a hash is stored: this answer "
            "(`Cache-Control: no-store`) is the only place the secret ever appears.",
            "400 `invalid_choice` for a role other than `member` or `viewer`; 400 `expires_at_past` for an "
            "`expires_at` not in the future.",
        ),
    }

    def perform_create(self, fields: dict[str, Any]) -> Any:
        return api_key_create(
            organization_id=self.tenant.organization_id,
            actor=self.actor,
            name=fields["name"],
            role=fields["role"],
            expires_at=fields.get("expires_at"),
        )

    def created_body(self, instance: Any) -> dict[str, Any]:
        api_key, key = instance
        return dict(ApiKeyCreatedSerializer(api_key, context={"key": key}).data)


class ApiKeyDetailApi(TenantDetailApi):
    selector = api_key_list
    permissions = PERMISSIONS
    tag = "api-keys"
    serializer_class = ApiKeySerializer
    delete_service = api_key_revoke
    service_key = "api_key_id"
    operations = {
        "get": Operation(
            "Show an API key",
            ADMIN,
            "Shows one unrevoked key of the organization (an expired one too), without its secret.",
            "404 for a revoked key or one of another organization.",
        ),
        "delete": Operation(
            "Revoke an API key",
            ADMIN,
            "Revokes the key: it is refused from its next request on. Answers 204.",
            "404 for a key already revoked or of another organization.",
        ),
    }


@extend_schema(tags=["api-keys"])
class ApiKeyTransferApi(TenantAPIView):
    selector = api_key_list
    permission_by_method = {"POST": "api_key.manage"}
    serializer_class = ApiKeySerializer

    @extend_schema(
        summary="Transfer an API key to another member",
        description=operation_description(
            ADMIN,
            f"Makes the member `user` (a user id) the key's creator, so it outlives its creator's role or "
            f"membership. {CREATOR_RULE} Answers 200 with the key, without its secret; the key itself does "
            "not change. Audited as `api_key.transferred`.",
            "400 `not_a_member` when `user` is not a member of the organization, `role_below_key` when their "
            "role is below the key's; 404 for a revoked key or one of another organization.",
        ),
        request=ApiKeyTransferInputSerializer,
        responses={200: ApiKeySerializer},
    )
    def post(self, request: Request, id: str) -> Response:
        """Make another member answer for the key."""
        serializer = ApiKeyTransferInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        api_key = api_key_transfer(
            organization_id=self.tenant.organization_id,
            api_key_id=self.get_object().pk,
            user_id=serializer.validated_data["user"],
            actor=self.actor,
        )
        return Response(ApiKeySerializer(api_key).data)


urlpatterns = [
    path("api-keys/", ApiKeyListApi.as_view(), name="api-key-list"),
    path("api-keys/<uuid:id>/", ApiKeyDetailApi.as_view(), name="api-key-detail"),
    path("api-keys/<uuid:id>/transfer/", ApiKeyTransferApi.as_view(), name="api-key-transfer"),
]
