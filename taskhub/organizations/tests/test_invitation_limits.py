"""Invitation limits beyond the organization's hourly one: per inviting user and per recipient address, per day."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from django.core import mail
from django.core.cache import cache
from rest_framework.test import APIClient

from taskhub.organizations.models import Invitation, Membership, Organization
from taskhub.organizations.services import invitations
from taskhub.tenancy.roles import Role

URL = "/api/v1/invitations/"
RESEND_URL = "/api/v1/invitations/{}/resend/"

pytestmark = pytest.mark.django_db


def _invite(client: APIClient, email: str) -> Any:
    return client.post(URL, {"email": email, "role": "member"}, format="json")


def _throwaway_admin(make_user, client_for, number: int) -> APIClient:
    """A fresh organization and its owner, as anyone signing up can make."""
    owner = make_user(f"throwaway-{number}")
    organization = Organization.objects.create(name=f"Throwaway {number}", slug=f"throwaway-{number}")
    return client_for(Membership.objects.create(organization=organization, user=owner, role=Role.OWNER))


def _at(monkeypatch: pytest.MonkeyPatch, now: float) -> None:
    monkeypatch.setattr(invitations, "time", SimpleNamespace(time=lambda: now))


# Per recipient address


def test_one_address_gets_at_most_the_daily_limit_from_all_organizations_together(
    make_user, client_for, settings, monkeypatch
):
    settings.INVITATIONS_PER_ADDRESS_PER_DAY = 3
    seconds_left = 5000
    _at(monkeypatch, 20_000 * invitations.DAY_SECONDS - seconds_left)
    admins = [_throwaway_admin(make_user, client_for, number) for number in range(5)]

    # Each throwaway organization invites the same inbox, spelled as it likes.
    addresses = [
        "victim@example.com",
        "Victim@EXAMPLE.com",
        "victim@example.com",
        "victim@Example.com",
        "victim@example.com",
    ]
    answers = [_invite(admin, address) for admin, address in zip(admins, addresses, strict=True)]

    assert [answer.status_code for answer in answers] == [201, 201, 201, 429, 429]
    assert answers[3].json() == {
        "detail": "This address has been sent too many invitations today. "
        f"Expected available in {seconds_left} seconds.",
        "code": "throttled",
    }
    assert answers[3]["Retry-After"] == str(seconds_left)
    assert Invitation.objects.filter(email__iexact="victim@example.com").count() == 3
    assert len(mail.outbox) == 3
    # Other addresses are not held back.
    assert _invite(admins[4], "someone-else@example.com").status_code == 201


def test_the_address_limit_starts_again_the_next_day(make_user, client_for, settings, monkeypatch):
    settings.INVITATIONS_PER_ADDRESS_PER_DAY = 1
    day = 20_000 * invitations.DAY_SECONDS
    first, second = (_throwaway_admin(make_user, client_for, number) for number in range(2))
    _at(monkeypatch, day - 10)
    assert _invite(first, "daily@example.com").status_code == 201
    assert _invite(second, "daily@example.com").status_code == 429
    _at(monkeypatch, day + 1)
    assert _invite(second, "daily@example.com").status_code == 201


def test_resending_counts_against_the_address_limit(clients_a, settings):
    settings.INVITATIONS_PER_ADDRESS_PER_DAY = 2
    client = clients_a[Role.ADMIN]
    invitation_id = _invite(client, "resent@example.com").json()["id"]
    assert client.post(RESEND_URL.format(invitation_id)).status_code == 202
    response = client.post(RESEND_URL.format(invitation_id))
    assert response.status_code == 429
    assert response.json()["detail"].startswith("This address has been sent too many invitations today.")
    assert len(mail.outbox) == 2


def test_an_invitation_refused_for_its_address_does_not_use_up_the_organizations_hour(clients_a, clients_b, settings):
    settings.INVITATIONS_PER_ADDRESS_PER_DAY = 1
    settings.INVITATIONS_PER_HOUR = 2
    assert _invite(clients_a[Role.ADMIN], "popular@example.com").status_code == 201
    assert _invite(clients_b[Role.ADMIN], "popular@example.com").status_code == 429
    # B's hourly count and its admin's daily count were given back.
    assert _invite(clients_b[Role.ADMIN], "b1@example.com").status_code == 201
    assert _invite(clients_b[Role.ADMIN], "b2@example.com").status_code == 201
    assert _invite(clients_b[Role.ADMIN], "b3@example.com").status_code == 429


# Per inviting user


def test_one_user_sends_at_most_the_daily_limit_across_their_organizations(
    tenant_a, tenant_b, client_for, settings, monkeypatch
):
    settings.INVITATIONS_PER_USER_PER_DAY = 2
    seconds_left = 700
    _at(monkeypatch, 20_000 * invitations.DAY_SECONDS - seconds_left)
    admin = tenant_a.users[Role.ADMIN]
    in_a = client_for(tenant_a.memberships[Role.ADMIN])
    in_b = client_for(Membership.objects.create(organization=tenant_b.organization, user=admin, role=Role.ADMIN))

    assert _invite(in_a, "u1@example.com").status_code == 201
    assert _invite(in_b, "u2@example.com").status_code == 201
    refused = _invite(in_a, "u3@example.com")

    assert refused.status_code == 429
    assert refused.json() == {
        "detail": f"You have sent too many invitations today. Expected available in {seconds_left} seconds.",
        "code": "throttled",
    }
    assert refused["Retry-After"] == str(seconds_left)
    assert not Invitation.objects.filter(email="u3@example.com").exists()
    # The limit is the user's, not the organization's: another admin of A still invites.
    assert _invite(client_for(tenant_a.memberships[Role.OWNER]), "u3@example.com").status_code == 201


def test_resending_counts_against_the_users_limit(clients_a, settings):
    settings.INVITATIONS_PER_USER_PER_DAY = 2
    client = clients_a[Role.ADMIN]
    invitation_id = _invite(client, "again@example.com").json()["id"]
    assert client.post(RESEND_URL.format(invitation_id)).status_code == 202
    response = client.post(RESEND_URL.format(invitation_id))
    assert response.status_code == 429
    assert response.json()["detail"].startswith("You have sent too many invitations today.")


def test_the_limits_are_counted_in_cache_keys_that_hold_no_address(clients_a, tenant_a, monkeypatch):
    _at(monkeypatch, 20_000 * invitations.DAY_SECONDS + 5)
    assert _invite(clients_a[Role.ADMIN], "Private@Example.com").status_code == 201
    user_key = invitations.invitation_user_rate_cache_key(user_id=tenant_a.users[Role.ADMIN].pk, window=20_000)
    address_key = invitations.invitation_address_rate_cache_key(email="private@example.com", window=20_000)
    assert "private" not in address_key.lower()
    assert cache.get(user_key) == 1
    assert cache.get(address_key) == 1
