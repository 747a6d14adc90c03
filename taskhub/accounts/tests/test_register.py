"""Sign-up: the same answer for any address, a verification link, and squatting that reserves nothing."""

from __future__ import annotations

import pytest
from django.core import mail
from rest_framework.test import APIClient

from conftest import PASSWORD
from taskhub.accounts.models import AccountToken, User
from taskhub.accounts.tests.mail import has_link, only_token, sent_to, token_in

REGISTER = "/api/v1/auth/register/"
VERIFY = "/api/v1/auth/email/verify/"
ME = "/api/v1/auth/me/"
TOKEN = "/api/v1/auth/token/"


def register(username: str, email: str, client: APIClient | None = None) -> dict:
    response = (client or APIClient()).post(
        REGISTER,
        {"username": username, "email": email, "password": PASSWORD, "organization_name": f"{username} org"},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def _shape(value: object) -> object:
    """The body with every value replaced by its type: what a client could compare between two answers."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    return type(value).__name__


@pytest.mark.django_db
def test_register_mails_a_link_that_verifies_the_address():
    body = register("fresh", "fresh@example.com")

    assert body["user"]["email"] == "fresh@example.com"
    assert body["user"]["email_verified"] is False
    [message] = mail.outbox
    assert message.to == ["fresh@example.com"]
    assert "\n" not in message.subject
    token = token_in(message, "verify-email")
    assert message.body.startswith("Hello fresh,")
    # Stored only as its hash, and only for the address it was mailed to.
    stored = AccountToken.objects.get()
    assert token not in stored.token_hash
    assert stored.purpose == "verify_email"
    assert stored.email == "fresh@example.com"

    assert APIClient().post(VERIFY, {"token": token}, format="json").status_code == 204
    user = User.objects.get(username="fresh")
    assert user.email_verified is True
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert client.get(ME).json()["user"]["email_verified"] is True


@pytest.mark.django_db
def test_register_answers_alike_for_a_new_and_an_existing_address_and_the_email_tells_the_owner(make_user):
    owner = make_user("owner", email="taken@example.com")
    User.objects.filter(pk=owner.pk).update(email_verified=True)

    new = register("newcomer", "new@example.com")
    existing = register("copycat", "taken@example.com")

    assert _shape(existing) == _shape(new)
    assert existing["user"]["email"] == "taken@example.com"
    assert existing["user"]["email_verified"] is False
    # The address's owner hears of it, named by username, with a reset link and no verification link.
    [notice] = sent_to("taken@example.com")
    assert 'you already have an account with it: your username is "owner"' in notice.body.lower()
    token_in(notice, "reset-password")
    assert "verify-email" not in notice.body
    assert AccountToken.objects.filter(user=owner, purpose="reset_password").count() == 1
    assert not AccountToken.objects.filter(user__username="copycat").exists()
    # The copycat's claim never becomes theirs: the owner keeps the address.
    owner.refresh_from_db()
    assert (owner.email, owner.email_verified) == ("taken@example.com", True)


@pytest.mark.django_db
def test_register_never_answers_email_taken():
    register("first", "same@example.com")
    register("second", "same@example.com")
    register("third", "SAME@example.com")
    assert User.objects.filter(email__iexact="same@example.com").count() == 3


@pytest.mark.django_db
def test_squatting_an_address_reserves_nothing_and_the_squatter_is_told_nothing():
    register("squatter", "victim@example.com")
    squatter_link = only_token("victim@example.com", "verify-email")  # it went to the victim's mailbox
    mail.outbox.clear()

    victim = register("victim", "victim@example.com")
    token = only_token("victim@example.com", "verify-email")
    mail.outbox.clear()
    assert APIClient().post(VERIFY, {"token": token}, format="json").status_code == 204

    squatter = User.objects.get(username="squatter")
    assert squatter.email == ""
    assert squatter.email_verified is False
    assert User.objects.get(pk=victim["user"]["id"]).email_verified is True
    assert mail.outbox == []  # nobody is told anything
    # The link the squatter's sign-up sent no longer verifies anything: the address is the victim's.
    response = APIClient().post(VERIFY, {"token": squatter_link}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"


@pytest.mark.django_db
def test_usernames_are_unique_regardless_of_case():
    register("Alice", "alice@example.com")
    response = APIClient().post(
        REGISTER,
        {"username": "alice", "email": "other@example.com", "password": PASSWORD, "organization_name": "X"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "username_taken"
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_signing_in_does_not_need_a_verified_address():
    register("unverified", "unverified@example.com")
    response = APIClient().post(TOKEN, {"username": "unverified", "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content


@pytest.mark.django_db
def test_a_rolled_back_sign_up_sends_nothing():
    register("taken", "one@example.com")
    mail.outbox.clear()
    response = APIClient().post(
        REGISTER,
        {"username": "TAKEN", "email": "two@example.com", "password": PASSWORD, "organization_name": "X"},
        format="json",
    )
    assert response.status_code == 400
    assert mail.outbox == []
    assert not has_link_to("two@example.com")


def has_link_to(address: str) -> bool:
    return any(has_link(message) for message in sent_to(address))
