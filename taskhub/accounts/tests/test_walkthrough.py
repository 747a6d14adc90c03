"""The README's walk through, end to end over HTTP: sign up, invite, switch, API key, removal."""

import re

import pytest
from django.core import mail
from rest_framework.test import APIClient

API = "/api/v1"


def post(client, path, body, status=200):
    response = client.post(f"{API}{path}", body)
    assert response.status_code == status, response.content
    return response.json() if response.content else None


def signed_in(access):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def invitation_token():
    return re.search(r"token=([\w-]+)", mail.outbox[-1].body).group(1)


@pytest.mark.django_db
def test_sign_up_invite_switch_api_key_and_removal():
    anonymous = APIClient()
    ada = post(
        anonymous,
        "/auth/register/",
        {
            "username": "ada",
            "email": "ada@example.com",
            "password": "analytical-engine-1843",
            "organization_name": "Analytical",
        },
        status=201,
    )
    ada_client = signed_in(ada["access"])

    post(ada_client, "/invitations/", {"email": "charles@example.com", "role": "member"}, status=201)
    charles = post(
        anonymous,
        "/invitations/accept/",
        {"token": invitation_token(), "username": "charles", "password": "difference-engine-1822"},
        status=201,
    )
    charles_client = signed_in(charles["access"])
    assert charles_client.get(f"{API}/organization/").json()["name"] == "Analytical"

    # Charles has his own organization too and invites Ada; she switches between the two.
    grace = post(
        anonymous,
        "/auth/register/",
        {
            "username": "grace",
            "email": "grace@example.com",
            "password": "compiler-a0-1952",
            "organization_name": "Navy",
        },
        status=201,
    )
    post(signed_in(grace["access"]), "/invitations/", {"email": "ada@example.com", "role": "viewer"}, status=201)
    post(ada_client, "/invitations/accept/", {"token": invitation_token()}, status=201)
    navy = post(ada_client, "/auth/switch/", {"organization": "navy"})
    assert signed_in(navy["access"]).get(f"{API}/auth/me/").json()["role"] == "viewer"
    assert ada_client.get(f"{API}/auth/me/").json()["organization"]["slug"] == "analytical"

    key = post(ada_client, "/api-keys/", {"name": "ci", "role": "viewer"}, status=201)["key"]
    machine = APIClient()
    machine.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    names = {m["user"]["username"] for m in machine.get(f"{API}/members/").json()["results"]}
    assert names == {"ada", "charles"}

    charles_membership = ada_client.get(f"{API}/members/?search=charles").json()["results"][0]["id"]
    assert ada_client.delete(f"{API}/members/{charles_membership}/").status_code == 204
    assert charles_client.get(f"{API}/organization/").status_code == 401

    actions = [e["action"] for e in ada_client.get(f"{API}/audit-events/").json()["results"]]
    for action in (
        "organization.created",
        "invitation.created",
        "invitation.accepted",
        "api_key.created",
        "member.removed",
    ):
        assert action in actions
