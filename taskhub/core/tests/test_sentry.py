import json
from collections.abc import Callable
from typing import Any, cast

import pytest
import sentry_sdk
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.http import HttpRequest
from django.test import RequestFactory
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from taskhub.core.sentry import FILTERED, init_sentry, scrub, traces_sample_rate

DSN = "https://public@sentry.example.invalid/1"
SECRETS = ("header-bearer-secret", "body-password-secret", "nested-refresh-secret", "query-token-secret")


class Boom(APIView):
    authentication_classes = []
    permission_classes = []
    throttle_classes = []

    def post(self, request: Request) -> Response:
        password = dict(request.data)["password"]  # noqa: F841 - a local Sentry would capture
        raise RuntimeError("the view broke")


urlpatterns = [path("boom/", Boom.as_view())]


class CapturingTransport(Transport):
    """Keep envelopes in memory: nothing leaves the test process."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    def events(self) -> list[dict[str, Any]]:
        return [cast(dict[str, Any], event) for envelope in self.envelopes if (event := envelope.get_event())]


def serve_through_wsgi(request: HttpRequest) -> list[str]:
    """Serve ``request`` as gunicorn would: through the WSGI handler Sentry instruments."""
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        statuses.append(status)
        return lambda body: None

    # As Django's test client does: the test owns the database connection, not the handler.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        response = WSGIHandler()(cast(WSGIRequest, request).environ, start_response)
        response.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return statuses


@pytest.fixture
def sentry_off_afterwards():
    yield
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


def realistic_event() -> dict[str, Any]:
    return {
        "level": "error",
        "request": {
            "url": "https://api.example.com/api/v1/auth/token/?next=/x&access_token=query-token-secret",
            "method": "POST",
            "query_string": "page=2&refresh=query-token-secret",
            "headers": {
                "Authorization": "Bearer header-bearer-secret",
                "Cookie": "sessionid=header-bearer-secret",
                "X-Api-Key": "header-bearer-secret",
                "Proxy-Authorization": "Basic header-bearer-secret",
                "Content-Type": "application/json",
            },
            "cookies": {"sessionid": "header-bearer-secret"},
            "data": {
                "username": "ada",
                "password": "body-password-secret",
                "profile": {"tokens": [{"refresh": "nested-refresh-secret"}], "client_secret": "body-password-secret"},
                "items": [{"api_key": "body-password-secret", "title": "kept"}],
            },
            "env": {"REMOTE_ADDR": "198.51.100.7", "SERVER_NAME": "api"},
        },
        "user": {"id": "42", "email": "ada@example.com", "ip_address": "198.51.100.7", "username": "ada"},
        "exception": {
            "values": [
                {
                    "type": "RuntimeError",
                    "value": "upstream refused Authorization: Bearer header-bearer-secret",
                    "stacktrace": {
                        "frames": [
                            {
                                "function": "post",
                                "vars": {
                                    "password": "'body-password-secret'",
                                    "request": "<WSGIRequest: GET '/api/v1/tasks/?page=2&access_token=query-token-secret'>",  # noqa: E501
                                },
                            }
                        ]
                    },
                }
            ]
        },
        "breadcrumbs": {"values": [{"category": "auth", "data": {"access": "nested-refresh-secret"}}]},
    }


def test_scrub_masks_credential_headers_and_drops_cookies():
    request = scrub(realistic_event(), {})["request"]

    for name in ("Authorization", "Cookie", "X-Api-Key", "Proxy-Authorization"):
        assert request["headers"][name] == FILTERED
    assert request["headers"]["Content-Type"] == "application/json"
    assert "cookies" not in request


def test_scrub_masks_sensitive_body_keys_at_any_depth():
    data = scrub(realistic_event(), {})["request"]["data"]

    assert data["username"] == "ada"
    assert data["password"] == FILTERED
    assert data["profile"]["tokens"] == FILTERED
    assert data["profile"]["client_secret"] == FILTERED
    assert data["items"] == [{"api_key": FILTERED, "title": "kept"}]


def test_scrub_masks_sensitive_query_parameters_and_keeps_the_rest():
    request = scrub(realistic_event(), {})["request"]

    assert request["query_string"] == "page=2&refresh=[Filtered]"
    assert request["url"] == "https://api.example.com/api/v1/auth/token/?next=%2Fx&access_token=[Filtered]"


def test_scrub_masks_credentials_in_free_text():
    (value,) = scrub(realistic_event(), {})["exception"]["values"]

    assert value["value"] == "upstream refused Authorization: Bearer [Filtered]"
    assert value["stacktrace"]["frames"][0]["vars"] == {
        "password": FILTERED,
        "request": "<WSGIRequest: GET '/api/v1/tasks/?page=2&access_token=[Filtered]'>",
    }


def test_scrub_keeps_only_the_user_id():
    event = scrub(realistic_event(), {})

    assert event["user"] == {"id": "42"}
    assert "REMOTE_ADDR" not in event["request"]["env"]


def test_scrub_leaves_no_secret_anywhere_in_the_event():
    dumped = json.dumps(scrub(realistic_event(), {}))

    for secret in SECRETS:
        assert secret not in dumped
    assert "ada@example.com" not in dumped
    assert "198.51.100.7" not in dumped


def test_scrub_masks_keys_in_a_raw_json_body():
    event = {"request": {"data": json.dumps({"password": "body-password-secret", "name": "x"})}}

    data = json.loads(scrub(event, {})["request"]["data"])

    assert data == {"password": FILTERED, "name": "x"}


def test_scrub_drops_a_raw_non_json_body_that_names_a_secret():
    event = {"request": {"data": "username=ada&password=body-password-secret"}}

    assert scrub(event, {})["request"]["data"] == FILTERED


def test_traces_sample_rate_defaults_to_zero(monkeypatch):
    monkeypatch.delenv("SENTRY_TRACES_SAMPLE_RATE", raising=False)

    assert traces_sample_rate() == 0.0


@pytest.mark.parametrize("value", ["often", "1.5", "-0.1", "nan"])
def test_bad_traces_sample_rate_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", value)

    with pytest.raises(ImproperlyConfigured, match="SENTRY_TRACES_SAMPLE_RATE"):
        traces_sample_rate()


def test_sentry_stays_off_without_a_dsn(monkeypatch):
    monkeypatch.delenv("SENTRY_DSN", raising=False)

    assert init_sentry() is False
    assert not sentry_sdk.get_client().is_active()


@pytest.mark.urls(__name__)
@pytest.mark.usefixtures("sentry_off_afterwards")
def test_exception_in_a_request_reaches_sentry_scrubbed(monkeypatch):
    monkeypatch.setenv("SENTRY_DSN", DSN)
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "staging")
    monkeypatch.setenv("SENTRY_RELEASE", "taskhub@1.2.3")
    transport = CapturingTransport()
    assert init_sentry(transport=transport) is True
    assert not sentry_sdk.get_client().should_send_default_pii()

    statuses = serve_through_wsgi(
        RequestFactory().post(
            "/boom/?token=query-token-secret",
            json.dumps({"username": "ada", "password": "body-password-secret"}),
            content_type="application/json",
            HTTP_AUTHORIZATION="Bearer header-bearer-secret",
            HTTP_COOKIE="sessionid=header-bearer-secret",
        )
    )
    sentry_sdk.flush()

    assert statuses == ["500 Internal Server Error"]
    (event,) = transport.events()
    assert event["exception"]["values"][-1]["value"] == "the view broke"
    assert event["environment"] == "staging"
    assert event["release"] == "taskhub@1.2.3"
    assert event["request"]["headers"]["Authorization"] == FILTERED
    assert event["request"]["query_string"] == "token=[Filtered]"
    assert event["request"]["data"]["password"] == FILTERED
    dumped = json.dumps(event)
    for secret in SECRETS:
        assert secret not in dumped
