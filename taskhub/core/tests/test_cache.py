"""The Redis cache backend builds one Redis client per pool and otherwise behaves as Django's."""

import pytest
from django.conf import settings
from django.core.cache import cache, caches

from taskhub.core.cache import RedisCache

needs_redis = pytest.mark.skipif(not settings.USES_REDIS, reason="needs REDIS_URL")


def test_redis_client_is_built_once_per_pool():
    backend = RedisCache("redis://127.0.0.1:6379/15", {})

    first = backend._cache.get_client(write=True)
    assert backend._cache.get_client() is first
    assert backend._cache.get_client(write=True) is first


@needs_redis
def test_default_cache_reads_back_what_it_wrote():
    assert isinstance(caches["default"], RedisCache)
    cache.set("cache-test", {"value": 1}, 10)
    cache.set_many({"cache-test-a": 1, "cache-test-b": None}, 10)

    assert cache.get("cache-test") == {"value": 1}
    assert cache.get_many(["cache-test-a", "cache-test-b", "cache-test-missing"]) == {
        "cache-test-a": 1,
        "cache-test-b": None,
    }
    assert cache.delete("cache-test")
    assert cache.get("cache-test", "gone") == "gone"
