"""docker-compose.yml's database roles: the API runs as the app role; only db-init holds the admin.

The file is read with PyYAML (a dependency of drf-spectacular). The structure is checked first:
the image's superuser is an admin of its own, db-init runs setup_database_roles, migrate runs
after it, the API after migrate and as the app role, without the owner's or the admin's
secrets; the worker is the API's image and environment with the app role's credentials alone.
Then, on PostgreSQL only, db-init and migrate (and the worker's health check and one pass of
the worker) run for real as compose declares them:
the entrypoint and command of the file, the environment of the file interpolated from a filled
``.env``, with only the host, database, role names and passwords swapped for scratch ones on
the suite's server. pg_roles must then show what the API relies on, and the production startup
check must accept the API's environment. The systemd files keep the same split.

Everything scratch is named ``taskhub_compose_*`` and dropped in ``finally``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.db import connection

from tests.support import e2e
from tests.support.throwaway import REPO, child_environment

COMPOSE = REPO / "docker-compose.yml"
ENTRYPOINT = REPO / "deploy" / "docker" / "entrypoint.sh"
EXAMPLE = REPO / ".env.production.example"
# The image's own environment (Dockerfile ENV) that matters here.
IMAGE_ENVIRONMENT = {"DJANGO_SETTINGS_MODULE": "config.settings.production"}
OWNER_AND_ADMIN_SECRETS = ("DB_MIGRATION_PASSWORD", "DATABASE_MIGRATION_URL", "DB_ADMIN_PASSWORD", "DATABASE_ADMIN_URL")
PLATFORM_CREDENTIALS = ("DB_PLATFORM_USER", "DB_PLATFORM_PASSWORD", "DATABASE_PLATFORM_URL")
# What the api container has and the worker does not need: gunicorn's and the static files'.
API_ONLY = {"GUNICORN_BIND", "FORWARDED_ALLOW_IPS", "PROMETHEUS_MULTIPROC_DIR", "STATIC_SHARE_DIR"}
COMPLETED = {"condition": "service_completed_successfully"}
VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Substitute ``${NAME}``, ``${NAME:-default}``, ``${NAME:?error}`` and ``$$`` as compose does."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        operator, argument = match.group(2), match.group(3) or ""
        present = name in variables and (variables[name] != "" or operator not in {":-", ":?"})
        if present:
            return variables[name]
        if operator in {":?", "?"}:
            raise AssertionError(f"compose would refuse to start: {name} is unset ({argument})")
        return argument if operator in {":-", "-"} else ""

    return VARIABLE.sub(substitute, value)


def example_env_file(**secrets_: str) -> dict[str, str]:
    """A filled ``.env``: .env.production.example as copied, its empty secrets given values."""
    variables = {}
    for line in EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            variables[name] = value
    return variables | secrets_


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    parsed = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(parsed, dict)
    return parsed


def service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    found = compose["services"][name]
    assert isinstance(found, dict)
    return found


def declared_environment(compose: dict[str, Any], name: str, variables: dict[str, str]) -> dict[str, str]:
    """The service's ``environment:`` block, interpolated from ``variables`` (the .env)."""
    block = service(compose, name).get("environment") or {}
    assert isinstance(block, dict), f"{name}: environment as a mapping"
    return {key: interpolate("" if value is None else str(value), variables) for key, value in block.items()}


def container_environment(compose: dict[str, Any], name: str, env_file: dict[str, str]) -> dict[str, str]:
    """What the container's process sees: the image's ENV, then env_file, then environment."""
    environment = dict(IMAGE_ENVIRONMENT)
    if service(compose, name).get("env_file") == ".env":
        environment |= env_file
    return environment | declared_environment(compose, name, env_file)


