import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from taskhub.accounts.models import User
from taskhub.organizations.models import Membership, Organization
from tests.support.servers import REPO, child_environment


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_prints_working_credentials(settings, capsys):
    settings.DEBUG = True
    call_command("seed_demo", password="first-pass-123")
    call_command("seed_demo", password="second-pass-456")
    output = capsys.readouterr().out

    assert Organization.objects.filter(slug="demo").count() == 1
    user = User.objects.get(username="demo")
    membership = Membership.objects.get(user=user)
    assert membership.role == "owner"
    assert user.check_password("second-pass-456")
    assert "second-pass-456" in output
    assert "/api/v1/auth/token/" in output


@pytest.mark.django_db
def test_seed_demo_refuses_to_run_in_production(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=True"):
        call_command("seed_demo")
    assert not User.objects.filter(username="demo").exists()


@pytest.mark.django_db
def test_seed_demo_prints_the_password_in_a_marked_block(settings, capsys, monkeypatch):
    settings.DEBUG = True
    monkeypatch.delenv("PORT", raising=False)
    call_command("seed_demo", password="block-pass-789")
    lines = capsys.readouterr().out.splitlines()

    bar = "=" * 79
    assert lines[0] == bar
    assert lines[1].startswith("DEMO ACCOUNT")
    assert lines[2] == bar
    assert lines[-1] == bar
    block = lines[3:-1]
    assert "  password      block-pass-789" in block
    assert "  username      demo" in block
    assert any("http://127.0.0.1:8000/api/v1/auth/token/" in line for line in block)


@pytest.mark.django_db
def test_seed_demo_prints_the_port_make_run_serves_on(settings, capsys, monkeypatch):
    settings.DEBUG = True
    monkeypatch.setenv("PORT", "8011")
    call_command("seed_demo", password="port-pass-789")
    assert "http://127.0.0.1:8011/api/v1/auth/token/" in capsys.readouterr().out
    call_command("seed_demo", password="port-pass-789", base_url="http://localhost:9000/")
    assert "http://localhost:9000/health/" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_seed_demo_runs_as_make_run_runs_it_against_postgresql_with_a_platform_role(settings):
    """A fresh process, the three roles, no transaction around the command: ``bypass`` runs on the platform alias.

    The suite itself has one connection (config.settings.test drops the platform alias), which
    hid a seed_demo that set the tenant context on the wrong connection.
    """
    if connection.vendor != "postgresql" or not os.environ.get("DB_PLATFORM_USER"):
        pytest.skip("needs PostgreSQL with the platform role (the PostgreSQL pass)")
    variables = ("DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD", "DB_PLATFORM_USER", "DB_PLATFORM_PASSWORD")
    environment = child_environment(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        SECRET_KEY=settings.SECRET_KEY,
        DB_NAME=connection.settings_dict["NAME"],
        **{name: os.environ[name] for name in variables if name in os.environ},
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "seed_demo", "--force", "--password", "platform-pass-123"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPO,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert "platform-pass-123" in result.stdout
    user = User.objects.get(username="demo")
    assert Membership.objects.get(user=user).role == "owner"
    # Hashed with the settings' first hasher (Argon2id), which the suite's settings leave out.
    assert user.password.startswith("argon2")
