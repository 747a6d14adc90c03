"""Settings shared by every environment; nothing here is unsafe to deploy.

Secrets, DEBUG and ALLOWED_HOSTS are set by local.py, production.py and test.py, which
each decide how strict to be about them.
"""

from datetime import timedelta
from pathlib import Path

from corsheaders.defaults import default_headers
from django.core.exceptions import ImproperlyConfigured

from taskhub.core import env
from taskhub.core.sentry import init_sentry

BASE_DIR = Path(__file__).resolve().parent.parent.parent

INSTALLED_APPS = [
    # django.contrib.admin, its site's sign-in and password change through the password guard.
    "taskhub.accounts.admin_apps.TaskhubAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # First, so its templates (a CSP-clean ReDoc page) win over the libraries' own.
    "taskhub.core",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "corsheaders",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "taskhub.tenancy",
    "taskhub.accounts",
    "taskhub.organizations",
    "taskhub.projects",
    "taskhub.tasks",
    "taskhub.labels",
    "taskhub.comments",
    "taskhub.audit",
    "taskhub.webhooks",
]

MIDDLEWARE = [
    "taskhub.core.middleware.RequestIdMiddleware",
    # Right after the request id, so its timing and query count cover every layer below.
    "taskhub.core.observability.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "taskhub.core.middleware.StaffRowLevelSecurityBypassMiddleware",
    # Inside the platform's transaction: staff reads and writes of tenant data become audit events.
    "taskhub.audit.middleware.PlatformAccessAuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "taskhub.core.middleware_db.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "config.urls"
# Django's own CSRF refusal is an HTML page; every error here is JSON.
CSRF_FAILURE_VIEW = "taskhub.core.errors.csrf_failure"
ADMIN_URL_PREFIX = "/admin/"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
# The tenant: every model with a foreign key named `organization` to it is tenant data (taskhub.tenancy).
TENANT_MODEL = "organizations.Organization"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.database(sqlite_path=BASE_DIR / "db.sqlite3")}
# Three roles on PostgreSQL (taskhub.core.dbroles): "default" is the app's (DB_USER), which owns
# nothing and cannot bypass row-level security; migrate switches to the owner's
# (DB_MIGRATION_*); "platform" (DB_PLATFORM_*, BYPASSRLS) is what rls.bypass() routes to, for
# the admin and management commands only. Unset, they are all DB_USER (development).
_POSTGRESQL = "postgresql" in DATABASES["default"]["ENGINE"]
DATABASE_MIGRATION_CREDENTIALS = (
    env.role_credentials("DATABASE_MIGRATION_URL", "DB_MIGRATION_USER", "DB_MIGRATION_PASSWORD")
    if _POSTGRESQL
    else None
)
_platform = env.role_credentials("DATABASE_PLATFORM_URL", "DB_PLATFORM_USER", "DB_PLATFORM_PASSWORD")
if _POSTGRESQL and _platform:
    DATABASES["platform"] = {
        **DATABASES["default"],
        **_platform,
        "OPTIONS": {**DATABASES["default"].get("OPTIONS", {}), "application_name": "taskhub-platform"},
    }
DATABASE_ROLE_NAMES = {
    "app": DATABASES["default"].get("USER", ""),
    "owner": (DATABASE_MIGRATION_CREDENTIALS or {}).get("USER") or DATABASES["default"].get("USER", ""),
    "platform": (_platform or {}).get("USER") or DATABASES["default"].get("USER", ""),
}
# Production refuses to serve when its runtime role could lower the wall (superuser, BYPASSRLS,
# owner of a tenant table), unless this acknowledges a single-role platform.
DB_ALLOW_OWNER_ROLE = env.boolean("DB_ALLOW_OWNER_ROLE", False)
DB_CHECK_ROLE_AT_STARTUP = False
# Read replicas (docs/scaling.md): reads outside any transaction only; tenant requests stay on default.
DATABASES.update(env.replicas())
DATABASE_ROUTERS = ["taskhub.core.rls.PlatformRouter", "taskhub.core.db_router.ReplicaRouter"]
CACHES = {"default": env.cache()}
USES_REDIS = env.is_set("REDIS_URL")
if USES_REDIS:
    # Admin sessions then survive across workers and hosts without a table read.
    SESSION_ENGINE = "django.contrib.sessions.backends.cache"

