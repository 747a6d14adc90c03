from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from taskhub.accounts.apis.auth import JwksApi
from taskhub.core import errors, health, observability

urlpatterns = [
    path("health/", health.health, name="health"),
    path("health/live/", health.live, name="health-live"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path(".well-known/jwks.json", JwksApi.as_view(), name="jwks"),
    path("api/v1/", include("config.api_v1")),
    # The pages behind the links the service emails (HTML, not the API): taskhub.accounts.pages.
    path("account/", include("taskhub.accounts.pages.urls")),
    path("metrics", observability.metrics, name="metrics"),
    # Anything else is a JSON 404, in DEBUG too (Django's own 404 page is HTML). A write to an
    # unknown URL is a 404 too, not a CSRF refusal: there is nothing there to protect.
    re_path(r"^", errors.not_found),
]

handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.not_found
handler500 = errors.server_error
