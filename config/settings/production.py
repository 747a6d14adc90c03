"""Production: every secret comes from the environment and has no default."""

import re

from config.settings.base import *  # noqa: F403
from config.settings.base import SIMPLE_JWT, jwt_keys
from taskhub.core import env

DEBUG = env.boolean("DEBUG", False)
SECRET_KEY = env.string(
    "SECRET_KEY", hint="Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(64))'"
)
SIMPLE_JWT = {**SIMPLE_JWT, **jwt_keys(debug=False, secret_key=SECRET_KEY)}
# config/wsgi.py stops a process whose database role could lower the tenant wall.
DB_CHECK_ROLE_AT_STARTUP = True
ALLOWED_HOSTS = env.list_of("ALLOWED_HOSTS", hint="List the API's host names, e.g. api.example.com.")


def _site_url_default() -> object:
    # https://<the first allowed host> when that is a plain host name, what a deploy behind TLS
    # serves; a wildcard, a leading dot or an IP address names no site: then SITE_URL is required.
    first = ALLOWED_HOSTS[0] if ALLOWED_HOSTS else ""
    labels = first.split(".")
    if all(re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?", label) for label in labels) and not (
        labels[-1].isdigit()
    ):
        return f"https://{first.lower()}"
    return env.MISSING


SITE_URL = env.string(
    "SITE_URL", _site_url_default(), hint="The service's public base URL, e.g. https://api.example.com."
)

# nginx terminates TLS and says so in X-Forwarded-Proto (deploy/nginx/).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.boolean("SECURE_SSL_REDIRECT", True)
# Load balancers probe health over plain HTTP inside the private network.
SECURE_REDIRECT_EXEMPT = [r"^health/"]
SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.boolean("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
CSRF_TRUSTED_ORIGINS = env.list_of("CSRF_TRUSTED_ORIGINS", default=[])

EMAIL_BACKEND = env.string("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.string("EMAIL_HOST", "localhost")
EMAIL_PORT = env.integer("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env.string("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.string("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env.boolean("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env.string("DEFAULT_FROM_EMAIL", "noreply@localhost")
