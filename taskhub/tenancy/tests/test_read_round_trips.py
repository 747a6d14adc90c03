"""A read talks to PostgreSQL once and to Redis once, and gives up nothing for it (issue #17).

A GET on a tenant endpoint runs in autocommit: its statement goes out in one psycopg pipeline
with ``taskhub_rls.enter`` (rls.carried), no BEGIN, COMMIT or health check of its own; the
token's revocation is read in the Lua call that counts the throttles. These tests run outside a
test transaction (``transaction=True``), as production requests do.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conftest import as_app_role
from taskhub.accounts.authentication import denied_token_cache_key
from taskhub.core import rls
from taskhub.projects.models import Project
from taskhub.tenancy import resources
from taskhub.tenancy.roles import Role
from tests.support.factories import create_project
from tests.support.round_trips import round_trips

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="round trips and row-level security are PostgreSQL's"),
    pytest.mark.django_db(transaction=True),
]

PROJECTS = "/api/v1/projects/"
TASKS = "/api/v1/tasks/"


@pytest.fixture
def viewer(clients_a, tenant_a):
    project = create_project(tenant_a, key="WEB")
    created = clients_a[Role.MEMBER].post(TASKS, {"project": str(project.pk), "title": "First"})
    assert created.status_code == 201, created.content
    client = clients_a[Role.VIEWER]
    # The connection open and the token's membership version cached, as on a warm worker.
    assert client.get(PROJECTS).status_code == 200
    return client


@pytest.mark.parametrize("path", [PROJECTS, "/api/v1/tasks/?status=todo", "/api/v1/labels/", "detail"])
def test_a_read_is_one_round_trip_to_postgresql_and_one_to_redis(viewer, tenant_a, path):
    if path == "detail":
        path = f"{PROJECTS}{_first_project_id(viewer)}/"

    with round_trips() as counted, CaptureQueriesContext(connection) as statements:
        response = viewer.get(path)

    assert response.status_code == 200, response.content
    # taskhub_rls.enter and the read, sent together and answered together.
    assert counted.postgresql == ["_exit_gen"], counted.postgresql
    assert len(statements) == 2, [query["sql"] for query in statements.captured_queries]
    assert "taskhub_rls.enter" in statements.captured_queries[0]["sql"]
    if settings.USES_REDIS:
        assert counted.redis == 1


def _first_project_id(client: Any) -> str:
    return str(client.get(PROJECTS).json()["results"][0]["id"])


def test_a_write_still_runs_in_one_transaction_whose_first_statement_carries_the_context(viewer, clients_a):
    member = clients_a[Role.MEMBER]

    with round_trips() as counted, CaptureQueriesContext(connection) as statements:
        response = member.post(PROJECTS, {"key": "OPS", "name": "Operations"})

    assert response.status_code == 201, response.content
    # Django logs BEGIN when it turns autocommit off; psycopg sends it with the first statement.
    sent = [query["sql"] for query in statements.captured_queries if query["sql"] != "BEGIN"]
    assert "taskhub_rls.enter" in sent[0]
    # BEGIN goes out in the first pipeline with the context and the first statement; COMMIT at the end.
    assert counted.postgresql[0] == "_exit_gen"
    assert counted.postgresql[-1] == "_commit_gen"
    assert "_exec_command" not in counted.postgresql[:1]


def test_a_read_leaves_no_context_on_its_connection(viewer, tenant_a):
    assert viewer.get(PROJECTS).status_code == 200

    # The implicit transaction ended with the pipeline: the next statement on the same
    # connection runs without a tenant and sees none of its rows.
    with as_app_role(), connection.cursor() as cursor:
        cursor.execute("SELECT taskhub_rls.organization_id(), (SELECT count(*) FROM projects_project)")
        assert cursor.fetchone() == (None, 0)


def test_a_carried_read_on_a_connection_the_server_closed_runs_on_a_new_one(tenant_a, caplog):
    create_project(tenant_a, key="WEB")
    old_pid = connection.connection.info.backend_pid
    database = settings.DATABASES["default"]
    # As after a PostgreSQL restart: the worker's connection is dead and the worker does not know it.
    credentials = {"host": database["HOST"], "port": database["PORT"], "dbname": database["NAME"]}
    with psycopg.connect(**credentials, user=database["USER"], password=database["PASSWORD"]) as other:
        assert other.execute("SELECT pg_terminate_backend(%s)", [old_pid]).fetchone() == (True,)
    # A request starts: Django would spend a round trip on SELECT 1 first; a read skips it.
    connection.health_check_done = False

    with (
        caplog.at_level(logging.WARNING, logger="taskhub.core.rls"),
        round_trips() as counted,
        rls.carried(organization_id=tenant_a.organization.pk, skip_health_check=True),
    ):
        keys = list(Project.objects.values_list("key", flat=True))

    assert keys == ["WEB"]
    assert connection.connection.info.backend_pid != old_pid
    assert "reconnected" in caplog.text
    # The failed try on the dead connection, the new connection's own setup (Django's time zone),
    # then the one that answered; no SELECT 1.
    assert counted.postgresql == ["_exit_gen", "_execute_gen", "_exit_gen"], counted.postgresql


def test_a_revoked_token_is_refused_with_the_throttles_round_trip(viewer, tenant_a, client_for):
    if not settings.USES_REDIS:
        pytest.skip("the denylist read with the throttles is Redis's Lua call")
    from django.core.cache import cache  # noqa: PLC0415

    token = viewer._credentials["HTTP_AUTHORIZATION"].split()[1]
    payload = _claims(token)
    cache.set(denied_token_cache_key(payload["jti"]), True, 3600)

    with round_trips() as counted:
        response = viewer.get(PROJECTS)

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"
    assert counted.redis == 1
    # Refused before any statement: nothing reached PostgreSQL.
    assert counted.postgresql == []


def _claims(token: str) -> dict[str, Any]:
    import base64  # noqa: PLC0415
    import json  # noqa: PLC0415

    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


# The rows PostgreSQL writes equal the rows Python writes, byte for byte.

AWKWARD = [
    'Ünïcode ✓ "quoted" \\ back\\slash',
    "line\nbreak\ttab\r\x01\x1f\x7f",
    "separators \u2028 and \u2029, emoji \U0001f600, slash /",
    "",
]


def _python_rendered(client: Any, path: str, monkeypatch: Any) -> bytes:
    with monkeypatch.context() as patch:
        patch.setattr(resources, "json_rows", lambda queryset, representation: None)
        return bytes(client.get(path).content)


@pytest.mark.parametrize("ordering", ["-created_at", "created_at", "name", "-updated_at"])
def test_pages_written_by_postgresql_equal_the_pages_written_in_python(viewer, tenant_a, monkeypatch, ordering):
    for index, text in enumerate(AWKWARD):
        create_project(tenant_a, key=f"AW{index}", name=text or "empty", description=text)
    with rls.bypass("test: a creator gone, a timestamp without microseconds, a tie"):
        Project.objects.filter(key="AW0").update(created_by=None)
        whole = Project.objects.get(key="AW1")
        Project.objects.filter(key="AW1").update(updated_at=whole.updated_at.replace(microsecond=0))
        Project.objects.filter(key="AW2").update(
            created_at=Project.objects.get(key="AW3").created_at, name=Project.objects.get(key="AW3").name
        )

    path = f"{PROJECTS}?page_size=2&ordering={ordering}"
    pages = 0
    while path:
        written_by_postgresql = viewer.get(path)
        assert written_by_postgresql.status_code == 200
        assert written_by_postgresql.content == _python_rendered(viewer, path, monkeypatch)
        path = written_by_postgresql.json()["next"]
        pages += 1
    assert pages == 3


def test_task_pages_with_label_arrays_equal_the_pages_written_in_python(viewer, tenant_a, clients_a, monkeypatch):
    member = clients_a[Role.MEMBER]
    project_id = _first_project_id(viewer)
    admin = clients_a[Role.ADMIN]
    labels = [
        admin.post("/api/v1/labels/", {"name": f"L{index}", "color": "#00aa00"}).json()["id"] for index in range(3)
    ]
    created = member.post(TASKS, {"project": project_id, "title": "Labelled", "labels": labels})
    assert created.status_code == 201, created.content

    path = "/api/v1/tasks/?page_size=50"
    body = viewer.get(path)

    assert sorted(body.json()["results"][0]["labels"]) == sorted(labels)
    assert body.content == _python_rendered(viewer, path, monkeypatch)


@pytest.mark.parametrize("path", ["projects", "tasks", "labels"])
def test_an_object_written_by_postgresql_equals_the_object_written_in_python(
    viewer, tenant_a, clients_a, monkeypatch, path
):
    create_project(tenant_a, key="AWK", name=AWKWARD[0], description=AWKWARD[1] + AWKWARD[2])
    clients_a[Role.ADMIN].post("/api/v1/labels/", {"name": AWKWARD[2][:40], "color": "#00aa00"})
    listed = viewer.get(f"/api/v1/{path}/").json()["results"]
    assert listed
    for row in listed:
        url = f"/api/v1/{path}/{row['id']}/"
        written_by_postgresql = viewer.get(url)
        with monkeypatch.context() as patch:
            patch.setattr(resources, "json_rows", lambda queryset, representation: None)
            written_in_python = viewer.get(url)
        assert written_by_postgresql.status_code == 200
        assert written_by_postgresql.content == written_in_python.content
        assert written_by_postgresql["ETag"] == written_in_python["ETag"]
        assert written_by_postgresql.json() == row
    # The ETag a read gives is the one a conditional write expects.
    project = viewer.get(f"{PROJECTS}?search=AWK").json()["results"][0]
    etag = viewer.get(f"{PROJECTS}{project['id']}/")["ETag"]
    member = clients_a[Role.MEMBER]
    assert member.patch(f"{PROJECTS}{project['id']}/", {"name": "Renamed"}, HTTP_IF_MATCH=etag).status_code == 200
    assert member.patch(f"{PROJECTS}{project['id']}/", {"name": "Again"}, HTTP_IF_MATCH=etag).status_code == 412


def test_an_object_of_another_organization_is_404_written_by_postgresql_too(viewer, tenant_b):
    other = create_project(tenant_b, key="THEIRS")

    response = viewer.get(f"{PROJECTS}{other.pk}/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
