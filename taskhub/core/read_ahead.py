"""Cache keys a write is known to read, fetched ahead in the request's one cache round trip.

A tenant request already makes one call to the cache: the Lua script that counts it against
every throttle and reads its token's revocation state (``taskhub.core.throttling.count``). A
write also reads keys an app knows in advance from the organization alone (whether the
organization has any webhook: ``taskhub.webhooks.events``). An app registers such a key at
startup (``register_write_key``); ``TenantAPIView`` adds the organization's keys to that same
call for every write and keeps the values for the request (``scope``); the app asks ``lookup``
first and goes to the cache itself only when nothing was read ahead (a read request, a cache
that failed, code outside a request).

A value read ahead is as old as the request: a key written later in the same request must be
``forget``-ten, so the writer's own next read sees the cache again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from uuid import UUID

_WRITE_KEYS: list[Callable[[UUID], str]] = []
_AHEAD: ContextVar[dict[str, Any] | None] = ContextVar("taskhub_read_ahead", default=None)
# ``lookup``'s answer for a key nobody read ahead (distinct from a key read and not cached: None).
MISSING = object()


def register_write_key(key_of: Callable[[UUID], str]) -> None:
    """Read ``key_of(organization_id)`` ahead for every write of a tenant endpoint (an AppConfig.ready)."""
    if key_of not in _WRITE_KEYS:
        _WRITE_KEYS.append(key_of)


def write_keys(organization_id: UUID) -> tuple[str, ...]:
    """The cache keys a write in ``organization_id`` reads ahead."""
    return tuple(key_of(organization_id) for key_of in _WRITE_KEYS)


@contextmanager
def scope(values: dict[str, Any]) -> Iterator[None]:
    """For the block, ``lookup`` answers from ``values`` (key: the value read, None when not cached)."""
    token = _AHEAD.set(values)
    try:
        yield
    finally:
        _AHEAD.reset(token)


def lookup(key: str) -> Any:
    """The value of ``key`` read ahead for this request (None: not cached), or ``MISSING``."""
    values = _AHEAD.get()
    if values is None:
        return MISSING
    return values.get(key, MISSING)


def forget(key: str) -> None:
    """The request wrote ``key``: from now on it is read from the cache again."""
    values = _AHEAD.get()
    if values is not None:
        values.pop(key, None)
