"""Count the network round trips a block makes to PostgreSQL and to Redis.

PostgreSQL: psycopg waits for the server through ``Connection.wait``, once per statement sent on
its own (BEGIN and COMMIT included) and once per pipeline sync. Inside a pipeline, the waits that
only send queued statements and read whatever has already arrived (entering, each ``execute``)
do not wait for an answer, so they are not round trips; the sync at the pipeline's exit is one.
Django's own per-request health check (``SELECT 1``) goes through the same method, so it counts.

Redis: redis-py sends each command (or each pipeline) with ``send_packed_command`` and reads its
reply before sending the next, so each call is one round trip.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from redis.connection import AbstractConnection

# The pipeline's generators that send without waiting for an answer.
_SENDING_ONLY = frozenset({"_enter_gen", "_execute_gen", "_executemany_gen"})
# Setters that only check the connection's state (they sync only a pipeline in progress).
_NO_ANSWER = frozenset({"_set_autocommit_gen", "_set_isolation_level_gen", "_set_read_only_gen", "_set_deferrable_gen"})
# Set while the test harness itself talks to the database (conftest.py's role switches around
# each request): not the app's round trips.
_uncounted = threading.local()


@contextlib.contextmanager
def uncounted() -> Iterator[None]:
    """Leave the block's round trips out of every count (the test harness's own statements)."""
    _uncounted.active = True
    try:
        yield
    finally:
        _uncounted.active = False


@dataclass
class RoundTrips:
    postgresql: list[str] = field(default_factory=list)
    redis: int = 0


@contextlib.contextmanager
def round_trips() -> Iterator[RoundTrips]:
    """Count, while the block runs, each wait for PostgreSQL's answer (by generator) and each Redis command."""
    counted = RoundTrips()
    wait = psycopg.Connection.wait
    send = AbstractConnection.send_packed_command

    def counting_wait(self: psycopg.Connection[Any], gen: Any, *args: Any, **kwargs: Any) -> Any:
        name = getattr(gen, "__name__", type(gen).__name__)
        sending = self._pipeline is not None and name in _SENDING_ONLY
        if not getattr(_uncounted, "active", False) and not sending and name not in _NO_ANSWER:
            counted.postgresql.append(name)
        return wait(self, gen, *args, **kwargs)

    def counting_send(self: AbstractConnection, *args: Any, **kwargs: Any) -> Any:
        counted.redis += 1
        return send(self, *args, **kwargs)

    psycopg.Connection.wait = counting_wait  # type: ignore[method-assign]
    AbstractConnection.send_packed_command = counting_send  # type: ignore[method-assign]
    try:
        yield counted
    finally:
        psycopg.Connection.wait = wait  # type: ignore[method-assign]
        AbstractConnection.send_packed_command = send  # type: ignore[method-assign]
