"""Network round trips per read request, to PostgreSQL and to Redis, counted on the benchmark's own stack.

The bench process is configured as the app (``scripts.bench.settings``, the app role, the
private PostgreSQL and Redis: ``explain._django``). It sends reads through Django's full
request path (``django.test.Client``: every middleware, the view, the renderer) and counts,
per request, psycopg's waits for PostgreSQL's answer and the Redis commands sent
(``tests.support.round_trips``, the counter the tests assert with). Issue #17's targets: one
round trip to PostgreSQL per read, at most one to Redis.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from scripts.bench.explain import _django

REQUESTS = 50


@dataclass
class Trips:
    """Round trips per request of one endpoint: how many requests made how many."""

    path: str
    postgresql: Counter[int] = field(default_factory=Counter)
    redis: Counter[int] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def worst_postgresql(self) -> int:
        return max(self.postgresql)

    @property
    def worst_redis(self) -> int:
        return max(self.redis)

    def line(self) -> str:
        return (
            f"{self.path}: PostgreSQL round trips per request {dict(sorted(self.postgresql.items()))}, "
            f"Redis {dict(sorted(self.redis.items()))} (round trips: requests), statuses {dict(self.statuses)}"
        )


def measure(environment: dict[str, str], *, token: str, paths: list[str], requests: int = REQUESTS) -> list[Trips]:
    """Send ``requests`` GETs of each path with ``token`` (after a warm one) and count their round trips."""
    _django(environment)
    from django.test import Client  # noqa: PLC0415 - configured from the stack's environment first

    from tests.support.round_trips import round_trips  # noqa: PLC0415

    host = environment["ALLOWED_HOSTS"].split(",")[0]
    client = Client(HTTP_HOST=host, HTTP_AUTHORIZATION=f"Bearer {token}")
    measured = []
    for path in paths:
        # Warm: the process's connections open, the token verified and its version cached.
        client.get(path)
        trips = Trips(path)
        for _ in range(requests):
            with round_trips() as counted:
                response = client.get(path)
            trips.postgresql[len(counted.postgresql)] += 1
            trips.redis[counted.redis] += 1
            trips.statuses[response.status_code] += 1
        measured.append(trips)
    return measured
