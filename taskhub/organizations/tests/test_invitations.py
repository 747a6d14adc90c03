"""Invitations through HTTP: who may invite, what the email carries, accepting, refusals."""

from __future__ import annotations

import hashlib
import json
import re
import smtplib
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import PASSWORD
from taskhub.accounts.api_keys import generate_key
from taskhub.accounts.models import ApiKey, User
from taskhub.audit.models import AuditEvent
from taskhub.organizations.models import Invitation, Membership
from taskhub.organizations.services import invitations
from taskhub.tenancy.roles import Role

URL = "/api/v1/invitations/"
ACCEPT_URL = "/api/v1/invitations/accept/"
RESEND_URL = "/api/v1/invitations/{}/resend/"
NEW_PASSWORD = "plum-tractor-lantern-58"
ZERO_UUID = "00000000-0000-0000-0000-000000000000"

pytestmark = pytest.mark.django_db


def _invite(client: APIClient, email: str = "new@example.com", role: str = "member") -> Any:
    return client.post(URL, {"email": email, "role": role}, format="json")


def _token_from_last_email() -> str:
    match = re.search(r"/account/accept-invitation/\?token=([A-Za-z0-9_-]+)", str(mail.outbox[-1].body))
    assert match, mail.outbox[-1].body
    return match.group(1)


def _invite_and_get_token(client: APIClient, email: str = "new@example.com", role: str = "member") -> str:
    response = _invite(client, email, role)
    assert response.status_code == 201, response.content
    return _token_from_last_email()


def _accept(client: APIClient, token: str, **extra: str) -> Any:
    return client.post(ACCEPT_URL, {"token": token, **extra}, format="json")


def _codes(response: Any) -> str:
    return response.json()["code"]


# Who may manage invitations


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
def test_admin_and_owner_can_create_list_and_revoke_invitations(clients_a, tenant_a, role):
    client = clients_a[role]

    created = _invite(client, "Someone@Example.COM", "viewer")
    assert created.status_code == 201, created.content
    body = created.json()
    assert set(body) == {
        "id",
        "email",
        "role",
        "status",
        "delivery_status",
        "sent_at",
        "delivery_error",
        "invited_by",
        "expires_at",
        "accepted_at",
        "created_at",
    }
    assert body["email"] == "Someone@example.com"
    assert body["role"] == "viewer"
    assert body["status"] == "pending"
    # Jobs run inline in the tests: the email is already out when the answer is made.
    assert body["delivery_status"] == "sent"
    assert body["sent_at"] is not None
    assert body["delivery_error"] == ""
    assert body["invited_by"] == str(tenant_a.users[role].pk)
    assert body["accepted_at"] is None

    listed = client.get(URL)
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [body["id"]]

    revoked = client.delete(f"{URL}{body['id']}/")
    assert revoked.status_code == 204
    assert Invitation.objects.get(pk=body["id"]).revoked_at is not None
    assert client.get(URL).json()["results"][0]["status"] == "revoked"


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_member_and_viewer_cannot_create_invitations(clients_a, role):
    response = _invite(clients_a[role])
    assert response.status_code == 403
    assert _codes(response) == "permission_denied"
    assert not Invitation.objects.exists()
    assert mail.outbox == []


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_member_and_viewer_cannot_list_invitations(clients_a, role):
    assert clients_a[role].get(URL).status_code == 403


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_member_and_viewer_cannot_revoke_invitations(clients_a, role):
    invitation_id = _invite(clients_a[Role.ADMIN]).json()["id"]
    assert clients_a[role].delete(f"{URL}{invitation_id}/").status_code == 403
    assert Invitation.objects.get(pk=invitation_id).revoked_at is None


def test_api_key_cannot_create_invitations(tenant_a, api_client):
    generated = generate_key()
    ApiKey.objects.create(
        organization=tenant_a.organization,
        name="ci",
        role=Role.MEMBER,
        prefix=generated.prefix,
        key_hash=generated.key_hash,
        created_by=tenant_a.users[Role.ADMIN],
    )
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {generated.key}")
    assert _invite(api_client).status_code == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", URL), ("post", URL), ("delete", f"{URL}{ZERO_UUID}/"), ("post", RESEND_URL.format(ZERO_UUID))],
)
def test_no_credential_gets_401_on_invitation_management(api_client, method, path):
    response = getattr(api_client, method)(path)
    assert response.status_code == 401
    assert "WWW-Authenticate" in response


