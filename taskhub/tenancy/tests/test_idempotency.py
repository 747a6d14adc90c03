"""``Idempotency-Key`` on tenant POSTs, through the HTTP client (docs/idempotency.md)."""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import PASSWORD, TENANT_REQUEST_OVERHEAD, as_app_role
from taskhub.accounts.models import ApiKey
from taskhub.audit.models import AuditEvent
from taskhub.core import rls
from taskhub.core.errors import DomainError
from taskhub.projects.models import Project
from taskhub.tenancy import idempotency
from taskhub.tenancy.api import TenantAPIView
from taskhub.tenancy.models import IdempotencyRecord
from taskhub.tenancy.roles import Role
from tests.support.isolation import api_routes

# Marked, not only requested through fixtures: the database is then set up before the
# root conftest opens the platform view (RLS bypassed) for the test body.
pytestmark = pytest.mark.django_db

PROJECTS = "/api/v1/projects/"
TASKS = "/api/v1/tasks/"
API_KEYS = "/api/v1/api-keys/"
KEY = "4f1c1bde-0d2b-4c61-9d83-0d5c0d1b7c1a"


def post(client: Any, url: str, body: dict[str, Any], key: str | None = KEY, **extra: Any) -> Any:
    if key is not None:
        extra["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(url, body, format="json", **extra)


def post_raw(client: Any, url: str, text: str, key: str = KEY) -> Any:
    return client.post(url, text, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)


def records() -> list[dict[str, Any]]:
    return [dict(row) for row in IdempotencyRecord.objects.order_by("created_at").values()]


# Replays


def test_a_retry_replays_the_first_answer_and_creates_nothing(clients_a, tenant_a):
    client = clients_a[Role.MEMBER]
    first = post(client, PROJECTS, {"key": "WEB", "name": "Website"})
    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first

    again = post(client, PROJECTS, {"key": "WEB", "name": "Website"})

    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again.json()["id"] == first.json()["id"]
    assert Project.objects.count() == 1
    assert AuditEvent.objects.filter(action="project.created").count() == 1
    (record,) = records()
    assert record["organization_id"] == tenant_a.organization.pk
    assert (record["key"], record["method"], record["path"]) == (KEY, "POST", PROJECTS)
    assert record["response_status"] == 201
    assert json.loads(record["response_body"]) == first.json()


def test_the_same_json_written_differently_is_the_same_request(clients_a):
    client = clients_a[Role.MEMBER]
    first = post_raw(client, PROJECTS, '{"key": "WEB", "name": "Website"}')
    assert first.status_code == 201, first.content

    again = post_raw(client, PROJECTS, '{ "name":"Website",\n  "key":"W\\u0045B" }')

    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert Project.objects.count() == 1


def test_another_member_of_the_organization_replays_the_same_key(clients_a):
    first = post(clients_a[Role.MEMBER], PROJECTS, {"key": "WEB", "name": "Website"})

    again = post(clients_a[Role.ADMIN], PROJECTS, {"key": "WEB", "name": "Website"})

    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]


def test_a_replay_still_needs_the_role_of_the_operation(clients_a):
    post(clients_a[Role.ADMIN], PROJECTS, {"key": "WEB", "name": "Website"})

    refused = post(clients_a[Role.VIEWER], PROJECTS, {"key": "WEB", "name": "Website"})

    assert refused.status_code == 403
    assert "Idempotent-Replayed" not in refused


def test_a_task_create_replays_too(clients_a, tenant_a):
    client = clients_a[Role.MEMBER]
    project = post(client, PROJECTS, {"key": "WEB", "name": "Website"}, key=None).json()
    body = {"project": project["id"], "title": "Ship it"}

    first = post(client, TASKS, body)
    again = post(client, TASKS, body)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.json()["number"] == 1
    assert Project.objects.get(pk=project["id"]).task_counter == 1


# Refusals


def test_the_same_key_with_another_body_is_a_422_and_creates_nothing(clients_a):
    client = clients_a[Role.MEMBER]
    first = post(client, PROJECTS, {"key": "WEB", "name": "Website"})
    assert first.status_code == 201

    response = post(client, PROJECTS, {"key": "OPS", "name": "Operations"})

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "idempotency_key_reused"
    assert set(body) == {"detail", "code"}
    assert "another request body" in body["detail"]
    assert list(Project.objects.values_list("key", flat=True)) == ["WEB"]
    assert records()[0]["response_status"] == 201


