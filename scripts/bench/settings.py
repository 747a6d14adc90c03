"""The benchmark's settings (``make bench`` only): production settings, plus the bare comparison view.

With BENCH_PASSWORD_HASHER=pbkdf2 (``--hasher pbkdf2``) PBKDF2 is the first hasher, as before
Argon2id: the sign-in latency's "before".

Never deployed: the production settings route config.urls, which has no bench route
(tests/bench/test_production_urls.py), and no product module imports scripts/ (import-linter).
"""

from config.settings.production import *  # noqa: F403
from config.settings.production import PASSWORD_HASHERS
from taskhub.core import env

# config.urls plus /bench/bare/...: a view that reads any organization without a credential.
ROOT_URLCONF = "scripts.bench.urls"
# python -m scripts.bench --hasher pbkdf2: sign-ins as before Argon2id, for the comparison.
if env.string("BENCH_PASSWORD_HASHER", "") == "pbkdf2":
    PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        *(hasher for hasher in PASSWORD_HASHERS if "PBKDF2PasswordHasher" not in hasher),
    ]
