"""Development: DEBUG on by default, SQLite unless a database is configured."""

import secrets

from config import env
from config.settings.base import *  # noqa: F403
from config.settings.base import BASE_DIR, SIMPLE_JWT, jwt_keys

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
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
