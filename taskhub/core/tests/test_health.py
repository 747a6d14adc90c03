from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client

from taskhub.core import health


@pytest.mark.django_db
def test_health_reports_ok_with_each_check(client):
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok", "cache": "ok", "queue": "ok"},
    }
    assert "no-cache" in response["Cache-Control"]


def test_liveness_touches_no_database(client):
    response = client.get("/health/live/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_health_is_503_when_database_is_unreachable(client):
    with mock.patch.object(health, "connections") as connections:
        connections.__getitem__.return_value.cursor.side_effect = OperationalError("connection refused")
        response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unreachable"
    assert response.json()["status"] == "error"


@pytest.mark.django_db
def test_health_is_503_while_migrations_are_pending(client, monkeypatch):
    monkeypatch.setattr(health, "_migrations_applied", False)
    with mock.patch.object(health.MigrationExecutor, "migration_plan", return_value=[("app", "0002")]):
        response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == "1 pending"


@pytest.mark.django_db
def test_health_is_degraded_not_failed_when_cache_is_down(client):
    with mock.patch.object(health.cache, "set", side_effect=ConnectionError("redis down")):
        response = client.get("/health/")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["cache"] == "unreachable"


@pytest.mark.django_db
def test_health_polls_cost_one_query_once_migrated(client, django_assert_num_queries, monkeypatch):
    # The first poll of a process checks the migrations; from then on a poll is one query, and
    # still a complete, passing one: 200 with every check ok.
    monkeypatch.setattr(health, "_migrations_applied", False)
    everything_ok = {"status": "ok", "checks": {"database": "ok", "migrations": "ok", "cache": "ok", "queue": "ok"}}
    first = client.get("/health/")
    assert first.status_code == 200
    assert first.json() == everything_ok
    with django_assert_num_queries(1):
        polled = client.get("/health/")
    assert polled.status_code == 200
    assert polled.json() == everything_ok


@pytest.mark.parametrize("path", ["/health/", "/health/live/"])
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
def test_health_rejects_other_methods_with_json_405_not_a_csrf_refusal(path, method):
    # With CSRF checks on, as runserver and gunicorn have them: a 405, not a 403 csrf_failed.
    client = Client(enforce_csrf_checks=True)
    response = getattr(client, method)(path)
    assert response.status_code == 405
    assert response["Content-Type"].startswith("application/json")
    assert response["Allow"] == "GET, HEAD"
    assert response.json() == {"detail": f'Method "{method.upper()}" not allowed.', "code": "method_not_allowed"}


def test_liveness_answers_head(client):
    assert client.head("/health/live/").status_code == 200
