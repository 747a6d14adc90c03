"""Access and refresh tokens bound to one organization.

SimpleJWT builds, signs and blacklists the tokens. On top of it: every token carries
``org`` (the organization), ``role`` and ``mv`` (the membership's token version, see
docs/authentication.md), and with RS256 a ``kid`` naming the key that signed it, so a new
key pair can be published next to the old one without logging anyone out.

SimpleJWT's outstanding-token table would keep every refresh token whole, so a database dump
(or a backup) would hand out live sessions. Here it keeps the token's ``jti`` (which is all
blacklisting looks up) and the SHA-256 of the token instead: enough to tell whether a token
somebody holds is one of ours, never enough to use it.
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
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from rest_framework_simplejwt import settings as jwt_settings
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken, Token
from rest_framework_simplejwt.utils import datetime_from_epoch

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


def token_digest(token: str) -> str:
    """What the outstanding-token table keeps of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


class OrganizationRefreshToken(RefreshToken):
    """A refresh token whose outstanding row holds its digest, never the token itself.

    SimpleJWT writes ``str(token)`` into ``OutstandingToken.token`` in ``for_user``,
    ``outstand`` and ``blacklist``; all three are replaced here. Nothing reads that column back:
    blacklisting and ``check_blacklist`` go by ``jti``.
    """

    _token_backend = token_backend
    access_token_class = OrganizationAccessToken

    @classmethod
    def for_user(cls, user: Any) -> OrganizationRefreshToken:
        # Token.for_user, past BlacklistMixin's, which stores the whole token (and before the
        # ``org`` claim is set, so not even the token handed out): token_pair outstands it.
        token: OrganizationRefreshToken = Token.for_user.__func__(cls, user)  # type: ignore[attr-defined]
        return token

    def outstanding_fields(self, user: Any | None) -> dict[str, Any]:
        """The outstanding row's fields besides ``jti``: the digest, the user, when issued and until when."""
        return {
            "token": token_digest(str(self)),
            "user": user,
            "created_at": datetime_from_epoch(self["iat"]),
            "expires_at": datetime_from_epoch(self["exp"]),
        }

    def outstand(self) -> OutstandingToken:
        """The token's outstanding row, created if missing (a token issued before the table kept it)."""
        row = OutstandingToken.objects.filter(jti=self["jti"]).first()
        if row is None:
            # Looked up, not assumed: the user may have deleted their account since.
            user = get_user_model().objects.filter(pk=self.get("sub")).first()
            row, _ = OutstandingToken.objects.get_or_create(jti=self["jti"], defaults=self.outstanding_fields(user))
        return row

    def blacklist(self) -> BlacklistedToken:
        blacklisted, _ = BlacklistedToken.objects.get_or_create(token=self.outstand())
        return blacklisted


def token_pair(membership: Membership) -> dict[str, str]:
    """Issue a refresh token and an access token for ``membership``'s user in its organization."""
    refresh = OrganizationRefreshToken.for_user(membership.user)
    refresh["org"] = str(membership.organization_id)
    # Outstanding once every claim is in, so the digest kept is that of the token handed out.
    OutstandingToken.objects.create(jti=refresh["jti"], **refresh.outstanding_fields(membership.user))
    # Role and version go on the access token only: a refresh issues a new access token
    # under the current role and version, so a role change does not log anyone out.
    access = refresh.access_token
    access["role"] = membership.role
    access["mv"] = membership.token_version
    return {"access": str(access), "refresh": str(refresh)}
