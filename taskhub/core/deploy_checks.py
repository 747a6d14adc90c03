"""Deploy checks: ``manage.py check --deploy`` fails on any setting unsafe to release.

Every check is an Error (id ``taskhub.E1xx``), so the release gate blocks on it; each
belongs to one item of the deployment checklist (``CHECKLIST``) that ``preflight`` prints.
docs/operations.md explains every id and how to fix it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from corsheaders.conf import conf as cors
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

MIN_KEY_LENGTH = 50
MIN_KEY_CHARACTERS = 5
# Fragments of the values that docs, tutorials and generators put where a secret belongs.
PLACEHOLDER_MARKERS = (
    "change-me",
    "changeme",
    "change_me",
    "replace-me",
    "replaceme",
    "your-production-secret",
    "your-secret",
    "<your",
    "secret-key",
    "secret_key",
    "secretkey",
    "placeholder",
    "insecure",
    "example",
)
GENERATE_KEY = "python -c 'import secrets; print(secrets.token_urlsafe(64))'"
WILDCARD_HOSTS = frozenset({"*", "0.0.0.0"})  # noqa: S104 - the values refused, not bound
LOCAL_ORIGIN_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})  # noqa: S104
LOCAL_DATABASE_HOSTS = frozenset({"", "localhost", "127.0.0.1", "::1"})
VERIFIED_SSLMODES = frozenset({"require", "verify-ca", "verify-full"})
REDIS_BACKENDS = frozenset({"django.core.cache.backends.redis.RedisCache", "taskhub.core.cache.RedisCache"})
ONE_YEAR_SECONDS = 31_536_000
MAX_ACCESS_TOKEN_LIFETIME = timedelta(minutes=15)
MAX_REFRESH_TOKEN_LIFETIME = timedelta(days=7)
# An origin no deployment trusts: a CORS regex that matches it matches everyone.
UNTRUSTED_ORIGIN = "https://attacker.invalid"

CheckFunction = Callable[..., list[CheckMessage]]


@dataclass(frozen=True)
class ChecklistItem:
    """One line of the deployment checklist and the check ids that fail it."""

    name: str
    passes_when: str
    ids: tuple[str, ...]


CHECKLIST: list[ChecklistItem] = []


def checklist_item(name: str, passes_when: str, *ids: str) -> Callable[[CheckFunction], CheckFunction]:
    """Register the decorated function as the deploy check behind one checklist item."""

    def decorate(check: CheckFunction) -> CheckFunction:
        CHECKLIST.append(ChecklistItem(name, passes_when, ids))
        register(Tags.security, deploy=True)(check)
        return check

    return decorate


def key_weakness(value: str) -> str | None:
    """Return why ``value`` is too weak to be a signing key, or None."""
    if not value:
        return "is empty"
    if len(value) < MIN_KEY_LENGTH:
        return f"has {len(value)} characters; it needs at least {MIN_KEY_LENGTH}"
    if len(set(value)) < MIN_KEY_CHARACTERS:
        return f"has only {len(set(value))} distinct characters; it needs at least {MIN_KEY_CHARACTERS}"
    return None


def is_placeholder(value: str) -> bool:
    """Return whether ``value`` looks like a documentation placeholder rather than a secret."""
    lowered = value.lower()
    return lowered.startswith("django-insecure") or any(marker in lowered for marker in PLACEHOLDER_MARKERS)


def _key_errors(name: str, value: str, *, weak_id: str, placeholder_id: str) -> list[CheckMessage]:
    hint = f"Set {name} (or {name}_FILE) to a fresh random value, e.g. from: {GENERATE_KEY}"
    errors: list[CheckMessage] = []
    weakness = key_weakness(value)
    if weakness:
        errors.append(Error(f"{name} {weakness}.", hint=hint, id=weak_id))
    if value and is_placeholder(value):
        errors.append(Error(f"{name} is a placeholder, not a secret.", hint=hint, id=placeholder_id))
    return errors


def _secret_key() -> str:
    try:
        return str(settings.SECRET_KEY)
    except ImproperlyConfigured:
        # Django refuses to hand out an empty SECRET_KEY; here that is the finding itself.
        return ""


@checklist_item("secret_key", "SECRET_KEY is long, varied and not a placeholder", "taskhub.E101", "taskhub.E102")
def check_secret_key(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Fail on a missing, short, repetitive or placeholder SECRET_KEY."""
    return _key_errors("SECRET_KEY", _secret_key(), weak_id="taskhub.E101", placeholder_id="taskhub.E102")


