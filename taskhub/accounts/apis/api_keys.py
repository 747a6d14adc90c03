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
from taskhub.organizations.tenancy import TenantAPIView


@extend_schema(tags=["api-keys"])
class ApiKeyListApi(mixins.ListModelMixin, TenantAPIView):
    selector = api_key_list
    permission_by_method = {"GET": "api_key.manage", "POST": "api_key.manage"}
    serializer_class = ApiKeySerializer
    filterset_fields = ["role"]
    search_fields = ["name"]
    ordering_fields = ["created_at", "name"]

    def get(self, request: Request) -> Response:
        """List the organization's live API keys."""
        return self.list(request)

    @extend_schema(request=ApiKeyCreateInputSerializer, responses={201: ApiKeyCreatedSerializer})
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

    def get(self, request: Request, id: str) -> Response:
        """Show one live API key, without its secret."""
        return Response(ApiKeySerializer(self.get_object()).data)

    def delete(self, request: Request, id: str) -> Response:
        """Revoke an API key; it stops working on the next request."""
        api_key = self.get_object()
        api_key_revoke(organization_id=self.tenant.organization_id, api_key_id=api_key.pk, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("api-keys/", ApiKeyListApi.as_view(), name="api-key-list"),
    path("api-keys/<uuid:id>/", ApiKeyDetailApi.as_view(), name="api-key-detail"),
]
