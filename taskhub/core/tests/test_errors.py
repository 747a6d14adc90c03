import pytest
from django.test import Client, override_settings
from django.urls import path
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from config.urls import handler400, handler403, handler404, handler500  # noqa: F401 - used by Django
from config.urls import urlpatterns as root_urlpatterns


@api_view(["POST"])
@permission_classes([AllowAny])
def echo(request):
    return Response({"received": request.data})


@api_view(["GET"])
@permission_classes([AllowAny])
def explode(request):
    raise RuntimeError("boom: secret internals")


urlpatterns = [path("test/echo/", echo), path("test/explode/", explode), *root_urlpatterns]


def assert_json_error(response, status, code):
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code
    assert body["detail"]
    return body


@pytest.mark.django_db
def test_unknown_url_answers_json_404(client):
    assert_json_error(client.get("/no/such/page/"), 404, "not_found")
    assert_json_error(client.post("/api/v1/nothing-here/", {}), 404, "not_found")


@pytest.mark.django_db
def test_missing_trailing_slash_answers_404_not_a_redirect(client):
    assert_json_error(client.get("/health"), 404, "not_found")


@override_settings(ROOT_URLCONF=__name__)
def test_wrong_method_answers_json_405(client):
    body = assert_json_error(client.get("/test/echo/"), 405, "method_not_allowed")
    assert "GET" in body["detail"]


@override_settings(ROOT_URLCONF=__name__)
def test_malformed_json_answers_400_with_parse_error(client):
    response = client.post("/test/echo/", data='{"name": ', content_type="application/json")
    assert_json_error(response, 400, "parse_error")


@override_settings(ROOT_URLCONF=__name__)
def test_unsupported_content_type_answers_415(client):
    response = client.post("/test/echo/", data="a=1", content_type="application/x-www-form-urlencoded")
    assert_json_error(response, 415, "unsupported_media_type")


@override_settings(ROOT_URLCONF=__name__)
def test_unhandled_exception_answers_json_500_without_internals():
    client = Client(raise_request_exception=False)
    response = client.get("/test/explode/")
    body = assert_json_error(response, 500, "server_error")
    assert "boom" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert set(body) == {"detail", "code"}


@pytest.mark.django_db
def test_disallowed_host_answers_json_400(client):
    response = client.get("/health/live/", HTTP_HOST="evil.example.com")
    assert_json_error(response, 400, "bad_request")


@override_settings(ROOT_URLCONF=__name__, DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_oversized_body_is_refused_with_json():
    client = Client(raise_request_exception=False)
    response = client.post("/test/echo/", data='{"a": "' + "x" * 4096 + '"}', content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/json")
