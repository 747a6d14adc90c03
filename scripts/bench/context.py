"""What the verified tenant context costs (taskhub.core.rls): per statement and per request.

Measured in the bench process over the app role's own connection to the private PostgreSQL:

- a getter (``taskhub_rls.organization_id()``, what a policy evaluates once per statement and
  table as an InitPlan): 20,000 calls in one statement, minus the same statement without them;
- a plain ``current_setting`` read, what the old, forgeable policies evaluated instead;
- entering a context (``rls.set_context``: one statement; a request sends it in the pipeline of
  its first statement, ``rls.carried``, so what it adds there is the statement, not a round trip).
"""

from __future__ import annotations

import statistics
import time
import uuid
from dataclasses import dataclass

from scripts.bench.explain import _django

CALLS = 20_000
ENTRIES = 500
BUDGET_US = 100.0
# What set_context sent before the context was verified: five plain settings in one statement.
OLD_SET_CONFIG = "SELECT " + ", ".join(
    f"set_config('app.{name}', %s, true)"
    for name in ("organization_id", "user_id", "api_key_prefix", "invitation_token_hash", "bypass_rls")
)


@dataclass
class ContextCosts:
    getter_us: float
    plain_setting_us: float
    enter_us_p50: float
    plain_set_config_us_p50: float

    @property
    def within_budget(self) -> bool:
        return self.getter_us <= BUDGET_US

    def text(self) -> str:
        verdict = "met" if self.within_budget else "GAP"
        return (
            "Tenant context (verified, sealed):\n"
            f"  per statement and table: {self.getter_us:.1f} us (a plain current_setting read: "
            f"{self.plain_setting_us:.2f} us); budget {BUDGET_US:.0f} us: {verdict}\n"
            f"  entering a context (set_context on its own; requests pipeline it with their statement): "
            f"p50 {self.enter_us_p50:.0f} us; "
            f"the old unsigned set_config statement: p50 {self.plain_set_config_us_p50:.0f} us"
        )


def _per_call(cursor: object, expression: str) -> float:
    def timed(sql: str) -> float:
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            cursor.execute(sql, [CALLS])  # type: ignore[attr-defined]
            cursor.fetchone()  # type: ignore[attr-defined]
            best = min(best, time.perf_counter() - started)
        return best

    with_calls = timed(f"SELECT count({expression}) FROM generate_series(1, %s)")  # noqa: S608 - constants
    without = timed("SELECT count(*) FROM generate_series(1, %s)")
    return max(0.0, (with_calls - without) / CALLS * 1e6)


def measure(environment: dict[str, str]) -> ContextCosts:
    _django(environment)
    from django.db import connection, transaction  # noqa: PLC0415

    from taskhub.core import rls  # noqa: PLC0415

    organization = uuid.uuid4()
    with transaction.atomic():
        rls.set_context(organization_id=organization)
        with connection.cursor() as cursor:
            getter = _per_call(cursor, "taskhub_rls.organization_id()")
            plain = _per_call(cursor, "nullif(current_setting('taskhub.organization_id', true), '')")
        entries, plain_entries = [], []
        for _ in range(ENTRIES):
            started = time.perf_counter()
            rls.set_context(organization_id=organization)
            entries.append((time.perf_counter() - started) * 1e6)
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(OLD_SET_CONFIG, [str(organization), "", "", "", ""])
            plain_entries.append((time.perf_counter() - started) * 1e6)
    connection.close()
    return ContextCosts(
        getter_us=getter,
        plain_setting_us=plain,
        enter_us_p50=statistics.median(entries),
        plain_set_config_us_p50=statistics.median(plain_entries),
    )
