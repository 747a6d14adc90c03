"""The one place environment variables are read.

Every reader accepts ``NAME`` or ``NAME_FILE`` (a path whose contents are the value, the
Docker and Kubernetes secrets convention). A variable that is required and missing, or
that cannot be parsed, raises ``ImproperlyConfigured`` naming the variable, so a bad
deploy fails at boot instead of at the first request.

A ``.env`` file in the project root (or at ``TASKHUB_ENV_FILE``) supplies values the real
environment does not: a name set in the environment, as ``NAME`` or ``NAME_FILE``, is read
from there and the file's ``NAME``/``NAME_FILE`` are ignored. The file is read once, at import.
Under pytest (``PYTEST_VERSION`` set, inherited by the processes tests start) the project's
``.env`` is not read, so a developer's file cannot change what the suite sees; only an
explicit ``TASKHUB_ENV_FILE`` is. ``TASKHUB_ENV_FILE`` empty, or naming no file: no file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class _Missing:
    pass


MISSING: Any = _Missing()


ENV_FILE_VARIABLE = "TASKHUB_ENV_FILE"
DEFAULT_ENV_FILE = Path(__file__).resolve().parents[2] / ".env"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOUBLE_QUOTED_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}


def env_file_path() -> Path | None:
    """Return the .env file to read: TASKHUB_ENV_FILE, else the project's .env (not under pytest)."""
    configured = os.environ.get(ENV_FILE_VARIABLE)
    if configured is not None:
        path = Path(configured) if configured else None
    elif os.environ.get("PYTEST_VERSION"):
        path = None
    else:
        path = DEFAULT_ENV_FILE
    return path if path is not None and path.is_file() else None


def parse_env_file(text: str, source: str = ".env") -> dict[str, str]:
    """Parse ``NAME=value`` lines: ``#`` comments, blank lines, ``export`` and quotes; no interpolation.

    Unquoted values end at a `` #`` comment and lose surrounding blanks; 'single' quotes keep
    everything literally; "double" quotes understand \\\\, \\", \\n, \\r and \\t. A line that
    is none of these raises ImproperlyConfigured naming the file and line.
    """
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export") and stripped[6:7].isspace():
            stripped = stripped[6:].lstrip()
        name, equals, rest = stripped.partition("=")
        name = name.strip()
        if not equals or not _NAME.fullmatch(name):
            raise ImproperlyConfigured(f"{source}, line {number}: expected NAME=value.")
        try:
            values[name] = _env_file_value(rest.strip())
        except ValueError as exc:
            raise ImproperlyConfigured(f"{source}, line {number} ({name}): {exc}.") from exc
    return values


def _env_file_value(text: str) -> str:
    if not text or text[0] not in "'\"":
        comment = re.search(r"\s#", text)
        return (text[: comment.start()] if comment else text).strip()
    quote, value, index = text[0], [], 1
    while index < len(text) and text[index] != quote:
        char = text[index]
        if char == "\\" and quote == '"' and index + 1 < len(text):
            escaped = text[index + 1]
            char = _DOUBLE_QUOTED_ESCAPES.get(escaped, "\\" + escaped)
            index += 1
        value.append(char)
        index += 1
    if index >= len(text):
        raise ValueError(f"no closing {quote}")
    rest = text[index + 1 :].strip()
    if rest and not rest.startswith("#"):
        raise ValueError(f"unexpected text after the closing {quote}")
    return "".join(value)


def read_env_file() -> dict[str, str]:
    """Return the values of the .env file env_file_path() names, or none."""
    path = env_file_path()
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImproperlyConfigured(f"{path} cannot be read: {exc}.") from exc
    return parse_env_file(text, source=str(path))


# Read once: settings are computed once per process.
_env_file = read_env_file()


