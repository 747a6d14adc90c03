"""What never enters the audit log: secrets, by the name of the field that holds them and by their look.

``audit_record`` applies ``redact`` to everything a caller passes (the changes, the labels), so
no caller has to remember to. Two rules:

- **by name**: a value under a key that names a secret (``password``, ``new_password``,
  ``token``, ``refresh_token``, ``secret``, ``webhook_secret``, ``authorization``, ``cookie``,
  ``signature``, ``credentials``, ``api_key``, ``signing_key`` or any ``*_key``, ``key_hash``,
  ``token_hash``, ...; case, ``-`` and spaces do not matter) becomes ``"[redacted]"``, at any
  depth; ``None`` stays ``None``, so an event still tells "set" from "cleared", and so does a
  UUID (the id of a row, such as the API key that wrote a comment: no secret here is a UUID). A
  bare ``key`` is not a secret here: it is a project's short code (``ABC``). Names that only
  mention a secret (``token_version``, ``previous_secret_expires_at``) are kept.
- **by look**, in every string, whatever its key: an API key (``th_<prefix>_<secret>``) keeps
  its public prefix only, a webhook secret (``whsec_...``), a JSON Web Token, the credential
  after ``Bearer``/``Api-Key``, the password in a URL (``https://user:pass@host``) and the
  value of a URL's ``token``/``secret``/``key``/``password``/``signature`` parameter become
  ``[redacted]``.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[redacted]"

_SECRET_NAME = re.compile(
    r"^(?:.*_)?(?:password|passwd|passphrase|secret|token|authorization|cookie|set_cookie|signature|"
    r"credentials?|otp|apikey|[a-z0-9]+_key|key_hash|token_hash|password_hash|secret_hash|private)$"
)

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # An API key: mark, 12 hex digits of public prefix, the secret (taskhub.accounts.api_keys).
    (re.compile(r"\b([a-z]{2,8}_[0-9a-f]{12}_)[A-Za-z0-9_-]{16,}"), rf"\g<1>{REDACTED}"),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]+"), f"whsec_{REDACTED}"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(r"\b(Bearer|Api-Key|Basic|Token)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE), rf"\g<1> {REDACTED}"),
    (re.compile(r"([a-z][a-z0-9+.-]*://)[^/@\s:]+:[^/@\s]+@", re.IGNORECASE), rf"\g<1>{REDACTED}@"),
    (
        re.compile(
            r"([?&](?:[a-z0-9-]*[_-])?(?:token|secret|password|passwd|signature|sig|key|apikey|auth)=)[^&#\s]+",
            re.IGNORECASE,
        ),
        rf"\g<1>{REDACTED}",
    ),
]


def secret_name(name: str) -> bool:
    """Whether a field called ``name`` holds a secret (see the module doc)."""
    normalized = re.sub(r"[\s-]+", "_", name.strip().lower())
    return bool(_SECRET_NAME.match(normalized))


def redact_text(text: str) -> str:
    """``text`` with every secret-looking part replaced."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.IGNORECASE)


def _hide(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return [_hide(item) for item in value]
    if isinstance(value, str) and _UUID.match(value):
        return value  # an id (a comment's ``api_key``: the key that wrote it), never a secret here
    return REDACTED


def redact(value: Any) -> Any:
    """``value`` (JSON-like: dicts, lists, strings, numbers) with every secret replaced, at any depth."""
    if isinstance(value, dict):
        return {key: _hide(item) if secret_name(str(key)) else redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
