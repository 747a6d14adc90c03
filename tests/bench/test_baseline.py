"""The benchmark's baseline project (scripts/bench/baseline): plain Django, and the app's rows in its answers.

Every request to the baseline runs in a fresh process under its own settings module, as its
gunicorn workers do: the settings, URL conf, middleware, SimpleJWT configuration and database
role are the ones the benchmark measures. The settings tests need no database. The row tests
need PostgreSQL's platform role (the baseline connects with it, bypassing row-level security)
and rows the other process can see: committed, in a transactional test; on SQLite, whose test
database lives in this process's memory, they are skipped.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from taskhub.accounts.tokens import token_pair
from taskhub.core import rls
from taskhub.projects.models import Project
from taskhub.tenancy.roles import Role
from tests.support.factories import create_project
from tests.support.servers import fresh_process_json

BASELINE_SETTINGS = "scripts.bench.baseline.settings"
FIELDS = ["id", "key", "name", "description", "status", "created_by", "created_at", "updated_at"]

SETTINGS_PROBE = """
import io, json, sys
import django
django.setup()
from django.conf import settings
from django.core.management import call_command
from django.urls import get_resolver
import scripts.bench.baseline.wsgi

call_command("check", stdout=io.StringIO())
# Every route, so every view module is imported; the WSGI handler loaded its middleware.
assert get_resolver().url_patterns
database = settings.DATABASES["default"]
print(json.dumps({
    "middleware": settings.MIDDLEWARE,
    "installed_apps": settings.INSTALLED_APPS,
    "debug": settings.DEBUG,
    "auth_user_model": settings.AUTH_USER_MODEL,
    "database": [database["USER"], database["CONN_MAX_AGE"], database["CONN_HEALTH_CHECKS"]],
    "jwt": {name: settings.SIMPLE_JWT[name] for name in JWT_NAMES},
    "product_modules": sorted(name for name in sys.modules if name.split(".")[0] in ("taskhub", "config")),
}))
"""
PRODUCTION_PROBE = """
import json
from django.conf import settings
database = settings.DATABASES["default"]
print(json.dumps({
    "database": [settings.DATABASES["platform"]["USER"], database["CONN_MAX_AGE"], database["CONN_HEALTH_CHECKS"]],
    "jwt": {name: settings.SIMPLE_JWT[name] for name in JWT_NAMES},
}))
"""
JWT_NAMES = ["ALGORITHM", "ISSUER", "AUDIENCE", "USER_ID_CLAIM", "USER_ID_FIELD", "AUTH_HEADER_TYPES", "LEEWAY"]
# Nothing connects to this database: the settings tests only load settings.
SETTINGS_ENVIRONMENT = {
    "DB_NAME": "taskhub",
    "DB_HOST": "127.0.0.1",
    "DB_USER": "taskhub_app",
    "DB_PLATFORM_USER": "taskhub_platform",
}

REQUESTS = """
import json, os
import django
django.setup()
from django.test import Client

client = Client()
answers = []
for method, path, body, token in json.loads(os.environ["BASELINE_REQUESTS"]):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if method == "GET":
        response = client.get(path, headers=headers)
    else:
        response = client.post(path, data=json.dumps(body), content_type="application/json", headers=headers)
    answers.append([response.status_code, json.loads(response.content or b"null")])
print(json.dumps({"answers": answers}))
"""

needs_platform_role = pytest.mark.skipif(
    connection.vendor != "postgresql" or not settings.TEST_REQUEST_ROLE,
    reason="the baseline connects as PostgreSQL's platform role, to committed rows another process can read",
)


def _probe(code: str, settings_module: str) -> dict[str, Any]:
    return fresh_process_json(
        code.replace("JWT_NAMES", repr(JWT_NAMES)), settings_module=settings_module, environment=SETTINGS_ENVIRONMENT
    )


def test_the_baseline_is_plain_django_with_the_apps_connections_and_token_settings():
    baseline = _probe(SETTINGS_PROBE, BASELINE_SETTINGS)
    production = _probe(PRODUCTION_PROBE, "config.settings.production")

    assert baseline["middleware"] == [
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
    ]
    assert baseline["installed_apps"] == [
        "django.contrib.contenttypes",
        "django.contrib.auth",
        "rest_framework",
        "scripts.bench.baseline",
    ]
    assert baseline["debug"] is False
    assert baseline["auth_user_model"] == "baseline.User"
    # The platform role, persistent connections with health checks: as production connects.
    assert baseline["database"] == production["database"]
    assert baseline["jwt"] == production["jwt"]
    # Its settings, views, URL conf, models and middleware load nothing of the product.
    assert baseline["product_modules"] == []


def _baseline(requests: list[tuple[str, str, Any, str | None]]) -> list[tuple[int, Any]]:
    """Send ``requests`` (method, path, JSON body, token) to the baseline, in a fresh process on the test database."""
    database = connection.settings_dict
    environment = {
        "DB_NAME": database["NAME"],
        "DB_HOST": database["HOST"] or "127.0.0.1",
        "DB_PORT": str(database["PORT"] or 5432),
        "DB_PLATFORM_USER": database["USER"],
        "DB_PLATFORM_PASSWORD": database["PASSWORD"] or "",
        "JWT_SIGNING_KEY": settings.SIMPLE_JWT["SIGNING_KEY"],
        "ALLOWED_HOSTS": "testserver",
        "BASELINE_REQUESTS": json.dumps(requests),
    }
    answers = fresh_process_json(REQUESTS, settings_module=BASELINE_SETTINGS, environment=environment)["answers"]
    return [(status, body) for status, body in answers]


def _to_the_millisecond(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with its times cut to the millisecond: JsonResponse writes them so, DRF to the microsecond."""
    cut = {}
    for name in ("created_at", "updated_at"):
        moment = datetime.fromisoformat(row[name].replace("Z", "+00:00"))
        cut[name] = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    return {**row, **cut}


