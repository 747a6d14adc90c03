import logging
from unittest import mock

import psycopg.errors
import pytest
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.test import Client, RequestFactory, override_settings
from django.urls import path
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import handler400, handler403, handler404, handler500  # noqa: F401 - used by Django
from config.urls import urlpatterns as root_urlpatterns
from taskhub.core import errors
from taskhub.core.middleware import RequestIdMiddleware
from taskhub.core.middleware_db import DatabaseUnavailableMiddleware


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
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_unknown_url_answers_json_404_to_a_write_without_csrf_token(method):
    # Found by schemathesis: DELETE /api/v1/api-keys/null,null/ (no route) got Django's HTML CSRF page.
    client = Client(enforce_csrf_checks=True)
    assert_json_error(getattr(client, method)("/api/v1/api-keys/null,null/"), 404, "not_found")


@pytest.mark.django_db
def test_csrf_failure_answers_json_403():
    # The admin's sign-in form is cookie-based, so CSRF-protected (the health views are exempt).
    client = Client(enforce_csrf_checks=True)
    assert_json_error(client.post("/admin/login/", {"username": "x", "password": "y"}), 403, "csrf_failed")


def test_a_row_gone_mid_request_answers_404_not_500():
    # Found by schemathesis: PATCH organization/ racing DELETE organization/ raised DoesNotExist.
    response = errors.exception_handler(ObjectDoesNotExist("Organization matching query does not exist."), {})

    assert response is not None
    assert response.status_code == 404
    assert response.data == {"detail": "Not found.", "code": "not_found"}


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


