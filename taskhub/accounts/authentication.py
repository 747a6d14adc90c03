"""DRF authentication: ``Bearer <access token>`` and ``Api-Key <key>``.

Both end in a ``TenantContext`` on ``request.auth``. Neither reads the database on the hot
path: token versions and keys come from the cache, which writes keep current, with the
database as the fallback (docs/authentication.md).

``access_token_context`` also serves the services (token verification), so it refuses with the
domain's ``Unauthenticated``; the authentication class turns that into DRF's
``AuthenticationFailed``, the one exception DRF's request records a failed authentication by.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from django.core.cache import cache
from django.core.signals import setting_changed
from django.dispatch import receiver
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request
from rest_framework_simplejwt.exceptions import TokenError

from taskhub.accounts import api_keys
from taskhub.accounts.tokens import OrganizationAccessToken
from taskhub.core.errors import Unauthenticated
from taskhub.organizations.selectors import membership_token_version, token_version_cache_key
from taskhub.tenancy.context import Principal, TenantContext
from taskhub.tenancy.roles import API_KEY_ROLES, Role

logger = logging.getLogger(__name__)


def _invalid_token() -> Unauthenticated:
    return Unauthenticated("Token is invalid, expired or revoked.", code="token_not_valid")


def denied_token_cache_key(jti: str) -> str:
    return f"jwt:denied:{jti}"


def _credential(request: Request, scheme: bytes) -> str | None:
    parts = get_authorization_header(request).split()
    if not parts or parts[0].lower() != scheme:
        return None
    if len(parts) != 2:
        raise exceptions.AuthenticationFailed("Malformed Authorization header.", code="authentication_failed")
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError as exc:
        raise exceptions.AuthenticationFailed("Malformed Authorization header.", code="authentication_failed") from exc


def access_token_context(raw: str) -> TenantContext:
    """Validate an access token, revocation included, and return what it grants; else ``Unauthenticated``."""
    context = _decoded(raw)
    assert context.pending is not None
    try:
        values = cache.get_many(list(context.pending.reads))
    except Exception:
        logger.warning("cache unavailable: token version read from the database", exc_info=True)
        return context.pending.settle(context, None)
    return context.pending.settle(context, [values.get(key) for key in context.pending.reads])


@dataclass(frozen=True)
class _RevocationCheck:
    """An access token's revocation, checked from the cache: its membership's version and the denylist."""

    version: int
    reads: tuple[str, ...]

    def settle(self, context: TenantContext, values: list[Any] | None) -> TenantContext:
        current, denied = values if values is not None else (None, None)
        if denied is not None:
            raise _invalid_token()
        if current is None:
            assert context.user_id is not None
            current = membership_token_version(organization_id=context.organization_id, user_id=context.user_id)
        if current != self.version:
            raise _invalid_token()
        return replace(context, pending=None)


# Access tokens this process has verified (signature, issuer, audience, claims), by their text.
# Verifying is most of what a token costs a request, and a client sends the same token again and
# again. What is kept is only what the signature proved: expiry is checked on every use, and
# revocation (membership version, denylist) is read for every request as before, so a revoked
# token is refused at once (test_verified_token_cache.py). Keys change with a restart (or a
# settings change, in tests: emptied then). Bounded: emptied when full.
_VERIFIED: dict[str, TenantContext] = {}
VERIFIED_TOKENS_KEPT = 10_000


@receiver(setting_changed)
def _forget_verified_tokens(**kwargs: Any) -> None:
    _VERIFIED.clear()


def _decoded(raw: str) -> TenantContext:
    """The context an access token claims, its revocation still to check (``pending``); else ``Unauthenticated``."""
    known = _VERIFIED.get(raw)
    if known is not None:
        if known.token_exp is not None and time.time() < known.token_exp:
            return known
        _VERIFIED.pop(raw, None)
    context = _verified(raw)
    if len(_VERIFIED) >= VERIFIED_TOKENS_KEPT:
        _VERIFIED.clear()
    _VERIFIED[raw] = context
    return context


def _verified(raw: str) -> TenantContext:
    try:
        token = OrganizationAccessToken(raw)  # type: ignore[arg-type]
        organization_id = UUID(str(token["org"]))
        user_id = UUID(str(token["sub"]))
        role = Role(token["role"])
        version = token["mv"]
        jti = str(token["jti"])
    except (TokenError, KeyError, ValueError, TypeError) as exc:
        raise _invalid_token() from exc
    if not isinstance(version, int) or isinstance(version, bool):
        raise _invalid_token()

    reads = (
        token_version_cache_key(organization_id=organization_id, user_id=user_id),
        denied_token_cache_key(jti),
    )
    return TenantContext(
        organization_id=organization_id,
        role=role,
        user_id=user_id,
        token_jti=jti,
        token_exp=int(token["exp"]),
        pending=_RevocationCheck(version=version, reads=reads),
    )


class JWTAuthentication(BaseAuthentication):
    """``Authorization: Bearer <access token>``, bound to the organization in its ``org`` claim."""

    def authenticate(self, request: Request) -> tuple[Principal, TenantContext] | None:
        raw = _credential(request, b"bearer")
        if raw is None:
            return None
        view = (getattr(request, "parser_context", None) or {}).get("view")
        try:
            # A view that settles credentials (TenantAPIView) checks revocation in its one cache
            # round trip, with the throttles; any other view gets the context checked here.
            context = _decoded(raw) if getattr(view, "settles_credentials", False) else access_token_context(raw)
        except Unauthenticated as exc:
            raise exceptions.AuthenticationFailed(exc.detail, code=exc.code) from exc
        return Principal(user_id=context.user_id), context

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Api-Key <key>``, acting in the key's organization with the key's role."""

    def authenticate(self, request: Request) -> tuple[Principal, TenantContext] | None:
        raw = _credential(request, b"api-key")
        if raw is None:
            return None
        record = api_keys.key_record(raw)
        if record is None or record.role not in API_KEY_ROLES:
            raise exceptions.AuthenticationFailed("API key is invalid or revoked.", code="api_key_not_valid")
        api_keys.mark_used(record)
        api_key_id = UUID(record.id)
        context = TenantContext(
            organization_id=UUID(record.organization_id),
            role=Role(record.role),
            api_key_id=api_key_id,
            label=f"api-key:{record.name}",
        )
        return Principal(user_id=None, api_key_id=api_key_id), context

    def authenticate_header(self, request: Request) -> str:
        return 'Api-Key realm="api"'
