"""The one place a password is checked: guessing slows down, and nobody can use that against the owner.

Sign-in (``authenticate``: the API, the admin, any ``django.contrib.auth.authenticate``) counts
failures per (username, client address) and per client address, never per username alone, so
an attacker's failures only ever slow the attacker's own address: the owner signing in from
anywhere else is not affected, and a password reset (``forgive``) clears every address's count
for the username. An IPv6 client counts by its /64, so rotating through its own addresses
gains nothing. After ``PASSWORD_GUARD_FREE_ATTEMPTS`` failures of a pair (or
``PASSWORD_GUARD_IP_LIMIT`` of an address, which may be spraying many usernames), each further
failure sets a wait that doubles (1 s, 2 s, 4 s ... at most ``PASSWORD_GUARD_MAX_DELAY_SECONDS``);
an attempt during the wait is refused with 429 ``locked_out`` and ``Retry-After`` before any
password is checked, and is neither counted nor extends the wait. A count is forgotten
``PASSWORD_GUARD_WINDOW_SECONDS`` after its last failure; a successful sign-in clears its pair.

A signed-in user re-entering their password (``password_confirm``: password change, email
change, account deletion) has ``PASSWORD_GUARD_CONFIRM_ATTEMPTS`` wrong tries per window, then
429 ``locked_out`` until the window ends: a stolen access token cannot guess the password.

Each attempt is counted before its password is checked (and uncounted if it succeeds), and past
the free failures an attempt holds a short in-flight claim, so concurrent requests cannot check
more passwords than the limits allow. Unknown usernames run the hasher and answer like wrong
passwords; a refusal never reads the user, so it is the same for any username.

Counts live in the default cache (Redis in production), shared by every worker. If the cache
fails, each worker counts in its own memory and logs a WARNING (at most every 30 s), as the
throttles do: failing open would let guessing through for the length of a Redis outage, and
failing closed would turn it into a sign-in outage for everyone. The limits stay on, per worker.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache as default_cache
from django.core.cache.backends.locmem import LocMemCache

from taskhub.accounts.models import User
from taskhub.core.errors import DomainError, TooManyRequests, Unauthenticated

logger = logging.getLogger(__name__)

# Seconds since the epoch; tests replace it to move time without sleeping.
clock: Callable[[], float] = time.time
# Warn at most this often per worker while the shared cache is failing.
WARNING_INTERVAL_SECONDS = 30
# How long an attempt past the free failures may hold its claim: longer than any password
# check, so only a worker that died mid-check leaves one, and it lapses by itself.
CLAIM_SECONDS = 10
UNKNOWN_ADDRESS = "unknown"


class _FailoverStore:
    """The default cache, or this worker's memory while the default cache fails."""

    def __init__(self) -> None:
        self.local = LocMemCache("taskhub-password-guard-fallback", {"MAX_ENTRIES": 100_000})
        self._last_warning = 0.0

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(default_cache, method)(*args)
        except ValueError:  # incr/decr of a missing key: an answer, not a failure
            raise
        except Exception as exc:  # noqa: BLE001 - any client error: fall back, loudly
            now = time.monotonic()
            if now - self._last_warning >= WARNING_INTERVAL_SECONDS:
                self._last_warning = now
                logger.warning("password guard cache unavailable, counting in this worker's memory: %s", exc)
            return getattr(self.local, method)(*args)

    def get(self, key: str) -> Any:
        return self._call("get", key)

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("get_many", keys)
        return result

    def add(self, key: str, value: Any, timeout: int) -> bool:
        return bool(self._call("add", key, value, timeout))

    def set(self, key: str, value: Any, timeout: int | None) -> None:
        self._call("set", key, value, timeout)

    def delete_many(self, keys: list[str]) -> None:
        self._call("delete_many", keys)

    def count(self, key: str, timeout: int, *, slide: bool) -> int:
        """Add one to ``key``; a new count expires after ``timeout``, and with ``slide`` every count renews it."""
        if self.add(key, 1, timeout):
            return 1
        try:
            number = int(self._call("incr", key))
        except ValueError:  # expired between add and incr
            self.set(key, 1, timeout)
            return 1
        if slide:
            self._call("touch", key, timeout)
        return number

    def uncount(self, key: str) -> None:
        with contextlib.suppress(ValueError):  # already expired: nothing to take back
            self._call("decr", key)


store = _FailoverStore()


def _digest(*parts: str) -> str:
    # Usernames and addresses stay out of the cache's key names (and any Redis dump or MONITOR).
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:40]


def _locked_out(detail: str, seconds: float) -> TooManyRequests:
    return TooManyRequests(detail, retry_after=max(1, math.ceil(seconds)), code="locked_out")


SIGN_IN_LOCKED = "Too many failed sign-in attempts; try again later."
CONFIRM_LOCKED = "Too many wrong passwords; try again later."


def _delay(failures: int, free: int) -> int:
    """The wait after the ``failures``-th failure: none up to ``free``, then 1 s doubling to the maximum."""
    if failures <= free:
        return 0
    return int(min(2 ** min(failures - free - 1, 30), settings.PASSWORD_GUARD_MAX_DELAY_SECONDS))


@dataclass
class _Scope:
    """One thing failures are counted for: a (username, address) pair, or an address."""

    kind: str
    ident: str
    free: int
    failures: int = 0
    claimed: bool = False

    def key(self, part: str) -> str:
        return f"guard:{self.kind}:{self.ident}:{part}"


def _forgiven_key(username: str) -> str:
    return f"guard:forgiven:{_digest(username.lower())}"


