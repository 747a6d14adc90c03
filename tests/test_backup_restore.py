"""The restore drill: back up a seeded database with scripts/backup, restore it with scripts/restore.

Black-box, against the PostgreSQL server the suite uses (DB_HOST/DB_PORT, superuser
``postgres``), with the three roles production has: ``manage.py setup_database_roles`` makes
a scratch owner (owns the tables, ``migrate`` runs as it), app (no superuser, no BYPASSRLS,
owns nothing) and platform role (BYPASSRLS), and a scratch source and target database owned by
the owner. Every ``manage.py`` call uses the Scratch's one SECRET_KEY (the tenant-context key
``migrate`` stores derives from it). The source is migrated and seeded (several
organizations); scripts/create_backup_role.sql makes a scratch backup role; scripts/backup
dumps; scripts/restore, connected as the owner, loads the dump into the empty target and
counts its rows through the platform role. Every table of the schema must then have the same
row count and the same checksum of its rows (read as the superuser on both sides); the
row-level security policies must be back, still forced, and every grant as it was (the
REVOKEs from PUBLIC on the tenant-context functions included). The dump holds no
tenant-context key: after ``migrate`` stores it again, the app role sees each organization's
rows in that organization's context and none without one.

It also proves why the backup role exists: the same pg_dump run as the app role writes every
tenant table empty, and scripts/backup refuses such a role.

Everything scratch is named ``taskhub_bk_*`` and dropped in ``finally``. Skipped on CI's
SQLite pass (TASKHUB_TEST_SQLITE=1), and outside CI when the PostgreSQL client tools or the
server are missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from taskhub.tenancy.registry import tenant_tables
from tests.support import e2e
from tests.support.throwaway import REPO, child_environment

CI = os.environ.get("CI") == "true"
TOOLS = ("pg_dump", "pg_restore", "psql")
MISSING_TOOLS = [tool for tool in TOOLS if shutil.which(tool) is None]
HOST, PORT = e2e.SHARED_HOST, e2e.SHARED_PORT
# Run with `manage.py shell -c` as the app role: what it sees of every tenant table (TENANT_TABLES,
# filled in by app_view() with the test process's tenant_tables()) with no context and in each
# organization's, and which functions of taskhub_rls it may call (only the context's entry and
# getters: a grant lost in the restore would show here).
APP_VIEW = """
import json
from django.db import connection
from taskhub.core import rls


def seen():
    found = {}
    with connection.cursor() as cursor:
        for table in TENANT_TABLES:
            cursor.execute(f"SELECT organization_id::text, count(*) FROM public.{table} GROUP BY 1")
            for organization, rows in cursor.fetchall():
                found.setdefault(organization, {})[table] = rows
    return found


with connection.cursor() as cursor:
    cursor.execute("SELECT id::text FROM organizations_organization")
    organizations = [row[0] for row in cursor.fetchall()]
view = {"without": seen(), "within": {}}
for organization in organizations:
    with rls.scoped(organization_id=organization):
        view["within"][organization] = seen()
with connection.cursor() as cursor:
    cursor.execute(
        "SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'taskhub_rls'::regnamespace "
        "AND has_function_privilege(current_user, p.oid, 'EXECUTE') ORDER BY 1"
    )
    view["functions"] = [row[0] for row in cursor.fetchall()]
    cursor.execute("SELECT has_table_privilege(current_user, 'taskhub_rls.key', 'SELECT')")
    view["reads_key"] = cursor.fetchone()[0]
