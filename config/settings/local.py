"""Development: DEBUG on by default, SQLite unless a database is configured."""

import secrets
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from config.settings.base import *  # noqa: F403
from config.settings.base import BASE_DIR, DATABASES, LOGGING, SIMPLE_JWT, jwt_keys
from taskhub.core import env

DEBUG = env.boolean("DEBUG", True)


def _local_secret_key() -> str:
    # Generated once per checkout and kept out of git, so no key is ever hard-coded.
    path = BASE_DIR / ".local-secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.string("SECRET_KEY", _local_secret_key() if DEBUG else env.MISSING)
SIMPLE_JWT = {**SIMPLE_JWT, **jwt_keys(debug=DEBUG, secret_key=SECRET_KEY)}
ALLOWED_HOSTS = env.list_of("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
# Printed on the console between two bars, so the invitation link is easy to find.
EMAIL_BACKEND = "taskhub.core.logformat.ConsoleEmailBackend"
# A webhook receiver on this machine or the local network, over plain http (docs/webhooks.md).
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env.boolean("WEBHOOK_ALLOW_PRIVATE_NETWORKS", True)

# A console a person reads: one short line per record (LOG_FORMAT=json for production's lines).
LOG_FORMAT = env.string("LOG_FORMAT", "human").lower()
if LOG_FORMAT not in ("human", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'human' or 'json', not {LOG_FORMAT!r}.")
_BASE_LOGGING: dict[str, Any] = LOGGING
LOGGING = {
    **_BASE_LOGGING,
    "formatters": {**_BASE_LOGGING["formatters"], "human": {"()": "taskhub.core.logformat.HumanFormatter"}},
    "handlers": {
        **_BASE_LOGGING["handlers"],
        "console": {**_BASE_LOGGING["handlers"]["console"], "formatter": LOG_FORMAT},
    },
    "loggers": {
        **_BASE_LOGGING["loggers"],
        # A WARNING per 4xx ("Unauthorized: /api/v1/..."), which the access line already shows;
        # a 5xx and its traceback still print.
        "django.request": {"level": "ERROR"},
        # On SQLite nothing enforces row-level security, so "bypassed" would be misleading.
        **({"taskhub.core.rls": {"level": "WARNING"}} if "sqlite" in DATABASES["default"]["ENGINE"] else {}),
    },
}
