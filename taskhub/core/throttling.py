"""Request throttles: per client IP, per user or API key, per organization, and for sign-in.

Counts live in the default cache (Redis in production), so limits hold across workers and
hosts. If Redis fails, each worker counts in its own memory instead: the limits stay on
(per worker, so up to N workers times the rate), a WARNING is logged, and ``/health/``
reports the cache as degraded. Never "everything 500", never "limits silently off".

Each limit is a counter per key and window: the window opens with the first request and
lasts the rate's period; the counter is refused above the rate until the window closes. On
Redis that is one command for all of a request's throttles (a Lua script: INCR, the expiry
on the window's first request, TTL), of constant size. DRF's own throttle keeps a list of
every request's timestamp in the window and reads and rewrites it whole, twice per throttle:
at high rates, tens of kilobytes per request.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.core.cache import cache as default_cache
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCacheClient
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

if TYPE_CHECKING:  # DRF imports the throttle classes while rest_framework.views loads
    from rest_framework.views import APIView

from taskhub.core.http import client_ip

logger = logging.getLogger(__name__)

# Warn at most this often per worker while the shared cache is failing.
WARNING_INTERVAL_SECONDS = 30


class FailoverCache:
    """The default cache, or this worker's memory while the default cache fails."""

    def __init__(self) -> None:
        self.local = LocMemCache("taskhub-throttle-fallback", {"MAX_ENTRIES": 100_000})
        self._last_warning = 0.0

    def _failed(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning >= WARNING_INTERVAL_SECONDS:
            self._last_warning = now
            logger.warning("throttle cache unavailable, counting in this worker's memory: %s", exc)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return default_cache.get(key, default)
        except Exception as exc:  # noqa: BLE001 - any client error: fall back, loudly
            self._failed(exc)
            return self.local.get(key, default)

    def set(self, key: str, value: Any, timeout: int | None = None) -> None:
        try:
            default_cache.set(key, value, timeout)
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)
            self.local.set(key, value, timeout)

    def hit(
        self, counters: list[tuple[str, int]], reads: Sequence[str] = ()
    ) -> tuple[list[tuple[int, float]], list[Any] | None]:
        """Count one request under each (key, period) and read the ``reads`` keys, in one round trip.

        Return each count in its window with the seconds left, and the values read (None for a
        key not cached). While the shared cache fails, counts are this worker's and the values
        are None as a whole: the caller goes to the source they are cached from.
        """
        try:
            return _hit(default_cache, counters, reads)
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)
            return _hit(self.local, counters, ())[0], None


# Every counter of a request in one command: count, open the window on its first request, and
# say how long the window has left. Atomic, so no counter is ever left without its expiry. The
# last argument is how many keys are counters; the keys after them are read (the credential's
# revocation state), so a request makes one round trip to Redis in all.
_COUNT_SCRIPT = """
local replies = {}
local counted = tonumber(ARGV[#ARGV])
for index = 1, counted do
  local key = KEYS[index]
  local period = tonumber(ARGV[index])
  local count = redis.call('INCR', key)
  local left = period
  if count == 1 then
    redis.call('EXPIRE', key, period)
  else
    left = redis.call('TTL', key)
    if left < 0 then
      redis.call('EXPIRE', key, period)
      left = period
    end
  end
  replies[2 * index - 1] = count
  replies[2 * index] = left
end
for index = counted + 1, #KEYS do
  replies[#replies + 1] = redis.call('GET', KEYS[index])
end
return replies
"""
# Built on first use; the client is passed on each call, so one object serves every pool.
_count_script: Any = None


def _hit(
    cache: Any, counters: list[tuple[str, int]], reads: Sequence[str]
) -> tuple[list[tuple[int, float]], list[Any]]:
    client = getattr(cache, "_cache", None)
    if isinstance(client, RedisCacheClient):
        global _count_script  # noqa: PLW0603 - one per process, built lazily
        redis = client.get_client(None, write=True)
        if _count_script is None:
            # EVALSHA, falling back to EVAL once per server that has not seen the script.
            _count_script = redis.register_script(_COUNT_SCRIPT)
        script = _count_script
        keys = [cache.make_and_validate_key(key) for key in [*(key for key, _ in counters), *reads]]
        replies = script(keys=keys, args=[*(period for _, period in counters), len(counters)], client=redis)
        counted = 2 * len(counters)
        counts = [
            (int(count), float(left)) for count, left in zip(replies[0:counted:2], replies[1:counted:2], strict=True)
        ]
        # Values as the cache wrote them (its serializer: integers as they are, the rest pickled).
        loads = client._serializer.loads  # type: ignore[attr-defined] # Django's, not in its stubs
        return counts, [None if value is None else loads(value) for value in replies[counted:]]
    counts = [_hit_one(cache, key, period) for key, period in counters]
    found = cache.get_many(list(reads)) if reads else {}
    return counts, [found.get(key) for key in reads]