print(json.dumps(view))
"""
# Printed at the end (pytest -s shows them): what the drill measured.
FIGURES: dict[str, Any] = {}

pytestmark = [
    pytest.mark.skipif(os.environ.get("TASKHUB_TEST_SQLITE") == "1", reason="the SQLite pass has no PostgreSQL"),
    pytest.mark.skipif(bool(MISSING_TOOLS) and not CI, reason=f"needs {', '.join(MISSING_TOOLS)}"),
]


def _run(
    command: list[str], *, env: dict[str, str], timeout: float = 60, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


@dataclass
class Scratch:
    suffix: str
    owner_role: str
    app_role: str
    platform_role: str
    backup_role: str
    source: str
    target: str
    root: Path
    # One SECRET_KEY for every manage.py call: the tenant-context key migrate stores derives from it.
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))

    @property
    def roles(self) -> tuple[str, ...]:
        return (self.backup_role, self.platform_role, self.app_role, self.owner_role)

    def url(self, database: str, role: str) -> str:
        """A URL for ``role`` (each scratch role's password is its name)."""
        return f"postgresql://{role}:{role}@{HOST}:{PORT}/{database}"

    def app_environment(self, database: str, **extra: str) -> dict[str, str]:
        return child_environment(
            DJANGO_SETTINGS_MODULE="config.settings.local",
            SECRET_KEY=self.secret_key,
            PYTHONDONTWRITEBYTECODE="1",
            DB_NAME=database,
            DB_USER=self.app_role,
            DB_PASSWORD=self.app_role,
            DB_MIGRATION_USER=self.owner_role,
            DB_MIGRATION_PASSWORD=self.owner_role,
            DB_PLATFORM_USER=self.platform_role,
            DB_PLATFORM_PASSWORD=self.platform_role,
            DB_HOST=HOST,
            DB_PORT=PORT,
            **extra,
        )

    def psql_environment(self, **extra: str) -> dict[str, str]:
        return child_environment(PGHOST=HOST, PGPORT=PORT, **extra)


@pytest.fixture
def scratch(tmp_path) -> Iterator[Scratch]:
    e2e.require_superuser()
    suffix = secrets.token_hex(4)
    names = Scratch(
        suffix=suffix,
        owner_role=f"taskhub_bk_owner_{suffix}",
        app_role=f"taskhub_bk_app_{suffix}",
        platform_role=f"taskhub_bk_platform_{suffix}",
        backup_role=f"taskhub_bk_backup_{suffix}",
        source=f"taskhub_bk_src_{suffix}",
        target=f"taskhub_bk_dst_{suffix}",
        root=tmp_path,
    )
    try:
        # The roles and both databases, as production makes them (the admin is the superuser).
        admin = f"postgres://postgres@{HOST}:{PORT}/postgres"
        for database in (names.source, names.target):
            _run(
                [sys.executable, "manage.py", "setup_database_roles", "--database-name", database],
                env=names.app_environment(names.source, DATABASE_ADMIN_URL=admin),
                timeout=120,
            )
        yield names
    finally:
        with e2e.superuser() as connection:
            for database in (names.source, names.target):
                with contextlib.suppress(Exception):
                    connection.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            # Grants on shared objects or in this database would keep a role alive; then the roles.
            roles = ", ".join(names.roles)
            existing = connection.execute("SELECT count(*) FROM pg_roles WHERE rolname = ANY(%s)", [list(names.roles)])
            if existing.fetchone()[0]:
                for role in names.roles:
                    with contextlib.suppress(Exception):
                        connection.execute(f"DROP OWNED BY {role}")
                with contextlib.suppress(Exception):
                    connection.execute(f"DROP ROLE IF EXISTS {roles}")


def _tables(database: str) -> list[str]:
    with e2e.superuser(database) as connection:
        rows = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        ).fetchall()
    return [row[0] for row in rows]


def _fingerprint(database: str) -> dict[str, tuple[int, str]]:
    """Per table: (rows, md5 of every row's text in order), read as the superuser (no RLS)."""
    seen = {}
    with e2e.superuser(database) as connection:
        for table in _tables(database):
            row = connection.execute(
                f"SELECT count(*), coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM public.{table} t"  # noqa: S608 - catalog names
            ).fetchone()
            seen[table] = (int(row[0]), str(row[1]))
    return seen


