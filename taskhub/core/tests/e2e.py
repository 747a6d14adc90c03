"""When a test that runs real servers or a browser runs, skips, or fails for a missing program.

- CI's SQLite pass (``TASKHUB_TEST_SQLITE=1``) runs no servers: skipped.
- Outside CI, a missing program (nginx, pgbouncer, initdb, chromium...) skips the module.
- In CI (``CI=true``) a missing program fails it: ``.ci/run`` installs them, and a test that
  matters must not quietly stop running there.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def marks(missing: Sequence[str], *, purpose: str = "to run private servers") -> list[pytest.MarkDecorator]:
    """The module's ``pytestmark``: skip in the SQLite pass, and outside CI when ``missing``."""
    return [
        pytest.mark.skipif(os.environ.get("TASKHUB_TEST_SQLITE") == "1", reason="the SQLite pass runs no servers"),
        pytest.mark.skipif(bool(missing) and not IN_CI, reason=f"needs {', '.join(missing)} {purpose}"),
    ]


def require(missing: Sequence[str], *, what: str) -> None:
    """Fail (only reached in CI, where ``marks`` does not skip) when a needed program is missing."""
    if missing:
        pytest.fail(f"CI=true and {', '.join(missing)} missing: {what} must run in CI (.ci/run installs it)")


# The machine's PostgreSQL, for tests that make scratch roles and databases as its superuser
# (the restore drill, migrations to zero and back). The app itself never connects as it.
SHARED_HOST = os.environ.get("DB_HOST") or os.environ.get("PGHOST") or "127.0.0.1"
SHARED_PORT = os.environ.get("DB_PORT") or os.environ.get("PGPORT") or "5432"


def superuser(dbname: str = "postgres") -> Any:
    """An autocommit connection as the shared server's ``postgres`` superuser."""
    import psycopg  # noqa: PLC0415 - only where PostgreSQL is tested

    return psycopg.connect(
        host=SHARED_HOST, port=SHARED_PORT, user="postgres", dbname=dbname, autocommit=True, connect_timeout=5
    )


def require_superuser() -> None:
    """Skip when the superuser cannot connect, except in CI, where that is a failure."""
    try:
        with superuser() as connection:
            connection.execute("SELECT 1")
    except Exception as exc:  # any failure to reach the server
        if IN_CI:
            raise
        pytest.skip(f"no PostgreSQL superuser 'postgres' at {SHARED_HOST}:{SHARED_PORT}: {exc}")