# The job queue (taskhub.core.jobs, docs/jobs.md): procrastinate's tables in this database on
# PostgreSQL, worked by `manage.py worker`. Without PostgreSQL (SQLite) there is no queue: a job
# runs at once, inline, where it is enqueued.
JOBS_INLINE = env.boolean("JOBS_INLINE", not _POSTGRESQL)
if not JOBS_INLINE and not _POSTGRESQL:
    raise ImproperlyConfigured("JOBS_INLINE=False needs PostgreSQL: the queue lives in its tables.")
if _POSTGRESQL:
    INSTALLED_APPS.append("procrastinate.contrib.django")
# taskhub.core imports every app's jobs.py itself (also where procrastinate is not installed).
PROCRASTINATE_AUTODISCOVER_MODULE_NAME = ""
# A failing job runs at most this many times in all, waiting BASE, 2xBASE, 4xBASE... seconds
# (at most MAX) between runs; 12 runs at 5 s doubling to 15 min span about an hour.
JOBS_MAX_ATTEMPTS = env.integer("JOBS_MAX_ATTEMPTS", 12, minimum=1)
JOBS_RETRY_BASE_SECONDS = env.integer("JOBS_RETRY_BASE_SECONDS", 5, minimum=1)
JOBS_RETRY_MAX_SECONDS = env.integer("JOBS_RETRY_MAX_SECONDS", 900, minimum=1)
# /health/ reports the queue "degraded" when a due job has waited longer than this.
JOBS_HEALTH_MAX_AGE_SECONDS = env.integer("JOBS_HEALTH_MAX_AGE_SECONDS", 300, minimum=1)
# preflight fails when no worker has sent a heartbeat (every 10 s) for this long.
JOBS_WORKER_SEEN_SECONDS = env.integer("JOBS_WORKER_SEEN_SECONDS", 120, minimum=15)
# A job whose worker has been silent this long is given back to the queue.
JOBS_STALLED_SECONDS = env.integer("JOBS_STALLED_SECONDS", 60, minimum=15)
# Jobs one worker process runs at once (each in a thread with its own database connection).
JOBS_WORKER_CONCURRENCY = env.integer("JOBS_WORKER_CONCURRENCY", 2, minimum=1)

# ModelBackend with its password check through the guard (taskhub.accounts.guard), so every
# sign-in, the admin's included, shares one set of failure counts.
AUTHENTICATION_BACKENDS = ["taskhub.accounts.backends.GuardedModelBackend"]
# Argon2id with OWASP's parameters first; PBKDF2 verifies older hashes, which are rehashed with
# Argon2id at the user's next successful sign-in.
PASSWORD_HASHERS = [
    "taskhub.accounts.hashers.Argon2idPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.string("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
# Organization exports (docs/exports.md): files on this host's disk by default; with more than
# one worker host, a storage every host reaches (EXPORTS_STORAGE_BACKEND, e.g. django-storages'
# "storages.backends.s3.S3Storage", configured by its own AWS_* settings).
EXPORTS_DIR = Path(env.string("EXPORTS_DIR", str(BASE_DIR / "exports")))
EXPORTS_STORAGE_BACKEND = env.string("EXPORTS_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    "exports": {
        "BACKEND": EXPORTS_STORAGE_BACKEND,
        "OPTIONS": {"location": str(EXPORTS_DIR)}
        if EXPORTS_STORAGE_BACKEND == "django.core.files.storage.FileSystemStorage"
        else {},
    },
}
# An export's file is downloadable this long, then deleted (its status reads "expired").
EXPORTS_RETENTION_HOURS = env.integer("EXPORTS_RETENTION_HOURS", 24, minimum=1)
# Audit events older than this many days are removed by `manage.py purge_audit_events`, which
# records the cut in each chain (docs/audit.md); nothing else removes them.
AUDIT_RETENTION_DAYS = env.integer("AUDIT_RETENTION_DAYS", 400, minimum=1)
# Hashed names never change content, so WhiteNoise and any CDN in front may keep them for a year.
WHITENOISE_MAX_AGE = 31536000

# Every request body the API accepts is small JSON; larger bodies are refused early.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.integer("MAX_REQUEST_BODY_BYTES", 1_048_576, minimum=1024)
# URLs are resources with a trailing slash; a missing slash answers a JSON 404, never a redirect
# that would turn a POST into a GET.
APPEND_SLASH = False