def _security(database: str) -> dict[str, Any]:
    with e2e.superuser(database) as connection:
        forced = connection.execute(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
            "WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY relname"
        ).fetchall()
        policies = connection.execute(
            "SELECT tablename, policyname, cmd, qual, with_check FROM pg_policies ORDER BY 1, 2"
        ).fetchall()
    return {"forced": forced, "policies": policies}


def _grants(database: str) -> list[Any]:
    """Who owns what and who may do what: schemas, tables, sequences, functions, default privileges."""
    with e2e.superuser(database) as connection:
        return connection.execute(
            "SELECT 'schema', nspname, nspowner::regrole::text, nspacl::text FROM pg_namespace "
            "WHERE nspname IN ('public', 'taskhub_rls') "
            "UNION ALL SELECT c.relkind::text, n.nspname || '.' || c.relname, c.relowner::regrole::text, "
            "c.relacl::text "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname IN ('public', 'taskhub_rls') AND c.relkind IN ('r', 'p', 'S', 'v', 'm') "
            "UNION ALL SELECT 'function', p.oid::regprocedure::text, p.proowner::regrole::text, p.proacl::text "
            "FROM pg_proc p WHERE p.pronamespace = 'taskhub_rls'::regnamespace "
            "UNION ALL SELECT 'default ' || defaclobjtype::text, coalesce(defaclnamespace::regnamespace::text, ''), "
            "defaclrole::regrole::text, defaclacl::text FROM pg_default_acl ORDER BY 1, 2, 3, 4"
        ).fetchall()


def _context_keys(database: str) -> int:
    """Rows in the tenant-context key table (read as the superuser)."""
    with e2e.superuser(database) as connection:
        return int(connection.execute("SELECT count(*) FROM taskhub_rls.key").fetchone()[0])


def _app_view(tables: list[str]) -> str:
    """APP_VIEW for the scratch process, over the tenant tables this (the test) process found."""
    return APP_VIEW.replace("TENANT_TABLES", repr(tables))


def _by_organization(database: str, tables: list[str]) -> dict[str, dict[str, int]]:
    """Per organization: "<table>" -> rows of every tenant table, read as the superuser (no RLS)."""
    seen: dict[str, dict[str, int]] = {}
    with e2e.superuser(database) as connection:
        for table in tables:
            rows = connection.execute(
                f"SELECT organization_id::text, count(*) FROM public.{table} GROUP BY 1"  # noqa: S608 - our names
            ).fetchall()
            for organization, count in rows:
                seen.setdefault(organization, {})[table] = int(count)
    return seen