@checklist_item(
    "jwt_keys",
    "the JWT signing key is strong and distinct from SECRET_KEY (or RS256 has a key pair)",
    "taskhub.E103",
    "taskhub.E104",
    "taskhub.E105",
    "taskhub.E106",
)
def check_jwt_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Fail on a weak or reused HS256 signing key, or an RS256 setup without its key pair."""
    jwt = getattr(settings, "SIMPLE_JWT", {})
    algorithm = str(jwt.get("ALGORITHM", "HS256"))
    secret_key = _secret_key()
    # SimpleJWT signs with SECRET_KEY when SIGNING_KEY is absent.
    signing_key = str(jwt.get("SIGNING_KEY", secret_key) or "")
    if not algorithm.startswith("HS"):
        missing = [
            name
            for name, value in (("JWT_PRIVATE_KEY", signing_key), ("JWT_PUBLIC_KEY", jwt.get("VERIFYING_KEY")))
            if not str(value or "").strip()
        ]
        if not missing:
            return []
        return [
            Error(
                f"{algorithm} needs a key pair, but {' and '.join(missing)} is empty.",
                hint="Set JWT_PRIVATE_KEY and JWT_PUBLIC_KEY (or their _FILE variants) to a PEM key pair.",
                id="taskhub.E106",
            )
        ]
    errors = _key_errors("JWT_SIGNING_KEY", signing_key, weak_id="taskhub.E103", placeholder_id="taskhub.E104")
    if signing_key and secret_key and (signing_key in secret_key or secret_key in signing_key):
        errors.append(
            Error(
                "JWT_SIGNING_KEY is SECRET_KEY or derived from it.",
                hint=f"Give JWT_SIGNING_KEY its own random value, e.g. from: {GENERATE_KEY}",
                id="taskhub.E105",
            )
        )
    return errors


@checklist_item("debug", "DEBUG is off", "taskhub.E107")
def check_debug(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Fail when DEBUG is on: it leaks settings and stack traces to anyone."""
    if not settings.DEBUG:
        return []
    return [Error("DEBUG is True.", hint="Unset DEBUG or set DEBUG=False.", id="taskhub.E107")]


