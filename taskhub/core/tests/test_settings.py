"""Settings read from the environment, checked by booting Django in a subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from taskhub.core import env

ROOT = Path(__file__).resolve().parents[3]
PRODUCTION_ENV = {
    "SECRET_KEY": "x" * 64,
    "JWT_SIGNING_KEY": "y" * 64,
    "ALLOWED_HOSTS": "api.example.com",
}


def boot(settings_module: str, **variables: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "DATABASE_", "REDIS_", "JWT_", "DJANGO_"))}
    clean.pop("SECRET_KEY", None)
    clean.pop("ALLOWED_HOSTS", None)
    clean.pop("DEBUG", None)
    clean.update(variables, DJANGO_SETTINGS_MODULE=settings_module)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_refuses_to_start_without_secret_key():
    variables = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = boot("config.settings.production", **variables)
    assert result.returncode != 0
    assert "The SECRET_KEY environment variable (or SECRET_KEY_FILE) is required" in result.stderr


def test_production_refuses_to_start_without_jwt_signing_key():
    variables = {k: v for k, v in PRODUCTION_ENV.items() if k != "JWT_SIGNING_KEY"}
    result = boot("config.settings.production", **variables)
    assert result.returncode != 0
    assert "JWT_SIGNING_KEY" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts():
    variables = {k: v for k, v in PRODUCTION_ENV.items() if k != "ALLOWED_HOSTS"}
    result = boot("config.settings.production", **variables)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


def test_rs256_without_key_pair_names_the_missing_key():
    result = boot("config.settings.production", **PRODUCTION_ENV, JWT_ALGORITHM="RS256")
    assert result.returncode != 0
    assert "JWT_PRIVATE_KEY" in result.stderr


def test_unparseable_boolean_names_the_variable():
    result = boot("config.settings.local", DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_production_starts_with_a_complete_environment():
    result = boot("config.settings.production", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr


def test_secret_may_come_from_a_file(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text("z" * 64 + "\n")
    variables = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = boot("config.settings.production", SECRET_KEY_FILE=str(secret), **variables)
    assert result.returncode == 0, result.stderr


def test_file_variable_is_read_without_trailing_newline(tmp_path, monkeypatch):
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("DB_PASSWORD_FILE", str(secret))
    monkeypatch.delenv("DB_PASSWORD", raising=False)
    assert env.string("DB_PASSWORD") == "s3cret"


def test_value_and_file_together_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("SOME_TOKEN", "a")
    monkeypatch.setenv("SOME_TOKEN_FILE", str(tmp_path / "x"))
    with pytest.raises(ImproperlyConfigured, match="SOME_TOKEN or SOME_TOKEN_FILE"):
        env.string("SOME_TOKEN")


@pytest.fixture
def no_database_variables(monkeypatch):
    for name in ("DATABASE_URL", "DB_NAME", "DB_USER", "DB_PASSWORD", "DB_HOST", "DB_PORT", "DB_SSLMODE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_no_database_variables_means_sqlite(no_database_variables, tmp_path):
    config = env.database(sqlite_path=tmp_path / "db.sqlite3")
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == str(tmp_path / "db.sqlite3")


def test_checklist_db_variables_configure_postgresql(no_database_variables, tmp_path):
    for name, value in {
        "DB_NAME": "production_db",
        "DB_USER": "prod_user",
        "DB_PASSWORD": "pw",
        "DB_HOST": "db.example.com",
        "DB_PORT": "6432",
        "DB_SSLMODE": "verify-full",
    }.items():
        no_database_variables.setenv(name, value)
    config = env.database(sqlite_path=tmp_path / "db.sqlite3")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["NAME"], config["USER"], config["PASSWORD"]) == ("production_db", "prod_user", "pw")
    assert (config["HOST"], config["PORT"]) == ("db.example.com", "6432")
    assert config["OPTIONS"]["sslmode"] == "verify-full"


def test_database_url_wins_as_heroku_sets_it(no_database_variables, tmp_path):
    no_database_variables.setenv("DATABASE_URL", "postgres://u:p@h.example.com:5433/d")
    no_database_variables.setenv("DB_SSLMODE", "require")
    config = env.database(sqlite_path=tmp_path / "db.sqlite3")
    assert (config["NAME"], config["USER"], config["HOST"], config["PORT"]) == ("d", "u", "h.example.com", 5433)
    assert config["OPTIONS"]["sslmode"] == "require"


def test_unknown_sslmode_is_refused(no_database_variables, tmp_path):
    no_database_variables.setenv("DB_NAME", "d")
    no_database_variables.setenv("DB_SSLMODE", "sometimes")
    with pytest.raises(ImproperlyConfigured, match="DB_SSLMODE"):
        env.database(sqlite_path=tmp_path / "db.sqlite3")


def test_redis_url_selects_redis_cache(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/3")
    assert env.cache()["BACKEND"] == "taskhub.core.cache.RedisCache"
    monkeypatch.delenv("REDIS_URL")
    assert env.cache()["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