def test_backup_restores_every_row_of_every_table(scratch: Scratch) -> None:
    # Every model with an organization foreign key (taskhub.tenancy.registry), not a list kept by hand.
    tenant = tenant_tables()
    started = time.monotonic()
    source_env = scratch.app_environment(scratch.source)
    _run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], env=source_env, timeout=120)
    FIGURES["migrate_s"] = round(time.monotonic() - started, 2)
    started = time.monotonic()
    _run(
        [sys.executable, "manage.py", "seed_tenants", "--organizations", "3", "--projects", "3", "--tasks", "10"],
        env=source_env,
    )
    FIGURES["seed_s"] = round(time.monotonic() - started, 2)
    before = _fingerprint(scratch.source)
    assert set(tenant) <= set(before), f"tenant tables the migrations did not create: {set(tenant) - set(before)}"
    for table in tenant:
        assert before[table][0] >= 3, f"seed left {table} with {before[table][0]} rows"

    # Why the backup role exists. As the app role (RLS forced, no context) pg_dump either fails
    # (by default it sets row_security off and refuses to write a filtered dump)...
    app_dump = ["pg_dump", "--data-only", *[f"--table={t}" for t in tenant], "-U", scratch.app_role]
    app_env = scratch.psql_environment(PGPASSWORD=scratch.app_role)
    plain = _run([*app_dump, scratch.source], env=app_env, check=False)
    assert plain.returncode != 0
    assert "row-level security" in plain.stderr
    # ...or, told to obey row-level security, writes every tenant table empty.
    filtered = _run([*app_dump, "--enable-row-security", scratch.source], env=app_env).stdout
    copies = re.findall(r"^COPY public\.(\w+) .*? FROM stdin;\n(.*?)^\\\.$", filtered, flags=re.M | re.S)
    assert sorted(table for table, _ in copies) == sorted(tenant)
    assert all(body == "" for _, body in copies), "the app role could dump tenant rows without a context"

    backup_dir = scratch.root / "backups"
    offsite = scratch.root / "offsite"
    offsite.mkdir()
    backup_env = scratch.psql_environment(
        DB_NAME=scratch.source,
        DB_HOST=HOST,
        DB_PORT=PORT,
        BACKUP_DIR=str(backup_dir),
        BACKUP_USER=scratch.app_role,
        BACKUP_PASSWORD=scratch.app_role,
    )
    # ...and scripts/backup refuses a role that would write such a dump.
    refused = _run(["scripts/backup"], env=backup_env, check=False)
    assert refused.returncode != 0
    assert "BYPASSRLS" in refused.stderr
    assert not list(backup_dir.glob("*.dump"))

    _run(
        [
            "psql", "-X", "-q", "-U", "postgres", "-d", scratch.source, "-v", "ON_ERROR_STOP=1",
            "-v", f"backup_role={scratch.backup_role}", "-v", f"owner_role={scratch.owner_role}",
            "-f", "scripts/create_backup_role.sql",
        ],
        env=scratch.psql_environment(),
    )  # fmt: skip
    backup_env.update(BACKUP_USER=scratch.backup_role, BACKUP_OFFSITE_COMMAND=f"cp {{file}} {offsite}/")
    backup_env.pop("BACKUP_PASSWORD")
    started = time.monotonic()
    result = _run(["scripts/backup"], env=backup_env)
    FIGURES["backup_s"] = round(time.monotonic() - started, 2)
    dump = Path(result.stdout.strip().splitlines()[-1])
    assert dump.parent == backup_dir
    assert re.fullmatch(r"taskhub-\d{8}T\d{6}Z\.dump", dump.name)
    assert dump.with_name(dump.name + ".sha256").read_text().split()[0]
    assert (offsite / dump.name).read_bytes() == dump.read_bytes()
    FIGURES["dump_bytes"] = dump.stat().st_size

    # Restored as the owner (it owns every object, as migrate needs), counted through the platform role.
    target_url = scratch.url(scratch.target, scratch.owner_role)
    restore_env = scratch.psql_environment(
        RESTORE_COUNT_DATABASE_URL=scratch.url(scratch.target, scratch.platform_role)
    )
    started = time.monotonic()
    restored = _run(["scripts/restore", str(dump), target_url], env=restore_env)
    FIGURES["restore_s"] = round(time.monotonic() - started, 2)

    after = _fingerprint(scratch.target)
    assert set(after) == set(before)
    assert after == before
    assert _security(scratch.target) == _security(scratch.source)
    # The tenant-context key stays out of the dump: the source has it, the copy not (yet).
    assert _context_keys(scratch.source) == 1
    assert _context_keys(scratch.target) == 0
    # The grants came back with the objects; the target's default privileges (setup_database_roles)
    # add only the app's DML on django_migrations and on the append-only audit table (and the
    # platform's UPDATE there), which the migrate below revokes again.
    source_grants = _grants(scratch.source)
    narrowed_by_migrate = {"public.django_migrations", "public.audit_auditevent"}
    assert {row for row in _grants(scratch.target) if row[1] not in narrowed_by_migrate} == {
        row for row in source_grants if row[1] not in narrowed_by_migrate
    }
    printed = dict(line.rsplit(" ", 1) for line in restored.stdout.strip().splitlines())
    assert {table: int(count) for table, count in printed.items()} == {t: rows for t, (rows, _) in before.items()}
    FIGURES["rows"] = sum(rows for rows, _ in before.values())

    # The restored database is the app's: it migrates (no migration to run; it stores the
    # context key and grants again) and checks clean as the app role...
    target_env = scratch.app_environment(scratch.target)
    _run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], env=target_env, timeout=120)
    assert _context_keys(scratch.target) == 1
    assert _grants(scratch.target) == source_grants
    _run([sys.executable, "manage.py", "check", "--database", "default"], env=target_env)
    # ...and the app role sees each organization's rows in its context, none without one, and
    # can call nothing in taskhub_rls but the context's entry and getters, nor read the key.
    shell = _run([sys.executable, "manage.py", "shell", "-c", _app_view(tenant)], env=target_env)
    view = json.loads(shell.stdout.strip().splitlines()[-1])
    expected = _by_organization(scratch.target, tenant)
    assert len(expected) == 3
    assert view["without"] == {}
    # In an organization's context, that organization's rows and nothing of the others'.
    assert view["within"] == {organization: {organization: rows} for organization, rows in expected.items()}
    assert view["functions"] == sorted(
        ["enter", "verified", "organization_id", "user_id", "api_key_prefix", "invitation_token_hash"]
    )
    assert view["reads_key"] is False

    # A non-empty target is refused; --force restores over it.
    again = _run(["scripts/restore", str(dump), target_url], env=restore_env, check=False)
    assert again.returncode != 0
    assert "not empty" in again.stderr
    _run(["scripts/restore", "--force", str(dump), target_url], env=restore_env)
    assert _fingerprint(scratch.target) == before

    # A damaged dump is refused before anything is touched.
    damaged = scratch.root / dump.name
    shutil.copy(dump, damaged)
    shutil.copy(dump.with_name(dump.name + ".sha256"), scratch.root)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    bad = _run(["scripts/restore", "--force", str(damaged), target_url], env=restore_env, check=False)
    assert bad.returncode != 0
    assert "checksum mismatch" in bad.stderr

    # A failing off-site hook fails the backup (the local dump is kept).
    backup_env["BACKUP_OFFSITE_COMMAND"] = "false {file}"
    time.sleep(1)  # a new timestamp, so a new file name
    failed = _run(["scripts/backup"], env=backup_env, check=False)
    assert failed.returncode != 0
    assert "off-site command failed" in failed.stderr
    print(f"\nrestore drill: {FIGURES}")  # noqa: T201 - the measured figures, shown with -s


def test_backup_prunes_dumps_older_than_the_retention(scratch: Scratch) -> None:
    with e2e.superuser() as connection:
        connection.execute(f"CREATE ROLE {scratch.backup_role} LOGIN BYPASSRLS")
    backup_dir = scratch.root / "backups"
    backup_dir.mkdir()
    old = backup_dir / "taskhub-20000101T000000Z.dump"
    recent = backup_dir / "taskhub-20990101T000000Z.dump"
    for path in (old, recent):
        path.write_bytes(b"x")
        path.with_name(path.name + ".sha256").write_text("x\n")
    now = time.time()
    os.utime(old, (now - 15 * 86400, now - 15 * 86400))
    os.utime(recent, (now - 13 * 86400, now - 13 * 86400))
    result = _run(
        ["scripts/backup"],
        env=scratch.psql_environment(
            DATABASE_URL=f"postgresql://ignored:ignored@{HOST}:{PORT}/{scratch.source}",
            BACKUP_DIR=str(backup_dir),
            BACKUP_USER=scratch.backup_role,
        ),
    )
    dump = Path(result.stdout.strip().splitlines()[-1])
    assert dump.exists()
    assert not old.exists()
    assert not old.with_name(old.name + ".sha256").exists()
    assert recent.exists()
