"""An invitation is bound to the address it was sent to: who may accept it, and what accepting does to emails."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from rest_framework.test import APIClient

from conftest import PASSWORD
from taskhub.audit.models import AuditEvent
from taskhub.organizations.models import Invitation, Membership, Organization
from taskhub.tenancy.roles import Role

INVITATIONS_URL = "/api/v1/invitations/"
ACCEPT_URL = "/api/v1/invitations/accept/"
NEW_PASSWORD = "plum-tractor-lantern-58"

pytestmark = pytest.mark.django_db


def _invite_and_get_token(client: APIClient, email: str, role: str = "member") -> str:
    response = client.post(INVITATIONS_URL, {"email": email, "role": role}, format="json")
    assert response.status_code == 201, response.content
    match = re.search(r"/account/accept-invitation/\?token=([A-Za-z0-9_-]+)", str(mail.outbox[-1].body))
    assert match, mail.outbox[-1].body
    return match.group(1)


def _accept(client: APIClient, token: str, **extra: str) -> Any:
    return client.post(ACCEPT_URL, {"token": token, **extra}, format="json")


def _home(user: Any) -> Membership:
    """An organization of the user's own, so they can sign in (a token is bound to one)."""
    organization = Organization.objects.create(name=f"{user.username}'s", slug=f"home-{user.username}")
    return Membership.objects.create(organization=organization, user=user, role=Role.OWNER)


def _verified(user: Any) -> Any:
    type(user).objects.filter(pk=user.pk).update(email_verified=True)
    user.refresh_from_db()
    return user


# Signed in


def test_a_signed_in_user_with_another_address_cannot_use_someone_elses_invitation(
    clients_a, tenant_a, make_user, client_for
):
    """The abuse case as tried: admin invites bob; mallory, signed in, posts bob's token."""
    token = _invite_and_get_token(clients_a[Role.ADMIN], "bob@example.com", "admin")
    mallory = make_user("mallory", email="mallory@example.com")
    mallory_home = _home(mallory)
    memberships = Membership.objects.count()

    response = _accept(client_for(mallory_home), token)

    assert response.status_code == 403
    assert response.json() == {
        "detail": "This invitation was sent to another address; sign in with the account that uses it.",
        "code": "invitation_email_mismatch",
    }
    assert "bob" not in response.content.decode()
    assert Membership.objects.count() == memberships
    assert not Membership.objects.filter(organization=tenant_a.organization, user=mallory).exists()
    invitation = Invitation.objects.get()
    assert invitation.status == "pending"
    assert invitation.accepted_by is None
    mallory.refresh_from_db()
    assert (mallory.email, mallory.email_verified) == ("mallory@example.com", False)
    assert not AuditEvent.objects.filter(action__in=["invitation.accepted", "member.added"]).exists()


def test_the_invited_user_can_still_accept_after_someone_else_was_refused(clients_a, tenant_b, client_for):
    outsider = tenant_b.memberships[Role.MEMBER]
    token = _invite_and_get_token(clients_a[Role.ADMIN], outsider.user.email)
    assert _accept(client_for(tenant_b.memberships[Role.VIEWER]), token).status_code == 403
    assert _accept(client_for(outsider), token).status_code == 201


def test_the_address_is_compared_in_any_case_and_verified_by_the_acceptance(clients_a, tenant_b, client_for):
    outsider = tenant_b.memberships[Role.MEMBER]
    type(outsider.user).objects.filter(pk=outsider.user_id).update(email="Bob.Smith@EXAMPLE.com")
    token = _invite_and_get_token(clients_a[Role.ADMIN], "bob.smith@example.com")

    response = _accept(client_for(outsider), token)

    assert response.status_code == 201, response.content
    outsider.user.refresh_from_db()
    assert outsider.user.email_verified
    assert outsider.user.email.lower() == "bob.smith@example.com"
    assert Membership.objects.filter(organization=response.json()["organization"]["id"], user=outsider.user).exists()


def test_a_user_with_no_email_cannot_accept(clients_a, tenant_b, client_for):
    outsider = tenant_b.memberships[Role.MEMBER]
    type(outsider.user).objects.filter(pk=outsider.user_id).update(email="")
    token = _invite_and_get_token(clients_a[Role.ADMIN], "someone@example.com")
    response = _accept(client_for(outsider), token)
    assert response.status_code == 403
    assert response.json()["code"] == "invitation_email_mismatch"
    assert Invitation.objects.get().status == "pending"


