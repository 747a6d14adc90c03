import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.db import InternalError, connection, transaction
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from prometheus_client import REGISTRY

from taskhub.core import health
from taskhub.core.logformat import JsonFormatter
from tests.support.logcapture import capture_access_log

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "metrics-token-for-tests"
ACCESS_FIELDS = {
    "timestamp",
    "level",
    "logger",
    "message",
    "request_id",
    "organization_id",
    "user_id",
    "api_key_id",
    "method",
    "route",
    "path",
    "status",
    "duration_ms",
    "sql_count",
    "client_ip",
}


def bad_sql(request: HttpRequest) -> HttpResponse:
    # The savepoint keeps the test's transaction usable on PostgreSQL after the failure.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table_for_observability")
    return HttpResponse("unreachable")


def internal_error(request: HttpRequest) -> HttpResponse:
    raise InternalError("raised by the driver outside any query")


def chatty(request: HttpRequest) -> HttpResponse:
    logging.getLogger("taskhub.core.tests.chatty").warning("working on it")
    return HttpResponse("ok")


urlpatterns = [
    path("boom/sql/", bad_sql),
    path("boom/internal/", internal_error),
    path("chatty/", chatty),
    path("", include("config.urls")),
]


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def db_errors() -> float:
    return sum(
        metric_sample.value
        for metric in REGISTRY.collect()
        if metric.name == "db_errors"
        for metric_sample in metric.samples
        if metric_sample.name == "db_errors_total"
    )


# JSON log lines


def test_formatter_writes_one_json_object_with_level_logger_message_and_extra():
    record = logging.LogRecord("taskhub.example", logging.WARNING, __file__, 1, "hello %s", ("world",), None)
    record.organization_id = "org-1"

    line = JsonFormatter().format(record)

    assert "\n" not in line
    body = json.loads(line)
    assert body["level"] == "WARNING"
    assert body["logger"] == "taskhub.example"
    assert body["message"] == "hello world"
    assert body["organization_id"] == "org-1"
    assert body["timestamp"].startswith("20")


def test_formatter_keeps_only_path_of_a_logged_django_request():
    request = RequestFactory().get("/api/v1/tasks/?access_token=leaked-in-query")
    request.request_id = "req-12345678"
    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "Not Found: %s", (request.path,), None)
    record.request = request

    line = JsonFormatter().format(record)

    assert "leaked-in-query" not in line
    body = json.loads(line)
    assert body["path"] == "/api/v1/tasks/"
    assert body["request_id"] == "req-12345678"
    assert "request" not in body


def test_logging_settings_send_json_to_stdout():
    console = next(h for h in logging.getLogger().handlers if h.name == "console")
    assert isinstance(console.formatter, JsonFormatter)
    assert settings.LOGGING["handlers"]["console"]["stream"] == "ext://sys.stdout"


def test_request_log_middleware_runs_right_after_request_id():
    middleware = settings.MIDDLEWARE
    request_id = middleware.index("taskhub.core.middleware.RequestIdMiddleware")
    assert middleware[request_id + 1] == "taskhub.core.observability.RequestLogMiddleware"


# Access line


def test_request_emits_exactly_one_access_line_with_every_field(client):
    with capture_access_log() as log:
        response = client.get("/health/live/", HTTP_X_FORWARDED_FOR="203.0.113.9")

    lines = log.parsed()
    assert len(lines) == 1
    line = lines[0]
    assert set(line) == ACCESS_FIELDS
    assert line["level"] == "INFO"
    assert line["logger"] == "taskhub.access"
    assert line["request_id"] == response["X-Request-ID"]
    assert line["method"] == "GET"
    assert line["route"] == "health/live/"
    assert line["path"] == "/health/live/"
    assert line["status"] == 200
    assert line["sql_count"] == 0
    assert line["duration_ms"] >= 0
    # No trusted proxy is configured, so the forwarded address is not believed.
    assert line["client_ip"] == "127.0.0.1"
    assert line["organization_id"] is None
    assert line["user_id"] is None
    assert line["api_key_id"] is None


def test_access_line_never_contains_query_string_or_credentials(client):
    with capture_access_log() as log:
        client.get(
            "/health/live/?token=query-secret-value",
            HTTP_AUTHORIZATION="Bearer header-secret-value",
            HTTP_COOKIE="sessionid=cookie-secret-value",
        )

    (raw,) = log.raw()
    assert "secret-value" not in raw
    assert json.loads(raw)["path"] == "/health/live/"


def test_unknown_url_is_logged_as_unmatched_route(client):
    with capture_access_log() as log:
        client.get("/no/such/place/6f1c2a9e/")

    (line,) = log.parsed()
    assert line["status"] == 404
    assert line["route"] == "unmatched"


@pytest.mark.django_db
def test_sql_count_matches_the_queries_the_request_ran(client):
    client.get("/health/")  # Latches the migration check, as in production after the first poll.
    with capture_access_log() as log, CaptureQueriesContext(connection) as queries:
        client.get("/health/")

    (line,) = log.parsed()
    assert line["sql_count"] == len(queries.captured_queries) == 1