def test_admin_cannot_invite_an_owner(clients_a):
    response = _invite(clients_a[Role.ADMIN], role="owner")
    assert response.status_code == 403
    assert _codes(response) == "permission_denied"
    assert not Invitation.objects.exists()


def test_owner_can_invite_an_owner(clients_a):
    response = _invite(clients_a[Role.OWNER], role="owner")
    assert response.status_code == 201
    assert response.json()["role"] == "owner"


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_admin_can_invite_admin_member_or_viewer(clients_a, role):
    assert _invite(clients_a[Role.ADMIN], f"{role}@example.org", role).status_code == 201


def test_role_defaults_to_member(clients_a):
    response = clients_a[Role.ADMIN].post(URL, {"email": "plain@example.com"}, format="json")
    assert response.status_code == 201
    assert response.json()["role"] == "member"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not-an-email", "role": "member"}, "email"),
        ({"role": "member"}, "email"),
        ({"email": "ok@example.com", "role": "superuser"}, "role"),
    ],
)
def test_invalid_invitation_input_is_refused_naming_the_field(clients_a, payload, field):
    response = clients_a[Role.ADMIN].post(URL, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Invitation.objects.exists()


def test_inviting_a_member_is_a_conflict(clients_a, tenant_a):
    member = tenant_a.users[Role.MEMBER]
    User.objects.filter(pk=member.pk).update(email_verified=True)
    member_email = member.email.upper()
    response = _invite(clients_a[Role.ADMIN], member_email)
    assert response.status_code == 409
    assert _codes(response) == "already_member"
    assert mail.outbox == []


def test_second_pending_invitation_for_same_email_is_a_conflict(clients_a):
    assert _invite(clients_a[Role.ADMIN], "twice@example.com").status_code == 201
    response = _invite(clients_a[Role.OWNER], "TWICE@example.com")
    assert response.status_code == 409
    assert _codes(response) == "invitation_pending"
    assert Invitation.objects.count() == 1


def test_email_can_be_invited_again_after_revoking(clients_a):
    client = clients_a[Role.ADMIN]
    first = _invite(client, "again@example.com").json()["id"]
    assert client.delete(f"{URL}{first}/").status_code == 204
    assert _invite(client, "again@example.com").status_code == 201


def test_same_email_may_have_pending_invitations_in_two_organizations(clients_a, clients_b):
    assert _invite(clients_a[Role.ADMIN], "both@example.com").status_code == 201
    assert _invite(clients_b[Role.ADMIN], "both@example.com").status_code == 201


# Tenant isolation


def test_list_never_shows_another_organizations_invitations(clients_a, clients_b):
    mine = _invite(clients_a[Role.ADMIN], "mine@example.com").json()["id"]
    _invite(clients_b[Role.ADMIN], "theirs@example.com")
    ids = [row["id"] for row in clients_a[Role.ADMIN].get(URL).json()["results"]]
    assert ids == [mine]


def test_revoking_another_organizations_invitation_is_404(clients_a, clients_b):
    theirs = _invite(clients_b[Role.ADMIN]).json()["id"]
    response = clients_a[Role.OWNER].delete(f"{URL}{theirs}/")
    assert response.status_code == 404
    assert Invitation.objects.get(pk=theirs).revoked_at is None


def test_revoking_an_unknown_invitation_is_404(clients_a):
    assert clients_a[Role.ADMIN].delete(f"{URL}{ZERO_UUID}/").status_code == 404


# Revoking


def test_revoking_a_revoked_invitation_is_refused(clients_a):
    client = clients_a[Role.ADMIN]
    invitation_id = _invite(client).json()["id"]
    assert client.delete(f"{URL}{invitation_id}/").status_code == 204
    response = client.delete(f"{URL}{invitation_id}/")
    assert response.status_code == 400
    assert _codes(response) == "invitation_not_pending"


def test_revoking_an_accepted_invitation_is_refused(clients_a):
    token = _invite_and_get_token(clients_a[Role.ADMIN], "joiner@example.com")
    invitation = Invitation.objects.get()
    assert _accept(APIClient(), token, username="joiner", password=NEW_PASSWORD).status_code == 201
    response = clients_a[Role.ADMIN].delete(f"{URL}{invitation.pk}/")
    assert response.status_code == 400
    assert _codes(response) == "invitation_not_pending"
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


# The email and the token


def test_invitation_email_carries_the_token_and_link(clients_a, tenant_a, settings):
    settings.FRONTEND_URL = "https://app.example.com/"
    response = _invite(clients_a[Role.ADMIN], "guest@example.com", "viewer")
    assert response.status_code == 201
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["guest@example.com"]
    assert message.subject == f'You\'re invited to join "{tenant_a.organization.name}" on Taskhub'
    token = _token_from_last_email()
    assert f"https://app.example.com/account/accept-invitation/?token={token}" in message.body
    assert len(token) >= 43
    # Stored hashed, never raw.
    invitation = Invitation.objects.get()
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps(list(Invitation.objects.values()), default=str)


def test_each_invitation_gets_its_own_token(clients_a):
    first = _invite_and_get_token(clients_a[Role.ADMIN], "one@example.com")
    second = _invite_and_get_token(clients_a[Role.ADMIN], "two@example.com")
    assert first != second


def test_token_never_appears_in_api_responses_or_audit_events(clients_a):
    client = clients_a[Role.ADMIN]
    created = _invite(client, "secret@example.com")
    token = _token_from_last_email()
    token_hash = Invitation.objects.get().token_hash
    responses = [created, client.get(URL), client.get(f"{URL}?status=pending")]
    responses.append(_accept(APIClient(), token, username="secretive", password=NEW_PASSWORD))
    assert responses[-1].status_code == 201
    for response in responses:
        text = response.content.decode()
        assert token not in text
        assert token_hash not in text
        assert "token_hash" not in text
    events = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert token not in events
    assert token_hash not in events


def test_invitation_expires_after_the_configured_lifetime(clients_a, settings):
    settings.INVITATION_LIFETIME_DAYS = 3
    before = timezone.now()
    _invite(clients_a[Role.ADMIN])
    expires_at = Invitation.objects.get().expires_at
    assert before + timedelta(days=3) <= expires_at <= timezone.now() + timedelta(days=3)


# Delivery: the email is a job


def _refuse_mail(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> int:
        raise smtplib.SMTPServerDisconnected("mail server gone")

    monkeypatch.setattr(invitations, "send_mail", refuse)


def test_an_invitation_whose_email_cannot_be_sent_is_created_and_reads_failed(clients_a, monkeypatch):
    _refuse_mail(monkeypatch)
    response = _invite(clients_a[Role.ADMIN], "unlucky@example.com")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending"
    assert body["delivery_status"] == "failed"
    assert body["sent_at"] is None
    assert body["delivery_error"] == "SMTPServerDisconnected: mail server gone"
    listed = clients_a[Role.ADMIN].get(URL).json()["results"]
    assert [(row["id"], row["delivery_status"]) for row in listed] == [(body["id"], "failed")]
    assert mail.outbox == []


# Resending


def test_resend_emails_a_new_token_and_the_previous_one_stops_working(clients_a):
    client = clients_a[Role.ADMIN]
    first_token = _invite_and_get_token(client, "again@example.com")
    invitation_id = Invitation.objects.get().pk

    response = client.post(RESEND_URL.format(invitation_id))

    assert response.status_code == 202, response.content
    assert response.json()["id"] == str(invitation_id)
    assert response.json()["delivery_status"] == "sent"
    assert len(mail.outbox) == 2
    second_token = _token_from_last_email()
    assert second_token != first_token
    refused = _accept(APIClient(), first_token, username="late", password=NEW_PASSWORD)
    assert refused.status_code == 400
    assert _codes(refused) == "invitation_invalid"
    assert _accept(APIClient(), second_token, username="prompt", password=NEW_PASSWORD).status_code == 201


def test_resend_after_a_failed_delivery_sends_the_email(clients_a, monkeypatch):
    client = clients_a[Role.ADMIN]
    _refuse_mail(monkeypatch)
    invitation_id = _invite(client, "retry@example.com").json()["id"]
    monkeypatch.undo()

    response = client.post(RESEND_URL.format(invitation_id))

    assert response.status_code == 202
    assert response.json()["delivery_status"] == "sent"
    assert response.json()["delivery_error"] == ""
    assert [message.to for message in mail.outbox] == [["retry@example.com"]]
    event = AuditEvent.objects.get(action="invitation.resent")
    assert event.changes == {"delivery_status": ["failed", "queued"]}


@pytest.mark.parametrize("status", ["accepted", "revoked", "expired"])
def test_resending_an_invitation_that_is_not_pending_is_a_conflict(clients_a, one_of_each_status, status):
    invitation = one_of_each_status[status]
    response = clients_a[Role.ADMIN].post(RESEND_URL.format(invitation.pk))
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"Only a pending invitation can be sent again; this one is {status}.",
        "code": "invitation_not_pending",
    }
    assert mail.outbox == []
    assert Invitation.objects.get(pk=invitation.pk).token_hash == invitation.token_hash


def test_resending_another_organizations_invitation_is_404(clients_a, clients_b):
    theirs = _invite(clients_b[Role.ADMIN]).json()["id"]
    token_hash = Invitation.objects.get(pk=theirs).token_hash
    assert clients_a[Role.OWNER].post(RESEND_URL.format(theirs)).status_code == 404
    assert len(mail.outbox) == 1
    assert Invitation.objects.get(pk=theirs).token_hash == token_hash


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_member_and_viewer_cannot_resend_invitations(clients_a, role):
    invitation_id = _invite(clients_a[Role.ADMIN]).json()["id"]
    assert clients_a[role].post(RESEND_URL.format(invitation_id)).status_code == 403
    assert len(mail.outbox) == 1


def test_admin_cannot_resend_an_owners_invitation(clients_a):
    invitation_id = _invite(clients_a[Role.OWNER], "boss@example.com", "owner").json()["id"]
    response = clients_a[Role.ADMIN].post(RESEND_URL.format(invitation_id))
    assert response.status_code == 403
    assert clients_a[Role.OWNER].post(RESEND_URL.format(invitation_id)).status_code == 202


def test_resending_counts_against_the_hourly_limit(clients_a, settings):
    settings.INVITATIONS_PER_HOUR = 2
    client = clients_a[Role.ADMIN]
    invitation_id = _invite(client, "limit@example.com").json()["id"]
    assert client.post(RESEND_URL.format(invitation_id)).status_code == 202
    response = client.post(RESEND_URL.format(invitation_id))
    assert response.status_code == 429
    assert _codes(response) == "throttled"
    assert _invite(client, "other@example.com").status_code == 429
    assert len(mail.outbox) == 2


# Rate limit


def test_invitations_past_the_hourly_limit_get_429_with_retry_after(clients_a, settings):
    settings.INVITATIONS_PER_HOUR = 2
    client = clients_a[Role.ADMIN]
    assert _invite(client, "r1@example.com").status_code == 201
    assert _invite(client, "r2@example.com").status_code == 201
    response = _invite(client, "r3@example.com")
    assert response.status_code == 429
    assert _codes(response) == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 3600
    assert Invitation.objects.count() == 2
    assert len(mail.outbox) == 2


def test_invitation_rate_limit_is_per_organization(clients_a, clients_b, settings):
    settings.INVITATIONS_PER_HOUR = 1
    assert _invite(clients_a[Role.ADMIN], "a1@example.com").status_code == 201
    assert _invite(clients_a[Role.ADMIN], "a2@example.com").status_code == 429
    assert _invite(clients_b[Role.ADMIN], "b1@example.com").status_code == 201


# Listing


def _make_invitation(tenant: Any, email: str, **fields: Any) -> Invitation:
    defaults: dict[str, Any] = {"expires_at": timezone.now() + timedelta(days=1)}
    return Invitation.objects.create(
        organization=tenant.organization,
        email=email,
        role=Role.MEMBER,
        token_hash=hashlib.sha256(email.encode()).hexdigest(),
        **{**defaults, **fields},
    )


@pytest.fixture
def one_of_each_status(tenant_a) -> dict[str, Invitation]:
    now = timezone.now()
    return {
        "pending": _make_invitation(tenant_a, "pending@example.com"),
        "accepted": _make_invitation(
            tenant_a, "accepted@example.com", accepted_at=now, expires_at=now - timedelta(days=1)
        ),
        "revoked": _make_invitation(tenant_a, "revoked@example.com", revoked_at=now),
        "expired": _make_invitation(tenant_a, "expired@example.com", expires_at=now - timedelta(seconds=1)),
    }


@pytest.mark.parametrize("status", ["pending", "accepted", "revoked", "expired"])
def test_list_filters_by_computed_status(clients_a, one_of_each_status, status):
    response = clients_a[Role.ADMIN].get(URL, {"status": status})
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["id"] for row in rows] == [str(one_of_each_status[status].pk)]
    assert rows[0]["status"] == status


