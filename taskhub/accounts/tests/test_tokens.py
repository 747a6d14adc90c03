"""RS256 signing with a published key ring, and rotation without logging anyone out.

Forged tokens of every kind are refused in test_jwt_forgery.py. Refresh tokens are kept only as
a digest in the outstanding-token table.
"""

import importlib
from types import SimpleNamespace

import jwt
import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from conftest import PASSWORD
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


# The outstanding-token table keeps a digest of each refresh token, never the token.

TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
LOGOUT = "/api/v1/auth/logout/"


def claims(token: str) -> dict[str, object]:
    return jwt.decode(token, options={"verify_signature": False})


def _outstanding_tokens() -> list[str]:
    return list(OutstandingToken.objects.values_list("token", flat=True))


@pytest.mark.django_db
def test_outstanding_table_holds_digests_of_refresh_tokens_never_the_tokens(api_client, tenant_a):
    signed_in = api_client.post(TOKEN, {"username": "member-a", "password": PASSWORD}, format="json").json()
    rotated = api_client.post(REFRESH, {"refresh": signed_in["refresh"]}, format="json").json()
    other = tokens.token_pair(tenant_a.memberships[Role.MEMBER])
    assert api_client.post(LOGOUT, {"refresh": other["refresh"]}, format="json").status_code == 204
    issued = [signed_in["refresh"], rotated["refresh"], other["refresh"]]

    stored = _outstanding_tokens()

    assert sorted(stored) == sorted(tokens.token_digest(token) for token in issued)
    for token in issued:
        signature = token.rsplit(".", 1)[1]
        assert not any(signature in value or token in value for value in stored)
    # Blacklisting still finds the rows: by jti.
    assert BlacklistedToken.objects.filter(token__jti=claims(signed_in["refresh"])["jti"]).exists()
    assert BlacklistedToken.objects.filter(token__jti=claims(other["refresh"])["jti"]).exists()
    assert api_client.post(REFRESH, {"refresh": rotated["refresh"]}, format="json").status_code == 200


@pytest.mark.django_db
def test_a_refresh_token_with_no_outstanding_row_is_blacklisted_by_its_digest(api_client, tenant_a):
    pair = tokens.token_pair(tenant_a.memberships[Role.MEMBER])
    # As a token issued before the table kept it, or after flushexpiredtokens ran early.
    OutstandingToken.objects.all().delete()

    assert api_client.post(LOGOUT, {"refresh": pair["refresh"]}, format="json").status_code == 204

    row = OutstandingToken.objects.get()
    assert row.token == tokens.token_digest(pair["refresh"])
    assert row.user_id == tenant_a.users[Role.MEMBER].pk
    assert api_client.post(REFRESH, {"refresh": pair["refresh"]}, format="json").status_code == 401


@pytest.mark.django_db
def test_simplejwt_blacklist_and_outstand_store_the_digest(tenant_a):
    refresh = tokens.OrganizationRefreshToken(tokens.token_pair(tenant_a.memberships[Role.VIEWER])["refresh"])
    OutstandingToken.objects.all().delete()

    refresh.blacklist()

    assert _outstanding_tokens() == [tokens.token_digest(str(refresh))]
    with pytest.raises(TokenError):
        refresh.check_blacklist()


@pytest.mark.django_db
def test_migration_replaces_stored_refresh_tokens_by_their_digest(tenant_a):
    whole = tokens.token_pair(tenant_a.memberships[Role.VIEWER])["refresh"]
    already = tokens.token_digest("an earlier token")
    OutstandingToken.objects.update(token=whole)
    OutstandingToken.objects.create(jti="hashed-before", token=already, expires_at=timezone.now())
    migration = importlib.import_module("taskhub.accounts.migrations.0007_outstanding_tokens_hashed")

    # What RunPython's function uses of the schema editor (SQLite's refuses to open in a test transaction).
    editor = SimpleNamespace(connection=connection, quote_name=connection.ops.quote_name)

    migration.hash_outstanding_tokens(django_apps, editor)
    # Twice: a digest is never hashed again.
    migration.hash_outstanding_tokens(django_apps, editor)

    assert sorted(_outstanding_tokens()) == sorted([tokens.token_digest(whole), already])
