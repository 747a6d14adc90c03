"""Services raise the project's own errors (taskhub.core.errors); one handler answers them.

Two halves: every domain error class answers its status, code and headers through the real
exception handler, inside a real DRF view; and the refusals services used to raise as DRF
exceptions answer the same bytes over HTTP as they did then.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

import pytest
from django.core import mail
from django.test import override_settings
from django.urls import path
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient

from taskhub.accounts.tokens import token_pair
from taskhub.core import errors
from taskhub.organizations.services import invitations
from taskhub.tenancy.roles import Role

pytestmark = pytest.mark.django_db

INVITATIONS_URL = "/api/v1/invitations/"
ACCEPT_URL = "/api/v1/invitations/accept/"
BEARER = 'Bearer realm="api"'


def _body(response: Any) -> dict[str, Any]:
    assert response["Content-Type"] == "application/json"
    body: dict[str, Any] = json.loads(response.content)
    return body


def _exactly(response: Any, status: int, body: dict[str, Any], headers: dict[str, str | None]) -> None:
    assert response.status_code == status, response.content
    assert response.content == json.dumps(body, separators=(",", ":")).encode()
    for name, value in headers.items():
        assert response.get(name) == value, name


# --- every domain error, through the real handler in a real view ----------------------------

# The error each request raises, by the ``error`` query parameter.
RAISED: dict[str, errors.DomainError] = {
    "domain": errors.DomainError("Bad input."),
    "field": errors.DomainError("This name is taken.", code="name_taken", field="name"),
    "unauthenticated": errors.Unauthenticated("Sign in."),
    "forbidden": errors.Forbidden("Not yours."),
    "not_found": errors.NotFound("Not found."),
    "conflict": errors.Conflict("Already there."),
    "too_many": errors.TooManyRequests("Slow down."),
    "too_many_wait": errors.TooManyRequests("Slow down.", retry_after=30),
    "unavailable": errors.ServiceUnavailable("Down."),
    "unavailable_wait": errors.ServiceUnavailable("Down.", retry_after=7, code="mail_down"),
}


@api_view(["POST"])
@permission_classes([AllowAny])
def raising(request: Request) -> Response:
    raise RAISED[request.query_params["error"]]


@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
def raising_without_a_scheme(request: Request) -> Response:
    raise RAISED[request.query_params["error"]]


urlpatterns = [path("raise/", raising), path("raise-without-scheme/", raising_without_a_scheme)]


@override_settings(ROOT_URLCONF=__name__)
@pytest.mark.parametrize(
    ("error", "status", "body", "headers"),
    [
        ("domain", 400, {"detail": "Bad input.", "code": "invalid"}, {}),
        (
            "field",
            400,
            {
                "detail": "This name is taken.",
                "code": "name_taken",
                "errors": {"name": [{"message": "This name is taken.", "code": "name_taken"}]},
            },
            {},
        ),
        ("unauthenticated", 401, {"detail": "Sign in.", "code": "not_authenticated"}, {"WWW-Authenticate": BEARER}),
        ("forbidden", 403, {"detail": "Not yours.", "code": "permission_denied"}, {}),
        ("not_found", 404, {"detail": "Not found.", "code": "not_found"}, {}),
        ("conflict", 409, {"detail": "Already there.", "code": "conflict"}, {}),
        ("too_many", 429, {"detail": "Slow down.", "code": "throttled"}, {}),
        (
            "too_many_wait",
            429,
            {"detail": "Slow down. Expected available in 30 seconds.", "code": "throttled"},
            {"Retry-After": "30"},
        ),
        ("unavailable", 503, {"detail": "Down.", "code": "service_unavailable"}, {}),
        ("unavailable_wait", 503, {"detail": "Down.", "code": "mail_down"}, {"Retry-After": "7"}),
    ],
)
def test_each_domain_error_answers_its_status_code_and_headers(api_client, error, status, body, headers):
    response = api_client.post(f"/raise/?error={error}")
    expected = {"WWW-Authenticate": None, "Retry-After": None, **headers}
    _exactly(response, status, body, expected)


def test_every_domain_error_class_is_answered_above():
    raised = {type(error) for error in RAISED.values()}
    defined = {errors.DomainError, *_subclasses(errors.DomainError)}
    assert {cls for cls in defined if cls.__module__ == errors.__name__} <= raised


def _subclasses(cls: type) -> set[type]:
    return {sub for direct in cls.__subclasses__() for sub in {direct, *_subclasses(direct)}}


@override_settings(ROOT_URLCONF=__name__)
def test_unauthenticated_in_a_view_without_an_authentication_scheme_is_403(api_client):
    # DRF's rule for its own AuthenticationFailed: a 401 must name a scheme to use.
    response = api_client.post("/raise-without-scheme/?error=unauthenticated")
    _exactly(response, 403, {"detail": "Sign in.", "code": "not_authenticated"}, {"WWW-Authenticate": None})


# --- what services refuse, over HTTP: the same answers as when they raised DRF's exceptions ---

INVALID_REFRESH = {"detail": "Refresh token is invalid, expired or revoked.", "code": "token_not_valid"}


def test_wrong_password_is_401_invalid_credentials_with_the_bearer_challenge(api_client, tenant_a):
    response = api_client.post("/api/v1/auth/token/", {"username": "owner-a", "password": "wrong"}, format="json")
    _exactly(
        response,
        401,
        {"detail": "Unknown username or wrong password.", "code": "invalid_credentials"},
        {"WWW-Authenticate": BEARER, "Retry-After": None},
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/auth/token/refresh/", {"refresh": "not-a-token"}),
        ("/api/v1/auth/token/verify/", {"token": "not-a-token"}),
        ("/api/v1/auth/logout/", {"refresh": "not-a-token"}),
    ],
)
def test_an_invalid_token_in_the_body_is_401_token_not_valid(api_client, path, body):
    response = api_client.post(path, body, format="json")
    _exactly(response, 401, INVALID_REFRESH, {"WWW-Authenticate": BEARER})


def test_a_replayed_refresh_token_is_401_token_not_valid(api_client, tenant_a):
    refresh = token_pair(tenant_a.memberships[Role.MEMBER])["refresh"]
    assert api_client.post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json").status_code == 200
    response = api_client.post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json")
    _exactly(response, 401, INVALID_REFRESH, {"WWW-Authenticate": BEARER})


def _invite(client: APIClient, email: str) -> Any:
    return client.post(INVITATIONS_URL, {"email": email, "role": "member"}, format="json")


@pytest.mark.parametrize(
    ("seconds_left", "wait"),
    [(1, "Expected available in 1 second."), (120, "Expected available in 120 seconds.")],
)
def test_invitations_past_the_hourly_limit_are_429_throttled_with_retry_after(
    clients_a, settings, monkeypatch, seconds_left, wait
):
    settings.INVITATIONS_PER_HOUR = 1
    now = 1000 * invitations.RATE_WINDOW_SECONDS - seconds_left
    monkeypatch.setattr(invitations, "time", SimpleNamespace(time=lambda: now))
    client = clients_a[Role.ADMIN]
    assert _invite(client, "first@example.com").status_code == 201
    response = _invite(client, "second@example.com")
    _exactly(
        response,
        429,
        {"detail": f"This organization has sent too many invitations in the last hour. {wait}", "code": "throttled"},
        {"Retry-After": str(seconds_left), "WWW-Authenticate": None},
    )


def test_accepting_as_a_user_deactivated_behind_a_warm_cache_is_401_token_not_valid(clients_a, tenant_b, client_for):
    assert _invite(clients_a[Role.ADMIN], "joiner@example.com").status_code == 201
    match = re.search(r"accept-invitation/\?token=([A-Za-z0-9_-]+)", str(mail.outbox[-1].body))
    assert match
    member_b = tenant_b.memberships[Role.MEMBER]
    client = client_for(member_b)
    assert client.get("/api/v1/auth/me/").status_code == 200  # the token version is now cached
    type(member_b.user).objects.filter(pk=member_b.user_id).update(is_active=False)
    response = client.post(ACCEPT_URL, {"token": match.group(1)}, format="json")
    _exactly(
        response,
        401,
        {"detail": "Token is invalid, expired or revoked.", "code": "token_not_valid"},
        {"WWW-Authenticate": BEARER},
    )