def test_list_refuses_an_unknown_status(clients_a):
    response = clients_a[Role.ADMIN].get(URL, {"status": "lost"})
    assert response.status_code == 400
    assert "status" in response.json()["errors"]


def test_list_searches_email(clients_a, one_of_each_status):
    rows = clients_a[Role.ADMIN].get(URL, {"search": "revok"}).json()["results"]
    assert [row["email"] for row in rows] == ["revoked@example.com"]


def test_list_orders_by_expiry(clients_a, one_of_each_status):
    rows = clients_a[Role.ADMIN].get(URL, {"ordering": "expires_at"}).json()["results"]
    expiries = [row["expires_at"] for row in rows]
    assert len(expiries) == 4
    assert expiries == sorted(expiries)


def test_list_is_cursor_paginated(clients_a, tenant_a):
    for number in range(3):
        _make_invitation(tenant_a, f"page{number}@example.com")
    first = clients_a[Role.ADMIN].get(URL, {"page_size": 2}).json()
    assert len(first["results"]) == 2
    assert first["next"]
    second = clients_a[Role.ADMIN].get(first["next"]).json()
    assert len(second["results"]) == 1
    seen = {row["id"] for row in first["results"] + second["results"]}
    assert len(seen) == 3


# Accepting


def test_signed_in_user_accepts_and_gets_tokens_for_the_new_organization(clients_a, tenant_a, tenant_b, client_for):
    outsider = tenant_b.users[Role.MEMBER]
    token = _invite_and_get_token(clients_a[Role.ADMIN], outsider.email, "admin")

    response = _accept(client_for(tenant_b.memberships[Role.MEMBER]), token)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["organization"] == {
        "id": str(tenant_a.organization.pk),
        "name": tenant_a.organization.name,
        "slug": tenant_a.organization.slug,
    }
    assert body["role"] == "admin"
    membership = Membership.objects.get(organization=tenant_a.organization, user=outsider)
    assert membership.role == Role.ADMIN
    invitation = Invitation.objects.get()
    assert invitation.accepted_by == outsider
    assert invitation.accepted_at is not None

    new_client = APIClient()
    new_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    members = new_client.get("/api/v1/members/")
    assert members.status_code == 200
    assert str(outsider.pk) in {row["user"]["id"] for row in members.json()["results"]}
    # The refresh token is for the new organization too.
    refreshed = APIClient().post("/api/v1/auth/token/refresh/", {"refresh": body["refresh"]}, format="json")
    assert refreshed.status_code == 200


