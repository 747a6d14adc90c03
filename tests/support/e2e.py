"""When a test that runs real servers or a browser runs, skips, or fails for a missing program.

One rule for every such test (nginx, pgbouncer, schemathesis, backups, outages, the browser,
migrations to zero, the README walk through...):

- They run only in the PostgreSQL pass: ``DB_NAME``/``DB_HOST`` (or ``DATABASE_URL``) set, as
  ``.ci/run`` sets them. Without those variables the suite runs on SQLite, as ``make test``
  does for a new user, and starts no outside server, whatever programs the machine has.
- CI's SQLite pass (``TASKHUB_TEST_SQLITE=1``) runs no servers: skipped.
- In the PostgreSQL pass, outside CI, a missing program (nginx, pgbouncer, initdb, chromium...)
  skips the module; in CI (``CI=true``) it fails it: ``.ci/run`` installs them, and a test that
  matters must not quietly stop running there.

``marks`` gives a module its ``pytestmark`` (``mark``, one test's); ``require_servers`` (called by
``throwaway.running_stack``) and ``require_superuser`` apply the same rule at run time.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
# What makes the suite's own database PostgreSQL (taskhub.core.env.database), each also as NAME_FILE.
POSTGRESQL_VARIABLES = ("DB_NAME", "DB_HOST", "DATABASE_URL")
NOT_POSTGRESQL = (
    "runs only in the PostgreSQL pass: DB_NAME and DB_HOST (or DATABASE_URL) are unset, so this run is "
    "SQLite and starts no servers; set them with DB_USER, DB_MIGRATION_USER, DB_PLATFORM_USER and REDIS_URL, "
    "as .ci/run does"
)


def postgresql_pass() -> bool:
    """Whether this run's database variables point at PostgreSQL."""
    return any(os.environ.get(name) or os.environ.get(f"{name}_FILE") for name in POSTGRESQL_VARIABLES)


def skip_reason(missing: Sequence[str] = (), *, purpose: str = "to run private servers") -> str | None:
    """Why a test that starts servers does not run here; None when it runs (or, in CI, must)."""
    if os.environ.get("TASKHUB_TEST_SQLITE") == "1":
        return "the SQLite pass runs no servers"
    if not postgresql_pass():
        return NOT_POSTGRESQL
    if missing and not IN_CI:
        return f"needs {', '.join(missing)} {purpose}"
    return None


def mark(missing: Sequence[str] = (), *, purpose: str = "to run private servers") -> pytest.MarkDecorator:
    """A test's mark: skip unless this is the PostgreSQL pass, and outside CI when ``missing``."""
    reason = skip_reason(missing, purpose=purpose)
    return pytest.mark.skipif(reason is not None, reason=reason or "")


def marks(missing: Sequence[str] = (), *, purpose: str = "to run private servers") -> list[pytest.MarkDecorator]:
    """The module's ``pytestmark``: ``mark`` for every test in it."""
    return [mark(missing, purpose=purpose)]


def require_servers() -> None:
    """Skip the running test unless this is the PostgreSQL pass (for code that starts servers)."""
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)


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
    """Skip outside the PostgreSQL pass; skip when the superuser cannot connect, except in CI (a failure)."""
    require_servers()
    try:
        with superuser() as connection:
            connection.execute("SELECT 1")
    except Exception as exc:  # any failure to reach the server
        if IN_CI:
            raise
        pytest.skip(f"no PostgreSQL superuser 'postgres' at {SHARED_HOST}:{SHARED_PORT}: {exc}")
