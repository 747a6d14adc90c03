"""Tests: the database and Redis come from the same variables as production."""

import os
import secrets
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from config.settings.base import *  # noqa: F403
from config.settings.base import CACHES, SIMPLE_JWT, USES_REDIS, jwt_keys

DEBUG = False
# Fresh per run: tests must never depend on a known key.
SECRET_KEY = secrets.token_urlsafe(64)
SIMPLE_JWT = {**SIMPLE_JWT, **jwt_keys(debug=True, secret_key=SECRET_KEY)}
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "exports": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Jobs run inline in the test process, also on PostgreSQL, so a test reads the email its request
# sent; the queue's own tests turn this off, and the tests of a real worker run it in a process
# of its own against a private PostgreSQL (docs/jobs.md).
JOBS_INLINE = True
# Webhook receivers in the tests listen on 127.0.0.1 over plain http; the SSRF tests turn it off.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
# The mass-assignment walk creates a webhook per forged column; the limit's own test sets it low.
WEBHOOKS_PER_ORGANIZATION = 100
# Serve static files straight from the apps, as runserver would, without collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Limits high enough for the suite's own traffic; the throttling tests set their own rates.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        "anon": "10000/min",
        "user": "10000/min",
        "organization": "10000/min",
        "sign_in": "10000/min",
        "password_reset": "10000/min",
        "password_reset_address": "10000/min",
        "account_email": "10000/min",
    },
}

# On PostgreSQL with the three roles (taskhub.core.dbroles) the suite connects as the platform
# role: between requests the test body sees every organization, as a fixture must. Each request
# then runs as the app role (SET ROLE, conftest.py), so row-level security applies to it exactly
# as in production; the admin, whose tenant reads production sends to the platform alias, stays
# platform. The test database is created and migrated as the owner. There is no separate
# "platform" alias here: one connection, so a request sees the rows its test just made.
TEST_REQUEST_ROLE = ""
# How the app itself logs in: test_tenant_wall.py connects this way to play an attacker.
TEST_APP_CREDENTIALS = {key: DATABASES["default"].get(key) for key in ("USER", "PASSWORD", "HOST", "PORT")}
if "platform" in DATABASES:
    TEST_REQUEST_ROLE = DATABASES["default"]["USER"]
    DATABASES["default"] = {
        **DATABASES["default"],
        **{key: DATABASES["platform"][key] for key in ("USER", "PASSWORD", "HOST", "PORT")},
    }
    del DATABASES["platform"]

# pytest-xdist (``make test`` runs the suite in worker processes gw0, gw1...): as pytest-django
# gives each worker its own test database, each gets its own Redis database, the one REDIS_URL
# names plus the worker's number, since every test clears the cache (conftest.py) and the
# throttle, lockout and idempotency tests count on what they stored. CI's REDIS_URL leaves room.
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if USES_REDIS and _XDIST_WORKER.startswith("gw"):
    _redis = urlsplit(CACHES["default"]["LOCATION"])
    _database = int(_redis.path.strip("/") or 0) + int(_XDIST_WORKER.removeprefix("gw"))
    if _database > 15:  # Redis has 16 databases unless configured otherwise
        raise ImproperlyConfigured(
            f"pytest-xdist worker {_XDIST_WORKER} would use Redis database {_database} (REDIS_URL's plus the "
            "worker's number): name a lower database in REDIS_URL or run fewer workers (make test TEST_WORKERS=...)"
        )
    CACHES = {"default": {**CACHES["default"], "LOCATION": _redis._replace(path=f"/{_database}").geturl()}}
