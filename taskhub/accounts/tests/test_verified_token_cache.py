"""The process keeps access tokens it verified (taskhub.accounts.authentication._VERIFIED), and still
refuses one the moment it expires or is revoked."""

import time
from datetime import timedelta

import pytest

from taskhub.accounts import authentication
from taskhub.accounts.tokens import OrganizationAccessToken, token_pair
from taskhub.tenancy.roles import Role

pytestmark = pytest.mark.django_db

PROJECTS = "/api/v1/projects/"
LOGOUT = "/api/v1/auth/logout/"


def test_a_token_is_verified_once_then_served_from_the_process(api_client, tenant_a, monkeypatch):
    access = token_pair(tenant_a.memberships[Role.VIEWER])["access"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert api_client.get(PROJECTS).status_code == 200
    assert access in authentication._VERIFIED

    def never(raw):
        raise AssertionError("verified again")

    monkeypatch.setattr(authentication, "_verified", never)
    assert api_client.get(PROJECTS).status_code == 200


def test_a_kept_token_is_refused_once_it_expires(api_client, tenant_a):
    token = OrganizationAccessToken(token_pair(tenant_a.memberships[Role.VIEWER])["access"])
    token.set_exp(lifetime=timedelta(seconds=1))
    access = str(token)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert api_client.get(PROJECTS).status_code == 200
    assert access in authentication._VERIFIED

    time.sleep(max(0.0, authentication._VERIFIED[access].token_exp - time.time()) + 0.05)

    response = api_client.get(PROJECTS)
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"
    assert access not in authentication._VERIFIED


@pytest.mark.parametrize("how", ["logout", "removed from the organization"])
def test_a_kept_token_is_refused_at_once_when_revoked(api_client, clients_a, tenant_a, how):
    pair = token_pair(tenant_a.memberships[Role.MEMBER])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    assert api_client.get(PROJECTS).status_code == 200
    assert api_client.get(PROJECTS).status_code == 200

    if how == "logout":
        assert api_client.post(LOGOUT, {"refresh": pair["refresh"]}, format="json").status_code == 204
    else:
        member = tenant_a.memberships[Role.MEMBER]
        assert clients_a[Role.OWNER].delete(f"/api/v1/members/{member.pk}/").status_code == 204

    assert pair["access"] in authentication._VERIFIED
    response = api_client.get(PROJECTS)
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"
