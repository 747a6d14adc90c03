"""RS256 signing with a published key ring, and rotation without logging anyone out.

Forged tokens of every kind are refused in test_jwt_forgery.py.
"""

import jwt
import pytest

from taskhub.accounts import tokens
from taskhub.tenancy.roles import Role
from tests.support.keys import key_pair


@pytest.mark.django_db
def test_rs256_tokens_name_their_key_and_jwks_publishes_it(use_rs256, api_client, tenant_a):
    private_pem, public_pem = key_pair()
    use_rs256(private_pem, public_pem)
    access = tokens.token_pair(tenant_a.memberships[Role.VIEWER])["access"]
    header = jwt.get_unverified_header(access)
    assert header["alg"] == "RS256"

    jwks = api_client.get("/.well-known/jwks.json").json()["keys"]
    assert [key["kid"] for key in jwks] == [header["kid"]]
    assert jwks[0]["kty"] == "RSA"
    assert jwks[0]["use"] == "sig"
    assert "d" not in jwks[0], "the private exponent must never be published"
    # A client can verify the token with nothing but the published key.
    public = jwt.PyJWK(jwks[0]).key
    jwt.decode(access, public, algorithms=["RS256"], audience="taskhub-api")

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert api_client.get("/api/v1/auth/me/").status_code == 200


@pytest.mark.django_db
def test_rotating_to_a_new_key_keeps_tokens_of_the_old_one_valid(use_rs256, api_client, tenant_a):
    old_private, old_public = key_pair()
    new_private, new_public = key_pair()
    use_rs256(old_private, old_public)
    old_access = tokens.token_pair(tenant_a.memberships[Role.VIEWER])["access"]

    use_rs256(new_private, new_public, extra=old_public)
    new_access = tokens.token_pair(tenant_a.memberships[Role.VIEWER])["access"]
    assert jwt.get_unverified_header(new_access)["kid"] != jwt.get_unverified_header(old_access)["kid"]
    assert len(api_client.get("/.well-known/jwks.json").json()["keys"]) == 2
    for access in (old_access, new_access):
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        assert api_client.get("/api/v1/auth/me/").status_code == 200

    # Once the old key is dropped from the ring, its tokens stop working.
    use_rs256(new_private, new_public)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {old_access}")
    assert api_client.get("/api/v1/auth/me/").status_code == 401


def test_hs256_publishes_no_keys(client):
    assert client.get("/.well-known/jwks.json").json() == {"keys": []}
