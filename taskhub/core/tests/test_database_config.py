"""Connection pooling and pgbouncer settings, read from the environment by taskhub.core.env.database()."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from taskhub.core import env

VARIABLES = (
    "DATABASE_URL",
    "DATABASE_REPLICA_URLS",
    "DB_NAME",
    "DB_USER",
    "DB_PASSWORD",
    "DB_HOST",
    "DB_PORT",
    "DB_SSLMODE",
    "DB_CONNECT_TIMEOUT",
    "DB_CONN_MAX_AGE",
    "DB_POOL",
    "DB_POOL_MIN_SIZE",
    "DB_POOL_MAX_SIZE",
    "DB_POOL_TIMEOUT",
    "DB_PGBOUNCER",
    "DB_DISABLE_SERVER_SIDE_CURSORS",
    "SQLITE_PATH",
)


@pytest.fixture
def environ(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)
    monkeypatch.setenv("DB_NAME", "taskhub")
    monkeypatch.setenv("DB_HOST", "127.0.0.1")
    return monkeypatch


def database(tmp_path):
    return env.database(sqlite_path=tmp_path / "db.sqlite3")


def test_no_pool_and_no_pgbouncer_by_default(environ, tmp_path):
    config = database(tmp_path)
    assert "pool" not in config["OPTIONS"]
    assert "prepare_threshold" not in config["OPTIONS"]
    assert not config.get("DISABLE_SERVER_SIDE_CURSORS", False)
    assert config["CONN_MAX_AGE"] == 60


def test_db_pool_turns_on_the_psycopg_pool_with_defaults_and_no_persistent_connections(environ, tmp_path):
    environ.setenv("DB_POOL", "True")
    environ.setenv("DB_CONN_MAX_AGE", "600")
    config = database(tmp_path)
    assert config["OPTIONS"]["pool"] == {"min_size": 2, "max_size": 10, "timeout": 5}
    assert config["CONN_MAX_AGE"] == 0
    assert not config.get("DISABLE_SERVER_SIDE_CURSORS", False)


def test_pool_sizes_and_timeout_come_from_the_environment(environ, tmp_path):
    environ.setenv("DB_POOL", "yes")
    environ.setenv("DB_POOL_MIN_SIZE", "1")
    environ.setenv("DB_POOL_MAX_SIZE", "4")
    environ.setenv("DB_POOL_TIMEOUT", "3")
    assert database(tmp_path)["OPTIONS"]["pool"] == {"min_size": 1, "max_size": 4, "timeout": 3}


def test_pool_applies_to_database_url_too(environ, tmp_path):
    environ.delenv("DB_NAME")
    environ.delenv("DB_HOST")
    environ.setenv("DATABASE_URL", "postgres://u:p@db.example.com:5432/taskhub")
    environ.setenv("DB_POOL", "1")
    config = database(tmp_path)
    assert config["OPTIONS"]["pool"]["max_size"] == 10
    assert config["CONN_MAX_AGE"] == 0


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DB_POOL_MAX_SIZE", "0", "DB_POOL_MAX_SIZE"),
        ("DB_POOL_TIMEOUT", "soon", "DB_POOL_TIMEOUT"),
        ("DB_POOL_MIN_SIZE", "20", "DB_POOL_MIN_SIZE=20 is above DB_POOL_MAX_SIZE=10"),
        ("DB_POOL", "perhaps", "DB_POOL"),
    ],
)
def test_bad_pool_settings_are_refused_naming_the_variable(environ, tmp_path, name, value, message):
    environ.setenv("DB_POOL", "True")
    environ.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=message):
        database(tmp_path)


def test_pgbouncer_mode_turns_off_server_side_cursors_and_prepared_statements(environ, tmp_path):
    environ.setenv("DB_PGBOUNCER", "True")
    config = database(tmp_path)
    assert config["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert "prepare_threshold" in config["OPTIONS"]
    assert config["OPTIONS"]["prepare_threshold"] is None
    assert "pool" not in config["OPTIONS"]
    # Persistent connections to pgbouncer are fine (it multiplexes them): CONN_MAX_AGE is kept.
    assert config["CONN_MAX_AGE"] == 60
    environ.setenv("DB_CONN_MAX_AGE", "0")
    assert database(tmp_path)["CONN_MAX_AGE"] == 0


def test_server_side_cursors_can_be_disabled_on_their_own(environ, tmp_path):
    environ.setenv("DB_DISABLE_SERVER_SIDE_CURSORS", "True")
    config = database(tmp_path)
    assert config["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert "prepare_threshold" not in config["OPTIONS"]


def test_pool_and_pgbouncer_together_are_refused_naming_both(environ, tmp_path):
    environ.setenv("DB_POOL", "True")
    environ.setenv("DB_PGBOUNCER", "True")
    with pytest.raises(ImproperlyConfigured) as raised:
        database(tmp_path)
    assert "DB_POOL" in str(raised.value)
    assert "DB_PGBOUNCER" in str(raised.value)


def test_sqlite_ignores_the_pool_settings(environ, tmp_path):
    environ.delenv("DB_NAME")
    environ.delenv("DB_HOST")
    environ.setenv("DB_POOL", "True")
    config = database(tmp_path)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert "OPTIONS" not in config


def test_django_accepts_the_pool_configuration(environ, tmp_path):
    """Django builds its connection parameters (and the pool's) without complaint; nothing connects."""
    from django.db.backends.postgresql.base import DatabaseWrapper  # noqa: PLC0415

    environ.setenv("DB_POOL", "True")
    settings_dict = {**database(tmp_path), "TIME_ZONE": None, "AUTOCOMMIT": True, "ATOMIC_REQUESTS": False}
    settings_dict.setdefault("TEST", {})
    wrapper = DatabaseWrapper(settings_dict, alias="pool_check")
    params = wrapper.get_connection_params()
    assert "pool" not in params
    assert params["connect_timeout"] == 2


def test_replicas_from_database_replica_urls(environ, tmp_path):
    assert env.replicas() == {}
    environ.setenv(
        "DATABASE_REPLICA_URLS", "postgres://u:p@replica-a:5432/taskhub, postgres://u:p@replica-b:5432/taskhub"
    )
    environ.setenv("DB_PGBOUNCER", "True")
    replicas = env.replicas()
    assert list(replicas) == ["replica_0", "replica_1"]
    assert replicas["replica_1"]["HOST"] == "replica-b"
    assert replicas["replica_0"]["OPTIONS"]["connect_timeout"] == 2
    assert replicas["replica_0"]["OPTIONS"]["prepare_threshold"] is None
    assert replicas["replica_0"]["DISABLE_SERVER_SIDE_CURSORS"] is True


def test_a_replica_url_that_is_not_postgresql_is_refused(environ, tmp_path):
    environ.setenv("DATABASE_REPLICA_URLS", "sqlite:///tmp/replica.sqlite3")
    with pytest.raises(ImproperlyConfigured, match="DATABASE_REPLICA_URLS"):
        env.replicas()
