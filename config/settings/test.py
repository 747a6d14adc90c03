"""Tests: the database and Redis come from the same variables as production."""

import secrets

from config.settings.base import *  # noqa: F403
from config.settings.base import SIMPLE_JWT, jwt_keys

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