CORS_ALLOWED_ORIGINS = env.list_of("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
# A browser client of an allowed origin may send Idempotency-Key and read Idempotent-Replayed
# (docs/idempotency.md), besides django-cors-headers' defaults.
CORS_ALLOW_HEADERS = (*default_headers, "idempotency-key", "if-match")
CORS_EXPOSE_HEADERS = ["Idempotent-Replayed", "ETag"]

SIGNUP_ENABLED = env.boolean("SIGNUP_ENABLED", True)

# Longest a single SQL statement of a tenant's request may run on PostgreSQL before it is
# cancelled and the request answers 503 (taskhub.core.rls.set_context); 0 turns it off. Below
# gunicorn's 120 s worker timeout, so a runaway query ends as an answer, not a killed worker.
DB_STATEMENT_TIMEOUT_MS = env.integer("DB_STATEMENT_TIMEOUT_MS", 30_000, minimum=0)
INVITATION_LIFETIME_DAYS = env.integer("INVITATION_LIFETIME_DAYS", 7, minimum=1)
INVITATIONS_PER_HOUR = env.integer("INVITATIONS_PER_HOUR", 50, minimum=1)
# Invitation emails per inviting user (across their organizations) and per recipient address
# (from every organization: throwaway organizations cannot flood one inbox), per UTC day.
INVITATIONS_PER_USER_PER_DAY = env.integer("INVITATIONS_PER_USER_PER_DAY", 100, minimum=1)
INVITATIONS_PER_ADDRESS_PER_DAY = env.integer("INVITATIONS_PER_ADDRESS_PER_DAY", 5, minimum=1)

# Webhooks (docs/webhooks.md, "Settings").
# Off: deliveries reach public addresses only, over https. On (tests, development): loopback and
# private addresses and plain http too, never the metadata range, multicast or 0.0.0.0.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env.boolean("WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)
WEBHOOKS_PER_ORGANIZATION = env.integer("WEBHOOKS_PER_ORGANIZATION", 10, minimum=1)
# An event whose data encodes larger than this is sent with its id alone.
WEBHOOK_MAX_PAYLOAD_BYTES = env.integer("WEBHOOK_MAX_PAYLOAD_BYTES", 65_536, minimum=1024)
WEBHOOK_TIMEOUT_SECONDS = env.integer("WEBHOOK_TIMEOUT_SECONDS", 5, minimum=1)
# Waits before the 2nd, 3rd... attempt of a failed delivery (about 27 hours in all); then none.
_WEBHOOK_RETRY_SCHEDULE = env.list_of(
    "WEBHOOK_RETRY_SCHEDULE_SECONDS", default=["5", "300", "1800", "7200", "18000", "36000", "36000"]
)
if not all(seconds.isdigit() for seconds in _WEBHOOK_RETRY_SCHEDULE):
    raise ImproperlyConfigured(
        f"WEBHOOK_RETRY_SCHEDULE_SECONDS={','.join(_WEBHOOK_RETRY_SCHEDULE)!r}: "
        "give whole seconds separated by commas, e.g. 5,300,1800."
    )
WEBHOOK_RETRY_SCHEDULE_SECONDS = [int(seconds) for seconds in _WEBHOOK_RETRY_SCHEDULE]
# A webhook whose deliveries have all failed for this long is disabled and its admins emailed.
WEBHOOK_DISABLE_AFTER_SECONDS = env.integer("WEBHOOK_DISABLE_AFTER_SECONDS", 86_400, minimum=60)
# After a rotation the previous secret signs too for this long.
WEBHOOK_ROTATION_OVERLAP_SECONDS = env.integer("WEBHOOK_ROTATION_OVERLAP_SECONDS", 86_400, minimum=0)
# Encrypts the signing secrets at rest (HKDF-derived); SECRET_KEY when unset. The fallbacks only decrypt.
WEBHOOK_SECRET_KEY = env.string("WEBHOOK_SECRET_KEY", "")
WEBHOOK_SECRET_KEY_FALLBACKS = env.list_of("WEBHOOK_SECRET_KEY_FALLBACKS", default=[])
# How long the cache may say an organization has no webhook (a webhook write corrects it at once
# where the cache is shared).
WEBHOOK_CACHE_SECONDS = env.integer("WEBHOOK_CACHE_SECONDS", 300, minimum=1)
# What a delivery keeps of the receiver's answer.
WEBHOOK_RESPONSE_BODY_BYTES = 2048
# Proxies in front of the app that append to X-Forwarded-For (nginx: 1). The client IP is the
# address that many hops from the right, so a client cannot forge it by sending the header.
TRUSTED_PROXY_COUNT = env.integer("TRUSTED_PROXY_COUNT", 0, minimum=0)
# How long the cache may answer for a membership's token version or an API key before the
# database is asked again; writes update the cache at once, so this only bounds staleness
# after a cache outage.
AUTH_CACHE_SECONDS = env.integer("AUTH_CACHE_SECONDS", 300, minimum=1)
# The service's public base URL: links mailed to users point at its /account/... pages.
SITE_URL = env.string("SITE_URL", "http://127.0.0.1:8000")
# Optional: a separate frontend serving the same /account/<page>/ paths; links go there instead.
FRONTEND_URL = env.string("FRONTEND_URL", "")
# Account tokens mailed to users (taskhub.accounts.services.account); a reset link lives one hour.
VERIFY_EMAIL_TOKEN_HOURS = env.integer("VERIFY_EMAIL_TOKEN_HOURS", 72, minimum=1)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "taskhub.accounts.authentication.JWTAuthentication",
        "taskhub.accounts.authentication.ApiKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["taskhub.core.renderers.JSONRenderer"],
    # OPTIONS describes a request body only where a view takes one (a bodiless POST has no form).
    "DEFAULT_METADATA_CLASS": "taskhub.core.metadata.ApiMetadata",
    "DEFAULT_PARSER_CLASSES": ["taskhub.core.parsers.StrictJSONParser"],
    "DEFAULT_THROTTLE_CLASSES": [
        "taskhub.core.throttling.AnonymousThrottle",
        "taskhub.core.throttling.CredentialThrottle",
        "taskhub.core.throttling.OrganizationThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.string("THROTTLE_ANON_RATE", "60/min"),
        "user": env.string("THROTTLE_USER_RATE", "600/min"),
        "organization": env.string("THROTTLE_ORGANIZATION_RATE", "3000/min"),
        "sign_in": env.string("THROTTLE_SIGN_IN_RATE", "10/min"),
        # Reset requests per client IP and per address (its hash), mails per signed-in user.
        "password_reset": env.string("THROTTLE_PASSWORD_RESET_RATE", "10/hour"),
        "password_reset_address": env.string("THROTTLE_PASSWORD_RESET_ADDRESS_RATE", "3/hour"),
        "account_email": env.string("THROTTLE_ACCOUNT_EMAIL_RATE", "5/hour"),
    },
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        # An unknown ?ordering= is a 400 on every list, never silently ignored.
        "taskhub.core.filters.StrictOrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "taskhub.core.pagination.CursorPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "taskhub.core.schema.AutoSchema",
    "EXCEPTION_HANDLER": "taskhub.core.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Taskhub API",
    # The front page of /api/redoc/ and /api/docs/; docs/authentication.md and README.md say it at length.
    "DESCRIPTION": (
        "Multi-tenant projects and tasks. Organizations are tenants: every token or API key acts inside exactly "
        "one organization, and another organization's data is invisible to it (404). Each operation says who "
        "may call it: viewer, member, admin or owner, the roles of README's table.\n"
        "\n"
        "## Sign up and sign in\n"
        "\n"
        "- `POST /api/v1/auth/register/` creates a user and an organization they own, and answers a token "
        "pair for it.\n"
        "- `POST /api/v1/auth/token/` exchanges a username and password for a pair bound to one "
        "organization: the one named in `organization` (an id or a slug), else the user's first.\n"
        "- The **access token** is a JWT bound to that organization (its `org` claim) with the user's role "
        "there, valid 15 minutes by default. Send it as `Authorization: Bearer <access>`.\n"
        "- The **refresh token** (7 days) buys a new pair at `POST /api/v1/auth/token/refresh/`. Refresh "
        "rotates: the refresh token sent is blacklisted, and replaying it answers 401.\n"
        "- `POST /api/v1/auth/logout/` ends one session (its refresh token, and the access token sent with "
        "it); with `everywhere: true`, every session of the user. A role change, a removal from the "
        "organization or a password change refuses the affected access tokens from their next request.\n"
        "- Under RS256, `GET /.well-known/jwks.json` publishes the keys that verify access tokens.\n"
        "\n"
        "## Switching organization\n"
        "\n"
        "A user in several organizations sends `POST /api/v1/auth/switch/` with "
        '`{"organization": "<id or slug>"}` and a Bearer token, and gets a new pair bound to that '
        "organization. `GET /api/v1/auth/me/` lists the user's memberships. API keys cannot switch.\n"
        "\n"
        "## API keys\n"
        "\n"
        "Admins and owners create machine credentials at `POST /api/v1/api-keys/`, with role `member` or "
        "`viewer`. The key, `thk_<prefix>_<secret>`, appears once, in that answer; send it as "
        "`Authorization: Api-Key thk_...`. It acts in its organization with its role until revoked "
        "(`DELETE /api/v1/api-keys/{id}/`).\n"
        "\n"
        "## Errors\n"
        "\n"
        'Every error is JSON in one shape, `{"detail", "code", "errors"?}`: `detail` for people, `code` for '
        "programs (`not_found`, `permission_denied`, `throttled`, ...), and for invalid input `errors`, each "
        "field's name to a list of `{message, code}`. Each operation lists the error answers it can give.\n"
        "\n"
        "## Pagination\n"
        "\n"
        'Lists are cursor-paginated: `{"next", "previous", "results"}`. Follow `next` until it is null; '
        "`page_size` sets the page's length (default 20, at most 100). A tampered cursor answers 404.\n"
        "\n"
        "## Rate limits\n"
        "\n"
        "Requests are counted per client IP without a credential (60/min by default), per user or API key "
        "(600/min), per organization (3000/min), and per client IP for sign-up, sign-in and accepting an "
        "invitation (10/min). Past a limit the answer is 429 `throttled` with `Retry-After`, the seconds to "
        "wait. Repeated wrong passwords slow down the username from that client IP, and the client IP: "
        "429 `locked_out` with `Retry-After`, a wait doubling from 1 s (at most 5 minutes by default). "
        "A 503 `service_unavailable` carries `Retry-After` too.\n"
        "\n"
        "Outside this schema: `/health/` and `/health/live/` for load balancers, `/metrics` for Prometheus."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Every tag the operations use, in the order ReDoc and Swagger UI list them.
    "TAGS": [
        {
            "name": "auth",
            "description": "Sign up, sign in, refresh, verify and sign out; switch organization; the caller's own "
            "account and password; the public keys that verify tokens.",
        },
        {
            "name": "organization",
            "description": "The organization the credential acts in: show it, rename it (admins), delete or "
            "export it (owners).",
        },
        {
            "name": "members",
            "description": "Who belongs to the organization and with which role: list, change a role (admins), "
            "remove a member or leave.",
        },
        {
            "name": "invitations",
            "description": "Invite people by email and revoke invitations (admins); accept one to join an "
            "organization.",
        },
        {
            "name": "api-keys",
            "description": "Machine credentials (`Authorization: Api-Key thk_...`) acting as member or viewer; "
            "created and revoked by admins and owners.",
        },
        {"name": "projects", "description": "The organization's projects: each has a key and holds tasks."},
        {
            "name": "tasks",
            "description": "Numbered tasks within projects: status, priority, assignee and due date; listed "
            "across the organization or per project.",
        },
        {
            "name": "audit",
            "description": "The organization's audit log (admins): who did what to which object, when and from where.",
        },
    ],
    # Apps may describe their own tags (taskhub.core.schema.describe_tag); the enum hook is the default.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "taskhub.core.schema.add_app_tags"],
    # Served from the sidecar's local static files: the docs work with no internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "taskhub.tenancy.roles.Role",
        "ApiKeyRoleEnum": "taskhub.tenancy.roles.API_KEY_ROLE_CHOICES",
        "InvitationStatusEnum": "taskhub.organizations.models.InvitationStatus",
        "OrganizationExportStatusEnum": "taskhub.organizations.models.ExportStatus",
        "InvitationDeliveryStatusEnum": "taskhub.organizations.models.InvitationDeliveryStatus",
        "ActorTypeEnum": ["user", "api_key"],
        "ProjectStatusEnum": "taskhub.projects.models.ProjectStatus",
        "TaskStatusEnum": "taskhub.tasks.models.TaskStatus",
        "TaskPriorityEnum": "taskhub.tasks.models.TaskPriority",
    },
}
# Everything the API and its docs load comes from this server. Swagger UI and ReDoc style
# their own elements inline, and ReDoc parses the schema in a worker built from a blob.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

