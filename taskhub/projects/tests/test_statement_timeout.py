"""DB_STATEMENT_TIMEOUT_MS: a tenant's runaway statement is cancelled and answered 503; platform paths are not cut."""

import pytest
from django.db import OperationalError, connection, transaction

from taskhub.core import rls
from taskhub.projects.apis import ProjectListApi
from taskhub.projects.models import Project
from taskhub.projects.selectors import project_list
from taskhub.tenancy.roles import Role

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="statement_timeout is PostgreSQL's")


def show_timeout():
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        return cursor.fetchone()[0]


def server_timeout():
    with connection.cursor() as cursor:
        cursor.execute("SELECT reset_val FROM pg_settings WHERE name = 'statement_timeout'")
        return cursor.fetchone()[0]


def sleep(seconds):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [seconds])


@pytest.mark.django_db
def test_a_tenant_scope_sets_the_timeout_for_its_transaction_only(settings, tenant_a):
    settings.DB_STATEMENT_TIMEOUT_MS = 150
    # Platform paths run on the platform alias's own connection, which no tenant scope touches.
    with rls.scoped(organization_id=tenant_a.organization.pk):
        assert show_timeout() == "150ms"
        with pytest.raises(OperationalError, match="statement timeout"), transaction.atomic():
            sleep(0.6)


@pytest.mark.django_db(transaction=True)
def test_the_timeout_ends_with_the_transaction(settings, tenant_a):
    settings.DB_STATEMENT_TIMEOUT_MS = 150
    before = show_timeout()
    with rls.scoped(organization_id=tenant_a.organization.pk):
        assert show_timeout() == "150ms"
    assert show_timeout() == before


@pytest.mark.django_db
def test_zero_leaves_the_server_setting(settings, tenant_a):
    settings.DB_STATEMENT_TIMEOUT_MS = 0
    before = show_timeout()
    with rls.scoped(organization_id=tenant_a.organization.pk):
        assert show_timeout() == before


def slow_project_list(*, organization_id):
    # One pg_sleep per query (no column in it: PostgreSQL evaluates it once, before any row).
    return project_list(organization_id=organization_id).extra(where=["pg_sleep(0.6) IS NOT NULL"])


@pytest.mark.django_db
def test_a_request_whose_query_runs_too_long_answers_503_json_and_the_next_one_works(
    settings, monkeypatch, clients_a, tenant_a
):
    settings.DB_STATEMENT_TIMEOUT_MS = 150
    admin = clients_a[Role.ADMIN]
    assert admin.post("/api/v1/projects/", {"key": "KEEP", "name": "Kept"}).status_code == 201
    monkeypatch.setattr(ProjectListApi, "selector", staticmethod(slow_project_list))

    response = admin.get("/api/v1/projects/")

    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "service_unavailable"
    assert response["Retry-After"]
    monkeypatch.undo()
    # The connection is usable again and the organization's data is as it was.
    listed = admin.get("/api/v1/projects/")
    assert listed.status_code == 200
    assert [row["key"] for row in listed.json()["results"]] == ["KEEP"]
    assert Project.objects.filter(organization=tenant_a.organization).count() == 1