def test_the_same_key_on_another_path_is_a_422(clients_a):
    client = clients_a[Role.ADMIN]
    project = post(client, PROJECTS, {"key": "WEB", "name": "Website"}).json()

    response = post(client, TASKS, {"project": project["id"], "title": "Ship it"})

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert f"POST {PROJECTS}" in response.json()["detail"]
    assert not project_tasks(project["id"])


def project_tasks(project_id: str) -> list[Any]:
    from taskhub.tasks.models import Task  # noqa: PLC0415 - only this test reads tasks

    return list(Task.objects.filter(project_id=project_id))


def test_the_same_key_with_another_query_string_is_a_422(clients_a):
    client = clients_a[Role.MEMBER]
    post(client, PROJECTS, {"key": "WEB", "name": "Website"})

    response = post(client, f"{PROJECTS}?again=1", {"key": "WEB", "name": "Website"})

    assert response.status_code == 422
    assert Project.objects.count() == 1


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("", "empty"),
        ("k" * 256, "longer than 255"),
        ("two words", "a space"),
        ("tab\tinside", "a control character"),
        ("clé", "not ASCII"),
    ],
)
def test_a_malformed_key_is_a_400_naming_the_header(clients_a, key, why):
    response = post(clients_a[Role.MEMBER], PROJECTS, {"key": "WEB", "name": "Website"}, key=key)

    assert response.status_code == 400, why
    body = response.json()
    assert body["code"] == "invalid"
    assert "Idempotency-Key" in body["detail"]
    assert body["errors"] == {"Idempotency-Key": [{"message": body["detail"], "code": "invalid"}]}
    assert not Project.objects.exists()
    assert not IdempotencyRecord.objects.exists()


def test_a_key_of_255_visible_characters_is_accepted(clients_a):
    key = "".join(chr(33 + i % 94) for i in range(255))

    first = post(clients_a[Role.MEMBER], PROJECTS, {"key": "WEB", "name": "Website"}, key=key)
    again = post(clients_a[Role.MEMBER], PROJECTS, {"key": "WEB", "name": "Website"}, key=key)

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"


# Errors are not kept


def test_a_key_whose_request_failed_can_be_retried_with_a_fixed_request(clients_a):
    client = clients_a[Role.MEMBER]
    failed = post(client, PROJECTS, {"key": "lower case!", "name": "Website"})
    assert failed.status_code == 400
    assert not IdempotencyRecord.objects.exists()

    fixed = post(client, PROJECTS, {"key": "WEB", "name": "Website"})

    assert fixed.status_code == 201, fixed.content
    assert "Idempotent-Replayed" not in fixed
    assert Project.objects.count() == 1


def test_a_failed_request_sent_again_fails_again_rather_than_replaying(clients_a, tenant_a):
    client = clients_a[Role.MEMBER]
    assert post(client, PROJECTS, {"key": "WEB", "name": "Website"}, key=None).status_code == 201

    taken = [post(client, PROJECTS, {"key": "WEB", "name": "Website again"}) for _ in range(2)]

    assert [response.status_code for response in taken] == [400, 400]
    assert all("Idempotent-Replayed" not in response for response in taken)
    assert taken[0].json()["code"] == taken[1].json()["code"] == "key_taken"
    assert not IdempotencyRecord.objects.exists()


# Expiry and the purge


def age(hours: float) -> None:
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=hours))


def test_a_record_older_than_24_hours_is_treated_as_absent(clients_a):
    client = clients_a[Role.MEMBER]
    first = post(client, PROJECTS, {"key": "WEB", "name": "Website"})
    age(24.01)

    again = post(client, PROJECTS, {"key": "OPS", "name": "Operations"})

    assert again.status_code == 201, again.content
    assert "Idempotent-Replayed" not in again
    assert again.json()["id"] != first.json()["id"]
    (record,) = records()
    assert json.loads(record["response_body"])["id"] == again.json()["id"]
    assert record["created_at"] > timezone.now() - timedelta(minutes=1)


def test_a_record_younger_than_24_hours_still_replays(clients_a):
    client = clients_a[Role.MEMBER]
    first = post(client, PROJECTS, {"key": "WEB", "name": "Website"})
    age(23.9)

    again = post(client, PROJECTS, {"key": "WEB", "name": "Website"})

    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]


