"""Django's Redis cache, with one Redis client per connection pool instead of one per operation.

Django builds a new ``redis.Redis`` for every cache call; its constructor costs about as much
as the round trip itself (it fills a table of some 170 response callbacks). An authenticated
request makes several cache calls (token version and logout denylist, throttle counts), so
the client is built once per pool and reused. ``redis.Redis`` is thread-safe: each command
takes a connection from the pool, and the pool notices a fork.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.core.cache.backends import redis as django_redis


class _ReusingClient(django_redis.RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # Django's own private helpers, which its stubs do not declare.
        django_client: Any = self
        pool = django_client._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = django_client._client(connection_pool=pool)
        return client


class RedisCache(django_redis.RedisCache):
    """``django.core.cache.backends.redis.RedisCache`` reusing its Redis clients."""

    @cached_property
    def _cache(self) -> _ReusingClient:
        backend: Any = self
        return _ReusingClient(backend._servers, **backend._options)