def test_new_user_accepts_with_username_and_password(clients_a, tenant_a):
    token = _invite_and_get_token(clients_a[Role.ADMIN], "fresh@example.com", "viewer")

    response = _accept(APIClient(), token, username="fresh", password=NEW_PASSWORD)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["role"] == "viewer"
    assert body["organization"]["id"] == str(tenant_a.organization.pk)
    user = User.objects.get(username="fresh")
    assert user.email == "fresh@example.com"
    assert user.check_password(NEW_PASSWORD)
    assert Membership.objects.get(user=user).role == Role.VIEWER
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert client.get("/api/v1/members/").status_code == 200
    signed_in = APIClient().post("/api/v1/auth/token/", {"username": "fresh", "password": NEW_PASSWORD}, format="json")
    assert signed_in.status_code == 200


def test_new_user_with_a_taken_username_is_refused(clients_a, tenant_a):
    token = _invite_and_get_token(clients_a[Role.ADMIN], "clash@example.com")
    taken = tenant_a.users[Role.VIEWER].username.upper()
    response = _accept(APIClient(), token, username=taken, password=NEW_PASSWORD)
    assert response.status_code == 400
    assert "username" in response.json()["errors"]
    assert Invitation.objects.get().accepted_at is None
    assert not User.objects.filter(email="clash@example.com").exists()


