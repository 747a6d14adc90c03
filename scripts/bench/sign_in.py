"""Sign-in latency: sequential ``POST /api/v1/auth/token/``, one at a time, and the hasher that served them.

wrk's "token obtain" round measures sign-ins under concurrency (queueing for workers included);
this is one client signing in again and again on an idle server: what a person waits for.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from scripts.bench.stack import BenchStack
from tests.support.servers import APP_DATABASE

SIGN_IN_PATH = "/api/v1/auth/token/"
SAMPLES = 50


@dataclass
class SignInLatency:
    hasher: str
    samples: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    errors: int

    def line(self) -> str:
        return (
            f"sign-in latency ({self.samples} sequential POST {SIGN_IN_PATH}): p50 {self.p50_ms:.1f} ms, "
            f"p95 {self.p95_ms:.1f} ms, max {self.max_ms:.1f} ms, {self.errors} errors; hasher {self.hasher}"
        )


def describe_hash(encoded: str) -> str:
    """The algorithm and cost parameters of a stored hash (never its salt or digest)."""
    parts = encoded.split("$")
    if parts[0] == "argon2" and len(parts) > 3:
        return f"{parts[1]} ({parts[3].replace(',', ', ')})"
    if parts[0].startswith("pbkdf2") and len(parts) > 1:
        return f"{parts[0]} ({int(parts[1]):,} iterations)"
    return parts[0]


def stored_hasher(stack: BenchStack, username: str) -> str:
    with stack.postgres.connect(dbname=APP_DATABASE) as superuser:
        row = superuser.execute("SELECT password FROM accounts_user WHERE username = %s", [username]).fetchone()
    return describe_hash(str(row[0])) if row else "unknown"


def measure(stack: BenchStack, *, username: str = "bench-1-member", samples: int = SAMPLES) -> SignInLatency:
    """Sign in ``samples`` times in a row after one warm-up; the hasher is read from the stored hash afterwards."""
    body = {"username": username, "password": stack.password}
    # The warm-up also rehashes a hash stored with another hasher to the app's first one, as a
    # real user's first sign-in would: the samples then run the hasher being measured.
    warm = stack.app.client.post(SIGN_IN_PATH, body)
    if warm.status != 200:
        raise RuntimeError(f"sign-in as {username} answered {warm.status}: {warm.text[:300]}")
    milliseconds, errors = [], 0
    for _ in range(samples):
        reply = stack.app.client.post(SIGN_IN_PATH, body)
        errors += reply.status != 200
        milliseconds.append(reply.seconds * 1000)
    cuts = statistics.quantiles(milliseconds, n=100, method="inclusive")
    return SignInLatency(
        hasher=stored_hasher(stack, username),
        samples=samples,
        p50_ms=statistics.median(milliseconds),
        p95_ms=cuts[94],
        max_ms=max(milliseconds),
        errors=errors,
    )