def test_purge_idempotency_keys_removes_expired_records_of_every_organization(clients_a, clients_b, capsys):
    post(clients_a[Role.MEMBER], PROJECTS, {"key": "WEB", "name": "Website"})
    post(clients_b[Role.MEMBER], PROJECTS, {"key": "WEB", "name": "Website"})
    age(25)
    post(clients_a[Role.MEMBER], PROJECTS, {"key": "OPS", "name": "Operations"}, key="fresh")

    call_command("purge_idempotency_keys")

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]
    assert "Deleted 2 idempotency records older than 24 hours." in capsys.readouterr().out


# Organizations


def test_the_same_key_in_another_organization_is_independent(clients_a, clients_b, tenant_a, tenant_b):
    in_a = post(clients_a[Role.MEMBER], PROJECTS, {"key": "WEB", "name": "Website"})

    in_b = post(clients_b[Role.MEMBER], PROJECTS, {"key": "OPS", "name": "Operations"})

    assert in_b.status_code == 201
    assert "Idempotent-Replayed" not in in_b
    assert Project.objects.get(pk=in_b.json()["id"]).organization_id == tenant_b.organization.pk
    assert Project.objects.get(pk=in_a.json()["id"]).organization_id == tenant_a.organization.pk
    assert IdempotencyRecord.objects.filter(key=KEY).count() == 2


def test_organization_b_cannot_replay_organization_a_s_answer(clients_a, clients_b, tenant_b):
    in_a = post(clients_a[Role.MEMBER], PROJECTS, {"key": "WEB", "name": "Website"})

    in_b = post(clients_b[Role.MEMBER], PROJECTS, {"key": "WEB", "name": "Website"})

    assert in_b.status_code == 201
    assert "Idempotent-Replayed" not in in_b
    assert in_b.json()["id"] != in_a.json()["id"]
    assert Project.objects.get(pk=in_b.json()["id"]).organization_id == tenant_b.organization.pk


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row-level security needs PostgreSQL")
def test_the_app_role_sees_only_its_organization_s_records(clients_a, clients_b, tenant_a, tenant_b):
    post(clients_a[Role.MEMBER], PROJECTS, {"key": "WEB", "name": "Website"})
    post(clients_b[Role.MEMBER], PROJECTS, {"key": "WEB", "name": "Website"})

    with as_app_role():
        with rls.scoped(organization_id=tenant_b.organization.pk):
            seen = list(IdempotencyRecord.objects.values_list("organization_id", flat=True))
            # A's record cannot be replaced or read from B's context, even when named.
            assert IdempotencyRecord.objects.filter(organization_id=tenant_a.organization.pk).update(path="/x") == 0
        with rls.scoped():
            assert not IdempotencyRecord.objects.exists()

    assert seen == [tenant_b.organization.pk]


# Secrets shown once


def test_an_api_key_answer_is_not_kept_and_its_retry_is_a_409(clients_a):
    client = clients_a[Role.ADMIN]
    first = post(client, API_KEYS, {"name": "ci", "role": "viewer"})
    assert first.status_code == 201
    assert first["Cache-Control"] == "no-store"
    secret = first.json()["key"]

    again = post(client, API_KEYS, {"name": "ci", "role": "viewer"})

    assert again.status_code == 409
    assert again.json()["code"] == "idempotency_secret_not_replayable"
    assert secret not in again.content.decode()
    assert ApiKey.objects.count() == 1
    (record,) = records()
    assert record["response_status"] == 201
    assert record["response_body"] is None
    assert secret not in json.dumps(record, default=str)


def test_an_api_key_with_another_body_is_still_a_422(clients_a):
    client = clients_a[Role.ADMIN]
    post(client, API_KEYS, {"name": "ci", "role": "viewer"})

    response = post(client, API_KEYS, {"name": "deploy", "role": "viewer"})

    assert response.status_code == 422
    assert ApiKey.objects.count() == 1


# Where the header is ignored


def test_the_header_is_ignored_on_sign_in(api_client, tenant_a):
    body = {"username": tenant_a.owner.username, "password": PASSWORD}

    answers = [post(api_client, "/api/v1/auth/token/", body) for _ in range(2)]

    assert [response.status_code for response in answers] == [200, 200]
    assert answers[0].json()["access"] != answers[1].json()["access"]
    assert all("Idempotent-Replayed" not in response for response in answers)
    assert not IdempotencyRecord.objects.exists()


