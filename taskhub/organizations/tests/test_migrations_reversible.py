"""Every project app's migrations run backwards to zero and forwards again, with data in place.

On a scratch PostgreSQL database set up as production sets one up: ``manage.py
setup_database_roles`` (run with the superuser as its admin connection) makes three scratch
roles, an owner (owns the database and everything ``migrate`` creates), an app role (no
superuser, no BYPASSRLS, owns nothing) and a platform role (BYPASSRLS, what ``seed_tenants``
runs as), and the database. Every ``manage.py`` call names the three roles and the test's one
SECRET_KEY (the tenant-context key that ``migrate`` stores derives from it). Then: ``migrate``,
``seed_tenants`` (three organizations), then ``migrate <app> zero`` for each project app in
reverse dependency order, then ``migrate`` again. At the end every tenant table has its forced
``tenant_isolation`` policy back, ``check --database default`` (the RLS system check, as the
app role) passes and seeding works again. The scratch database and roles are dropped in
``finally``. Skipped like the restore drill: on CI's SQLite pass, and outside CI without the
PostgreSQL client tools or server.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from taskhub.tenancy.registry import tenant_tables
from tests.support import e2e
from tests.support.throwaway import REPO, child_environment

CI = os.environ.get("CI") == "true"
MISSING_TOOLS = [tool for tool in ("pg_dump", "pg_restore", "psql") if shutil.which(tool) is None]
HOST, PORT = e2e.SHARED_HOST, e2e.SHARED_PORT
# Dependents first: unapplying accounts also unapplies Django's apps that need the user model.
REVERSE_ORDER = ("tasks", "projects", "audit", "organizations", "accounts")

pytestmark = [
    pytest.mark.skipif(os.environ.get("TASKHUB_TEST_SQLITE") == "1", reason="the SQLite pass has no PostgreSQL"),
    pytest.mark.skipif(bool(MISSING_TOOLS) and not CI, reason=f"needs {', '.join(MISSING_TOOLS)}"),
]


@dataclass(frozen=True)
class Scratch:
    """A scratch database, its three roles (each role's password is its name) and the SECRET_KEY of every call."""

    name: str
    owner: str
    app: str
    platform: str
    secret_key: str

    @property
    def roles(self) -> tuple[str, str, str]:
        return (self.owner, self.app, self.platform)

    def environment(self, **extra: str) -> dict[str, str]:
        return child_environment(
            DJANGO_SETTINGS_MODULE="config.settings.local",
            SECRET_KEY=self.secret_key,
            PYTHONDONTWRITEBYTECODE="1",
            DB_NAME=self.name,
            DB_USER=self.app,
            DB_PASSWORD=self.app,
            DB_MIGRATION_USER=self.owner,
            DB_MIGRATION_PASSWORD=self.owner,
            DB_PLATFORM_USER=self.platform,
            DB_PLATFORM_PASSWORD=self.platform,
            DB_HOST=HOST,
            DB_PORT=PORT,
            **extra,
        )


def _drop_scratch(name: str, roles: tuple[str, ...]) -> None:
    """Drop the database, then whatever the roles still own or were granted elsewhere, then the roles."""
    with e2e.superuser() as connection:
        with contextlib.suppress(Exception):
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        existing = [
            row[0] for row in connection.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", [list(roles)])
        ]
        if not existing:
            return
        listed = ", ".join(existing)
        with contextlib.suppress(Exception):
            connection.execute(f"DROP OWNED BY {listed}")  # grants on shared objects and in this database
        with contextlib.suppress(Exception):
            connection.execute(f"DROP ROLE IF EXISTS {listed}")


@pytest.fixture
def database() -> Iterator[Scratch]:
    e2e.require_superuser()
    suffix = secrets.token_hex(4)
    scratch = Scratch(
        name=f"taskhub_bk_mig_{suffix}",
        owner=f"taskhub_bk_owner_{suffix}",
        app=f"taskhub_bk_app_{suffix}",
        platform=f"taskhub_bk_platform_{suffix}",
        secret_key=secrets.token_urlsafe(48),
    )
    try:
        _manage(scratch, "setup_database_roles", DATABASE_ADMIN_URL=f"postgres://postgres@{HOST}:{PORT}/postgres")
        yield scratch
    finally:
        _drop_scratch(scratch.name, scratch.roles)


def _manage(database: Scratch, *arguments: str, **extra: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=REPO,
        env=database.environment(**extra),
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


def _owners(database: str) -> set[str]:
    """Who owns the tables of the public schema."""
    with e2e.superuser(database) as connection:
        rows = connection.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {row[0] for row in rows}


def test_project_migrations_reverse_to_zero_and_reapply(database: Scratch) -> None:
    # Every model with an organization foreign key (taskhub.tenancy.registry), found in this
    # process; the scratch database's migrations must protect exactly those.
    tenant = set(tenant_tables())
    _manage(database, "migrate", "--noinput", "-v0")
    assert _protected(database.name) == tenant
    assert _owners(database.name) == {database.owner}
    _manage(database, "seed_tenants", "--organizations", "3", "--projects", "2", "--tasks", "3")

    for app in REVERSE_ORDER:
        _manage(database, "migrate", app, "zero", "--noinput", "-v0")
        assert not {table for table in _tables(database.name) if table.startswith(f"{app}_")}, app
    assert not _protected(database.name)
    assert not tenant & _tables(database.name)

    _manage(database, "migrate", "--noinput", "-v0")
    assert _protected(database.name) == tenant
    assert _owners(database.name) == {database.owner}
    _manage(database, "check", "--database", "default")
    assert "Seeded 3" in _manage(database, "seed_tenants", "--organizations", "3")