def _projects(tenant: Any, keys: list[str]) -> None:
    with rls.scoped(organization_id=tenant.organization.pk):
        for key in keys:
            create_project(tenant, key=key, description=f"About {key}")


@needs_platform_role
@pytest.mark.django_db(transaction=True)
def test_bare_django_and_naive_drf_list_and_retrieve_the_apis_rows(tenant_a, tenant_b, clients_a):
    _projects(tenant_a, [f"A{number}" for number in range(60)])
    _projects(tenant_b, ["B1", "B2"])
    Project.objects.filter(organization=tenant_a.organization, key="A7").update(created_by=None)
    organization, other = tenant_a.organization.pk, tenant_b.organization.pk
    api = clients_a[Role.VIEWER].get("/api/v1/projects/?page_size=50").json()["results"]
    first = api[0]["id"]
    token = token_pair(tenant_a.memberships[Role.VIEWER])["access"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")

    answers = _baseline(
        [
            ("GET", f"/bare/organizations/{organization}/projects/?page_size=50", None, None),
            ("GET", f"/bare/organizations/{organization}/projects/{first}/", None, None),
            ("GET", f"/bare/organizations/{other}/projects/{first}/", None, None),
            ("GET", "/naive/projects/?page_size=50", None, token),
            ("GET", f"/naive/projects/{first}/", None, token),
            ("GET", "/naive/projects/", None, None),
            ("GET", "/naive/projects/", None, forged),
        ]
    )

    assert [status for status, _ in answers] == [200, 200, 404, 200, 200, 401, 401]
    (_, bare_list), (_, bare_detail), _, (_, naive_list), (_, naive_detail), _, _ = answers
    assert len(api) == 50
    assert [list(row) for row in bare_list["results"]] == [FIELDS] * 50
    assert [_to_the_millisecond(row) for row in bare_list["results"]] == [_to_the_millisecond(row) for row in api]
    assert _to_the_millisecond(bare_detail) == _to_the_millisecond(api[0])
    # The naive viewset writes what the API writes, and sees the token's organization only.
    assert naive_list["count"] == 60
    assert naive_list["results"] == api
    assert naive_detail == api[0]


@needs_platform_role
@pytest.mark.django_db(transaction=True)
def test_bare_django_and_naive_drf_creates_insert_rows_the_api_reads(tenant_a, tenant_b, clients_a):
    _projects(tenant_a, ["WEB"])
    project = Project.objects.get(organization=tenant_a.organization, key="WEB")
    organization, other = tenant_a.organization.pk, tenant_b.organization.pk
    member = tenant_a.memberships[Role.MEMBER]
    token = token_pair(member)["access"]

    answers = _baseline(
        [
            ("POST", f"/bare/organizations/{organization}/projects/", {"key": "BARE", "name": "Bare"}, None),
            ("POST", "/naive/projects/", {"key": "NAIVE", "name": "Naive"}, token),
            ("POST", f"/bare/organizations/{organization}/projects/{project.pk}/tasks/", {"title": "Bare"}, None),
            ("POST", "/naive/tasks/", {"project": str(project.pk), "title": "Naive"}, token),
            ("POST", f"/bare/organizations/{other}/projects/{project.pk}/tasks/", {"title": "Elsewhere"}, None),
        ]
    )

    assert [status for status, _ in answers] == [201, 201, 201, 201, 404]
    client = clients_a[Role.VIEWER]
    listed = {row["key"]: row for row in client.get("/api/v1/projects/").json()["results"]}
    assert set(listed) == {"WEB", "BARE", "NAIVE"}
    assert (listed["BARE"]["status"], listed["BARE"]["created_by"]) == ("active", None)
    assert (listed["NAIVE"]["status"], listed["NAIVE"]["created_by"]) == ("active", str(member.user_id))
    assert _to_the_millisecond(answers[0][1]) == _to_the_millisecond(listed["BARE"])
    assert answers[1][1] == listed["NAIVE"]
    tasks = client.get(f"/api/v1/projects/{project.pk}/tasks/?ordering=number").json()["results"]
    assert [(task["number"], task["title"]) for task in tasks] == [(1, "Bare"), (2, "Naive")]
    assert [answers[2][1]["number"], answers[3][1]["number"]] == [1, 2]
    project.refresh_from_db()
    assert project.task_counter == 2
