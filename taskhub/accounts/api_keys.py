"""API key format, hashing and the cached lookup authentication uses.

A key reads ``thk_<prefix>_<secret>``: ``thk_`` makes a leaked key recognizable to secret
scanners, the prefix finds the row, and only the SHA-256 of the whole key is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from taskhub.accounts.models import ApiKey
from taskhub.core import rls

logger = logging.getLogger(__name__)

KEY_MARK = "thk"
# How often at most last_used_at is written for one key.
LAST_USED_RESOLUTION_SECONDS = 300


@dataclass(frozen=True)
class GeneratedKey:
    key: str
    prefix: str
    key_hash: str


@dataclass(frozen=True)
class KeyRecord:
    id: str
    organization_id: str
    role: str
    name: str
    key_hash: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> GeneratedKey:
    prefix = secrets.token_hex(6)
    key = f"{KEY_MARK}_{prefix}_{secrets.token_urlsafe(32)}"
    return GeneratedKey(key=key, prefix=prefix, key_hash=hash_key(key))


def prefix_of(key: str) -> str | None:
    mark, _, rest = key.partition("_")
    prefix, _, secret = rest.partition("_")
    if mark != KEY_MARK or len(prefix) != 12 or not secret:
        return None
    return prefix


def cache_key(prefix: str) -> str:
    return f"apikey:{prefix}"


def _record_from_db(prefix: str) -> KeyRecord | None:
    # Before authentication there is no tenant: row-level security admits this one prefix.
    with rls.scoped(api_key_prefix=prefix):
        row = (
            ApiKey.objects.filter(prefix=prefix, revoked_at__isnull=True)
            .values("id", "organization_id", "role", "name", "key_hash")
            .first()
        )
    if row is None:
        return None
    return KeyRecord(
        id=str(row["id"]),
        organization_id=str(row["organization_id"]),
        role=row["role"],
        name=row["name"],
        key_hash=row["key_hash"],
    )


def _cache_get(key: str) -> Any:
    try:
        return cache.get(key)
    except Exception:
        logger.warning("cache unavailable: API key looked up in the database", exc_info=True)
        return None


def _cache_fill(key: str, value: Any, timeout: int) -> bool:
    # add, not set: a revocation's tombstone written meanwhile must win over this older read.
    try:
        cache.add(key, value, timeout=timeout)
    except Exception:
        logger.warning("cache unavailable: value not cached", exc_info=True)
        return False
    return True


def key_record(key: str) -> KeyRecord | None:
    """Return the live key that ``key`` is, or None; revoked and unknown keys are None alike."""
    prefix = prefix_of(key)
    if prefix is None:
        return None
    cached = _cache_get(cache_key(prefix))
    if cached is None:
        record = _record_from_db(prefix)
        # A miss is cached too ("" stands for none), so guessing prefixes costs no queries.
        _cache_fill(cache_key(prefix), record or "", settings.AUTH_CACHE_SECONDS)
    else:
        record = cached or None
    if record is None or not hmac.compare_digest(record.key_hash, hash_key(key)):
        return None
    return record


def forget(prefix: str) -> None:
    """Put a tombstone over a key's cache entry so a revocation holds on the next request."""
    try:
        cache.set(cache_key(prefix), "", timeout=settings.AUTH_CACHE_SECONDS)
    except Exception:
        logger.error("cache unavailable: a revoked API key may work until its cache entry expires", exc_info=True)


def mark_used(record: KeyRecord) -> None:
    """Record use at most once per LAST_USED_RESOLUTION_SECONDS, not on every request."""
    try:
        first = cache.add(f"apikey-used:{record.id}", 1, timeout=LAST_USED_RESOLUTION_SECONDS)
    except Exception:  # noqa: BLE001 - no marker to lean on: skip rather than write every time
        return
    if first:
        now = timezone.now()
        with rls.scoped(organization_id=record.organization_id):
            ApiKey.objects.filter(pk=record.id).exclude(last_used_at__gt=now).update(last_used_at=now)
