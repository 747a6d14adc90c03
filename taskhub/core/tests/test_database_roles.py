"""The three database roles as production starts: the startup check, the deploy check, preflight."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from conftest import as_app_role
from taskhub.core import dbroles
from taskhub.core.deploy_checks import role_errors
from taskhub.core.management.commands.preflight import probe_database_roles, probe_tenant_context
from tests.support.servers import REPO, child_environment

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="database roles are PostgreSQL's")
POSTGRES = {"ENGINE": "django.db.backends.postgresql", "NAME": "x"}


@pytest.mark.parametrize(
    ("names", "allowed", "errors"),
    [
        ({"app": "a", "owner": "o", "platform": "p"}, False, []),
        ({"app": "a", "owner": "a", "platform": "a"}, False, ["taskhub.E120"]),
        ({"app": "a", "owner": "o", "platform": "a"}, False, ["taskhub.E120"]),
        ({"app": "a", "owner": "a", "platform": "a"}, True, []),
    ],
)
def test_the_deploy_check_wants_three_roles_or_an_explicit_acceptance(names, allowed, errors):
    assert [error.id for error in role_errors(POSTGRES, names, allowed)] == errors
    assert role_errors({"ENGINE": "django.db.backends.sqlite3"}, {"app": "", "owner": "", "platform": ""}, False) == []


def _start_production(user: str, password: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """Import config.wsgi under production settings, as gunicorn does, connected as ``user``."""
    environment = child_environment(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=settings.SECRET_KEY,
        JWT_SIGNING_KEY="k" * 8 + "-a-signing-key-long-enough-for-the-checks-0123456789",
        ALLOWED_HOSTS="127.0.0.1",
        SITE_URL="http://127.0.0.1",
        DB_NAME=connection.settings_dict["NAME"],
        DB_HOST=str(connection.settings_dict["HOST"] or ""),
        DB_PORT=str(connection.settings_dict["PORT"] or "5432"),
        DB_USER=user,
        DB_PASSWORD=password,
        **extra,
    )
    return subprocess.run(
        [sys.executable, "-c", "import config.wsgi; print('serving')"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_production_refuses_to_start_as_a_role_that_could_lower_the_wall():
    owner = settings.DATABASE_MIGRATION_CREDENTIALS
    refused = _start_production(owner["USER"], owner.get("PASSWORD") or "")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"'{owner['USER']}'" in refused.stderr
    assert "owns" in refused.stderr
    assert "setup_database_roles" in refused.stderr
    assert "serving" not in refused.stdout

    accepted = _start_production(owner["USER"], owner.get("PASSWORD") or "", DB_ALLOW_OWNER_ROLE="True")
    assert accepted.returncode == 0, accepted.stderr
    assert "serving" in accepted.stdout

    app = settings.TEST_APP_CREDENTIALS
    started = _start_production(app["USER"], app.get("PASSWORD") or "")
    assert started.returncode == 0, started.stderr
    assert "serving" in started.stdout


@postgresql_only
@pytest.mark.django_db
def test_the_runtime_role_report_names_what_could_lower_the_wall():
    # The suite's own login is the platform role: BYPASSRLS, which a runtime role must not have.
    assert "has BYPASSRLS" in (dbroles.unsafe_runtime_role() or "")
    with as_app_role():
        assert dbroles.unsafe_runtime_role() is None
        ok, detail = probe_database_roles()
    assert ok, detail
    assert f"app {settings.TEST_REQUEST_ROLE}: owns nothing" in detail
    assert f"owner {dbroles.role_names()['owner']}" in detail


@postgresql_only
@pytest.mark.django_db
def test_preflight_fails_the_tenant_context_when_secret_key_is_not_the_one_migrate_stored():
    assert probe_tenant_context() == (True, "the database verifies contexts signed with this SECRET_KEY")
    with override_settings(SECRET_KEY="another-secret-key-than-the-one-migrate-stored-0123456789"):
        ok, detail = probe_tenant_context()
    assert not ok
    assert "bad signature" in detail
    assert "run manage.py migrate with this SECRET_KEY" in detail


@postgresql_only
@pytest.mark.django_db
def test_bypass_refuses_a_role_that_would_see_no_tenant_instead_of_returning_nothing():
    from taskhub.core import rls  # noqa: PLC0415

    # The suite is the platform role between requests: bypass() works.
    with rls.bypass("test"):
        pass
    # A single role without BYPASSRLS (what the app role is): loud, not an empty export.
    with (
        as_app_role(),
        pytest.raises(rls.PlatformUnavailable, match="cannot bypass row-level security"),
        rls.bypass("test: export"),
    ):
        pass