FILLED = example_env_file(
    SECRET_KEY="s" + secrets.token_urlsafe(48),
    JWT_SIGNING_KEY="j" + secrets.token_urlsafe(48),
    DB_PASSWORD="app-secret-" + secrets.token_hex(8),
    DB_PLATFORM_PASSWORD="platform-secret-" + secrets.token_hex(8),
    DB_MIGRATION_PASSWORD="owner-secret-" + secrets.token_hex(8),
    DB_ADMIN_PASSWORD="admin-secret-" + secrets.token_hex(8),
    REDIS_PASSWORD="redis-secret-" + secrets.token_hex(8),
    TASKHUB_SERVER_NAME="api.example.com",
)


def test_the_database_superuser_is_an_admin_of_its_own_not_the_app_role(compose: dict[str, Any]):
    db = declared_environment(compose, "db", FILLED)
    api = container_environment(compose, "api", FILLED)
    assert db["POSTGRES_USER"] == "postgres"
    for env_file in (FILLED, {key: value for key, value in FILLED.items() if key != "DB_USER"}):
        app_role = container_environment(compose, "api", env_file)["DB_USER"]
        assert app_role not in {"", db["POSTGRES_USER"]}, app_role
    assert db["POSTGRES_PASSWORD"] == FILLED["DB_ADMIN_PASSWORD"] != api["DB_PASSWORD"]


def test_db_init_runs_setup_database_roles_as_the_admin_once_db_is_healthy(compose: dict[str, Any]):
    db_init = service(compose, "db-init")
    assert db_init["command"] == ["python", "manage.py", "setup_database_roles"]
    assert db_init["image"] == service(compose, "api")["image"]
    assert db_init["restart"] == "no"
    assert db_init["depends_on"] == {"db": {"condition": "service_healthy"}}
    environment = declared_environment(compose, "db-init", FILLED)
    db = declared_environment(compose, "db", FILLED)
    admin_url = f"postgres://{db['POSTGRES_USER']}:{FILLED['DB_ADMIN_PASSWORD']}@db:5432/{db['POSTGRES_DB']}"
    assert environment["DATABASE_ADMIN_URL"] == admin_url
    for kind in ("", "MIGRATION_", "PLATFORM_"):
        assert environment[f"DB_{kind}USER"], kind
        assert environment[f"DB_{kind}PASSWORD"] == FILLED[f"DB_{kind}PASSWORD"], kind
    roles = {environment["DB_USER"], environment["DB_MIGRATION_USER"], environment["DB_PLATFORM_USER"]}
    assert len(roles) == 3, roles


def test_migrate_runs_after_db_init_as_the_owner_without_the_admin(compose: dict[str, Any]):
    migrate = service(compose, "migrate")
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert migrate["image"] == service(compose, "api")["image"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"db-init": COMPLETED}
    environment = container_environment(compose, "migrate", FILLED)
    db_init = declared_environment(compose, "db-init", FILLED)
    assert environment["DB_MIGRATION_USER"] == db_init["DB_MIGRATION_USER"]
    assert environment["DB_MIGRATION_PASSWORD"] == FILLED["DB_MIGRATION_PASSWORD"]
    # The grants at the end of migrate name the other two roles.
    assert environment["DB_USER"] == db_init["DB_USER"]
    assert environment["DB_PLATFORM_USER"] == db_init["DB_PLATFORM_USER"]
    assert not environment["DB_ADMIN_PASSWORD"]
    assert not environment["DATABASE_ADMIN_URL"]
    assert environment["RUN_MIGRATIONS"] == "0"


def test_the_api_starts_after_migrate_as_the_app_role(compose: dict[str, Any]):
    api = service(compose, "api")
    assert api["depends_on"]["migrate"] == COMPLETED
    environment = container_environment(compose, "api", FILLED)
    db_init = declared_environment(compose, "db-init", FILLED)
    assert environment["DB_USER"] == db_init["DB_USER"]
    assert environment["DB_PASSWORD"] == FILLED["DB_PASSWORD"]
    assert environment["DB_PLATFORM_USER"] == db_init["DB_PLATFORM_USER"]
    assert environment["DB_PLATFORM_PASSWORD"] == FILLED["DB_PLATFORM_PASSWORD"]
    assert environment["RUN_MIGRATIONS"] == "0"
    assert "DATABASE_URL" not in environment


