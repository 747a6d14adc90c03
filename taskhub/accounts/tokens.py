"""Access and refresh tokens bound to one organization.

SimpleJWT builds, signs and blacklists the tokens. On top of it: every token carries
``org`` (the organization), ``role`` and ``mv`` (the membership's token version, see
docs/authentication.md), and with RS256 a ``kid`` naming the key that signed it, so a new
key pair can be published next to the old one without logging anyone out.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cached_property
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from rest_framework_simplejwt import settings as jwt_settings
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from taskhub.organizations.models import Membership


def _split_pems(text: str) -> list[str]:
    marker = "-----END PUBLIC KEY-----"
    return [chunk.strip() + "\n" + marker + "\n" for chunk in text.split(marker) if chunk.strip()]


def _public_jwk(pem: str) -> dict[str, Any]:
    public_key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(public_key, RSAPublicKey):
        raise ImproperlyConfigured("JWT public keys must be RSA keys in PEM format.")
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public_key))
    # RFC 7638 thumbprint: stable for the key, so every process derives the same kid.
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


class KeyRingTokenBackend(TokenBackend):
    """SimpleJWT's backend with a ``kid`` header and several verifying keys under RS256."""

    def __init__(self) -> None:
        # Read at construction: SimpleJWT rebinds api_settings when settings change.
        api_settings = jwt_settings.api_settings
        super().__init__(
            api_settings.ALGORITHM,
            api_settings.SIGNING_KEY,
            api_settings.VERIFYING_KEY,
            api_settings.AUDIENCE,
            api_settings.ISSUER,
            None,
            api_settings.LEEWAY,
        )

    @cached_property
    def public_jwks(self) -> list[dict[str, Any]]:
        """The public keys tokens may be signed with, the signing key first."""
        if not self.algorithm.startswith("RS"):
            return []
        pems = _split_pems(self.verifying_key) + _split_pems(getattr(settings, "JWT_EXTRA_PUBLIC_KEYS", ""))
        return [_public_jwk(pem) for pem in pems]

    @cached_property
    def _keys_by_kid(self) -> dict[str, Any]:
        return {jwk["kid"]: jwt.PyJWK(jwk).key for jwk in self.public_jwks}

    def get_verifying_key(self, token: Any) -> Any:
        if self.algorithm.startswith("HS"):
            return self.prepared_signing_key
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError as exc:
            raise TokenBackendError("Token is invalid") from exc
        key = self._keys_by_kid.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise TokenBackendError("Token is invalid")
        return key

    def encode(self, payload: dict[str, Any]) -> str:
        claims = payload.copy()
        claims["aud"] = self.audience
        claims["iss"] = self.issuer
        headers = {"kid": self.public_jwks[0]["kid"]} if self.public_jwks else None
        return jwt.encode(claims, self.prepared_signing_key, algorithm=self.algorithm, headers=headers)


token_backend = KeyRingTokenBackend()


class OrganizationAccessToken(AccessToken):
    _token_backend = token_backend


class OrganizationRefreshToken(RefreshToken):
    _token_backend = token_backend
    access_token_class = OrganizationAccessToken


def token_pair(membership: Membership) -> dict[str, str]:
    """Issue a refresh token and an access token for ``membership``'s user in its organization."""
    refresh = OrganizationRefreshToken.for_user(membership.user)
    refresh["org"] = str(membership.organization_id)
    # Role and version go on the access token only: a refresh issues a new access token
    # under the current role and version, so a role change does not log anyone out.
    access = refresh.access_token
    access["role"] = membership.role
    access["mv"] = membership.token_version
    return {"access": str(access), "refresh": str(refresh)}
