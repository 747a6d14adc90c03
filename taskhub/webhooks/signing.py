"""Webhook secrets: made, encrypted at rest, and used to sign deliveries per Standard Webhooks.

A secret is ``whsec_`` and the base64 of 32 random bytes (the Standard Webhooks format), shown
to the caller once. The database holds it encrypted with Fernet (AES-128-CBC and HMAC-SHA256)
under a key derived by HKDF-SHA256 from ``WEBHOOK_SECRET_KEY``, or from ``SECRET_KEY`` when
that is not set. Key rotation: put the new key in ``WEBHOOK_SECRET_KEY`` and the old one in
``WEBHOOK_SECRET_KEY_FALLBACKS``; both decrypt, the new one encrypts, and
``manage.py reencrypt_webhook_secrets`` rewrites every stored secret under the new key, after
which the fallback can go (docs/webhooks.md, "Secrets at rest").
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from standardwebhooks import Webhook as Signer

PREFIX = "whsec_"
SECRET_BYTES = 32
_INFO = b"taskhub webhook secrets v1"


class SecretUnreadable(Exception):
    """A stored secret that no configured key decrypts (the key changed without a fallback)."""


def new_secret() -> str:
    """Return a new signing secret, ``whsec_`` and the base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _fernet(key_material: str | bytes) -> Fernet:
    material = key_material.encode() if isinstance(key_material, str) else key_material
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(material)
    return Fernet(base64.urlsafe_b64encode(derived))


def _keys() -> MultiFernet:
    current = settings.WEBHOOK_SECRET_KEY or settings.SECRET_KEY
    fallbacks = settings.WEBHOOK_SECRET_KEY_FALLBACKS if settings.WEBHOOK_SECRET_KEY else settings.SECRET_KEY_FALLBACKS
    return MultiFernet([_fernet(current), *(_fernet(key) for key in fallbacks)])


def encrypt(secret: str) -> str:
    return _keys().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _keys().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable(
            "no configured key decrypts this webhook secret: WEBHOOK_SECRET_KEY (or SECRET_KEY) changed "
            "without the old one in WEBHOOK_SECRET_KEY_FALLBACKS (or SECRET_KEY_FALLBACKS)"
        ) from exc


def reencrypt(token: str) -> str:
    """Return ``token`` encrypted under the current key (it may have been made with a fallback)."""
    try:
        return _keys().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("no configured key decrypts this webhook secret") from exc


def signature_header(*, secrets_in_use: list[str], message_id: str, timestamp: datetime, body: str) -> str:
    """The ``webhook-signature`` value: one ``v1,<base64>`` per secret, space-separated."""
    return " ".join(Signer(secret).sign(message_id, timestamp, body) for secret in secrets_in_use)