@pytest.mark.parametrize("password", ["short", "password123", "12345678901"])
def test_new_user_with_a_weak_password_is_refused(clients_a, password):
    token = _invite_and_get_token(clients_a[Role.ADMIN], "weak@example.com")
    response = _accept(APIClient(), token, username="weakling", password=password)
    assert response.status_code == 400
    assert "password" in response.json()["errors"]
    assert not User.objects.filter(username="weakling").exists()
    assert Invitation.objects.get().accepted_at is None


def test_new_user_whose_email_has_an_account_is_told_to_sign_in(clients_a, make_user):
    existing = make_user("existing", email="existing@example.com")
    User.objects.filter(pk=existing.pk).update(email_verified=True)
    token = _invite_and_get_token(clients_a[Role.ADMIN], "existing@example.com")
    response = _accept(APIClient(), token, username="another", password=NEW_PASSWORD)
    assert response.status_code == 409
    assert _codes(response) == "email_taken"
    assert not User.objects.filter(username="another").exists()


@pytest.mark.parametrize(("given", "missing"), [("username", "password"), ("password", "username")])
def test_new_user_needs_both_username_and_password(clients_a, given, missing):
    token = _invite_and_get_token(clients_a[Role.ADMIN])
    values = {"username": "half", "password": NEW_PASSWORD}
    response = _accept(APIClient(), token, **{given: values[given]})
    assert response.status_code == 400
    assert missing in response.json()["errors"]


