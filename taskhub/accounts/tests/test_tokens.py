"""RS256 signing with a published key ring, and rotation without logging anyone out."""

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from rest_framework_simplejwt import settings as jwt_settings

from taskhub.accounts import tokens
from taskhub.accounts.tokens import KeyRingTokenBackend, OrganizationAccessToken, OrganizationRefreshToken
from taskhub.organizations.roles import Role


def key_pair() -> tuple[str, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


@pytest.fixture
def use_rs256(settings, monkeypatch):
    """Switch signing to RS256 with a given key pair (and extra public keys) for one test."""

    def switch(private_pem: str, public_pem: str, extra: str = "") -> KeyRingTokenBackend:
        settings.SIMPLE_JWT = {
            **settings.SIMPLE_JWT,
            "ALGORITHM": "RS256",
            "SIGNING_KEY": private_pem,
            "VERIFYING_KEY": public_pem,
        }
        settings.JWT_EXTRA_PUBLIC_KEYS = extra
        assert jwt_settings.api_settings.ALGORITHM == "RS256"
        backend = KeyRingTokenBackend()
        monkeypatch.setattr(tokens, "token_backend", backend)
        monkeypatch.setattr(OrganizationAccessToken, "_token_backend", backend)
        monkeypatch.setattr(OrganizationRefreshToken, "_token_backend", backend)
        return backend

    return switch


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


@pytest.mark.django_db
def test_rs256_refuses_unknown_kid_and_hs256_signed_with_the_public_key(use_rs256, api_client, tenant_a):
    private_pem, public_pem = key_pair()
    use_rs256(private_pem, public_pem)
    access = tokens.token_pair(tenant_a.memberships[Role.VIEWER])["access"]
    claims = jwt.decode(access, options={"verify_signature": False})

    other_private, _ = key_pair()
    unknown_kid = jwt.encode(claims, other_private, algorithm="RS256", headers={"kid": "not-ours"})
    # HS256 keyed with the public PEM: the classic algorithm-confusion forgery.
    confused = jwt.api_jws.PyJWS()
    confused._algorithms["HS256"].prepare_key = lambda key: key
    forged = confused.encode(
        jwt.api_jwt.PyJWT()._encode_payload(claims),
        public_pem.encode(),
        algorithm="HS256",
        headers={"kid": jwt.get_unverified_header(access)["kid"]},
    )
    no_alg = jwt.encode(claims, None, algorithm="none")
    for token in (unknown_kid, forged, no_alg):
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        assert api_client.get("/api/v1/auth/me/").status_code == 401


def test_hs256_publishes_no_keys(client):
    assert client.get("/.well-known/jwks.json").json() == {"keys": []}