def _raw(name: str) -> str | None:
    # The real environment wins, NAME and NAME_FILE together: a secret given as a file in the
    # environment is never joined (or contradicted) by the .env's plain NAME.
    source: Mapping[str, str] = os.environ if name in os.environ or f"{name}_FILE" in os.environ else _env_file
    value = source.get(name)
    file_name = source.get(f"{name}_FILE")
    if value is not None and file_name is not None:
        raise ImproperlyConfigured(f"Set {name} or {name}_FILE, not both.")
    if file_name is not None:
        try:
            return Path(file_name).read_text().rstrip("\r\n")
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name} cannot be read: {exc.strerror}.") from exc
    return value


def is_set(name: str) -> bool:
    """Return whether NAME or NAME_FILE is set to a non-empty value."""
    return bool(_raw(name))


def string(name: str, default: Any = MISSING, *, hint: str = "") -> Any:
    """Return NAME as a string; an empty value counts as unset."""
    value = _raw(name)
    if value:
        return value
    if default is MISSING:
        suffix = f" {hint}" if hint else ""
        raise ImproperlyConfigured(f"The {name} environment variable (or {name}_FILE) is required.{suffix}")
    return default


def boolean(name: str, default: bool) -> bool:
    """Return NAME parsed as true/false, yes/no, on/off or 1/0."""
    value = _raw(name)
    if not value:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean; use True or False.")


def integer(name: str, default: int, *, minimum: int | None = None) -> int:
    """Return NAME parsed as an integer no smaller than ``minimum``."""
    value = _raw(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer.") from exc
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}.")
    return number


def list_of(name: str, default: Any = MISSING, *, hint: str = "") -> list[str]:
    """Return NAME split on commas, blanks dropped."""
    value = string(name, default=None)
    if value is None:
        if default is MISSING:
            return list(string(name, hint=hint))
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def database(*, sqlite_path: Path) -> dict[str, Any]:
    """Return the default database: DATABASE_URL, else DB_*, else an SQLite file.

    PostgreSQL connections give up after DB_CONNECT_TIMEOUT seconds (default 2).
    """
    conn_max_age = integer("DB_CONN_MAX_AGE", 60, minimum=0)
    if is_set("DATABASE_URL"):
        config: dict[str, Any] = dict(dj_database_url.parse(string("DATABASE_URL"), conn_max_age=conn_max_age))
    elif is_set("DB_NAME") or is_set("DB_HOST"):
        config = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": string("DB_NAME", hint="It names the PostgreSQL database when DB_HOST is set."),
            "USER": string("DB_USER", ""),
            "PASSWORD": string("DB_PASSWORD", ""),
            "HOST": string("DB_HOST", ""),
            "PORT": string("DB_PORT", "5432"),
            "CONN_MAX_AGE": conn_max_age,
        }
    else:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": string("SQLITE_PATH", str(sqlite_path)),
        }
    config["CONN_HEALTH_CHECKS"] = True
    options = dict(config.get("OPTIONS", {}))
    sslmode = string("DB_SSLMODE", None)
    if sslmode:
        allowed = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
        if sslmode not in allowed:
            raise ImproperlyConfigured(f"DB_SSLMODE={sslmode!r} must be one of {', '.join(sorted(allowed))}.")
        options["sslmode"] = sslmode
    options.setdefault("application_name", string("DB_APPLICATION_NAME", "taskhub"))
    # An unreachable database must fail a request in seconds, not hang it until the worker is
    # killed: libpq waits forever by default (and treats anything below 2 as 2). DB_CONNECT_TIMEOUT
    # wins over a connect_timeout in DATABASE_URL; without either, 2 seconds.
    postgresql = "postgresql" in config["ENGINE"] or "postgis" in config["ENGINE"]
    if postgresql and (is_set("DB_CONNECT_TIMEOUT") or "connect_timeout" not in options):
        options["connect_timeout"] = integer("DB_CONNECT_TIMEOUT", 2, minimum=1)
    config["OPTIONS"] = options
    if postgresql:
        _pooling(config, options)
    return config