def test_accepting_without_credential_or_new_account_is_401(clients_a):
    token = _invite_and_get_token(clients_a[Role.ADMIN])
    response = _accept(APIClient(), token)
    assert response.status_code == 401
    assert Invitation.objects.get().accepted_at is None


def test_signed_in_user_sending_a_new_account_is_refused(clients_a, tenant_b, client_for):
    token = _invite_and_get_token(clients_a[Role.ADMIN])
    response = _accept(client_for(tenant_b.memberships[Role.VIEWER]), token, username="x", password=NEW_PASSWORD)
    assert response.status_code == 400
    assert _codes(response) == "already_signed_in"
    assert Invitation.objects.get().accepted_at is None


def test_api_key_cannot_accept_an_invitation(clients_a, tenant_b, api_client):
    token = _invite_and_get_token(clients_a[Role.ADMIN])
    generated = generate_key()
    ApiKey.objects.create(
        organization=tenant_b.organization,
        name="bot",
        role=Role.MEMBER,
        prefix=generated.prefix,
        key_hash=generated.key_hash,
        created_by=tenant_b.users[Role.ADMIN],
    )
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {generated.key}")
    response = _accept(api_client, token)
    assert response.status_code == 403
    assert _codes(response) == "api_key_bound"


def test_accepting_with_an_invalid_bearer_token_is_401(clients_a):
    token = _invite_and_get_token(clients_a[Role.ADMIN])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    assert _accept(client, token).status_code == 401


# Refusals: nothing changes


def _nothing_changed(invitation: Invitation, users_before: int, memberships_before: int) -> None:
    accepted_at = invitation.accepted_at
    invitation.refresh_from_db()
    assert invitation.accepted_at == accepted_at
    assert User.objects.count() == users_before
    assert Membership.objects.count() == memberships_before


def test_unknown_token_is_refused(tenant_a, client_for):
    response = _accept(client_for(tenant_a.memberships[Role.VIEWER]), "no-such-token")
    assert response.status_code == 400
    assert _codes(response) == "invitation_invalid"


def test_expired_invitation_is_refused(clients_a, tenant_b, client_for):
    token = _invite_and_get_token(clients_a[Role.ADMIN], tenant_b.users[Role.MEMBER].email)
    invitation = Invitation.objects.get()
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    invitation.refresh_from_db()
    users, memberships = User.objects.count(), Membership.objects.count()

    for client, extra in (
        (client_for(tenant_b.memberships[Role.MEMBER]), {}),
        (APIClient(), {"username": "late", "password": NEW_PASSWORD}),
    ):
        response = _accept(client, token, **extra)
        assert response.status_code == 400
        assert _codes(response) == "invitation_expired"
    _nothing_changed(invitation, users, memberships)
    assert not AuditEvent.objects.filter(action="invitation.accepted").exists()


def test_invitation_cannot_be_used_twice(clients_a, tenant_b, client_for):
    token = _invite_and_get_token(clients_a[Role.ADMIN], "once@example.com")
    assert _accept(APIClient(), token, username="first", password=NEW_PASSWORD).status_code == 201
    invitation = Invitation.objects.get()
    users, memberships = User.objects.count(), Membership.objects.count()

    for client, extra in (
        (client_for(tenant_b.memberships[Role.MEMBER]), {}),
        (APIClient(), {"username": "second", "password": NEW_PASSWORD}),
    ):
        response = _accept(client, token, **extra)
        assert response.status_code == 400
        assert _codes(response) == "invitation_used"
    _nothing_changed(invitation, users, memberships)
    assert AuditEvent.objects.filter(action="invitation.accepted").count() == 1