@pytest.mark.parametrize("path", ["/health/live/", "/api/v1/projects/", "/no/such/page/"])
@pytest.mark.parametrize("accept", ["text/html", "*/*", "text/plain"])
def test_disallowed_host_answers_json_400_under_debug_too(path, accept):
    # Under DEBUG Django answers a bad Host with its HTML debug page, settings included.
    with override_settings(DEBUG=True):
        response = Client().get(path, HTTP_HOST="evil.example.com", HTTP_ACCEPT=accept)
    body = assert_json_error(response, 400, "bad_request")
    assert set(body) == {"detail", "code"}
    text = response.content.decode()
    for leak in ("<html", "DOCTYPE", "Traceback", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASES", "evil.example.com"):
        assert leak not in text
    assert response["X-Request-ID"]
    # The security middleware's headers are kept.
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_non_json_400_from_an_allowed_host_is_left_alone():
    original = HttpResponse("plain", status=400, content_type="text/plain")
    response = RequestIdMiddleware(lambda request: original)(RequestFactory().get("/x/"))
    assert response is original


@override_settings(ROOT_URLCONF=__name__, DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_oversized_body_is_refused_with_json():
    client = Client(raise_request_exception=False)
    response = client.post("/test/echo/", data='{"a": "' + "x" * 4096 + '"}', content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/json")


# --- the database is unavailable: 503 service_unavailable with Retry-After, never a 500 ---------

_DB_ERRORS = {"operational": OperationalError, "interface": InterfaceError}
# What PostgreSQL answers the transaction it rolls back to break a deadlock or a serialization conflict.
_CONCURRENT = {"deadlock": psycopg.errors.DeadlockDetected, "serialization": psycopg.errors.SerializationFailure}


def _db_error(request) -> Exception:
    kind = request.GET.get("error", "operational")
    if kind in _CONCURRENT:
        # As Django raises it: its OperationalError, caused by the driver's error.
        error = OperationalError("deadlock detected\nDETAIL: Process 4242 waits for ShareLock on internals")
        error.__cause__ = _CONCURRENT[kind]("deadlock detected")
        return error
    return _DB_ERRORS[kind]("connection to server at 10.1.2.3 failed: internals")


@api_view(["GET"])
@permission_classes([AllowAny])
def database_down_in_drf(request):
    raise _db_error(request)


class DatabaseDownBeforeDrf(APIView):
    """Like TenantAPIView: the connection is opened (transaction.atomic) before DRF handles errors."""

    permission_classes = [AllowAny]

    def dispatch(self, request, *args, **kwargs):
        raise _db_error(request)


def database_down_in_django(request):
    raise _db_error(request)


class DatabaseDownMiddleware:
    """A middleware before the view that reads the database (a session or user lookup)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raise OperationalError("server closed the connection unexpectedly")


urlpatterns = [
    path("test/db-down/drf/", database_down_in_drf),
    path("test/db-down/dispatch/", DatabaseDownBeforeDrf.as_view()),
    path("test/db-down/django/", database_down_in_django),
    *urlpatterns,
]


def assert_service_unavailable(response):
    body = assert_json_error(response, 503, "service_unavailable")
    assert set(body) == {"detail", "code"}
    assert response["Retry-After"] == str(errors.RETRY_AFTER_SECONDS)
    assert "internals" not in response.content.decode()
    assert "10.1.2.3" not in response.content.decode()


@override_settings(ROOT_URLCONF=__name__)
@pytest.mark.parametrize("error", ["operational", "interface"])
@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/test/db-down/drf/", id="drf-handler"),
        pytest.param("/test/db-down/dispatch/", id="middleware-around-drf"),
        pytest.param("/test/db-down/django/", id="middleware-plain-view"),
    ],
)
def test_losing_the_database_answers_503_with_retry_after(path, error):
    assert_service_unavailable(Client().get(path, {"error": error}))


@override_settings(ROOT_URLCONF=__name__)
@pytest.mark.parametrize("error", ["deadlock", "serialization"])
@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/test/db-down/drf/", id="drf-handler"),
        pytest.param("/test/db-down/dispatch/", id="middleware-around-drf"),
        pytest.param("/test/db-down/django/", id="middleware-plain-view"),
    ],
)
def test_a_transaction_rolled_back_for_a_concurrent_one_answers_409_send_it_again(path, error):
    """A deadlock or serialization failure wrote nothing and a retry succeeds: a 409, not an outage."""
    response = Client().get(path, {"error": error})
    body = assert_json_error(response, 409, "concurrent_write")
    assert set(body) == {"detail", "code"}
    assert response["Retry-After"] == str(errors.CONCURRENT_WRITE_RETRY_AFTER_SECONDS)
    assert "internals" not in response.content.decode()


@override_settings(ROOT_URLCONF=__name__)
@pytest.mark.parametrize("path", ["/test/db-down/drf/", "/test/db-down/dispatch/"])
def test_losing_the_database_logs_one_warning_with_the_request_id(path, caplog):
    caplog.set_level(logging.INFO)
    Client().get(path, HTTP_X_REQUEST_ID="db-down-request-0001")
    problems = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(problems) == 1, [record.getMessage() for record in problems]
    (record,) = problems
    assert record.levelno == logging.WARNING
    assert record.name == "taskhub.core.errors"
    assert "db-down-request-0001" in record.getMessage()
    assert record.exc_info is None


@override_settings(
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[
        "taskhub.core.middleware.RequestIdMiddleware",
        f"{__name__}.DatabaseDownMiddleware",
        "taskhub.core.middleware_db.DatabaseUnavailableMiddleware",
    ],
)
def test_losing_the_database_in_a_middleware_before_the_view_answers_503(caplog):
    response = Client(raise_request_exception=False).get("/test/echo/")
    assert response.status_code == 503
    assert response.json() == {"detail": errors.SERVICE_UNAVAILABLE_DETAIL, "code": "service_unavailable"}
    assert response["Retry-After"] == str(errors.RETRY_AFTER_SECONDS)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_other_exceptions_pass_the_database_middleware_untouched():
    middleware = DatabaseUnavailableMiddleware(lambda request: HttpResponse())
    assert middleware.process_exception(RequestFactory().get("/"), RuntimeError("boom")) is None


def test_the_database_middleware_is_the_last_so_it_sees_view_exceptions_first():
    assert settings.MIDDLEWARE[-1] == "taskhub.core.middleware_db.DatabaseUnavailableMiddleware"


def test_the_drf_handler_rolls_back_the_open_transaction():
    connection = mock.Mock(in_atomic_block=True)
    with mock.patch.object(errors, "connections") as connections:
        connections.all.return_value = [connection]
        response = errors.exception_handler(OperationalError("gone"), {"request": None})
    assert response is not None
    assert response.status_code == 503
    connection.set_rollback.assert_called_once_with(True)


@override_settings(ROOT_URLCONF=__name__)
@pytest.mark.parametrize("path", ["/test/db-down/drf/", "/test/db-down/dispatch/", "/test/db-down/django/"])
def test_losing_the_database_is_counted_once_in_the_metrics(path):
    from prometheus_client import REGISTRY  # noqa: PLC0415

    def count() -> float:
        return REGISTRY.get_sample_value("db_errors_total", {"error": "OperationalError"}) or 0.0

    before = count()
    Client().get(path, {"error": "operational"})
    assert count() == before + 1
