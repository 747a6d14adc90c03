"""Forged, misdirected and revoked tokens (RFC 8725): each one is a 401 with no data.

The one home of forgery cases. ``FORGERIES`` are presented as access tokens, under HS256 and
RS256 signing (where the case applies), to every endpoint in ``ENDPOINTS``;
``REFRESH_FORGERIES`` are presented where a refresh token is taken. ``forgery_counts()``
gives the figures quoted in docs/security.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from conftest import Tenant
from taskhub.accounts.authentication import access_token_context
from taskhub.accounts.services.auth import logout, user_deactivate
from taskhub.accounts.tokens import token_pair
from taskhub.core.actor import Actor
from taskhub.organizations.models import Membership, Organization
from taskhub.organizations.services.organizations import membership_remove
from taskhub.projects.models import Project
from taskhub.tenancy.roles import Role
from tests.support.keys import shared_key_pair

ALGORITHMS = ("HS256", "RS256")
ATTACKER_HOST = "attacker.example"
ME = "/api/v1/auth/me/"
REFRESH = "/api/v1/auth/token/refresh/"
VERIFY = "/api/v1/auth/token/verify/"
LOGOUT = "/api/v1/auth/logout/"

# (method, path, body): every forged access token is tried on each. "verify" takes the token in the body.
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("get", ME, None),
    ("get", "/api/v1/organization/", None),
    ("get", "/api/v1/members/", None),
    ("get", "/api/v1/projects/", None),
    ("get", "/api/v1/tasks/", None),
    ("post", "/api/v1/projects/", {"key": "FORGED", "name": "Made with a forged token"}),
    ("post", VERIFY, None),
]


def b64(data: bytes | dict[str, Any]) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def compact(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """Serialize a JWS by hand, so nothing refuses to build what an attacker would send."""
    return f"{b64(header)}.{b64(claims)}.{b64(signature)}"


def hmac_signed(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    signing_input = f"{b64(header)}.{b64(claims)}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def decoded(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def with_payload_of(token: str, claims: dict[str, Any]) -> str:
    """Swap ``token``'s payload for ``claims`` and keep its header and signature."""
    head, _, signature = token.split(".")
    return f"{head}.{b64(claims)}.{signature}"


@dataclass
class Scene:
    """A real member of organization A, their genuine tokens, and the server's signing setup."""

    algorithm: str
    signing_key: str
    public_pem: str
    tenant_a: Tenant
    tenant_b: Tenant
    membership: Membership
    access: str
    refresh: str

    @property
    def claims(self) -> dict[str, Any]:
        return decoded(self.access)

    @property
    def kid(self) -> str | None:
        return jwt.get_unverified_header(self.access).get("kid")

    def signed(self, claims: dict[str, Any], algorithm: str | None = None, **headers: Any) -> str:
        """Sign ``claims`` with the server's own key: only the claims are wrong."""
        header = {"kid": self.kid} if self.kid else {}
        return jwt.encode(claims, self.signing_key, algorithm=algorithm or self.algorithm, headers=header | headers)

    def resigned(self, **changes: Any) -> str:
        """The genuine claims with ``changes`` (None deletes a claim), signed with the server's key."""
        claims = self.claims | changes
        return self.signed({name: value for name, value in claims.items() if value is not None})

    def tampered(self, **changes: Any) -> str:
        """The genuine claims with ``changes``, under the genuine header and signature."""
        return with_payload_of(self.access, self.claims | changes)


def attacker_rsa(scene: Scene, **headers: Any) -> str:
    """RS256-signed with a key the server never saw, plus ``headers`` pointing at that key."""
    private, _ = shared_key_pair("attacker")
    return jwt.encode(scene.claims, private, algorithm="RS256", headers=headers)


def attacker_jwk() -> dict[str, Any]:
    _, public = shared_key_pair("attacker")
    key = serialization.load_pem_public_key(public.encode())
    assert isinstance(key, RSAPublicKey)
    return jwt.algorithms.RSAAlgorithm.to_jwk(key, as_dict=True)


def alg_none(variant: str, *, keep_signature: bool = False) -> Callable[[Scene], str]:
    def build(scene: Scene) -> str:
        header = {"alg": variant, "typ": "JWT"} | ({"kid": scene.kid} if scene.kid else {})
        token = compact(header, scene.claims)
        return token + scene.access.rsplit(".", 1)[1] if keep_signature else token

    return build


def signature_of_another_token(scene: Scene) -> str:
    other = token_pair(scene.tenant_a.memberships[Role.VIEWER])["access"]
    head, payload, _ = scene.access.split(".")
    return f"{head}.{payload}.{other.rsplit('.', 1)[1]}"