def test_the_api_never_holds_the_owners_or_the_admins_secrets(compose: dict[str, Any]):
    # A .env with every one of them set, as compose's own one-shots need it.
    env_file = FILLED | {
        "DATABASE_ADMIN_URL": f"postgres://postgres:{FILLED['DB_ADMIN_PASSWORD']}@db:5432/taskhub",
        "DATABASE_MIGRATION_URL": f"postgres://taskhub_owner:{FILLED['DB_MIGRATION_PASSWORD']}@db:5432/taskhub",
    }
    environment = container_environment(compose, "api", env_file)
    declared = service(compose, "api")["environment"]
    for name in OWNER_AND_ADMIN_SECRETS:
        assert not environment.get(name), f"the api container gets {name}"
        assert declared.get(name, "") == "", f"api's environment gives {name} a value"
    for secret in (FILLED["DB_MIGRATION_PASSWORD"], FILLED["DB_ADMIN_PASSWORD"]):
        assert not [name for name, value in environment.items() if secret in value]


def test_the_worker_is_the_api_as_the_app_role_alone(compose: dict[str, Any]):
    worker, api = service(compose, "worker"), service(compose, "api")
    assert worker["image"] == api["image"]
    assert worker["depends_on"] == api["depends_on"]
    assert worker["depends_on"]["migrate"] == COMPLETED
    # Every variable the api gets, the worker gets the same, but for gunicorn's and the platform role's.
    api_environment = container_environment(compose, "api", FILLED)
    worker_environment = container_environment(compose, "worker", FILLED)
    different = {name for name in api_environment if api_environment[name] != worker_environment.get(name)}
    assert different <= API_ONLY | set(PLATFORM_CREDENTIALS), sorted(different - API_ONLY - set(PLATFORM_CREDENTIALS))
    db_init = declared_environment(compose, "db-init", FILLED)
    assert worker_environment["DB_USER"] == db_init["DB_USER"]
    assert worker_environment["DB_PASSWORD"] == FILLED["DB_PASSWORD"]


def test_the_worker_holds_no_secret_of_the_owner_the_admin_or_the_platform(compose: dict[str, Any]):
    env_file = FILLED | {
        "DATABASE_ADMIN_URL": f"postgres://postgres:{FILLED['DB_ADMIN_PASSWORD']}@db:5432/taskhub",
        "DATABASE_MIGRATION_URL": f"postgres://taskhub_owner:{FILLED['DB_MIGRATION_PASSWORD']}@db:5432/taskhub",
        "DATABASE_PLATFORM_URL": f"postgres://taskhub_platform:{FILLED['DB_PLATFORM_PASSWORD']}@db:5432/taskhub",
    }
    environment = container_environment(compose, "worker", env_file)
    declared = service(compose, "worker")["environment"]
    for name in (*OWNER_AND_ADMIN_SECRETS, *PLATFORM_CREDENTIALS):
        assert not environment.get(name), f"the worker container gets {name}"
        assert declared.get(name, "") == "", f"worker's environment gives {name} a value"
    for secret in (FILLED["DB_MIGRATION_PASSWORD"], FILLED["DB_ADMIN_PASSWORD"], FILLED["DB_PLATFORM_PASSWORD"]):
        assert not [name for name, value in environment.items() if secret in value]


