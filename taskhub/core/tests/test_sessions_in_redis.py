"""With ``REDIS_URL`` set, admin sessions live in Redis, not in the ``django_session`` table.

``config/settings/base.py`` sets ``SESSION_ENGINE`` to the cache backend when ``REDIS_URL`` is
set, and the default cache is then Redis (``taskhub.core.cache.RedisCache``). These tests sign
a staff user in to the admin (``force_login`` and the real login form) and look for the session
under its key in Redis itself, and for no row in ``django_session``.

Skipped without ``REDIS_URL`` (the SQLite pass, a laptop without Redis); in CI (``CI=true``)
the PostgreSQL pass without it fails instead, since ``.ci/run`` sets it there.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.cache import KEY_PREFIX
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.db import connection

from tests.support.e2e import IN_CI

PASSWORD = "a-strong-pass-42"

pytestmark = [
    pytest.mark.skipif(
        not settings.USES_REDIS and not (IN_CI and connection.vendor == "postgresql"),
        reason="sessions are in Redis only when REDIS_URL is set (CI's PostgreSQL pass sets it)",
    ),
    pytest.mark.django_db,
]


@pytest.fixture
def redis() -> Any:
    """The raw Redis client of the session cache, and the cache itself."""
    assert settings.USES_REDIS, "REDIS_URL is not set: CI's PostgreSQL pass runs with Redis (.ci/run)"
    session_cache = caches[settings.SESSION_CACHE_ALIAS]
    return session_cache, session_cache._cache.get_client(write=True)  # type: ignore[attr-defined]


def _redis_key(session_cache: Any, session_key: str) -> str:
    # What django.contrib.sessions.backends.cache stores under, with the cache's KEY_PREFIX and version.
    return session_cache.make_key(KEY_PREFIX + session_key)


def _staff() -> Any:
    # The user model through Django: core imports no product app (pyproject's import contracts).
    return get_user_model().objects.create_superuser(username="root", email="root@example.com", password=PASSWORD)


def test_the_session_engine_is_the_redis_cache(redis):
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.cache"
    assert settings.CACHES[settings.SESSION_CACHE_ALIAS]["BACKEND"] == "taskhub.core.cache.RedisCache"
    assert settings.CACHES[settings.SESSION_CACHE_ALIAS]["LOCATION"] == settings.CACHES["default"]["LOCATION"]


def test_an_admin_login_puts_the_session_in_redis_and_not_in_the_table(client, redis):
    session_cache, client_redis = redis
    client.force_login(_staff())
    session_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    stored = _redis_key(session_cache, session_key)
    assert client_redis.exists(stored) == 1, f"no {stored} in Redis"
    assert 0 < client_redis.ttl(stored) <= settings.SESSION_COOKIE_AGE
    assert not Session.objects.filter(session_key=session_key).exists()
    assert Session.objects.count() == 0
    # The admin reads the session back from Redis.
    assert client.get("/admin/").status_code == 200


def test_the_admin_login_form_and_logout_write_and_delete_the_session_in_redis(client, redis):
    session_cache, client_redis = redis
    _staff()
    response = client.post("/admin/login/?next=/admin/", {"username": "root", "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302, response.content[:500]
    session_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    stored = _redis_key(session_cache, session_key)
    assert client_redis.exists(stored) == 1
    assert Session.objects.count() == 0
    assert client.get("/admin/").status_code == 200

    assert client.post("/admin/logout/").status_code in {200, 302}
    assert client_redis.exists(stored) == 0
    assert Session.objects.count() == 0