def _hit_one(cache: Any, key: str, period: int) -> tuple[int, float]:
    # Any cache but Redis (in-process memory): add opens the window, incr counts within it.
    if cache.add(key, 1, period):
        return 1, float(period)
    try:
        return int(cache.incr(key)), float(period)
    except ValueError:  # the window closed between add and incr
        cache.set(key, 1, period)
        return 1, float(period)


failover_cache = FailoverCache()


class TaskhubThrottle(SimpleRateThrottle):
    """A DRF rate throttle on the failover cache, keyed by the real client IP."""

    cache = failover_cache  # type: ignore[assignment]
    # Set by SimpleRateThrottle.__init__ from the rate.
    num_requests: int
    duration: int
    seconds_left = 0.0

    def get_ident(self, request: Request) -> str:
        # The address TRUSTED_PROXY_COUNT hops back, so a forged X-Forwarded-For cannot
        # pick a fresh identity for every request.
        return client_ip(request) or "unknown"

    def key_for(self, ident: str) -> str:
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def counter(self, request: Request, view: APIView) -> str | None:
        """Return the cache key this request counts under, or None if this throttle does not apply."""
        if self.rate is None:
            return None
        key = self.get_cache_key(request, view)
        # Named apart from DRF's timestamp lists, so workers of both kinds can run side by side.
        return None if key is None else f"{key}:count"

    def allow_request(self, request: Request, view: APIView) -> bool:
        return not refusals([self], request, view)

    def wait(self) -> float:
        return max(self.seconds_left, 1.0)


class AnonymousThrottle(TaskhubThrottle):
    """Requests without a credential, per client IP."""

    scope = "anon"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if getattr(request.user, "is_authenticated", False):
            return None
        return self.key_for(self.get_ident(request))


class CredentialThrottle(TaskhubThrottle):
    """Requests with a credential, per user or per API key."""

    scope = "user"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        context = request.auth
        if context is None:
            return None
        user_id = getattr(context, "user_id", None)
        ident = f"user:{user_id}" if user_id else f"key:{getattr(context, 'api_key_id', None)}"
        return self.key_for(ident)


class OrganizationThrottle(TaskhubThrottle):
    """All requests acting in one organization, whoever sends them."""

    scope = "organization"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        organization_id = getattr(request.auth, "organization_id", None)
        if organization_id is None:
            return None
        # Namespaced by organization like every cache key that carries tenant data.
        return f"org:{organization_id}:throttle"


class SignInThrottle(TaskhubThrottle):
    """Password and token exchanges, per client IP: the brute-force surface."""

    scope = "sign_in"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        return self.key_for(self.get_ident(request))


def refusals(throttles: list[Any], request: Request, view: APIView) -> list[float | None]:
    """Count the request against every throttle, in one cache round trip; return the refusals' waits."""
    return count(throttles, request, view)[0]


def count(
    throttles: list[Any], request: Request, view: APIView, *, reads: Sequence[str] = ()
) -> tuple[list[float | None], list[Any] | None]:
    """Count the request against every throttle and read ``reads``, in one cache round trip.

    Return the refusals' waits, and the values read (None as a whole while the cache fails; see
    ``FailoverCache.hit``).
    """
    waits: list[float | None] = []
    counted: list[tuple[TaskhubThrottle, str]] = []
    for throttle in throttles:
        if not isinstance(throttle, TaskhubThrottle):
            if not throttle.allow_request(request, view):
                waits.append(throttle.wait())
        elif (key := throttle.counter(request, view)) is not None:
            counted.append((throttle, key))
    if not counted and not reads:
        return waits, []
    results, values = failover_cache.hit([(key, throttle.duration) for throttle, key in counted], reads)
    for (throttle, _), (hits, seconds_left) in zip(counted, results, strict=True):
        throttle.seconds_left = seconds_left
        if hits > throttle.num_requests:
            waits.append(throttle.wait())
    return waits, values


class ClientThrottle(TaskhubThrottle):
    """One endpoint's requests per client IP, under its own scope (a view sets ``scope``)."""

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        return self.key_for(self.get_ident(request))


class PasswordResetThrottle(ClientThrottle):
    """Password-reset requests per client IP: one client cannot mail many addresses."""

    scope = "password_reset"


class BodyValueThrottle(TaskhubThrottle):
    """Requests naming one value in a body field (an email address), from any client.

    The key is the SHA-256 of the value stripped and lowercased, so the cache holds no address
    and spelling an address differently does not make a new counter. A body that is not an
    object, or lacks the field, is not counted here (it is refused as bad input anyway).
    """

    field = ""

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        data = request.data
        value = data.get(self.field) if isinstance(data, dict) else None
        if not isinstance(value, str) or not value.strip():
            return None
        return self.key_for(hashlib.sha256(value.strip().lower().encode()).hexdigest())


class PasswordResetAddressThrottle(BodyValueThrottle):
    """Password-reset requests per address: nobody can flood one person's mailbox with reset links."""

    scope = "password_reset_address"
    field = "email"


class AccountEmailThrottle(CredentialThrottle):
    """Requests that mail a signed-in user (a verification resend, an email change), per user."""

    scope = "account_email"