def hs256_keyed_with_public_key(scene: Scene) -> str:
    # Key confusion: a verifier that takes "alg" from the header would HMAC with the public PEM.
    header = {"alg": "HS256", "typ": "JWT", "kid": scene.kid}
    return hmac_signed(header, scene.claims, scene.public_pem.encode())


def wrong_hmac_key(scene: Scene) -> str:
    return hmac_signed({"alg": "HS256", "typ": "JWT"}, scene.claims, secrets.token_bytes(32))


def other_algorithm_same_key(scene: Scene) -> str:
    return scene.signed(scene.claims, algorithm="HS512" if scene.algorithm == "HS256" else "RS512")


def org_swapped_to_the_users_other_organization(scene: Scene) -> str:
    other = Organization.objects.create(name="Org C", slug="org-c")
    Membership.objects.create(organization=other, user=scene.membership.user, role=Role.OWNER)
    return scene.tampered(org=str(other.pk), role="owner")


def removed_member(scene: Scene) -> str:
    access_token_context(scene.access)  # a warm cache must not keep the token alive
    owner = scene.tenant_a.owner
    membership_remove(
        organization_id=scene.membership.organization_id,
        membership_id=scene.membership.pk,
        actor=Actor(user_id=owner.pk, label=owner.username),
        actor_role=Role.OWNER,
    )
    return scene.access


def deactivated_user(scene: Scene) -> str:
    access_token_context(scene.access)
    user_deactivate(user_id=scene.membership.user_id)
    return scene.access


def deactivated_user_behind_the_services_back(scene: Scene) -> str:
    # Unticked in the database directly: the next request that misses the cache refuses it.
    type(scene.membership.user).objects.filter(pk=scene.membership.user_id).update(is_active=False)
    return scene.access


def now() -> int:
    return int(time.time())


@dataclass(frozen=True)
class Forgery:
    name: str
    build: Callable[[Scene], str]
    algorithms: tuple[str, ...] = ALGORITHMS
    # A genuine token, or one signed with our key, that auth/token/verify/ accepts by design
    # (verify takes access and refresh tokens alike).
    verifies: bool = False


