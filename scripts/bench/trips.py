"""Network round trips per request, to PostgreSQL and to Redis, counted on the benchmark's own stack.

The bench process is configured as the app (``scripts.bench.settings``, the app role, the
private PostgreSQL and Redis: ``explain._django``). It sends reads through Django's full
request path (``django.test.Client``: every middleware, the view, the renderer) and counts,
per request, psycopg's waits for PostgreSQL's answer and the Redis commands sent
(``tests.support.round_trips``, the counter the tests assert with). Issue #17's targets: one
round trip to PostgreSQL per read, at most one to Redis. Creates are counted too (``writes``):
the tests pin 4 for a project and 5 for a task (taskhub/tenancy/tests/test_write_round_trips.py).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from scripts.bench.explain import _django

REQUESTS = 50


@dataclass
class Trips:
    """Round trips per request of one endpoint: how many requests made how many."""

    path: str
    method: str = "GET"
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
            f"{self.method} {self.path}: PostgreSQL round trips per request {dict(sorted(self.postgresql.items()))}, "
            f"Redis {dict(sorted(self.redis.items()))} (round trips: requests), statuses {dict(self.statuses)}"
        )


def measure(
    environment: dict[str, str],
    *,
    token: str,
    paths: list[str],
    writes: Sequence[tuple[str, Callable[[int], dict[str, Any]]]] = (),
    requests: int = REQUESTS,
) -> list[Trips]:
    """Send ``requests`` GETs of each path, and POSTs of each (path, body of the n-th) in ``writes``,
    with ``token`` (after a warm one) and count their round trips."""
    _django(environment)
    from django.test import Client  # noqa: PLC0415 - configured from the stack's environment first

    from tests.support.round_trips import round_trips  # noqa: PLC0415

    host = environment["ALLOWED_HOSTS"].split(",")[0]
    client = Client(HTTP_HOST=host, HTTP_AUTHORIZATION=f"Bearer {token}")
    sends: list[tuple[str, Callable[[int], dict[str, Any]] | None]] = [(path, None) for path in paths]
    sends += list(writes)

    def send(path: str, body: Callable[[int], dict[str, Any]] | None, number: int) -> Any:
        if body is None:
            return client.get(path)
        return client.post(path, json.dumps(body(number)), content_type="application/json")

    measured = []
    for path, body in sends:
        # Warm: the process's connections open, the token verified and its version cached.
        send(path, body, 0)
        trips = Trips(path, "GET" if body is None else "POST")
        for number in range(1, requests + 1):
            with round_trips() as counted:
                response = send(path, body, number)
            trips.postgresql[len(counted.postgresql)] += 1
            trips.redis[counted.redis] += 1
            trips.statuses[response.status_code] += 1
        measured.append(trips)
    return measured
