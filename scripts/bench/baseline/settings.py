"""Settings of the baseline project: plain Django on the app's database, nothing of config.settings.

What a Django user starts from: DEBUG off, SecurityMiddleware and CommonMiddleware only, the apps
its models and DRF need. From the environment the app is given (scripts/bench/stack.py):

- the database: DB_NAME, DB_HOST, DB_PORT, and the platform role (DB_PLATFORM_USER/PASSWORD),
  which bypasses row-level security: a bare Django project has no tenant context to give;
- SECRET_KEY, ALLOWED_HOSTS (comma-separated);
- the app's JWT settings (JWT_ALGORITHM, JWT_SIGNING_KEY or JWT_PUBLIC_KEY, JWT_ISSUER,
  JWT_AUDIENCE, with config/settings/base.py's defaults), so the naive DRF viewset accepts the
  app's own access tokens and the benchmark sends one token to both.
"""

import os

from django.core.exceptions import ImproperlyConfigured


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ImproperlyConfigured(f"The baseline project needs {name} in its environment (scripts/bench/stack.py).")
    return value


SECRET_KEY = _required("SECRET_KEY")
DEBUG = False
ALLOWED_HOSTS = [host for host in os.environ.get("ALLOWED_HOSTS", "127.0.0.1").split(",") if host]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "scripts.bench.baseline",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "scripts.bench.baseline.urls"
WSGI_APPLICATION = "scripts.bench.baseline.wsgi.application"
# accounts_user through an unmanaged model: SimpleJWT's JWTAuthentication reads the user per request.
AUTH_USER_MODEL = "baseline.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# For DRF's browsable API, should a browser ask; the benchmark asks for JSON.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _required("DB_NAME"),
        "USER": _required("DB_PLATFORM_USER"),
        "PASSWORD": os.environ.get("DB_PLATFORM_PASSWORD", ""),
        "HOST": _required("DB_HOST"),
        "PORT": os.environ.get("DB_PORT", "5432"),
        # The fair floor: persistent connections with health checks, as the app keeps them in
        # production (taskhub.core.env.database: DB_CONN_MAX_AGE, 60 s unless set, and
        # CONN_HEALTH_CHECKS), so the ratios measure the code, not connection setup.
        "CONN_MAX_AGE": int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {"connect_timeout": 2, "application_name": "taskhub-bench-baseline"},
    }
}

USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework_simplejwt.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "scripts.bench.baseline.pagination.Pagination",
    "PAGE_SIZE": 20,
}

_ALGORITHM = os.environ.get("JWT_ALGORITHM", "") or "HS256"
SIMPLE_JWT = {
    "ALGORITHM": _ALGORITHM,
    # HS256: one shared secret; RS256: the app's public key verifies (nothing is signed here).
    "SIGNING_KEY": _required("JWT_SIGNING_KEY") if _ALGORITHM == "HS256" else "",
    "VERIFYING_KEY": _required("JWT_PUBLIC_KEY") if _ALGORITHM != "HS256" else "",
    "ISSUER": os.environ.get("JWT_ISSUER", "") or "taskhub",
    "AUDIENCE": os.environ.get("JWT_AUDIENCE", "") or "taskhub-api",
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "sub",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "LEEWAY": 0,
}