# /metrics


def test_metrics_is_not_found_without_token_outside_debug(client, settings):
    settings.METRICS_TOKEN = ""
    settings.DEBUG = False

    for response in (client.get("/metrics"), client.post("/metrics")):
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_metrics_is_open_under_debug_without_token(client, settings):
    settings.METRICS_TOKEN = ""
    settings.DEBUG = True

    assert client.get("/metrics").status_code == 200


def test_metrics_refuses_missing_or_wrong_token(client, settings):
    settings.METRICS_TOKEN = TOKEN

    missing = client.get("/metrics")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token")

    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["code"] == "not_authenticated"
    assert wrong.json() == {"detail": "The metrics token is not valid.", "code": "authentication_failed"}
    assert wrong["WWW-Authenticate"].startswith("Bearer")


def test_metrics_serves_request_histogram_and_counters_with_the_token(client, settings):
    settings.METRICS_TOKEN = TOKEN
    client.get("/health/live/")

    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    body = response.content.decode()
    assert 'http_requests_total{method="GET",route="health/live/",status="200"}' in body
    assert (
        'http_request_duration_seconds_bucket{le="0.005",method="GET",route="health/live/",status_class="2xx"}' in body
    )
    for name in ("http_request_duration_seconds", "http_requests_total", "db_errors_total", "cache_errors_total"):
        assert f"# TYPE {name.removesuffix('_total')}" in body
    assert "_created" not in body


def test_metrics_add_up_every_worker_process_in_multiprocess_mode(tmp_path):
    # Two processes stand for two gunicorn workers sharing PROMETHEUS_MULTIPROC_DIR.
    worker = textwrap.dedent(
        f"""
        import django
        django.setup()
        from django.test import Client
        client = Client()
        client.get("/health/live/")
        print(client.get("/metrics", HTTP_AUTHORIZATION="Bearer {TOKEN}").content.decode())
        """
    )
    variables = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "METRICS_TOKEN": TOKEN,
    }
    outputs = [
        subprocess.run(
            [sys.executable, "-c", worker], cwd=ROOT, env=variables, capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    ]

    assert 'http_requests_total{method="GET",route="health/live/",status="200"} 1.0' in outputs[0]
    assert 'http_requests_total{method="GET",route="health/live/",status="200"} 2.0' in outputs[1]
    assert list(tmp_path.glob("*.db"))


def test_metrics_refuses_writes_even_with_the_token(client, settings):
    settings.METRICS_TOKEN = TOKEN

    response = client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.status_code == 405


@pytest.mark.django_db
def test_metrics_labels_never_carry_raw_paths(client, settings):
    settings.METRICS_TOKEN = TOKEN
    client.get("/api/v1/tasks/0d7b3c1e-5a0c-4b59-9d3a-1f6f4a8f1c11/")
    client.get("/anything/8c1d2e3f-raw-id/")

    body = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()

    assert "0d7b3c1e-5a0c-4b59-9d3a-1f6f4a8f1c11" not in body
    assert "8c1d2e3f-raw-id" not in body
    assert 'route="api/v1/tasks/<uuid:id>/"' in body
    assert 'route="unmatched"' in body


def test_unusual_http_methods_share_one_label(client, settings):
    settings.METRICS_TOKEN = TOKEN
    client.generic("BREW", "/health/live/")

    body = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()

    assert 'method="other"' in body
    assert "BREW" not in body


# Error counters


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_failed_query_counts_one_database_error():
    before = db_errors()

    response = Client(raise_request_exception=False).get("/boom/sql/")

    # SQLite calls a missing table an OperationalError (503), PostgreSQL a ProgrammingError (500).
    assert response.status_code in (500, 503)
    assert db_errors() == before + 1


@pytest.mark.urls(__name__)
def test_database_error_outside_a_query_is_counted_from_the_exception():
    before = sample("db_errors_total", {"error": "InternalError"})

    with capture_access_log() as log:
        response = Client(raise_request_exception=False).get("/boom/internal/")

    assert response.status_code == 500
    assert sample("db_errors_total", {"error": "InternalError"}) == before + 1
    (line,) = log.parsed()
    assert line["status"] == 500
    assert line["route"] == "boom/internal/"


def test_cache_failure_in_health_check_is_counted():
    before = sample("cache_errors_total")

    with mock.patch.object(health.cache, "set", side_effect=ConnectionError("redis down")):
        assert health.check_cache() == "unreachable"

    assert sample("cache_errors_total") == before + 1


@pytest.mark.urls(__name__)
def test_every_line_logged_while_serving_a_request_carries_its_request_id(client):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("taskhub.core.tests.chatty")
    logger.addHandler(handler)
    try:
        response = client.get("/chatty/")
        logger.warning("between requests")
    finally:
        logger.removeHandler(handler)

    during, after = (json.loads(raw) for raw in stream.getvalue().splitlines())
    assert during["message"] == "working on it"
    assert during["request_id"] == response["X-Request-ID"]
    assert "request_id" not in after