def run_entrypoint(tmp_path: Path, **environment: str) -> tuple[list[str], str]:
    """Run the entrypoint with a stand-in ``python`` that records its arguments; return them and stderr."""
    stub = tmp_path / "bin"
    stub.mkdir(exist_ok=True)
    calls = tmp_path / "calls"
    calls.write_text("")
    (stub / "python").write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\n')
    (stub / "python").chmod(0o755)
    result = subprocess.run(
        ["sh", str(ENTRYPOINT), "true"],  # noqa: S607
        env={"PATH": f"{stub}:/usr/bin:/bin", "WAIT_FOR_DB_TIMEOUT": "0", **environment},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return calls.read_text().splitlines(), result.stderr


def test_entrypoint_migrates_with_the_owners_credentials_or_a_single_role(tmp_path: Path):
    migrate = "manage.py migrate --noinput"
    assert run_entrypoint(tmp_path, RUN_MIGRATIONS="1", DB_MIGRATION_USER="o", DB_PLATFORM_USER="p")[0] == [migrate]
    assert run_entrypoint(tmp_path, RUN_MIGRATIONS="1", DATABASE_MIGRATION_URL_FILE="/run/secrets/url")[0] == [migrate]
    # One role for everything: migrate connects as DB_USER, which owns the tables.
    assert run_entrypoint(tmp_path, RUN_MIGRATIONS="1", DB_USER="taskhub")[0] == [migrate]
    assert run_entrypoint(tmp_path, DB_MIGRATION_USER="o")[0] == []


def test_entrypoint_says_why_it_skips_migrations_without_the_owners_credentials(tmp_path: Path):
    calls, stderr = run_entrypoint(tmp_path, RUN_MIGRATIONS="1", DB_PLATFORM_USER="p", DB_MIGRATION_USER="")
    assert calls == []
    assert "migrations skipped" in stderr
    assert "DB_MIGRATION_USER or DATABASE_MIGRATION_URL" in stderr


# ---- the same split under systemd ------------------------------------------------------------------


def unit_values(path: Path, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in path.read_text().splitlines() if line.startswith(f"{key}=")]


def env_names(path: Path) -> set[str]:
    return {line.split("=", 1)[0] for line in path.read_text().splitlines() if line and not line.startswith("#")}


def test_systemd_migrates_in_its_own_unit_that_alone_reads_the_owners_password():
    systemd = REPO / "deploy" / "systemd"
    migrate_unit, app_unit = systemd / "taskhub-migrate.service", systemd / "taskhub.service"
    assert unit_values(migrate_unit, "Type") == ["oneshot"]
    assert unit_values(migrate_unit, "User") == unit_values(app_unit, "User") == ["taskhub"]
    assert unit_values(migrate_unit, "EnvironmentFile") == ["/etc/taskhub/taskhub.env", "/etc/taskhub/migrate.env"]
    assert unit_values(app_unit, "EnvironmentFile") == ["/etc/taskhub/taskhub.env"]
    (exec_start,) = unit_values(migrate_unit, "ExecStart")
    assert exec_start == "/srv/taskhub/app/.venv/bin/python manage.py migrate --noinput"
    # Run by the deploy step (systemctl start), never pulled in at boot or by the app.
    assert "[Install]" not in migrate_unit.read_text()
    assert "taskhub-migrate" not in app_unit.read_text()
    assert {"DB_MIGRATION_USER", "DB_MIGRATION_PASSWORD"} <= env_names(systemd / "migrate.env.example")
    app_env = env_names(systemd / "taskhub.env.example")
    assert {"DB_USER", "DB_PASSWORD", "DB_PLATFORM_USER", "DB_PLATFORM_PASSWORD", "DB_MIGRATION_USER"} <= app_env
    assert not app_env & set(OWNER_AND_ADMIN_SECRETS)
    # The worker runs with the app's environment, never the owner's.
    worker_unit = systemd / "taskhub-worker.service"
    assert unit_values(worker_unit, "User") == ["taskhub"]
    assert unit_values(worker_unit, "EnvironmentFile") == ["/etc/taskhub/taskhub.env"]
    assert "taskhub-migrate" not in worker_unit.read_text()


# ---- db-init and migrate for real, on PostgreSQL ----------------------------------------------------


def scratch_role_attributes(database: str, role: str) -> dict[str, Any]:
    with e2e.superuser(database) as admin:
        row = admin.execute(
            """
            SELECT r.rolsuper, r.rolbypassrls, r.rolcreatedb, r.rolcreaterole,
                   (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid),
                   (SELECT count(*) FROM pg_namespace n WHERE n.nspowner = r.oid),
                   (SELECT count(*) FROM pg_database d WHERE d.datdba = r.oid)
            FROM pg_roles r WHERE r.rolname = %s
            """,
            [role],
        ).fetchone()
    assert row is not None, f"no role {role}"
    keys = ("superuser", "bypassrls", "createdb", "createrole", "relations", "schemas", "databases")
    return dict(zip(keys, row, strict=True))


@pytest.fixture
def scratch() -> Iterator[dict[str, str]]:
    """A scratch database as compose's db service makes it (owned by the superuser), and role names."""
    if connection.vendor != "postgresql":
        pytest.skip("runs compose's db-init and migrate on PostgreSQL; this run's database is SQLite")
    e2e.require_superuser()
    suffix = secrets.token_hex(4)
    names = {
        "DB_NAME": f"taskhub_compose_{suffix}",
        "DB_USER": f"taskhub_compose_app_{suffix}",
        "DB_MIGRATION_USER": f"taskhub_compose_owner_{suffix}",
        "DB_PLATFORM_USER": f"taskhub_compose_platform_{suffix}",
    }
    try:
        with e2e.superuser() as admin:
            admin.execute(f"CREATE DATABASE {names['DB_NAME']}")
        yield names
    finally:
        with e2e.superuser() as admin:
            with contextlib.suppress(Exception):
                admin.execute(f"DROP DATABASE IF EXISTS {names['DB_NAME']} WITH (FORCE)")
            for key in ("DB_PLATFORM_USER", "DB_USER", "DB_MIGRATION_USER"):
                with contextlib.suppress(Exception):
                    admin.execute(f"DROP ROLE IF EXISTS {names[key]}")


def local(environment: dict[str, str], *, tls: bool) -> dict[str, str]:
    """The container's environment pointed at the suite's server instead of the host ``db``."""
    swapped = dict(environment)
    swapped["DB_HOST"], swapped["DB_PORT"] = e2e.SHARED_HOST, e2e.SHARED_PORT
    if swapped.get("DATABASE_ADMIN_URL"):
        assert "@db:5432/" in swapped["DATABASE_ADMIN_URL"], swapped["DATABASE_ADMIN_URL"]
        swapped["DATABASE_ADMIN_URL"] = swapped["DATABASE_ADMIN_URL"].replace(
            "@db:5432/", f"@{e2e.SHARED_HOST}:{e2e.SHARED_PORT}/"
        )
    if not tls:
        # The compose db has TLS on (sslmode require); a test server without it cannot do that.
        for name in ("DB_SSLMODE", "PGSSLMODE"):
            if swapped.get(name) == "require":
                swapped[name] = "disable"
    return child_environment(PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}") | {
        key: value for key, value in swapped.items() if key != "PATH"
    }


