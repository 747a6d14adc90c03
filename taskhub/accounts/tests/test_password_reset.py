"""Password reset: one answer for every address, single-use hashed links for one hour, every session ended."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import PASSWORD
from taskhub.accounts.models import AccountToken, User
from taskhub.accounts.services import account_tokens
from taskhub.accounts.tests.mail import only_token, sent_to, token_in
from taskhub.core import rls, throttling
from taskhub.core.actor import Actor
from taskhub.organizations.models import Organization
from taskhub.organizations.services.organizations import organization_delete
from taskhub.tenancy.roles import Role

RESET = "/api/v1/auth/password/reset/"
CONFIRM = "/api/v1/auth/password/reset/confirm/"
TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
ME = "/api/v1/auth/me/"
NEW_PASSWORD = "a-new-and-long-pass-42"
# Headers that vary per request whatever the answer (the request id is made for each request).
PER_REQUEST = {"x-request-id"}


def _reset(email: str, client: APIClient | None = None):
    return (client or APIClient()).post(RESET, {"email": email}, format="json")


def _confirm(token: str, password: str = NEW_PASSWORD):
    return APIClient().post(CONFIRM, {"token": token, "new_password": password}, format="json")


def _sign_in(username: str, password: str, ip: str = "127.0.0.1"):
    return APIClient(REMOTE_ADDR=ip).post(TOKEN, {"username": username, "password": password}, format="json")


@pytest.fixture
def member(tenant_a):
    user = tenant_a.users[Role.MEMBER]
    User.objects.filter(pk=user.pk).update(email_verified=True)
    user.refresh_from_db()
    return user


def _headers(response) -> dict[str, str]:
    return {name.lower(): value for name, value in response.headers.items() if name.lower() not in PER_REQUEST}


@pytest.mark.django_db
def test_the_answer_for_an_unknown_address_is_byte_identical_to_a_known_one(member):
    known = _reset(member.email)
    unknown = _reset("nobody-here@example.com")

    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    assert _headers(known) == _headers(unknown)
    assert len(sent_to(member.email)) == 1
    assert sent_to("nobody-here@example.com") == []
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_reset_sets_the_password_and_ends_every_session(member, tenant_a):
    tokens = _sign_in(member.username, PASSWORD).json()
    signed_in = APIClient()
    signed_in.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert signed_in.get(ME).status_code == 200

    _reset(member.email)
    token = only_token(member.email, "reset-password")
    assert AccountToken.objects.get(user=member).token_hash == hashlib.sha256(token.encode()).hexdigest()
    response = _confirm(token)

    assert response.status_code == 204, response.content
    assert signed_in.get(ME).status_code == 401
    assert APIClient().post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 401
    assert _sign_in(member.username, PASSWORD).status_code == 401
    assert _sign_in(member.username, NEW_PASSWORD).status_code == 200


@pytest.mark.django_db
def test_a_reset_token_works_once(member):
    _reset(member.email)
    token = only_token(member.email, "reset-password")
    assert _confirm(token).status_code == 204

    replay = _confirm(token, "yet-another-password-77")

    assert replay.status_code == 400
    assert replay.json()["code"] == "token_invalid"
    assert _sign_in(member.username, NEW_PASSWORD).status_code == 200


@pytest.mark.django_db
def test_a_reset_token_expires_after_one_hour(member, monkeypatch):
    _reset(member.email)
    token = only_token(member.email, "reset-password")
    stored = AccountToken.objects.get(user=member)
    assert stored.expires_at - stored.created_at == pytest.approx(timedelta(hours=1), abs=timedelta(seconds=5))

    later = timezone.now() + timedelta(minutes=61)
    monkeypatch.setattr(account_tokens.timezone, "now", lambda: later)
    response = _confirm(token)

    assert response.status_code == 400
    assert response.json()["code"] == "token_invalid"


@pytest.mark.django_db
def test_a_new_request_makes_the_older_link_stop_working(member):
    _reset(member.email)
    _reset(member.email.upper())
    first, second = (token_in(message, "reset-password") for message in sent_to(member.email))

    assert _confirm(first).json()["code"] == "token_invalid"
    assert _confirm(second).status_code == 204


@pytest.mark.django_db
def test_a_password_the_validators_refuse_leaves_the_token_unused(member):
    _reset(member.email)
    token = only_token(member.email, "reset-password")

    response = _confirm(token, "short")

    assert response.status_code == 400
    assert response.json()["code"] == "password_invalid"
    assert "new_password" in response.json()["errors"]
    assert _confirm(token).status_code == 204


@pytest.mark.django_db
def test_unverified_holders_get_a_link_only_when_nobody_holds_the_address_verified(make_user):
    first = make_user("first", email="shared@example.com")
    second = make_user("second", email="Shared@example.com")
    _reset("shared@example.com")
    assert sorted(message.body.split(",")[0] for message in mail.outbox) == ["Hello first", "Hello second"]

    # Using the link proves the address: it becomes the user's, verified, and the other claim is dropped.
    token = token_in(next(m for m in mail.outbox if m.body.startswith("Hello second")), "reset-password")
    assert _confirm(token).status_code == 204
    second.refresh_from_db()
    first.refresh_from_db()
    assert (second.email_verified, first.email) == (True, "")

    mail.outbox.clear()
    third = make_user("third", email="shared@example.com")
    _reset("shared@example.com")
    assert [message.body.split(",")[0] for message in mail.outbox] == ["Hello second"]
    assert third.email_verified is False


@pytest.mark.django_db
def test_an_inactive_user_gets_no_link(member):
    User.objects.filter(pk=member.pk).update(is_active=False)
    assert _reset(member.email).status_code == 202
    assert mail.outbox == []


@pytest.mark.django_db
def test_a_reset_forgives_the_sign_in_failures_of_the_username(member):
    for _ in range(12):
        _sign_in(member.username, "wrong-password", ip="10.1.1.1")
    assert _sign_in(member.username, PASSWORD, ip="10.1.1.1").status_code == 429

    _reset(member.email)
    assert _confirm(only_token(member.email, "reset-password")).status_code == 204

    assert _sign_in(member.username, NEW_PASSWORD, ip="10.1.1.1").status_code == 200


@pytest.fixture
def reset_rates():
    classes = (throttling.PasswordResetThrottle, throttling.PasswordResetAddressThrottle, throttling.AnonymousThrottle)
    original = {throttle: throttle.THROTTLE_RATES for throttle in classes}

    def set_rates(**rates: str) -> None:
        values = {"anon": "1000/min", "password_reset": "1000/min", "password_reset_address": "1000/min", **rates}
        for throttle in classes:
            throttle.THROTTLE_RATES = values

    yield set_rates
    for throttle, value in original.items():
        throttle.THROTTLE_RATES = value


@pytest.mark.django_db
def test_reset_requests_are_limited_per_address_from_any_client(member, reset_rates):
    reset_rates(password_reset_address="2/hour")
    assert _reset(member.email, APIClient(REMOTE_ADDR="10.0.0.1")).status_code == 202
    # Counted by the address whatever its case.
    assert _reset(member.email.upper(), APIClient(REMOTE_ADDR="10.0.0.2")).status_code == 202

    refused = _reset(member.email, APIClient(REMOTE_ADDR="10.0.0.3"))

    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert int(refused["Retry-After"]) > 0
    # The same for an unknown address: the limit says nothing about who has an account.
    for ip in ("10.0.0.4", "10.0.0.5"):
        assert _reset("ghost@example.com", APIClient(REMOTE_ADDR=ip)).status_code == 202
    assert _reset("ghost@example.com", APIClient(REMOTE_ADDR="10.0.0.6")).status_code == 429
    # Another address is not affected.
    assert _reset("someone-else@example.com", APIClient(REMOTE_ADDR="10.0.0.7")).status_code == 202


@pytest.mark.django_db
def test_reset_requests_are_limited_per_client(reset_rates):
    reset_rates(password_reset="3/hour")
    client = APIClient(REMOTE_ADDR="10.0.0.9")
    for n in range(3):
        assert _reset(f"person{n}@example.com", client).status_code == 202
    assert _reset("person9@example.com", client).status_code == 429
    assert _reset("person9@example.com", APIClient(REMOTE_ADDR="10.0.0.10")).status_code == 202


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "body"),
    [
        (RESET, {}),
        (RESET, {"email": "not-an-address"}),
        (RESET, {"email": 7}),
        (RESET, {"email": "a" * 250 + "@example.com"}),
        (RESET, ["x@example.com"]),
        (CONFIRM, {}),
        (CONFIRM, {"token": "t"}),
        (CONFIRM, {"new_password": NEW_PASSWORD}),
        (CONFIRM, {"token": None, "new_password": NEW_PASSWORD}),
        (CONFIRM, {"token": "t", "new_password": 12345678}),
        (CONFIRM, {"token": "unknown", "new_password": NEW_PASSWORD}),
    ],
)
def test_reset_endpoints_refuse_bad_input_with_a_json_400(url, body):
    response = APIClient().post(url, body, format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    assert {"detail", "code"} <= set(response.json())
    assert mail.outbox == []


@pytest.mark.django_db
def test_a_user_created_by_an_import_sets_a_password_with_a_reset_and_signs_in(tmp_path):
    call_command("seed_tenants", organizations=1, projects=1, tasks=1, prefix="moved")
    seeded = User.objects.get(username="moved-1-member")
    assert seeded.email_verified is True  # the platform made the address
    path = tmp_path / "moved-1.ndjson.gz"
    call_command("export_organization", "moved-1", output=str(path))
    organization = Organization.objects.get(slug="moved-1")
    with rls.bypass("test: the organization leaves this instance"):
        organization_delete(organization_id=organization.pk, actor=Actor(user_id=None))
    User.objects.filter(username__startswith="moved-1-").delete()

    out = StringIO()
    call_command("import_organization", str(path), stdout=out)

    assert "POST /api/v1/auth/password/reset/" in out.getvalue()
    assert "http://127.0.0.1:8000/account/reset-password/" in out.getvalue()
    imported = User.objects.get(username="moved-1-member")
    assert not imported.has_usable_password()
    assert imported.email_verified is False
    assert _reset(imported.email).status_code == 202
    assert _confirm(only_token(imported.email, "reset-password")).status_code == 204
    imported.refresh_from_db()
    assert imported.email_verified is True
    assert _sign_in("moved-1-member", NEW_PASSWORD).status_code == 200