def test_accepting_signed_in_drops_other_accounts_unverified_claims_to_the_address(
    clients_a, tenant_b, make_user, client_for
):
    outsider = tenant_b.memberships[Role.MEMBER]
    squatter = make_user("squatter", email=outsider.user.email.upper())
    token = _invite_and_get_token(clients_a[Role.ADMIN], outsider.user.email)

    assert _accept(client_for(outsider), token).status_code == 201

    squatter.refresh_from_db()
    assert squatter.email == ""
    assert not squatter.email_verified
    assert squatter.check_password(PASSWORD)
    outsider.user.refresh_from_db()
    assert outsider.user.email_verified


def test_a_signed_in_user_whose_address_another_account_verified_gets_409(clients_a, tenant_b, make_user, client_for):
    outsider = tenant_b.memberships[Role.MEMBER]
    owner_of_address = _verified(make_user("owner-of-address", email=outsider.user.email))
    token = _invite_and_get_token(clients_a[Role.ADMIN], outsider.user.email)
    memberships = Membership.objects.count()

    response = _accept(client_for(outsider), token)

    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"
    assert Membership.objects.count() == memberships
    assert Invitation.objects.get().status == "pending"
    owner_of_address.refresh_from_db()
    assert owner_of_address.email_verified


# As a new user


def test_a_new_user_gets_the_invited_address_verified(clients_a):
    token = _invite_and_get_token(clients_a[Role.ADMIN], "fresh@example.com")
    assert _accept(APIClient(), token, username="fresh", password=NEW_PASSWORD).status_code == 201
    user = Membership.objects.get(user__username="fresh").user
    assert (user.email, user.email_verified) == ("fresh@example.com", True)


def test_a_squatters_unverified_claim_never_blocks_the_owner_accepting_as_a_new_user(clients_a, make_user):
    """The squatting case as tried: mallory registered with bob's address; bob joins as a new user."""
    squatter = make_user("mallory", email="bob@example.com")
    token = _invite_and_get_token(clients_a[Role.ADMIN], "bob@example.com")

    response = _accept(APIClient(), token, username="bob", password=NEW_PASSWORD)

    assert response.status_code == 201, response.content
    bob = Membership.objects.get(user__username="bob").user
    assert (bob.email, bob.email_verified) == ("bob@example.com", True)
    squatter.refresh_from_db()
    assert squatter.email == ""
    assert not squatter.email_verified
    assert not Membership.objects.filter(user=squatter).exists()
    signed_in = APIClient().post("/api/v1/auth/token/", {"username": "bob", "password": NEW_PASSWORD}, format="json")
    assert signed_in.status_code == 200


def test_a_verified_holder_of_the_address_makes_a_new_user_acceptance_409(clients_a, make_user, client_for):
    holder = _verified(make_user("holder", email="holder@example.com"))
    token = _invite_and_get_token(clients_a[Role.ADMIN], "HOLDER@example.com")
    users = type(holder).objects.count()

    response = _accept(APIClient(), token, username="another", password=NEW_PASSWORD)

    assert response.status_code == 409
    assert response.json() == {
        "detail": "An account with this email exists; sign in and accept the invitation.",
        "code": "email_taken",
    }
    assert type(holder).objects.count() == users
    assert Invitation.objects.get().status == "pending"
    # Signed in, the holder accepts it.
    assert _accept(client_for(_home(holder)), token).status_code == 201


# Inviting


def test_a_member_holding_the_address_unverified_does_not_block_an_invitation(clients_a, tenant_a):
    member = tenant_a.users[Role.MEMBER]
    response = clients_a[Role.ADMIN].post(INVITATIONS_URL, {"email": member.email}, format="json")
    assert response.status_code == 201, response.content


def test_the_invitation_email_tells_which_address_it_is_for(clients_a):
    _invite_and_get_token(clients_a[Role.ADMIN], "guest@example.com")
    assert "The invitation is for guest@example.com" in mail.outbox[-1].body