# The password guard (taskhub.accounts.guard): failures are counted per (username, client
# address) and per client address, never per username alone. Past the free failures each one
# sets a wait doubling from 1 s to the maximum; a count is forgotten WINDOW seconds after its
# last failure. A signed-in user re-entering their password gets CONFIRM_ATTEMPTS wrong tries
# per window.
PASSWORD_GUARD_FREE_ATTEMPTS = env.integer("PASSWORD_GUARD_FREE_ATTEMPTS", 5, minimum=1)
PASSWORD_GUARD_IP_LIMIT = env.integer("PASSWORD_GUARD_IP_LIMIT", 50, minimum=1)
PASSWORD_GUARD_MAX_DELAY_SECONDS = env.integer("PASSWORD_GUARD_MAX_DELAY_SECONDS", 300, minimum=1)
PASSWORD_GUARD_WINDOW_SECONDS = env.integer("PASSWORD_GUARD_WINDOW_SECONDS", 900, minimum=1)
PASSWORD_GUARD_CONFIRM_ATTEMPTS = env.integer("PASSWORD_GUARD_CONFIRM_ATTEMPTS", 5, minimum=1)

# A hung mail server must not hang the request that sends an invitation.
EMAIL_TIMEOUT = env.integer("EMAIL_TIMEOUT", 10, minimum=1)

