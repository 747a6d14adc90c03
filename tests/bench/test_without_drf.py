"""The benchmark's projects list without DRF, inside the app (scripts/bench/without_drf.py).

Routed by the bench URL conf only (scripts/bench/urls.py), answering what the API answers in as many statements.
"""

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import resolve
from django.utils import timezone

from taskhub.projects.models import Project
from taskhub.tenancy.roles import Role
from tests.support.factories import create_project
from tests.support.servers import fresh_process_json

pytestmark = pytest.mark.django_db

URL = "/api/v1/projects/"
PAGE = 50


def without_drf_url(organization_id: Any) -> str:
    return f"/bench/without-drf/organizations/{organization_id}/projects/"


def _resolved_module(settings_module: str, path: str) -> str:
    """Return the module of the view ``path`` resolves to under ``settings_module``, in a fresh process."""
    code = (
        "import django, json; django.setup(); from django.urls import resolve; "
        f"print(json.dumps({{'module': resolve({path!r}).func.__module__}}))"
    )
    return str(fresh_process_json(code, settings_module=settings_module)["module"])


@pytest.mark.parametrize(
    ("settings_module", "view_module"),
    [
        ("config.settings.production", "taskhub.core.errors"),
        ("config.settings.local", "taskhub.core.errors"),
        ("scripts.bench.settings", "scripts.bench.without_drf"),
    ],
)
def test_only_the_bench_settings_route_the_view(settings_module, view_module):
    path = without_drf_url("00000000-0000-0000-0000-000000000001")
    assert _resolved_module(settings_module, path) == view_module


def test_the_test_settings_answer_404_for_the_view(api_client, tenant_a):
    create_project(tenant_a, key="WEB")

    response = api_client.get(without_drf_url(tenant_a.organization.pk))

    assert response.status_code == 404
    assert resolve(without_drf_url(tenant_a.organization.pk)).func.__module__ == "taskhub.core.errors"


@pytest.fixture
def many_projects(tenant_a, tenant_b) -> list[Project]:
    """120 projects of tenant A a second apart, three of them tied at the first page boundary; noise in B."""
    projects = [create_project(tenant_a, key=f"P{number}", description=f"Number {number}") for number in range(120)]
    now = timezone.now()
    for age, project in enumerate(reversed(projects)):
        Project.objects.filter(pk=project.pk).update(created_at=now - timedelta(seconds=age))
    newest_first = list(Project.objects.filter(organization=tenant_a.organization).order_by("-created_at"))
    tied = newest_first[PAGE - 2].created_at
    Project.objects.filter(pk__in=[p.pk for p in newest_first[PAGE - 1 : PAGE + 1]]).update(created_at=tied)
    Project.objects.filter(pk=newest_first[7].pk).update(created_by=None)
    for number in range(5):
        create_project(tenant_b, key=f"B{number}")
    return newest_first


def _get(client: Any, url: str) -> tuple[dict[str, Any], list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    statements = [query["sql"] for query in queries.captured_queries]
    # The page's query and, on PostgreSQL, the RLS variables set just before it (authentication
    # may run statements of its own earlier, on a cold cache).
    first = next(index for index, sql in enumerate(statements) if "projects_project" in sql)
    scope = [sql for sql in statements[:first] if "set_config" in sql][-1:]
    return response.json(), scope + [sql for sql in statements if "projects_project" in sql]


@pytest.mark.urls("scripts.bench.urls")
def test_the_view_answers_the_endpoints_json_in_as_many_statements_page_after_page(
    clients_a, api_client, tenant_a, many_projects
):
    organization_id = tenant_a.organization.pk
    real_url, floor = f"{URL}?page_size={PAGE}", f"{without_drf_url(organization_id)}?page_size={PAGE}"
    pages = 0
    while real_url:
        real_body, real_sql = _get(clients_a[Role.VIEWER], real_url)
        floor_body, floor_sql = _get(api_client, floor)

        assert floor_body == real_body
        # The same tenant context, and one page query each (however the endpoint writes its JSON).
        assert len(floor_sql) == len(real_sql)
        assert floor_sql[:-1] == real_sql[:-1]
        pages += 1
        real_url = real_body["next"]
        if real_url:
            query = real_url.split("?", 1)[1]
            real_url, floor = f"{URL}?{query}", f"{without_drf_url(organization_id)}?{query}"
    assert pages == 3


@pytest.mark.urls("scripts.bench.urls")
def test_the_view_sees_only_the_organization_in_its_url(api_client, tenant_b, many_projects):
    body = api_client.get(without_drf_url(tenant_b.organization.pk)).json()

    assert sorted(project["key"] for project in body["results"]) == [f"B{number}" for number in range(5)]
