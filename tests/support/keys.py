"""RSA key pairs and a switch to RS256 signing for tests that need a key ring."""

from __future__ import annotations

from functools import cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def key_pair() -> tuple[str, str]:
    """Return a fresh RSA private key and its public key, both PEM."""
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


@cache
def shared_key_pair(name: str) -> tuple[str, str]:
    """Return a key pair generated once per test run for ``name``: generating one takes ~50 ms."""
    return key_pair()