FORGERIES: list[Forgery] = [
    # The signature and its algorithm (RFC 8725 §2.1, §3.1, §3.2).
    Forgery("alg none", alg_none("none")),
    Forgery("alg None", alg_none("None")),
    Forgery("alg NONE", alg_none("NONE")),
    Forgery("alg nOnE", alg_none("nOnE")),
    Forgery("alg none keeping the real signature", alg_none("none", keep_signature=True)),
    Forgery("signature removed", lambda s: s.access.rsplit(".", 1)[0] + "."),
    Forgery("signature truncated", lambda s: s.access[:-4] + ("AAAA" if not s.access.endswith("AAAA") else "BBBB")),
    Forgery("signature of another genuine token", signature_of_another_token),
    Forgery("HS256 keyed with the RS256 public key", hs256_keyed_with_public_key, algorithms=("RS256",)),
    Forgery("HS256 with a wrong secret", wrong_hmac_key),
    Forgery("RS256 with a wrong key and the real kid", lambda s: attacker_rsa(s, kid=s.kid or "k")),
    Forgery("another algorithm with the real key", other_algorithm_same_key),
    # A payload changed under the genuine signature.
    Forgery("tampered role", lambda s: s.tampered(role="owner")),
    Forgery(
        "tampered org (an organization the user is not in)", lambda s: s.tampered(org=str(s.tenant_b.organization.pk))
    ),
    Forgery("tampered org (the user's other organization)", org_swapped_to_the_users_other_organization),
    Forgery("tampered sub", lambda s: s.tampered(sub=str(s.tenant_a.owner.pk))),
    Forgery("tampered exp", lambda s: s.tampered(exp=s.claims["exp"] + 86400)),
    # Validly signed (as with a leaked key) but the claims are wrong (RFC 8725 §3.8-3.10).
    Forgery("expired", lambda s: s.resigned(iat=now() - 3600, exp=now() - 1)),
    Forgery("not valid before (nbf in the future)", lambda s: s.resigned(nbf=now() + 300)),
    Forgery("issued in the future (iat)", lambda s: s.resigned(iat=now() + 300)),
    Forgery("wrong iss", lambda s: s.resigned(iss="someone-else")),
    Forgery("missing iss", lambda s: s.resigned(iss=None)),
    Forgery("wrong aud", lambda s: s.resigned(aud="someone-else")),
    Forgery("missing aud", lambda s: s.resigned(aud=None)),
    Forgery("missing exp", lambda s: s.resigned(exp=None)),
    Forgery("missing org", lambda s: s.resigned(org=None)),
    Forgery("org of an organization the user is not in", lambda s: s.resigned(org=str(s.tenant_b.organization.pk))),
    Forgery("org that does not exist", lambda s: s.resigned(org=str(uuid.uuid4()))),
    Forgery("org given as a slug", lambda s: s.resigned(org=s.tenant_a.organization.slug)),
    Forgery("sub that does not exist", lambda s: s.resigned(sub=str(uuid.uuid4()))),
    Forgery("missing sub", lambda s: s.resigned(sub=None)),
    Forgery("stale membership version", lambda s: s.resigned(mv=s.claims["mv"] + 1)),
    Forgery("membership version as a boolean", lambda s: s.resigned(mv=True)),
    Forgery("missing membership version", lambda s: s.resigned(mv=None)),
    Forgery("unknown role", lambda s: s.resigned(role="superuser")),
    Forgery("missing jti", lambda s: s.resigned(jti=None)),
    Forgery("missing token_type", lambda s: s.resigned(token_type=None)),
    Forgery("token_type refresh", lambda s: s.resigned(token_type="refresh"), verifies=True),
    # Headers that point at keys (RFC 8725 §3.10): none may choose the verifying key.
    Forgery("unknown kid", lambda s: attacker_rsa(s, kid="not-ours")),
    Forgery(
        "kid path traversal to /dev/null, HS256 with an empty key",
        lambda s: hmac_signed({"alg": "HS256", "typ": "JWT", "kid": "../../../../../../dev/null"}, s.claims, b""),
    ),
    Forgery(
        "kid with SQL, HS256 with the selected value",
        lambda s: hmac_signed({"alg": "HS256", "typ": "JWT", "kid": "x' UNION SELECT 'key' -- "}, s.claims, b"key"),
    ),
    Forgery(
        "jku pointing at the attacker's key set", lambda s: attacker_rsa(s, jku=f"https://{ATTACKER_HOST}/jwks.json")
    ),
    Forgery(
        "x5u pointing at the attacker's certificate", lambda s: attacker_rsa(s, x5u=f"https://{ATTACKER_HOST}/c.pem")
    ),
    Forgery("jwk embedding the attacker's public key", lambda s: attacker_rsa(s, jwk=attacker_jwk())),
    # Genuine tokens that must no longer, or never, act as access tokens.
    Forgery("refresh token as an access token", lambda s: s.refresh, verifies=True),
    Forgery("access token of a removed member", removed_member),
    Forgery("access token of a deactivated user", deactivated_user),
    Forgery("access token of a user deactivated in the database", deactivated_user_behind_the_services_back),
]


def blacklisted_refresh(scene: Scene) -> str:
    logout(refresh=scene.refresh, everywhere=False, context=None)
    return scene.refresh


def removed_member_refresh(scene: Scene) -> str:
    removed_member(scene)
    return scene.refresh


def deactivated_user_refresh(scene: Scene) -> str:
    deactivated_user(scene)
    return scene.refresh


def refresh_resigned(**changes: Any) -> Callable[[Scene], str]:
    def build(scene: Scene) -> str:
        claims = decoded(scene.refresh) | changes
        return scene.signed({name: value for name, value in claims.items() if value is not None})

    return build


REFRESH_FORGERIES: list[Forgery] = [
    Forgery("access token at the refresh endpoint", lambda s: s.access, verifies=True),
    Forgery("blacklisted refresh token (logged out)", blacklisted_refresh),
    Forgery("refresh token of a removed member", removed_member_refresh),
    Forgery("refresh token of a deactivated user", deactivated_user_refresh),
    Forgery("refresh token with alg none", lambda s: compact({"alg": "none"}, decoded(s.refresh))),
    Forgery(
        "refresh token with a tampered org",
        lambda s: with_payload_of(s.refresh, decoded(s.refresh) | {"org": str(s.tenant_b.organization.pk)}),
    ),
    Forgery(
        "refresh token for an organization the user is not in",
        lambda s: refresh_resigned(org=str(s.tenant_b.organization.pk))(s),
    ),
    Forgery("expired refresh token", refresh_resigned(iat=now() - 3600, exp=now() - 1)),
    Forgery("refresh token with a wrong aud", refresh_resigned(aud="someone-else")),
]


