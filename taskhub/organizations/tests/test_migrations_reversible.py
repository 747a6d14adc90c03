"""Every project app's migrations run backwards to zero and forwards again, with data in place.

On a scratch PostgreSQL database owned by a scratch app role (no superuser, no BYPASSRLS):
``migrate``, ``seed_tenants`` (three organizations), then ``migrate <app> zero`` for each
project app in reverse dependency order, then ``migrate`` again. At the end every tenant table
has its forced ``tenant_isolation`` policy back, ``check --database default`` (the RLS system
check) passes and seeding works again. Skipped like the restore drill: on CI's SQLite pass, and
outside CI without the PostgreSQL client tools or server.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from taskhub.core.tests import e2e
from taskhub.core.tests.throwaway import REPO, child_environment

CI = os.environ.get("CI") == "true"
MISSING_TOOLS = [tool for tool in ("pg_dump", "pg_restore", "psql") if shutil.which(tool) is None]
HOST, PORT = e2e.SHARED_HOST, e2e.SHARED_PORT
# Dependents first: unapplying accounts also unapplies Django's apps that need the user model.
REVERSE_ORDER = ("tasks", "projects", "audit", "organizations", "accounts")
TENANT_TABLES = {
    "accounts_apikey",
    "audit_auditevent",
    "organizations_invitation",
    "organizations_membership",
    "projects_project",
    "tasks_task",
}

pytestmark = [
    pytest.mark.skipif(os.environ.get("TASKHUB_TEST_SQLITE") == "1", reason="the SQLite pass has no PostgreSQL"),
    pytest.mark.skipif(bool(MISSING_TOOLS) and not CI, reason=f"needs {', '.join(MISSING_TOOLS)}"),
]


@pytest.fixture
def database() -> Iterator[str]:
    e2e.require_superuser()
    suffix = secrets.token_hex(4)
    role, name = f"taskhub_bk_app_{suffix}", f"taskhub_bk_mig_{suffix}"
    try:
        with e2e.superuser() as connection:
            connection.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{role}' NOSUPERUSER NOBYPASSRLS")
            connection.execute(f"CREATE DATABASE {name} OWNER {role}")
        yield name
    finally:
        with e2e.superuser() as connection:
            with contextlib.suppress(Exception):
                connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            with contextlib.suppress(Exception):
                connection.execute(f"DROP ROLE IF EXISTS {role}")


def _manage(database: str, *arguments: str) -> str:
    role = database.replace("_mig_", "_app_")
    environment = child_environment(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        SECRET_KEY=secrets.token_urlsafe(48),
        PYTHONDONTWRITEBYTECODE="1",
        DB_NAME=database,
        DB_USER=role,
        DB_PASSWORD=role,
        DB_HOST=HOST,
        DB_PORT=PORT,
    )
    result = subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"manage.py {' '.join(arguments)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _protected(database: str) -> set[str]:
    """Tables with row-level security enabled and forced and a tenant_isolation policy."""
    with e2e.superuser(database) as connection:
        rows = connection.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_policies p ON p.tablename = c.relname "
            "AND p.schemaname = 'public' AND p.policyname = 'tenant_isolation' "
            "WHERE c.relnamespace = 'public'::regnamespace AND c.relrowsecurity AND c.relforcerowsecurity"
        ).fetchall()
    return {row[0] for row in rows}


def _tables(database: str) -> set[str]:
    with e2e.superuser(database) as connection:
        rows = connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {row[0] for row in rows}


def test_project_migrations_reverse_to_zero_and_reapply(database: str) -> None:
    _manage(database, "migrate", "--noinput", "-v0")
    assert _protected(database) == TENANT_TABLES
    _manage(database, "seed_tenants", "--organizations", "3", "--projects", "2", "--tasks", "3")

    for app in REVERSE_ORDER:
        _manage(database, "migrate", app, "zero", "--noinput", "-v0")
        assert not {table for table in _tables(database) if table.startswith(f"{app}_")}, app
    assert not _protected(database)
    assert not TENANT_TABLES & _tables(database)

    _manage(database, "migrate", "--noinput", "-v0")
    assert _protected(database) == TENANT_TABLES
    _manage(database, "check", "--database", "default")
    assert "Seeded 3" in _manage(database, "seed_tenants", "--organizations", "3")
