"""The benchmark's settings (``make bench`` only): production settings, plus the list without DRF.

With BENCH_PASSWORD_HASHER=pbkdf2 (``--hasher pbkdf2``) PBKDF2 is the first hasher, as before
Argon2id: the sign-in latency's "before". With BENCH_WITHOUT_MIDDLEWARE=<dotted path>,... those
middleware are left out (``--only servers``: what each one costs).

Never deployed: the production settings route config.urls, which has no bench route
(tests/bench/test_production_urls.py), and no product module imports scripts/ (import-linter).
"""

from django.core.exceptions import ImproperlyConfigured

from config.settings.production import *  # noqa: F403
from config.settings.production import MIDDLEWARE, PASSWORD_HASHERS
from taskhub.core import env

# config.urls plus /bench/without-drf/...: a view that reads any organization without a credential.
ROOT_URLCONF = "scripts.bench.urls"
# python -m scripts.bench --hasher pbkdf2: sign-ins as before Argon2id, for the comparison.
if env.string("BENCH_PASSWORD_HASHER", "") == "pbkdf2":
    PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        *(hasher for hasher in PASSWORD_HASHERS if "PBKDF2PasswordHasher" not in hasher),
    ]
# python -m scripts.bench --only servers: one run per middleware with that one left out. A name
# not in MIDDLEWARE is refused: a typo must not measure the full stack under another name.
_WITHOUT = env.list_of("BENCH_WITHOUT_MIDDLEWARE", default=[])
if set(_WITHOUT) - set(MIDDLEWARE):
    raise ImproperlyConfigured(
        f"BENCH_WITHOUT_MIDDLEWARE names {', '.join(sorted(set(_WITHOUT) - set(MIDDLEWARE)))}, not in MIDDLEWARE."
    )
MIDDLEWARE = [middleware for middleware in MIDDLEWARE if middleware not in _WITHOUT]