def test_revoked_invitation_is_refused(clients_a, tenant_b, client_for):
    token = _invite_and_get_token(clients_a[Role.ADMIN])
    invitation = Invitation.objects.get()
    assert clients_a[Role.ADMIN].delete(f"{URL}{invitation.pk}/").status_code == 204
    users, memberships = User.objects.count(), Membership.objects.count()

    response = _accept(client_for(tenant_b.memberships[Role.MEMBER]), token)

    assert response.status_code == 400
    assert _codes(response) == "invitation_revoked"
    _nothing_changed(invitation, users, memberships)


def test_existing_member_accepting_gets_409_and_invitation_stays_pending(clients_a, tenant_a, client_for):
    # Invited at the address the member holds unverified (so no already_member at invitation time).
    viewer = tenant_a.memberships[Role.VIEWER]
    token = _invite_and_get_token(clients_a[Role.OWNER], viewer.user.email, "admin")
    users, memberships = User.objects.count(), Membership.objects.count()

    response = _accept(client_for(viewer), token)

    assert response.status_code == 409
    assert _codes(response) == "already_member"
    viewer.refresh_from_db()
    assert viewer.role == Role.VIEWER
    invitation = Invitation.objects.get()
    assert invitation.status == "pending"
    _nothing_changed(invitation, users, memberships)


# Audit


def test_invitation_writes_are_audited(clients_a, tenant_a):
    admin = tenant_a.users[Role.ADMIN]
    client = clients_a[Role.ADMIN]
    revoked_id = _invite(client, "gone@example.com").json()["id"]
    client.delete(f"{URL}{revoked_id}/")
    token = _invite_and_get_token(client, "joins@example.com", "viewer")
    accepted = _accept(APIClient(), token, username="joins", password=NEW_PASSWORD)
    assert accepted.status_code == 201

    events = AuditEvent.objects.filter(organization=tenant_a.organization).order_by("created_at", "action")
    by_action = {event.action: event for event in events}
    created = [e for e in events if e.action == "invitation.created"]
    assert len(created) == 2
    assert all(e.actor_user_id == admin.pk for e in created)
    assert created[0].changes == {"email": [None, "gone@example.com"], "role": [None, "member"]}

    revoked = by_action["invitation.revoked"]
    assert revoked.actor_user_id == admin.pk
    assert revoked.target_id == revoked_id
    assert revoked.changes == {"status": ["pending", "revoked"]}

    new_user = User.objects.get(username="joins")
    invitation = Invitation.objects.get(email="joins@example.com")
    accepted_event = by_action["invitation.accepted"]
    assert accepted_event.actor_user_id == new_user.pk
    assert accepted_event.actor_label == "joins"
    assert accepted_event.target_id == str(invitation.pk)
    assert accepted_event.request_id == accepted["X-Request-ID"]

    member_added = by_action["member.added"]
    membership = Membership.objects.get(user=new_user)
    assert member_added.target_id == str(membership.pk)
    assert member_added.actor_user_id == new_user.pk
    assert member_added.changes == {"role": [None, "viewer"]}


def test_signed_in_acceptance_is_audited_as_that_user(clients_a, tenant_a, tenant_b, client_for):
    outsider = tenant_b.memberships[Role.OWNER]
    token = _invite_and_get_token(clients_a[Role.ADMIN], outsider.user.email)
    assert _accept(client_for(outsider), token).status_code == 201
    for action in ("invitation.accepted", "member.added"):
        event = AuditEvent.objects.get(organization=tenant_a.organization, action=action)
        assert event.actor_user_id == outsider.user_id
    # Nothing was recorded in the organization the caller's token was for.
    assert not AuditEvent.objects.filter(organization=tenant_b.organization).exists()


def test_existing_user_who_accepted_signs_in_to_the_new_organization(clients_a, tenant_b, client_for):
    user = tenant_b.users[Role.VIEWER]
    token = _invite_and_get_token(clients_a[Role.ADMIN], user.email)
    assert _accept(client_for(tenant_b.memberships[Role.VIEWER]), token).status_code == 201
    response = APIClient().post(
        "/api/v1/auth/token/",
        {"username": user.username, "password": PASSWORD, "organization": "org-a"},
        format="json",
    )
    assert response.status_code == 200
