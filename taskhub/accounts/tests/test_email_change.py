"""Changing the address: confirmed from the new address, a notice to the old one, the password checked by the guard."""

from __future__ import annotations

import pytest
from django.core import mail
from rest_framework.test import APIClient

from conftest import PASSWORD
from taskhub.accounts.models import AccountToken, User
from taskhub.accounts.services.api_keys import api_key_create
from taskhub.accounts.tests.mail import has_link, only_token, sent_to, token_in
from taskhub.core import rls
from taskhub.core.actor import Actor
from taskhub.tenancy.roles import Role

CHANGE = "/api/v1/auth/email/change/"
VERIFY = "/api/v1/auth/email/verify/"
RESET = "/api/v1/auth/password/reset/"
CONFIRM = "/api/v1/auth/password/reset/confirm/"


@pytest.fixture
def member(tenant_a, clients_a):
    user = tenant_a.users[Role.MEMBER]
    User.objects.filter(pk=user.pk).update(email_verified=True)
    user.refresh_from_db()
    return user, clients_a[Role.MEMBER]


def _change(client: APIClient, new_email: str, password: str = PASSWORD):
    return client.post(CHANGE, {"new_email": new_email, "password": password}, format="json")


@pytest.mark.django_db
def test_the_new_address_confirms_the_change_and_the_old_one_gets_a_notice(member):
    user, client = member
    old = user.email

    response = _change(client, "moved@example.com")

    assert response.status_code == 202, response.content
    token = only_token("moved@example.com", "verify-email")
    [notice] = sent_to(old)
    assert "moved@example.com" in notice.body
    assert "\n" not in notice.subject
    # Nothing changes until the new address confirms.
    user.refresh_from_db()
    assert (user.email, user.email_verified) == (old, True)
    mail.outbox.clear()

    assert APIClient().post(VERIFY, {"token": token}, format="json").status_code == 204

    user.refresh_from_db()
    assert (user.email, user.email_verified) == ("moved@example.com", True)
    assert mail.outbox == []  # nobody else is notified
    assert APIClient().post(VERIFY, {"token": token}, format="json").json()["code"] == "token_invalid"


@pytest.mark.django_db
def test_the_answer_is_the_same_when_another_account_holds_the_new_address(member, make_user):
    user, client = member
    holder = make_user("holder", email="held@example.com")
    User.objects.filter(pk=holder.pk).update(email_verified=True)

    taken = _change(client, "held@example.com")
    mail.outbox.clear()
    free = _change(client, "free@example.com")

    assert taken.status_code == free.status_code == 202
    assert taken.content == free.content
    user.refresh_from_db()
    assert user.email != "held@example.com"
    assert not AccountToken.objects.filter(user=user, email="held@example.com").exists()


@pytest.mark.django_db
def test_the_holder_of_a_taken_address_is_told_and_no_link_confirms_it_for_anyone_else(member, make_user):
    _, client = member
    holder = make_user("holder", email="held@example.com")
    User.objects.filter(pk=holder.pk).update(email_verified=True)

    _change(client, "held@example.com")

    [notice] = sent_to("held@example.com")
    assert '"holder"' in notice.body
    token_in(notice, "reset-password")  # a way into the holder's own account, nothing else
    assert not AccountToken.objects.filter(purpose="change_email").exists()


@pytest.mark.django_db
def test_a_wrong_password_changes_nothing_and_repeated_ones_are_locked_out(member):
    _, client = member
    response = _change(client, "moved@example.com", "wrong-password")
    assert response.status_code == 400
    assert response.json()["code"] == "wrong_password"
    assert "password" in response.json()["errors"]
    assert mail.outbox == []

    codes = [_change(client, "moved@example.com", "wrong-password").status_code for _ in range(8)]

    assert codes[-1] == 429
    assert _change(client, "moved@example.com").status_code == 429  # the right one waits too
    assert mail.outbox == []


@pytest.mark.django_db
def test_changing_to_the_same_verified_address_is_refused(member):
    user, client = member
    response = _change(client, user.email)
    assert response.status_code == 400
    assert response.json()["code"] == "email_unchanged"


@pytest.mark.django_db
def test_a_password_reset_cancels_a_change_not_confirmed_yet(member):
    user, client = member
    _change(client, "thief@example.com")
    change_token = only_token("thief@example.com", "verify-email")
    APIClient().post(RESET, {"email": user.email}, format="json")
    reset_token = token_in(sent_to(user.email)[-1], "reset-password")
    assert (
        APIClient()
        .post(CONFIRM, {"token": reset_token, "new_password": "brand-new-password-9"}, format="json")
        .status_code
        == 204
    )

    response = APIClient().post(VERIFY, {"token": change_token}, format="json")

    assert response.json()["code"] == "token_invalid"
    user.refresh_from_db()
    assert user.email != "thief@example.com"


@pytest.mark.django_db
def test_a_user_without_an_address_sets_one_and_no_notice_is_sent(member):
    user, client = member
    User.objects.filter(pk=user.pk).update(email="", email_verified=False)
    assert _change(client, "first@example.com").status_code == 202
    assert len(mail.outbox) == 1
    assert has_link(mail.outbox[0])


@pytest.mark.django_db
def test_an_api_key_cannot_change_an_address(tenant_a):
    with rls.scoped(organization_id=tenant_a.organization.pk):
        _, key = api_key_create(
            organization_id=tenant_a.organization.pk, actor=Actor(user_id=tenant_a.owner.pk), name="ci", role="member"
        )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = _change(client, "moved@example.com")
    assert response.status_code == 403
    assert response.json()["code"] == "api_key_bound"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {},
        {"new_email": "moved@example.com"},
        {"password": PASSWORD},
        {"new_email": "nope", "password": PASSWORD},
        {"new_email": ["a@example.com"], "password": PASSWORD},
        {"new_email": "moved@example.com", "password": 1},
        [],
    ],
)
def test_email_change_refuses_bad_input_with_a_json_400(member, body):
    _, client = member
    response = client.post(CHANGE, body, format="json")
    assert response.status_code == 400, response.content
    assert {"detail", "code"} <= set(response.json())
    assert mail.outbox == []
