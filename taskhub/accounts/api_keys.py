"""API key format, hashing and the cached lookup authentication uses.

A key reads ``thk_<prefix>_<secret>``: ``thk_`` makes a leaked key recognizable to secret
scanners, the prefix finds the row, and only the SHA-256 of the whole key is stored.

A key lives while it is unrevoked, unexpired, and its creator (``created_by``) is a member of its
organization with at least the key's role: a key never outlives the authority of the person who
answers for it. Membership changes revoke the keys they orphan at once (services/api_keys.py);
the creator check here, on every database read, also covers what bypasses those services (the
Django admin, a deleted account) within AUTH_CACHE_SECONDS.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from taskhub.accounts.models import ApiKey
from taskhub.core import rls
from taskhub.organizations.models import Membership
from taskhub.tenancy.roles import Role

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
    # Epoch seconds, or None for a key that never expires. A default, so a record cached by an
    # older release (no such attribute) reads as never expiring, which it was.
    expires_at: float | None = None

    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= time.time()


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
    # Before authentication there is no tenant: row-level security admits this one prefix,
    # then (in the same scope) the key's organization, for its creator's membership.
    with rls.scoped(api_key_prefix=prefix):
        row = (
            ApiKey.objects.filter(prefix=prefix, revoked_at__isnull=True)
            .values("id", "organization_id", "role", "name", "key_hash", "expires_at", "created_by_id")
            .first()
        )
        if row is None or not _creator_stands_behind(
            organization_id=row["organization_id"], creator_id=row["created_by_id"], key_role=row["role"]
        ):
            return None
    return KeyRecord(
        id=str(row["id"]),
        organization_id=str(row["organization_id"]),
        role=row["role"],
        name=row["name"],
        key_hash=row["key_hash"],
        expires_at=row["expires_at"].timestamp() if row["expires_at"] else None,
    )


def _creator_stands_behind(*, organization_id: UUID, creator_id: UUID | None, key_role: str) -> bool:
    """Whether the key's creator is still a member of its organization with at least its role.

    A key with no creator (their account was deleted, or the row was written by hand) is refused
    until an admin transfers it to a member. Runs inside ``_record_from_db``'s scope, which puts
    the caller's context back when it ends.
    """
    if creator_id is None:
        return False
    rls.set_context(organization_id=organization_id)
    role = (
        Membership.objects.filter(organization_id=organization_id, user_id=creator_id)
        .values_list("role", flat=True)
        .first()
    )
    return role is not None and Role(role).at_least(key_role)


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
    # Checked on every use, cached or not: the cache may hold the record past the expiry.
    if record.expired():
        return None
    return record


def forget(prefix: str) -> None:
    """Put a tombstone over a key's cache entry so a revocation holds on the next request."""
    forget_many([prefix])


def forget_many(prefixes: Iterable[str]) -> None:
    """Put tombstones over several keys' cache entries (an organization's, when it is deleted)."""
    entries = dict.fromkeys((cache_key(prefix) for prefix in prefixes), "")
    if not entries:
        return
    try:
        cache.set_many(entries, timeout=settings.AUTH_CACHE_SECONDS)
    except Exception:
        logger.error("cache unavailable: a revoked API key may work until its cache entry expires", exc_info=True)


def refresh(prefix: str) -> None:
    """Drop a key's cache entry so the next request reads the row again (after a transfer)."""
    try:
        cache.delete(cache_key(prefix))
    except Exception:
        logger.warning("cache unavailable: a transferred API key is read again when its entry expires", exc_info=True)


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