@checklist_item("allowed_hosts", "ALLOWED_HOSTS names the API's hosts, no wildcard", "taskhub.E108", "taskhub.E109")
def check_allowed_hosts(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Fail on an empty ALLOWED_HOSTS or one that accepts any Host header."""
    hosts = list(settings.ALLOWED_HOSTS)
    if not hosts:
        return [
            Error(
                "ALLOWED_HOSTS is empty.",
                hint="Set ALLOWED_HOSTS to the API's host names, e.g. api.example.com.",
                id="taskhub.E108",
            )
        ]
    return [
        Error(
            f"ALLOWED_HOSTS contains the wildcard {host!r}.",
            hint="List the exact host names the API is served under instead.",
            id="taskhub.E109",
        )
        for host in hosts
        if host in WILDCARD_HOSTS
    ]


def origin_errors(origins: Iterable[str]) -> list[CheckMessage]:
    """Return an error for every plain-HTTP or local origin."""
    errors: list[CheckMessage] = []
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme == "http":
            errors.append(
                Error(
                    f"CORS_ALLOWED_ORIGINS contains the plain-HTTP origin {origin!r}.",
                    hint="Allow only https:// origins; a plain-HTTP page can be tampered with in transit.",
                    id="taskhub.E111",
                )
            )
        host = (parts.hostname or "").lower()
        if host in LOCAL_ORIGIN_HOSTS or host.endswith(".localhost"):
            errors.append(
                Error(
                    f"CORS_ALLOWED_ORIGINS contains the local origin {origin!r}.",
                    hint="Remove development origins from CORS_ALLOWED_ORIGINS in production.",
                    id="taskhub.E112",
                )
            )
    return errors


@checklist_item("cors", "CORS allows only named https:// origins", "taskhub.E110", "taskhub.E111", "taskhub.E112")
def check_cors(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Fail when any site, a plain-HTTP page or a local page may call the API from a browser."""
    errors: list[CheckMessage] = []
    allow_all = "CORS_ALLOW_ALL_ORIGINS is True" if cors.CORS_ALLOW_ALL_ORIGINS else None
    for regex in cors.CORS_ALLOWED_ORIGIN_REGEXES:
        if re.match(regex, UNTRUSTED_ORIGIN):
            allow_all = (
                f"CORS_ALLOWED_ORIGIN_REGEXES contains {getattr(regex, 'pattern', regex)!r}, which matches any origin"
            )
    if allow_all:
        errors.append(
            Error(
                f"{allow_all}.",
                hint="List the browser origins in CORS_ALLOWED_ORIGINS instead, e.g. https://app.example.com.",
                id="taskhub.E110",
            )
        )
    return errors + origin_errors(cors.CORS_ALLOWED_ORIGINS)


def database_errors(databases: Mapping[str, Mapping[str, Any]]) -> list[CheckMessage]:
    """Return an error for an SQLite default database and for each remote one not requiring TLS."""
    errors: list[CheckMessage] = []
    for alias, config in databases.items():
        engine = str(config.get("ENGINE", ""))
        if "sqlite" in engine:
            if alias == "default":
                errors.append(
                    Error(
                        "The default database is SQLite.",
                        hint="Set DATABASE_URL or DB_NAME/DB_HOST to the production PostgreSQL database.",
                        id="taskhub.E113",
                    )
                )
            continue
        host = str(config.get("HOST") or "")
        sslmode = config.get("OPTIONS", {}).get("sslmode")
        if host in LOCAL_DATABASE_HOSTS or host.startswith("/") or sslmode in VERIFIED_SSLMODES:
            continue
        errors.append(
            Error(
                f"Database {alias!r} is on {host} but sslmode is {sslmode or 'unset'}, so TLS is optional.",
                hint="Set DB_SSLMODE=verify-full (or require / verify-ca).",
                id="taskhub.E114",
            )
        )
    return errors


@checklist_item(
    "database_settings",
    "the database is PostgreSQL, over TLS when remote",
    "taskhub.E113",
    "taskhub.E114",
)
def check_database_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Fail on SQLite, or on a remote database reached without required TLS."""
    return database_errors(settings.DATABASES)


@checklist_item("cache_settings", "the default cache is Redis", "taskhub.E115")
def check_cache_backend(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Fail without Redis: the in-process cache is per worker, so revocations and limits would not be shared."""
    backend = str(settings.CACHES.get("default", {}).get("BACKEND", ""))
    if getattr(settings, "USES_REDIS", False) and backend in REDIS_BACKENDS:
        return []
    return [
        Error(
            f"The default cache is {backend.rsplit('.', 1)[-1] or 'unset'}, not Redis.",
            hint="Set REDIS_URL, e.g. rediss://redis.internal.example.com:6380/0.",
            id="taskhub.E115",
        )
    ]


@checklist_item("hsts", "HSTS lasts at least a year", "taskhub.E116")
def check_hsts(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Fail when browsers are told to insist on HTTPS for less than a year."""
    seconds = int(getattr(settings, "SECURE_HSTS_SECONDS", 0) or 0)
    if seconds >= ONE_YEAR_SECONDS:
        return []
    return [
        Error(
            f"SECURE_HSTS_SECONDS is {seconds}; it needs at least {ONE_YEAR_SECONDS} (a year).",
            hint=f"Unset SECURE_HSTS_SECONDS or set it to {ONE_YEAR_SECONDS}.",
            id="taskhub.E116",
        )
    ]


@checklist_item("cookies", "session and CSRF cookies are Secure, the session cookie HttpOnly", "taskhub.E117")
def check_cookies(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Fail on a cookie that travels over plain HTTP or that page scripts can read."""
    return [
        Error(
            f"{name} is False.",
            hint=f"Set {name} = True in the production settings.",
            id="taskhub.E117",
        )
        for name in ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY")
        if not getattr(settings, name)
    ]


@checklist_item(
    "token_lifetimes",
    "access tokens last at most 15 minutes, refresh tokens at most 7 days",
    "taskhub.E118",
    "taskhub.E119",
)
def check_token_lifetimes(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Fail on token lifetimes that keep a stolen token useful for long, unless explicitly allowed."""
    if getattr(settings, "JWT_ALLOW_LONG_LIFETIMES", False):
        return []
    jwt = getattr(settings, "SIMPLE_JWT", {})
    hint = "Lower it, or set JWT_ALLOW_LONG_LIFETIMES=True to accept the risk deliberately."
    errors: list[CheckMessage] = []
    access = jwt.get("ACCESS_TOKEN_LIFETIME", timedelta(minutes=5))
    if access > MAX_ACCESS_TOKEN_LIFETIME:
        errors.append(
            Error(
                f"Access tokens live {access / timedelta(minutes=1):g} minutes; the limit is "
                f"{MAX_ACCESS_TOKEN_LIFETIME / timedelta(minutes=1):g} (JWT_ACCESS_TOKEN_LIFETIME_MINUTES).",
                hint=hint,
                id="taskhub.E118",
            )
        )
    refresh = jwt.get("REFRESH_TOKEN_LIFETIME", timedelta(days=1))
    if refresh > MAX_REFRESH_TOKEN_LIFETIME:
        errors.append(
            Error(
                f"Refresh tokens live {refresh / timedelta(days=1):g} days; the limit is "
                f"{MAX_REFRESH_TOKEN_LIFETIME / timedelta(days=1):g} (JWT_REFRESH_TOKEN_LIFETIME_DAYS).",
                hint=hint,
                id="taskhub.E119",
            )
        )
    return errors


@checklist_item(
    "database_role_settings",
    "owner, app and platform are three database roles (or DB_ALLOW_OWNER_ROLE accepts one)",
    "taskhub.E120",
)
def check_database_roles(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Fail when the app's role would also be the owner or the platform role (taskhub.core.dbroles)."""
    return role_errors(settings.DATABASES["default"], settings.DATABASE_ROLE_NAMES, settings.DB_ALLOW_OWNER_ROLE)


def role_errors(default: Mapping[str, Any], names: Mapping[str, str], allowed: bool) -> list[CheckMessage]:
    """E120 for PostgreSQL with fewer than three roles, unless ``allowed`` (DB_ALLOW_OWNER_ROLE)."""
    if "postgresql" not in str(default.get("ENGINE", "")) or allowed:
        return []
    if all(names.values()) and len(set(names.values())) == 3:
        return []
    return [
        Error(
            f"The app, owner and platform database roles are not three roles ({names}): the role serving "
            "requests could turn row-level security off.",
            hint="Run manage.py setup_database_roles and set DB_MIGRATION_USER and DB_PLATFORM_USER, or set "
            "DB_ALLOW_OWNER_ROLE=True on a platform that offers one role (docs/runbook.md, 'Database roles').",
            id="taskhub.E120",
        )
    ]


def link_base_errors(site_url: str, frontend_url: str) -> list[CheckMessage]:
    """E121 for each base of mailed links that is not https://, or that names a local host."""
    errors: list[CheckMessage] = []
    for name, url in (("SITE_URL", site_url), ("FRONTEND_URL", frontend_url)):
        if name == "FRONTEND_URL" and not url:
            continue  # optional: the links then go to SITE_URL, the app's own pages
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme != "https" or not host:
            problem = "is not an https:// URL"
        elif host in LOCAL_ORIGIN_HOSTS or host.endswith(".localhost"):
            problem = "names a local host"
        else:
            continue
        errors.append(
            Error(
                f"{name} {problem} ({url!r}): the links mailed to users (password reset, email verification, "
                "invitations) would carry their tokens there.",
                hint=f"Set {name} to the public https:// address that serves /account/..., e.g. https://api.example.com"
                + ("." if name == "SITE_URL" else ", or unset it to use the app's own pages on SITE_URL."),
                id="taskhub.E121",
            )
        )
    return errors


@checklist_item(
    "link_urls", "links mailed to users point at https:// (SITE_URL, FRONTEND_URL when set)", "taskhub.E121"
)
def check_link_urls(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Fail when a mailed link, and the token in it, would travel in the clear or to a local address."""
    return link_base_errors(str(getattr(settings, "SITE_URL", "")), str(getattr(settings, "FRONTEND_URL", "") or ""))