def cases(forgeries: list[Forgery]) -> list[Any]:
    return [
        pytest.param(forgery, algorithm, id=f"{forgery.name}-{algorithm}")
        for forgery in forgeries
        for algorithm in forgery.algorithms
    ]


def forgery_counts() -> dict[str, int]:
    access_runs = sum(len(f.algorithms) for f in FORGERIES)
    refresh_runs = sum(len(f.algorithms) for f in REFRESH_FORGERIES)
    return {
        "access cases": len(FORGERIES),
        "refresh cases": len(REFRESH_FORGERIES),
        "case x configuration runs": access_runs + refresh_runs,
        "requests": sum(len(endpoints_for(f)) * len(f.algorithms) for f in FORGERIES)
        + sum((1 if f.verifies else 2) * len(f.algorithms) for f in REFRESH_FORGERIES),
    }


def endpoints_for(forgery: Forgery) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [endpoint for endpoint in ENDPOINTS if not (forgery.verifies and endpoint[1] == VERIFY)]


@pytest.fixture
def scene(request, use_signing, tenant_a, tenant_b) -> Scene:
    algorithm = request.param
    if algorithm == "RS256":
        signing_key, public_pem = shared_key_pair("server")
        use_signing("RS256", signing_key, public_pem)
    else:
        signing_key, public_pem = secrets.token_urlsafe(64), ""
        use_signing("HS256", signing_key)
    membership = tenant_a.memberships[Role.MEMBER]
    pair = token_pair(membership)
    return Scene(
        algorithm=algorithm,
        signing_key=signing_key,
        public_pem=public_pem,
        tenant_a=tenant_a,
        tenant_b=tenant_b,
        membership=membership,
        access=pair["access"],
        refresh=pair["refresh"],
    )


@pytest.fixture(autouse=True)
def _no_key_is_fetched(monkeypatch):
    """Fail if anything resolves the attacker's host: jku and x5u must never be followed."""
    resolve = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        assert ATTACKER_HOST not in str(host), "a key URL from a token header was fetched"
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


def send(api_client: Any, method: str, path: str, body: dict[str, Any] | None, token: str) -> Any:
    if path == VERIFY:
        api_client.credentials()
        return api_client.post(path, {"token": token}, format="json")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    if method == "get":
        return api_client.get(path)
    return api_client.post(path, body, format="json")


def assert_refused(response: Any, scene: Scene, where: str) -> None:
    assert response.status_code == 401, (where, response.status_code, response.content[:300])
    assert response["Content-Type"] == "application/json", where
    body = response.json()
    assert set(body) == {"detail", "code"}, (where, body)
    assert body["code"] in {"token_not_valid", "authentication_failed"}, (where, body)
    text = response.content.decode()
    for secret_value in (
        str(scene.tenant_a.organization.pk),
        str(scene.membership.user_id),
        scene.tenant_a.owner.username,
    ):
        assert secret_value not in text, where


@pytest.mark.django_db
@pytest.mark.parametrize("scene", ALGORITHMS, indirect=True)
def test_the_genuine_tokens_pass_every_endpoint(scene, api_client):
    # Without this, the 401s below could come from a broken setup rather than from the forgery.
    for method, path, body in ENDPOINTS:
        response = send(api_client, method, path, body and {**body, "key": "REAL"}, scene.access)
        assert response.status_code in (200, 201), (path, response.content[:300])
    api_client.credentials()
    assert api_client.post(REFRESH, {"refresh": scene.refresh}, format="json").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(("forgery", "scene"), cases(FORGERIES), indirect=["scene"])
def test_forged_access_token_is_refused_everywhere(forgery, scene, api_client):
    token = forgery.build(scene)
    projects_before = Project.objects.count()
    for method, path, body in endpoints_for(forgery):
        assert_refused(send(api_client, method, path, body, token), scene, f"{forgery.name} {method} {path}")
    assert Project.objects.count() == projects_before


@pytest.mark.django_db
@pytest.mark.parametrize(("forgery", "scene"), cases(REFRESH_FORGERIES), indirect=["scene"])
def test_forged_refresh_token_is_refused(forgery, scene, api_client):
    token = forgery.build(scene)
    for path in (REFRESH,) if forgery.verifies else (REFRESH, VERIFY):
        body = {"refresh": token} if path == REFRESH else {"token": token}
        assert_refused(api_client.post(path, body, format="json"), scene, f"{forgery.name} {path}")


def test_the_suite_tries_what_docs_security_md_says():
    counts = forgery_counts()
    assert counts["access cases"] == len({f.name for f in FORGERIES}), "case names must be unique"
    assert counts["access cases"] >= 45
    assert counts["refresh cases"] >= 9