def _pooling(config: dict[str, Any], options: dict[str, Any]) -> None:
    """Apply DB_POOL (psycopg's pool in each process) or DB_PGBOUNCER (pgbouncer in front).

    DB_POOL=True: Django 5.2's psycopg pool, DB_POOL_MIN_SIZE/MAX_SIZE/TIMEOUT, CONN_MAX_AGE 0
    (Django refuses persistent connections with a pool). DB_PGBOUNCER=True: pgbouncer in
    transaction mode, where a session's server connection changes between transactions, so no
    server-side cursors (they live across transactions) and no prepared statements (they live on
    one server connection). Both at once would pool twice and is refused.
    """
    pool = boolean("DB_POOL", False)
    pgbouncer = boolean("DB_PGBOUNCER", False)
    if pool and pgbouncer:
        raise ImproperlyConfigured(
            "DB_POOL=True and DB_PGBOUNCER=True pool twice: behind pgbouncer leave DB_POOL off "
            "(pgbouncer is the pool); without pgbouncer, set DB_PGBOUNCER=False."
        )
    if pool:
        min_size = integer("DB_POOL_MIN_SIZE", 2, minimum=0)
        max_size = integer("DB_POOL_MAX_SIZE", 10, minimum=1)
        if min_size > max_size:
            raise ImproperlyConfigured(f"DB_POOL_MIN_SIZE={min_size} is above DB_POOL_MAX_SIZE={max_size}.")
        options["pool"] = {
            "min_size": min_size,
            "max_size": max_size,
            "timeout": integer("DB_POOL_TIMEOUT", 5, minimum=1),
        }
        config["CONN_MAX_AGE"] = 0
    if pgbouncer:
        options["prepare_threshold"] = None
    if pgbouncer or boolean("DB_DISABLE_SERVER_SIDE_CURSORS", False):
        config["DISABLE_SERVER_SIDE_CURSORS"] = True


def role_credentials(url_name: str, user_name: str, password_name: str) -> dict[str, Any] | None:
    """Return another role's credentials (USER, PASSWORD, and HOST/PORT from a URL), or None when unset.

    Used for the owner (DB_MIGRATION_*) and platform (DB_PLATFORM_*) roles of config/settings/base.py.
    """
    if is_set(url_name):
        parsed: dict[str, Any] = dict(dj_database_url.parse(string(url_name)))
        return {key: parsed[key] for key in ("USER", "PASSWORD", "HOST", "PORT") if parsed.get(key)}
    if is_set(user_name):
        return {"USER": string(user_name), "PASSWORD": string(password_name, "")}
    return None


def replicas() -> dict[str, dict[str, Any]]:
    """Return read replicas from DATABASE_REPLICA_URLS (comma-separated) as replica_0, replica_1, ...

    Each gets the primary's connect timeout, application name and pooling rules.
    """
    urls = list_of("DATABASE_REPLICA_URLS", default=[])
    conn_max_age = integer("DB_CONN_MAX_AGE", 60, minimum=0)
    result = {}
    for index, url in enumerate(urls):
        config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=conn_max_age))
        if "postgresql" not in config.get("ENGINE", "") and "postgis" not in config.get("ENGINE", ""):
            raise ImproperlyConfigured(f"DATABASE_REPLICA_URLS entry {index} is not a PostgreSQL URL.")
        config["CONN_HEALTH_CHECKS"] = True
        options = dict(config.get("OPTIONS", {}))
        options.setdefault("application_name", string("DB_APPLICATION_NAME", "taskhub"))
        if is_set("DB_CONNECT_TIMEOUT") or "connect_timeout" not in options:
            options["connect_timeout"] = integer("DB_CONNECT_TIMEOUT", 2, minimum=1)
        _pooling(config, options)
        config["OPTIONS"] = options
        result[f"replica_{index}"] = config
    return result


def cache() -> dict[str, Any]:
    """Return the default cache: Redis at REDIS_URL, else an in-process cache."""
    if is_set("REDIS_URL"):
        return {
            "BACKEND": "taskhub.core.cache.RedisCache",
            "LOCATION": string("REDIS_URL"),
            "KEY_PREFIX": string("CACHE_KEY_PREFIX", "taskhub"),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "taskhub"}