JWT_ALGORITHM = env.string("JWT_ALGORITHM", "HS256")
if JWT_ALGORITHM not in {"HS256", "RS256"}:
    raise ImproperlyConfigured(f"JWT_ALGORITHM={JWT_ALGORITHM!r} must be HS256 or RS256.")
JWT_ACCESS_TOKEN_LIFETIME_MINUTES = env.integer("JWT_ACCESS_TOKEN_LIFETIME_MINUTES", 15, minimum=1)
JWT_REFRESH_TOKEN_LIFETIME_DAYS = env.integer("JWT_REFRESH_TOKEN_LIFETIME_DAYS", 7, minimum=1)
JWT_ALLOW_LONG_LIFETIMES = env.boolean("JWT_ALLOW_LONG_LIFETIMES", False)
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=JWT_ACCESS_TOKEN_LIFETIME_MINUTES),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=JWT_REFRESH_TOKEN_LIFETIME_DAYS),
    "ALGORITHM": JWT_ALGORITHM,
    "ISSUER": env.string("JWT_ISSUER", "taskhub"),
    "AUDIENCE": env.string("JWT_AUDIENCE", "taskhub-api"),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "sub",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "LEEWAY": 0,
}

# Public keys (PEM, concatenated) accepted and published next to JWT_PUBLIC_KEY: the next key
# before a rotation, or the previous one until its tokens have expired.
JWT_EXTRA_PUBLIC_KEYS = env.string("JWT_EXTRA_PUBLIC_KEYS", "")