def _client(ip: str | None) -> str:
    """The address failures count for: an IPv6 client by its /64, which one subscriber usually holds whole."""
    if not ip:
        return UNKNOWN_ADDRESS
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _scopes(username: str, ip: str | None) -> list[_Scope]:
    address = _client(ip)
    # A password reset gives the username a new generation: every pair counted before is left behind.
    generation = str(store.get(_forgiven_key(username)) or "")
    return [
        _Scope("pair", _digest(username.lower(), generation, address), settings.PASSWORD_GUARD_FREE_ATTEMPTS),
        _Scope("address", _digest(address), settings.PASSWORD_GUARD_IP_LIMIT),
    ]


class _SignInAttempt:
    """One password check under the sign-in limits: begin, then exactly one of failed, succeeded, cancel."""

    def __init__(self, scopes: list[_Scope]) -> None:
        self.scopes = scopes

    def _refuse_if_waiting(self) -> None:
        now = clock()
        waits = store.get_many([scope.key("wait") for scope in self.scopes])
        left = max((float(until) - now for until in waits.values() if until is not None), default=0.0)
        if left > 0:
            raise _locked_out(SIGN_IN_LOCKED, left)

    def begin(self) -> None:
        self._refuse_if_waiting()
        window = settings.PASSWORD_GUARD_WINDOW_SECONDS
        for scope in self.scopes:
            scope.failures = store.count(scope.key("failures"), window, slide=True)
        try:
            for scope in self.scopes:
                if scope.failures > scope.free:
                    # Past the free failures one attempt at a time: a concurrent one is refused.
                    if not store.add(scope.key("claim"), 1, CLAIM_SECONDS):
                        raise _locked_out(SIGN_IN_LOCKED, _delay(scope.failures, scope.free))
                    scope.claimed = True
            if any(scope.claimed for scope in self.scopes):
                # A wait set by an attempt that finished while this one was being counted.
                self._refuse_if_waiting()
        except TooManyRequests:
            self.cancel()
            raise

    def _release(self) -> None:
        claimed = [scope.key("claim") for scope in self.scopes if scope.claimed]
        if claimed:
            store.delete_many(claimed)

    def failed(self) -> None:
        now = clock()
        for scope in self.scopes:
            if delay := _delay(scope.failures, scope.free):
                store.set(scope.key("wait"), now + delay, delay + 1)
                logger.info(
                    "password guard: sign-in %s waits %d s after %d failures", scope.kind, delay, scope.failures
                )
        self._release()

    def succeeded(self) -> None:
        pair, *others = self.scopes
        # The pair starts over; an address keeps its other failures (a success does not excuse them).
        store.delete_many([pair.key("failures"), pair.key("wait"), pair.key("claim")])
        for scope in others:
            store.uncount(scope.key("failures"))
        claimed = [scope.key("claim") for scope in others if scope.claimed]
        if claimed:
            store.delete_many(claimed)

    def cancel(self) -> None:
        for scope in self.scopes:
            store.uncount(scope.key("failures"))
        self._release()


def _user_if_password_matches(username: str, password: str) -> User | None:
    """Django's ModelBackend check: the hasher runs for an unknown username too, so timing does not tell."""
    try:
        user = User._default_manager.get_by_natural_key(username)
    except User.DoesNotExist:
        User().set_password(password)
        return None
    # check_password also rehashes a password stored with an older hasher or weaker parameters.
    if user.check_password(password) and user.is_active:
        return user
    return None


def authenticate(*, username: str, password: str, ip: str | None) -> User:
    """Return the user whose password this is, under the sign-in limits; 401 or 429 otherwise."""
    attempt = _SignInAttempt(_scopes(username, ip))
    attempt.begin()
    try:
        user = _user_if_password_matches(username, password)
    except BaseException:
        attempt.cancel()
        raise
    if user is None:
        attempt.failed()
        raise Unauthenticated("Unknown username or wrong password.", code="invalid_credentials")
    attempt.succeeded()
    return user


def password_confirm(*, user: User, password: str, ip: str | None, field: str = "password") -> None:
    """Check a signed-in user's password; a few wrong tries per window, then 429 without checking."""
    failures_key, opened_key = f"guard:confirm:{user.pk}:failures", f"guard:confirm:{user.pk}:opened"
    window, limit = settings.PASSWORD_GUARD_WINDOW_SECONDS, settings.PASSWORD_GUARD_CONFIRM_ATTEMPTS

    def refuse() -> TooManyRequests:
        opened = store.get(opened_key)
        left = float(opened) + window - clock() if opened is not None else window
        logger.info("password guard: password confirmation refused for user %s from %s", user.pk, ip)
        return _locked_out(CONFIRM_LOCKED, left)

    if int(store.get(failures_key) or 0) >= limit:
        raise refuse()
    # Counted before the check, so concurrent tries cannot exceed the limit; a right one is taken back.
    failures = store.count(failures_key, window, slide=False)
    if failures == 1:
        store.set(opened_key, clock(), window)
    if failures > limit:
        store.uncount(failures_key)
        raise refuse()
    try:
        matches = user.check_password(password)
    except BaseException:
        store.uncount(failures_key)
        raise
    if not matches:
        raise DomainError("The password is wrong.", code="wrong_password", field=field)
    store.uncount(failures_key)


def forgive(*, username: str) -> None:
    """Forget the username's sign-in failures from every address (after a password reset)."""
    # No expiry: the generation must outlive every pair counted under the previous one.
    store.set(_forgiven_key(username), secrets.token_hex(8), None)