def test_the_header_is_ignored_on_other_methods(clients_a):
    client = clients_a[Role.MEMBER]
    project = post(client, PROJECTS, {"key": "WEB", "name": "Website"}, key=None).json()

    for name in ("One", "Two"):
        response = client.patch(f"{PROJECTS}{project['id']}/", {"name": name}, format="json", HTTP_IDEMPOTENCY_KEY=KEY)
        assert response.status_code == 200
        assert response.json()["name"] == name
    assert not IdempotencyRecord.objects.exists()


def test_the_header_is_ignored_where_post_is_not_served(clients_a):
    response = post(clients_a[Role.OWNER], "/api/v1/organization/", {"name": "x"}, key="bad key")

    assert response.status_code == 405
    assert not IdempotencyRecord.objects.exists()


# Cost


def test_a_post_without_the_header_runs_no_idempotency_statement(clients_a):
    client = clients_a[Role.MEMBER]
    # Warm the token cache, and the "no webhooks here" flag a write reads once (taskhub.webhooks.events).
    assert post(client, PROJECTS, {"key": "PRE", "name": "Warm-up"}, key=None).status_code == 201

    with CaptureQueriesContext(connection) as without:
        assert post(client, PROJECTS, {"key": "WEB", "name": "Website"}, key=None).status_code == 201
    with CaptureQueriesContext(connection) as first:
        assert post(client, PROJECTS, {"key": "OPS", "name": "Operations"}).status_code == 201
    with CaptureQueriesContext(connection) as replay:
        assert post(client, PROJECTS, {"key": "OPS", "name": "Operations"}).status_code == 201

    table = IdempotencyRecord._meta.db_table
    assert not any(table in query["sql"] for query in without.captured_queries)
    # The placeholder's insert and the answer's update. On PostgreSQL also the service savepoint's
    # RELEASE, which goes out with that update; without a statement after the service it is never
    # sent, COMMIT ends the savepoint (rls._Carrier).
    releases = 1 if connection.vendor == "postgresql" else 0
    assert len(first) == len(without) + 2 + releases
    # The request's own (transaction, context), the insert that finds the key, the read of the kept answer.
    assert len(replay) == TENANT_REQUEST_OVERHEAD + 2


# The schema


