"""The preflight release gate, run in-process against the test database and settings."""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection

from taskhub.core.deploy_checks import CHECKLIST

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.django_db


def preflight(*args: str) -> tuple[str, CommandError | None]:
    """Return the command's output and the CommandError it raised, if any."""
    out = StringIO()
    try:
        call_command("preflight", *args, stdout=out, no_color=True)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def items() -> dict[str, dict[str, Any]]:
    output, _ = preflight("--json")
    return {item["name"]: item for item in json.loads(output)["items"]}


@pytest.fixture
def static_root(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    return tmp_path


def test_preflight_reports_the_test_database_reachable_and_migrated():
    report = items()
    assert report["database"]["ok"], report["database"]
    assert report["migrations"] == {"name": "migrations", "ok": True, "detail": "all applied"}
    assert report["clock"]["ok"], report["clock"]


def test_preflight_lists_every_deploy_checklist_item_and_the_live_ones():
    names = list(items())
    expected_live = [
        "database",
        "database_tls",
        "migrations",
        "superuser",
        "clock",
        "database_roles",
        "tenant_context",
        "worker",
        "redis",
        "static_files",
    ]
    assert names == [entry.name for entry in CHECKLIST] + ["system_checks", *expected_live]


def test_preflight_reports_a_failing_deploy_check_by_its_id(settings):
    settings.DEBUG = True
    report = items()
    assert not report["debug"]["ok"]
    assert report["debug"]["detail"].startswith("taskhub.E107: DEBUG is True")
    assert "security.W018: You should not have DEBUG set to True in deployment" in report["system_checks"]["detail"]


def test_preflight_database_tls_is_not_required_without_sslmode():
    if "sslmode" in connection.settings_dict.get("OPTIONS", {}):
        pytest.skip("the test database is configured with an sslmode")
    report = items()
    assert report["database_tls"]["ok"]
    assert report["database_tls"]["detail"].startswith("not required")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_stat_ssl is PostgreSQL's")
def test_preflight_database_tls_reports_whether_the_connection_is_encrypted(monkeypatch):
    with connection.cursor() as cursor:
        cursor.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        encrypted = bool(cursor.fetchone()[0])
    monkeypatch.setitem(
        connection.settings_dict, "OPTIONS", {**connection.settings_dict["OPTIONS"], "sslmode": "require"}
    )
    report = items()
    assert report["database_tls"]["ok"] is encrypted
    expected = "in use" if encrypted else "sslmode=require but this connection is not encrypted"
    assert report["database_tls"]["detail"].startswith(expected)


def test_preflight_redis_passes_only_on_a_reachable_redis_cache(settings):
    report = items()
    assert report["redis"]["ok"] is settings.USES_REDIS, report["redis"]
    if not settings.USES_REDIS:
        assert "not Redis" in report["redis"]["detail"]


def test_preflight_fails_static_files_when_static_root_has_no_manifest(static_root):
    report = items()
    assert not report["static_files"]["ok"]
    assert "run manage.py collectstatic" in report["static_files"]["detail"]


def test_preflight_passes_static_files_once_collectstatic_wrote_its_manifest(static_root):
    (static_root / "staticfiles.json").write_text(json.dumps({"paths": {"a.css": "a.123.css"}, "version": "1.1"}))
    report = items()
    assert report["static_files"]["ok"], report["static_files"]


def test_preflight_fails_superuser_until_an_active_one_exists():
    assert not items()["superuser"]["ok"]
    user = get_user_model()._default_manager.create_user(username="root", is_superuser=True, is_active=False)
    assert not items()["superuser"]["ok"]
    user.is_active = True
    user.save()
    assert items()["superuser"] == {"name": "superuser", "ok": True, "detail": "1 active"}


def test_preflight_raises_command_error_naming_the_failed_items():
    output, error = preflight("--json")
    report = json.loads(output)
    failed = [item["name"] for item in report["items"] if not item["ok"]]
    # The test settings are no production environment: SQLite or no HSTS, for a start.
    assert report["ok"] is False
    assert failed
    assert error is not None
    assert str(error).endswith(f"items: {', '.join(failed)}.")


def test_preflight_prints_a_pass_or_fail_line_per_item():
    output, _ = preflight()
    lines = output.splitlines()
    assert "[PASS] migrations: all applied" in lines
    assert any(line.startswith("[FAIL] ") for line in lines)
    assert all(line.startswith(("[PASS] ", "[FAIL] ")) for line in lines)
    assert len(lines) == len(items())


def test_preflight_fails_every_database_item_without_crashing_when_the_database_is_down():
    passthrough = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    result = subprocess.run(
        [sys.executable, "manage.py", "preflight", "--json"],
        cwd=ROOT,
        # A PostgreSQL port nothing listens on: the connection is refused at once.
        env=passthrough
        | {
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DB_NAME": "taskhub",
            "DB_HOST": "127.0.0.1",
            "DB_PORT": "9",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    report = {item["name"]: item for item in json.loads(result.stdout)["items"]}
    for name in ("database", "database_tls", "migrations", "superuser", "clock"):
        assert not report[name]["ok"], report[name]
    assert report["database_tls"]["detail"] == "not checked: the database is unreachable"
