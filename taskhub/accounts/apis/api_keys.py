"""API keys of the caller's organization: machine credentials acting as member or viewer."""

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.request import Request
from rest_framework.response import Response

from taskhub.accounts.selectors import api_key_list
from taskhub.accounts.serializers.api_keys import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateInputSerializer,
    ApiKeySerializer,
)
from taskhub.accounts.services.api_keys import api_key_create, api_key_revoke
from taskhub.core.schema import ADMIN, operation_description
from taskhub.tenancy.api import TenantAPIView


@extend_schema(tags=["api-keys"])
class ApiKeyListApi(mixins.ListModelMixin, TenantAPIView):
    selector = api_key_list
    permission_by_method = {"GET": "api_key.manage", "POST": "api_key.manage"}
    serializer_class = ApiKeySerializer
    filterset_fields = ["role"]
    search_fields = ["name"]
    ordering_fields = ["created_at", "name"]

    @extend_schema(
        summary="List the organization's API keys",
        description=operation_description(
            ADMIN,
            "Lists the organization's live (unrevoked) keys, without their secrets, cursor-paginated. Filter by "
            "`role`, search by name, order with the query parameters below.",
        ),
    )
    def get(self, request: Request) -> Response:
        """List the organization's live API keys."""
        return self.list(request)

    @extend_schema(
        summary="Create an API key (its secret is shown once)",
        description=operation_description(
            ADMIN,
            "Creates a machine credential with a `name` and a `role` (`member` or `viewer`) and answers it with "
            "`key`, `thk_<prefix>_<secret>`: send it as `Authorization: Api-Key thk_...`. The key acts in this "
            "organization with its role until revoked. Only a hash is stored: this answer "
            "(`Cache-Control: no-store`) is the only place the secret ever appears.",
            "400 `invalid_choice` for a role other than `member` or `viewer`.",
        ),
        request=ApiKeyCreateInputSerializer,
        responses={201: ApiKeyCreatedSerializer},
    )
    def post(self, request: Request) -> Response:
        """Create an API key; the response is the only place its secret ever appears."""
        serializer = ApiKeyCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        api_key, key = api_key_create(
            organization_id=self.tenant.organization_id,
            actor=self.actor,
            name=serializer.validated_data["name"],
            role=serializer.validated_data["role"],
        )
        response = Response(ApiKeyCreatedSerializer(api_key, context={"key": key}).data, status=status.HTTP_201_CREATED)
        # The body holds a secret: no cache on the way may keep it.
        response["Cache-Control"] = "no-store"
        return response


@extend_schema(tags=["api-keys"])
class ApiKeyDetailApi(TenantAPIView):
    selector = api_key_list
    permission_by_method = {"GET": "api_key.manage", "DELETE": "api_key.manage"}
    serializer_class = ApiKeySerializer

    @extend_schema(
        summary="Show an API key",
        description=operation_description(
            ADMIN,
            "Shows one live key of the organization, without its secret.",
            "404 for a revoked key or one of another organization.",
        ),
    )
    def get(self, request: Request, id: str) -> Response:
        """Show one live API key, without its secret."""
        return Response(ApiKeySerializer(self.get_object()).data)

    @extend_schema(
        summary="Revoke an API key",
        description=operation_description(
            ADMIN,
            "Revokes the key: it is refused from its next request on. Answers 204.",
            "404 for a key already revoked or of another organization.",
        ),
    )
    def delete(self, request: Request, id: str) -> Response:
        """Revoke an API key; it stops working on the next request."""
        api_key = self.get_object()
        api_key_revoke(organization_id=self.tenant.organization_id, api_key_id=api_key.pk, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("api-keys/", ApiKeyListApi.as_view(), name="api-key-list"),
    path("api-keys/<uuid:id>/", ApiKeyDetailApi.as_view(), name="api-key-detail"),
]