def run_service(
    compose: dict[str, Any], name: str, env_file: dict[str, str], *, tls: bool, command: list[str] | None = None
) -> str:
    """Run the service's command (or ``command``) through the image's entrypoint, as its container would."""
    command = ["sh", str(ENTRYPOINT), *(command or service(compose, name)["command"])]
    environment = local(container_environment(compose, name, env_file), tls=tls)
    result = subprocess.run(
        command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, (
        f"{name}: {' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def test_db_init_and_migrate_make_the_roles_the_api_relies_on(
    compose: dict[str, Any], scratch: dict[str, str], tmp_path: Path
):
    with e2e.superuser() as admin:
        tls = admin.execute("SHOW ssl").fetchone()[0] == "on"
    env_file = (
        FILLED
        | scratch
        | {
            "DB_PASSWORD": secrets.token_urlsafe(16),
            "DB_MIGRATION_PASSWORD": secrets.token_urlsafe(16),
            "DB_PLATFORM_PASSWORD": secrets.token_urlsafe(16),
            "DB_ADMIN_PASSWORD": os.environ.get("PGPASSWORD") or secrets.token_urlsafe(16),
        }
    )
    database, app, owner, platform = (
        scratch[key] for key in ("DB_NAME", "DB_USER", "DB_MIGRATION_USER", "DB_PLATFORM_USER")
    )

    output = run_service(compose, "db-init", env_file, tls=tls)
    assert f"app {app}" in output, output
    assert f"platform {platform}" in output, output
    run_service(compose, "migrate", env_file, tls=tls)
    # Every `docker compose up` runs db-init again, now on a migrated database.
    run_service(compose, "db-init", env_file, tls=tls)

    roles = {role: scratch_role_attributes(database, role) for role in (app, owner, platform)}
    assert roles[app] == {
        "superuser": False,
        "bypassrls": False,
        "createdb": False,
        "createrole": False,
        "relations": 0,
        "schemas": 0,
        "databases": 0,
    }, roles[app]
    assert roles[platform]["bypassrls"] is True
    assert roles[platform]["superuser"] is False
    assert roles[platform]["relations"] == 0
    assert roles[owner]["superuser"] is False
    assert roles[owner]["bypassrls"] is False
    with e2e.superuser(database) as admin:
        owners = dict(
            admin.execute(
                "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            ).fetchall()
        )
    assert "projects_project" in owners, sorted(owners)
    assert set(owners.values()) == {owner}, owners

    # The wall holds against the app's own credentials: only a table's owner may lower it.
    import psycopg  # noqa: PLC0415 - PostgreSQL only

    with (
        psycopg.connect(
            host=e2e.SHARED_HOST,
            port=e2e.SHARED_PORT,
            dbname=database,
            user=app,
            password=env_file["DB_PASSWORD"],
            autocommit=True,
            connect_timeout=5,
        ) as as_app,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        as_app.execute("ALTER TABLE projects_project NO FORCE ROW LEVEL SECURITY")

    # The worker, in its own environment (the app role alone): its health check reads the
    # queue, and one pass of the worker itself starts, finds nothing due and exits 0.
    healthcheck = service(compose, "worker")["healthcheck"]["test"]
    assert healthcheck[0] == "CMD"
    status = json.loads(run_service(compose, "worker", env_file, tls=tls, command=healthcheck[1:]).splitlines()[-1])
    assert status["due"] == status["failed"] == 0, status
    run_service(compose, "worker", env_file, tls=tls, command=[*service(compose, "worker")["command"], "--once"])

    # The API's own environment passes the production startup check (config/wsgi.py).
    api = local(container_environment(compose, "api", env_file), tls=tls)
    # The entrypoint makes this directory in the container before gunicorn starts.
    api["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")
    (tmp_path / "metrics").mkdir()
    started = subprocess.run(
        [sys.executable, "-c", "import config.wsgi"],
        cwd=REPO,
        env=api,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert started.returncode == 0, started.stdout + started.stderr
    # ...and preflight, in that environment, names the three roles (other items fail here:
    # no Redis, no static files, no staff account).
    preflight = subprocess.run(
        [sys.executable, "manage.py", "preflight", "--json"],
        cwd=REPO,
        env=api,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # The report is the indented document; one-line JSON log records may come before it.
    report = json.loads(preflight.stdout[preflight.stdout.index("{\n") :])
    items = {item["name"]: item for item in report["items"]}
    assert items["database_roles"]["ok"], items["database_roles"]
    assert items["database_roles"]["detail"] == (
        f"app {app}: owns nothing, no superuser, no BYPASSRLS; owner {owner}; platform {platform}: BYPASSRLS"
    )
    assert items["tenant_context"]["ok"], items["tenant_context"]