LOG_LEVEL = env.string("LOG_LEVEL", "INFO").upper()
# One JSON object per line on stdout: timestamp, level, logger, message, any extra fields.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "taskhub.core.logformat.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own handlers print plain text; its records go to the root handler instead.
        "django": {"handlers": [], "propagate": True},
        # runserver's request lines repeat the access line and carry the query string.
        "django.server": {"handlers": [], "level": "CRITICAL", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        # The queue library's own lines (task registration at every start, each fetch); the
        # job lines that matter come from taskhub.core.jobs with the job's tenant and origin.
        "procrastinate": {"level": "WARNING"},
    },
}
# With it set, GET /metrics needs "Authorization: Bearer <token>"; without it, /metrics exists
# only under DEBUG.
METRICS_TOKEN = env.string("METRICS_TOKEN", "")


def jwt_keys(*, debug: bool, secret_key: str) -> dict[str, str]:
    """Return the SimpleJWT signing and verifying keys for the configured algorithm."""
    if JWT_ALGORITHM == "RS256":
        hint = "RS256 needs a PEM key pair."
        return {
            "SIGNING_KEY": env.string("JWT_PRIVATE_KEY", hint=hint),
            "VERIFYING_KEY": env.string("JWT_PUBLIC_KEY", hint=hint),
        }
    # A development server may derive the JWT key from its own secret; production may not.
    default = f"jwt:{secret_key}" if debug else env.MISSING
    signing_key = env.string(
        "JWT_SIGNING_KEY",
        default,
        hint="Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(64))'",
    )
    return {"SIGNING_KEY": signing_key, "VERIFYING_KEY": ""}


init_sentry()