def test_every_tenant_post_declares_the_header_and_a_422_and_no_other_post_does(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    posts = [route for route in api_routes() if "post" in route.methods]
    tenant = [route for route in posts if issubclass(route.view_class, TenantAPIView)]
    assert {f"/{route.template}" for route in tenant} >= {PROJECTS, TASKS, API_KEYS, "/api/v1/invitations/"}
    assert "api/v1/auth/token/" in {route.template for route in posts if route not in tenant}
    for route in posts:
        operation = schema["paths"][route.schema_path]["post"]
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        declared = route in tenant
        assert ("Idempotency-Key" in headers) is declared, route.template
        assert ("422" in operation["responses"]) is declared, route.template
    (parameter,) = [p for p in schema["paths"][PROJECTS]["post"]["parameters"] if p["name"] == "Idempotency-Key"]
    assert parameter.get("required", False) is False
    assert parameter["schema"]["pattern"] == idempotency.KEY_PATTERN
    assert parameter["schema"]["maxLength"] == idempotency.MAX_KEY_LENGTH


# Concurrent duplicates, on PostgreSQL: real connections as the app role, a real unique index


def concurrent(work: Callable[[int], Any], count: int, *, start: Callable[[int], None] | None = None) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads (each on its own connection); ``start(i)`` before thread ``i`` starts."""
    results: list[Any] = [None] * count

    def thread(index: int) -> None:
        try:
            results[index] = work(index)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            results[index] = exc
        finally:
            # ``connection`` is this thread's own; the test database cannot be dropped while it is open.
            connection.close()

    threads = [threading.Thread(target=thread, args=(i,)) for i in range(count)]
    for index, t in enumerate(threads):
        if start is not None:
            start(index)
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def slowed(monkeypatch: pytest.MonkeyPatch, *, entered: threading.Event, fail: bool = False) -> None:
    """Make the first project create hold its transaction open a while (and fail, with ``fail``)."""
    from taskhub.projects.apis import ProjectListApi  # noqa: PLC0415 - the view the duplicates race on

    original = ProjectListApi.create_service
    assert original is not None
    calls = itertools.count()

    def create(**kwargs: Any) -> Any:
        first = next(calls) == 0
        if first:
            entered.set()
            time.sleep(0.5)
            if fail:
                raise DomainError("The first attempt fails.", code="first_fails")
        return original(**kwargs)

    monkeypatch.setattr(ProjectListApi, "create_service", staticmethod(create))


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs concurrent connections and PostgreSQL's unique index waits"
)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_duplicate_sent_while_the_first_runs_waits_and_replays_it(tenant_a, client_for, monkeypatch):
    entered = threading.Event()
    slowed(monkeypatch, entered=entered)
    clients = [client_for(tenant_a.memberships[Role.MEMBER]) for _ in range(2)]

    def send(index: int) -> tuple[float, Any]:
        response = post(clients[index], PROJECTS, {"key": "RACE", "name": "Race"})
        return time.monotonic(), response

    # The second starts once the first holds the key inside its open transaction.
    (first_done, first), (second_done, second) = concurrent(
        send, 2, start=lambda index: index == 1 and entered.wait(10)
    )

    assert first.status_code == second.status_code == 201, (first.content, second.content)
    assert "Idempotent-Replayed" not in first
    assert second["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert second_done >= first_done
    with rls.bypass("test: count"):
        assert Project.objects.filter(organization=tenant_a.organization).count() == 1
        assert IdempotencyRecord.objects.get().response_status == 201


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_duplicate_of_a_first_request_that_fails_goes_on_as_the_first(tenant_a, client_for, monkeypatch):
    entered = threading.Event()
    slowed(monkeypatch, entered=entered, fail=True)
    clients = [client_for(tenant_a.memberships[Role.MEMBER]) for _ in range(2)]

    first, second = concurrent(
        lambda index: post(clients[index], PROJECTS, {"key": "RACE", "name": "Race"}),
        2,
        start=lambda index: index == 1 and entered.wait(10),
    )

    assert first.status_code == 400
    assert first.json()["code"] == "first_fails"
    assert second.status_code == 201, second.content
    assert "Idempotent-Replayed" not in second
    with rls.bypass("test: count"):
        assert Project.objects.filter(organization=tenant_a.organization).count() == 1
        assert json.loads(IdempotencyRecord.objects.get().response_body)["id"] == second.json()["id"]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_duplicates_sent_at_once_create_one_project(tenant_a, client_for):
    count = 6
    clients = [client_for(tenant_a.memberships[Role.MEMBER]) for _ in range(count)]
    barrier = threading.Barrier(count)

    def send(index: int) -> Any:
        barrier.wait(timeout=10)
        return post(clients[index], PROJECTS, {"key": "RACE", "name": "Race"})

    responses = concurrent(send, count)

    assert [getattr(response, "status_code", response) for response in responses] == [201] * count
    assert len({response.json()["id"] for response in responses}) == 1
    assert sum(response.get("Idempotent-Replayed") == "true" for response in responses) == count - 1
    with rls.bypass("test: count"):
        assert Project.objects.filter(organization=tenant_a.organization).count() == 1
        assert AuditEvent.objects.filter(action="project.created").count() == 1


# The schemathesis run (taskhub/core/tests/test_schemathesis_e2e.py)


def test_the_schemathesis_run_sends_a_fresh_key_for_each_well_formed_one():
    from tests.support.schemathesis_hooks import WELL_FORMED_KEY, before_call  # noqa: PLC0415 - imports schemathesis

    well_formed = SimpleNamespace(headers={"Idempotency-Key": "0"})
    malformed = SimpleNamespace(headers={"Idempotency-Key": "two words"})
    without = SimpleNamespace(headers=None)

    for case in (well_formed, malformed, without):
        before_call(None, case, {})

    assert uuid.UUID(well_formed.headers["Idempotency-Key"])
    assert malformed.headers["Idempotency-Key"] == "two words"
    assert without.headers is None
    assert f"^{WELL_FORMED_KEY.pattern}$" == idempotency.KEY_PATTERN


# Browsers


@override_settings(CORS_ALLOWED_ORIGINS=["https://app.example.com"])
def test_a_browser_of_an_allowed_origin_may_send_the_key_and_read_the_replay_header(clients_a):
    client = clients_a[Role.MEMBER]
    preflight = client.options(
        PROJECTS,
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type, idempotency-key",
    )
    assert "idempotency-key" in preflight["Access-Control-Allow-Headers"]

    post(client, PROJECTS, {"key": "WEB", "name": "Website"}, HTTP_ORIGIN="https://app.example.com")
    again = post(client, PROJECTS, {"key": "WEB", "name": "Website"}, HTTP_ORIGIN="https://app.example.com")

    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" in again["Access-Control-Expose-Headers"]
