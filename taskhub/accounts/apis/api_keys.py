"""API keys of the caller's organization: machine credentials acting as member or viewer."""

from typing import Any

from django.urls import path

from taskhub.accounts.selectors import api_key_list
from taskhub.accounts.serializers.api_keys import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateInputSerializer,
    ApiKeySerializer,
)
from taskhub.accounts.services.api_keys import api_key_create, api_key_revoke
from taskhub.core.schema import ADMIN
from taskhub.tenancy.resources import Operation, ResourcePermissions, TenantDetailApi, TenantListApi

PERMISSIONS = ResourcePermissions(read="api_key.manage", write="api_key.manage", delete="api_key.manage")


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
            "Lists the organization's live (unrevoked) keys, without their secrets, cursor-paginated. Filter by "
            "`role`, search by name, order with the query parameters below.",
        ),
        "post": Operation(
            "Create an API key (its secret is shown once)",
            ADMIN,
            "Creates a machine credential with a `name` and a `role` (`member` or `viewer`) and answers it with "
            "`key`, `thk_<prefix>_<secret>`: send it as `Authorization: Api-Key thk_...`. The key acts in this "
            "organization with its role until revoked. Only a hash is stored: this answer "
            "(`Cache-Control: no-store`) is the only place the secret ever appears.",
            "400 `invalid_choice` for a role other than `member` or `viewer`.",
        ),
    }

    def perform_create(self, fields: dict[str, Any]) -> Any:
        return api_key_create(
            organization_id=self.tenant.organization_id, actor=self.actor, name=fields["name"], role=fields["role"]
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
            "Shows one live key of the organization, without its secret.",
            "404 for a revoked key or one of another organization.",
        ),
        "delete": Operation(
            "Revoke an API key",
            ADMIN,
            "Revokes the key: it is refused from its next request on. Answers 204.",
            "404 for a key already revoked or of another organization.",
        ),
    }


urlpatterns = [
    path("api-keys/", ApiKeyListApi.as_view(), name="api-key-list"),
    path("api-keys/<uuid:id>/", ApiKeyDetailApi.as_view(), name="api-key-detail"),
]
