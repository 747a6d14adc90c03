"""Verifying an address: single-use hashed tokens, expiry, resending, and a claim another account won."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from taskhub.accounts.models import AccountToken, User
from taskhub.accounts.services import account_tokens
from taskhub.accounts.services.api_keys import api_key_create
from taskhub.accounts.tests.mail import only_token, sent_to, token_in
from taskhub.core import rls, throttling
from taskhub.core.actor import Actor
from taskhub.tenancy.roles import Role

VERIFY = "/api/v1/auth/email/verify/"
RESEND = "/api/v1/auth/email/verify/resend/"
ME = "/api/v1/auth/me/"


def _verify(token: str):
    return APIClient().post(VERIFY, {"token": token}, format="json")


@pytest.fixture
def member(tenant_a, clients_a):
    """A member from before verification existed: an address, never verified."""
    return tenant_a.users[Role.MEMBER], clients_a[Role.MEMBER]


@pytest.mark.django_db
def test_an_existing_unverified_user_asks_for_a_link_and_verifies(member):
    user, client = member
    assert client.get(ME).json()["user"]["email_verified"] is False

    response = client.post(RESEND)

    assert response.status_code == 202, response.content
    token = only_token(user.email, "verify-email")
    assert AccountToken.objects.get(user=user).token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert _verify(token).status_code == 204
    assert client.get(ME).json()["user"]["email_verified"] is True
    # Already verified: nothing more to send.
    response = client.post(RESEND)
    assert response.status_code == 409
    assert response.json()["code"] == "email_already_verified"


@pytest.mark.django_db
def test_a_verification_token_works_once(member):
    user, client = member
    client.post(RESEND)
    token = only_token(user.email, "verify-email")
    assert _verify(token).status_code == 204

    replay = _verify(token)

    assert replay.status_code == 400
    assert replay.json()["code"] == "token_invalid"
    assert "token" in replay.json()["errors"]


@pytest.mark.django_db
def test_a_verification_token_expires_after_verify_email_token_hours(member, settings, monkeypatch):
    settings.VERIFY_EMAIL_TOKEN_HOURS = 2
    user, client = member
    client.post(RESEND)
    token = only_token(user.email, "verify-email")
    stored = AccountToken.objects.get(user=user)
    assert stored.expires_at - stored.created_at == pytest.approx(timedelta(hours=2), abs=timedelta(seconds=5))

    later = timezone.now() + timedelta(hours=2, minutes=1)
    monkeypatch.setattr(account_tokens.timezone, "now", lambda: later)
    response = _verify(token)

    assert response.status_code == 400
    assert response.json()["code"] == "token_invalid"
    assert User.objects.get(pk=user.pk).email_verified is False


@pytest.mark.django_db
def test_a_resend_makes_the_previous_link_stop_working(member):
    user, client = member
    client.post(RESEND)
    client.post(RESEND)
    first, second = (token_in(message, "verify-email") for message in sent_to(user.email))

    assert _verify(first).json()["code"] == "token_invalid"
    assert _verify(second).status_code == 204


@pytest.mark.django_db
def test_verifying_an_address_another_account_verified_meanwhile_is_a_conflict(member, make_user):
    user, client = member
    client.post(RESEND)
    token = only_token(user.email, "verify-email")
    other = make_user("other", email=user.email.upper())
    other.email_verified = True
    other.save()

    response = _verify(token)

    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"
    assert User.objects.get(pk=user.pk).email_verified is False


@pytest.mark.django_db
def test_verifying_drops_every_other_unverified_claim_to_the_address(member, make_user):
    user, client = member
    squatters = [make_user(f"squatter{n}", email=user.email.upper()) for n in range(2)]
    client.post(RESEND)
    mail_count = len(mail.outbox)

    assert _verify(only_token(user.email, "verify-email")).status_code == 204

    assert [User.objects.get(pk=squatter.pk).email for squatter in squatters] == ["", ""]
    assert len(mail.outbox) == mail_count


@pytest.mark.django_db
def test_a_user_without_an_address_is_told_to_change_it(member):
    user, client = member
    User.objects.filter(pk=user.pk).update(email="")
    response = client.post(RESEND)
    assert response.status_code == 400
    assert response.json()["code"] == "email_missing"


@pytest.mark.django_db
def test_an_api_key_cannot_ask_for_a_verification_link(tenant_a):
    with rls.scoped(organization_id=tenant_a.organization.pk):
        _, key = api_key_create(
            organization_id=tenant_a.organization.pk, actor=Actor(user_id=tenant_a.owner.pk), name="ci", role="member"
        )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = client.post(RESEND)
    assert response.status_code == 403
    assert response.json()["code"] == "api_key_bound"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [{}, {"token": ""}, {"token": 5}, {"token": "x" * 201}, [], "token"],
    ids=["missing", "empty", "number", "too-long", "list", "string"],
)
def test_verify_refuses_bad_input_with_a_json_400(body):
    response = APIClient().post(VERIFY, body, format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    assert {"detail", "code"} <= set(response.json())


@pytest.mark.django_db
def test_verify_refuses_an_unknown_token():
    response = _verify("not-a-token")
    assert response.status_code == 400
    assert response.json()["code"] == "token_invalid"


@pytest.mark.django_db
def test_resending_is_limited_per_user(member):
    user, client = member
    original = throttling.AccountEmailThrottle.THROTTLE_RATES
    throttling.AccountEmailThrottle.THROTTLE_RATES = {**original, "account_email": "2/hour"}
    try:
        codes = [client.post(RESEND).status_code for _ in range(3)]
    finally:
        throttling.AccountEmailThrottle.THROTTLE_RATES = original
    assert codes == [202, 202, 429]
    assert len(sent_to(user.email)) == 2
