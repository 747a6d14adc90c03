import pytest
from rest_framework_simplejwt import settings as jwt_settings

from taskhub.accounts import tokens
from taskhub.accounts.tokens import KeyRingTokenBackend, OrganizationAccessToken, OrganizationRefreshToken


@pytest.fixture
def use_signing(settings, monkeypatch):
    """Switch token signing for one test: ``use_signing("RS256", private, public, extra)`` or ``("HS256", secret)``."""

    def switch(algorithm: str, signing_key: str, verifying_key: str = "", extra: str = "") -> KeyRingTokenBackend:
        settings.SIMPLE_JWT = {
            **settings.SIMPLE_JWT,
            "ALGORITHM": algorithm,
            "SIGNING_KEY": signing_key,
            "VERIFYING_KEY": verifying_key,
        }
        settings.JWT_EXTRA_PUBLIC_KEYS = extra
        assert algorithm == jwt_settings.api_settings.ALGORITHM
        backend = KeyRingTokenBackend()
        monkeypatch.setattr(tokens, "token_backend", backend)
        monkeypatch.setattr(OrganizationAccessToken, "_token_backend", backend)
        monkeypatch.setattr(OrganizationRefreshToken, "_token_backend", backend)
        return backend

    return switch


@pytest.fixture
def use_rs256(use_signing):
    """Switch signing to RS256 with a given key pair (and extra public keys) for one test."""

    def switch(private_pem: str, public_pem: str, extra: str = "") -> KeyRingTokenBackend:
        return use_signing("RS256", private_pem, public_pem, extra)

    return switch
