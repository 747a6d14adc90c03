from datetime import date
from typing import Any
from uuid import uuid4

import pytest
from rest_framework.test import APIClient

from taskhub.audit.models import AuditEvent
from taskhub.projects.models import Project
from taskhub.tasks.models import Task, TaskPriority, TaskStatus
from taskhub.tenancy.roles import Role

# Marked, not only requested through fixtures: the database is then set up before the
# root conftest opens the platform view (RLS bypassed) for the test body.
pytestmark = pytest.mark.django_db

URL = "/api/v1/tasks/"
FIELDS = {
    "id",
    "project",
    "number",
    "title",
    "description",
    "status",
    "priority",
    "assignee",
    "due_date",
    "labels",
    "created_by",
    "created_at",
    "updated_at",
}
WRITERS = [Role.MEMBER, Role.ADMIN, Role.OWNER]


def detail(task: Any) -> str:
    return f"{URL}{getattr(task, 'pk', task)}/"


def create(client: APIClient, project: Project, title: str = "Write copy", **fields: Any) -> Any:
    return client.post(URL, {"project": str(project.pk), "title": title, **fields})


def event(action: str, task: Any) -> AuditEvent:
    return AuditEvent.objects.get(action=action, target_id=str(getattr(task, "pk", task)))


def snapshot(task: Task) -> tuple[Any, ...]:
    task.refresh_from_db()
    return (task.project_id, task.number, task.title, task.status, task.priority, task.assignee_id, task.due_date)


# Creating


@pytest.mark.parametrize("role", WRITERS)
def test_member_admin_and_owner_can_create_task(clients_a, tenant_a, web, role):
    assignee = tenant_a.users[Role.VIEWER]
    response = create(
        clients_a[role],
        web,
        "Write copy",
        description="For the landing page",
        status="in_progress",
        priority="high",
        assignee=str(assignee.pk),
        due_date="2030-05-01",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == FIELDS
    assert body["project"] == str(web.pk)
    assert body["number"] == 1
    assert body["title"] == "Write copy"
    assert body["description"] == "For the landing page"
    assert body["status"] == "in_progress"
    assert body["priority"] == "high"
    assert body["assignee"] == str(assignee.pk)
    assert body["due_date"] == "2030-05-01"
    assert body["created_by"] == str(tenant_a.users[role].pk)
    assert Task.objects.get(pk=body["id"]).organization_id == tenant_a.organization.pk


def test_task_defaults_are_todo_medium_unassigned_and_undated(clients_a, web):
    body = create(clients_a[Role.MEMBER], web).json()

    assert (body["status"], body["priority"], body["assignee"], body["due_date"]) == ("todo", "medium", None, None)
    assert body["description"] == ""


def test_viewer_cannot_create_task(clients_a, web):
    response = create(clients_a[Role.VIEWER], web)

    assert response.status_code == 403
    assert not Task.objects.exists()
    web.refresh_from_db()
    assert web.task_counter == 0


def test_task_create_requires_project_and_title(clients_a):
    response = clients_a[Role.MEMBER].post(URL, {})

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"project", "title"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", "bogus"),
        ("priority", "critical"),
        ("due_date", "notadate"),
        ("assignee", "not-a-uuid"),
        ("title", ""),
        ("title", "x" * 201),
    ],
)
def test_invalid_task_field_is_400_naming_the_field(clients_a, web, field, value):
    response = create(clients_a[Role.MEMBER], web, **{"title": "Write copy", field: value})

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Task.objects.exists()


def test_project_must_be_a_uuid(clients_a):
    response = clients_a[Role.MEMBER].post(URL, {"project": "not-a-uuid", "title": "x"})

    assert response.status_code == 400
    assert "project" in response.json()["errors"]


def test_task_numbers_count_up_per_project_and_independently(clients_a, make_project, tenant_a, web):
    ops = make_project(tenant_a, key="OPS")
    client = clients_a[Role.MEMBER]

    web_numbers = [create(client, web).json()["number"] for _ in range(3)]
    ops_numbers = [create(client, ops).json()["number"] for _ in range(2)]

    assert web_numbers == [1, 2, 3]
    assert ops_numbers == [1, 2]
    web.refresh_from_db()
    assert web.task_counter == 3


def test_numbers_of_deleted_tasks_are_not_handed_out_again(clients_a, web):
    client = clients_a[Role.MEMBER]
    create(client, web)
    last = create(client, web).json()
    client.delete(detail(last["id"]))

    assert create(client, web).json()["number"] == 3


def test_task_in_another_organizations_project_is_400_on_project(clients_a, foreign_project):
    response = create(clients_a[Role.OWNER], foreign_project)

    assert response.status_code == 400
    assert response.json()["errors"]["project"][0]["code"] == "does_not_exist"
    assert not Task.objects.exists()
    foreign_project.refresh_from_db()
    assert foreign_project.task_counter == 0
    assert not AuditEvent.objects.filter(action="task.created").exists()


def test_task_in_an_unknown_project_is_400_on_project(clients_a):
    response = clients_a[Role.MEMBER].post(URL, {"project": str(uuid4()), "title": "x"})

    assert response.status_code == 400
    assert response.json()["errors"]["project"][0]["code"] == "does_not_exist"


@pytest.mark.parametrize("who", ["other_organization", "no_organization", "unknown"])
def test_assignee_who_is_not_a_member_is_400_on_assignee(clients_a, tenant_b, make_user, web, who):
    assignee_id = {
        "other_organization": lambda: tenant_b.users[Role.MEMBER].pk,
        "no_organization": lambda: make_user("loner").pk,
        "unknown": uuid4,
    }[who]()

    response = create(clients_a[Role.MEMBER], web, assignee=str(assignee_id))

    assert response.status_code == 400
    assert response.json()["errors"]["assignee"][0]["code"] == "not_a_member"
    assert not Task.objects.exists()
    web.refresh_from_db()
    assert web.task_counter == 0


def test_creating_a_task_is_audited_with_its_fields(clients_a, tenant_a, web):
    assignee = tenant_a.users[Role.ADMIN]
    response = create(
        clients_a[Role.MEMBER], web, "Ship it", assignee=str(assignee.pk), due_date="2030-01-31", priority="urgent"
    )

    recorded = event("task.created", response.json()["id"])
    assert recorded.actor_user_id == tenant_a.users[Role.MEMBER].pk
    assert recorded.target_type == "tasks.task"
    assert recorded.target_label == "#1 Ship it"
    assert recorded.changes == {
        "project": [None, str(web.pk)],
        "number": [None, 1],
        "title": [None, "Ship it"],
        "description": [None, ""],
        "status": [None, "todo"],
        "priority": [None, "urgent"],
        "assignee": [None, str(assignee.pk)],
        "due_date": [None, "2030-01-31"],
        "labels": [None, []],
    }


# Reading


@pytest.mark.parametrize("role", list(Role))
def test_every_role_retrieves_a_task(clients_a, make_task, web, role):
    task = make_task(web, "Write copy")

    response = clients_a[role].get(detail(task))

    assert response.status_code == 200
    assert response.json()["id"] == str(task.pk)
    assert response.json()["number"] == 1
    assert set(response.json()) == FIELDS


@pytest.mark.parametrize("role", list(Role))
def test_every_role_lists_its_own_organizations_tasks_only(clients_a, make_task, web, foreign_project, role):
    mine = make_task(web)
    make_task(foreign_project)

    response = clients_a[role].get(URL)

    assert response.status_code == 200
    assert [t["id"] for t in response.json()["results"]] == [str(mine.pk)]


def test_another_organizations_task_is_404_for_every_method(clients_a, make_task, foreign_project):
    task = make_task(foreign_project, "Theirs")
    before = snapshot(task)
    owner = clients_a[Role.OWNER]
    put = {"title": "Mine", "description": "", "status": "done", "priority": "low", "assignee": None, "due_date": None}

    assert owner.get(detail(task)).status_code == 404
    assert owner.patch(detail(task), {"title": "Mine"}).status_code == 404
    assert owner.put(detail(task), put).status_code == 404
    assert owner.delete(detail(task)).status_code == 404

    assert snapshot(task) == before
    assert not AuditEvent.objects.filter(action__in=["task.updated", "task.deleted"]).exists()


# Updating


@pytest.mark.parametrize("role", WRITERS)
def test_member_admin_and_owner_can_update_task(clients_a, tenant_a, make_task, web, role):
    task = make_task(web, "Write copy")
    assignee = tenant_a.users[Role.MEMBER]

    response = clients_a[role].patch(
        detail(task), {"status": "done", "assignee": str(assignee.pk), "due_date": "2030-02-01"}
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["assignee"], body["due_date"]) == ("done", str(assignee.pk), "2030-02-01")
    recorded = event("task.updated", task)
    assert recorded.actor_user_id == tenant_a.users[role].pk
    assert recorded.changes == {
        "status": ["todo", "done"],
        "assignee": [None, str(assignee.pk)],
        "due_date": [None, "2030-02-01"],
    }


@pytest.mark.parametrize("method", ["put", "patch"])
def test_viewer_cannot_update_task(clients_a, make_task, web, method):
    task = make_task(web, "Write copy")
    before = snapshot(task)
    body = {"title": "New", "description": "", "status": "done", "priority": "low", "assignee": None, "due_date": None}

    assert getattr(clients_a[Role.VIEWER], method)(detail(task), body).status_code == 403
    assert snapshot(task) == before


def test_put_replaces_every_writable_field(clients_a, tenant_a, make_task, web):
    task = make_task(web, "Old", assignee_id=tenant_a.users[Role.MEMBER].pk, due_date=date(2030, 1, 1))
    body = {
        "title": "New",
        "description": "Details",
        "status": "cancelled",
        "priority": "low",
        "assignee": None,
        "due_date": None,
    }

    response = clients_a[Role.MEMBER].put(detail(task), body)

    assert response.status_code == 200
    assert {k: response.json()[k] for k in body} == body
    assert event("task.updated", task).changes == {
        "title": ["Old", "New"],
        "description": ["", "Details"],
        "status": ["todo", "cancelled"],
        "priority": ["medium", "low"],
        "assignee": [str(tenant_a.users[Role.MEMBER].pk), None],
        "due_date": ["2030-01-01", None],
    }


def test_put_requires_every_writable_field(clients_a, make_task, web):
    task = make_task(web, "Old")

    response = clients_a[Role.MEMBER].put(detail(task), {"title": "New"})

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"description", "status", "priority", "assignee", "due_date"}
    assert snapshot(task)[2] == "Old"


def test_put_of_a_task_as_it_was_read_succeeds(clients_a, make_task, web):
    task = make_task(web, "Old")
    client = clients_a[Role.MEMBER]
    body = client.get(detail(task)).json()

    response = client.put(detail(task), {**body, "title": "New"})

    assert response.status_code == 200
    assert response.json()["title"] == "New"
    assert event("task.updated", task).changes == {"title": ["Old", "New"]}


def test_patch_cannot_move_a_task_to_another_project(clients_a, make_project, make_task, tenant_a, web):
    ops = make_project(tenant_a, key="OPS")
    task = make_task(web)
    before = snapshot(task)

    response = clients_a[Role.MEMBER].patch(detail(task), {"project": str(ops.pk), "title": "Moved?"})

    assert response.status_code == 400
    assert response.json()["errors"]["project"][0]["code"] == "read_only"
    assert snapshot(task) == before


def test_patch_cannot_renumber_a_task(clients_a, make_task, web):
    task = make_task(web)
    before = snapshot(task)

    response = clients_a[Role.MEMBER].patch(detail(task), {"number": 7})

    assert response.status_code == 400
    assert response.json()["errors"]["number"][0]["code"] == "read_only"
    assert snapshot(task) == before


def test_patch_to_a_foreign_assignee_is_400_and_changes_nothing(clients_a, tenant_b, make_task, web):
    task = make_task(web, "Keep")
    before = snapshot(task)

    response = clients_a[Role.MEMBER].patch(
        detail(task), {"title": "Changed", "assignee": str(tenant_b.users[Role.MEMBER].pk)}
    )

    assert response.status_code == 400
    assert response.json()["errors"]["assignee"][0]["code"] == "not_a_member"
    assert snapshot(task) == before


def test_patch_that_changes_nothing_records_no_event(clients_a, make_task, web):
    task = make_task(web, "Same")

    assert clients_a[Role.MEMBER].patch(detail(task), {"title": "Same"}).status_code == 200
    assert clients_a[Role.MEMBER].patch(detail(task), {}).status_code == 200
    assert not AuditEvent.objects.filter(action="task.updated").exists()


def test_tasks_of_an_archived_project_remain_writable(clients_a, make_project, make_task, tenant_a):
    archived = make_project(tenant_a, key="OLD", status="archived")
    task = make_task(archived)

    assert clients_a[Role.MEMBER].patch(detail(task), {"status": "done"}).status_code == 200


# Deleting


@pytest.mark.parametrize("role", WRITERS)
def test_member_admin_and_owner_can_delete_task(clients_a, tenant_a, make_task, web, role):
    task = make_task(web, "Obsolete", priority=TaskPriority.LOW)

    response = clients_a[role].delete(detail(task))

    assert response.status_code == 204
    assert not Task.objects.filter(pk=task.pk).exists()
    recorded = event("task.deleted", task)
    assert recorded.actor_user_id == tenant_a.users[role].pk
    assert recorded.target_label == "#1 Obsolete"
    assert recorded.changes == {
        "project": [str(web.pk), None],
        "number": [1, None],
        "title": ["Obsolete", None],
        "description": ["", None],
        "status": ["todo", None],
        "priority": ["low", None],
        "labels": [[], None],
    }


def test_viewer_cannot_delete_task(clients_a, make_task, web):
    task = make_task(web)

    assert clients_a[Role.VIEWER].delete(detail(task)).status_code == 403
    assert Task.objects.filter(pk=task.pk).exists()


def test_deleting_a_project_deletes_its_tasks_only(clients_a, make_project, make_task, tenant_a, web):
    ops = make_project(tenant_a, key="OPS")
    doomed = [make_task(web), make_task(web, status=TaskStatus.DONE)]
    kept = make_task(ops)

    assert clients_a[Role.ADMIN].delete(f"/api/v1/projects/{web.pk}/").status_code == 204

    assert not Task.objects.filter(pk__in=[t.pk for t in doomed]).exists()
    assert Task.objects.filter(pk=kept.pk).exists()
    assert clients_a[Role.VIEWER].get(detail(doomed[0])).status_code == 404


# API keys act with their role


def api_key_client(admin: APIClient, role: str) -> APIClient:
    response = admin.post("/api/v1/api-keys/", {"name": f"{role} bot", "role": role})
    assert response.status_code == 201, response.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {response.json()['key']}")
    return client


def test_member_api_key_creates_updates_and_deletes_tasks(clients_a, web):
    bot = api_key_client(clients_a[Role.ADMIN], "member")

    created = create(bot, web, "From CI")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["created_by"] is None
    assert bot.patch(detail(body["id"]), {"status": "done"}).status_code == 200
    assert bot.delete(detail(body["id"])).status_code == 204
    recorded = event("task.created", body["id"])
    assert recorded.actor_api_key_id is not None
    assert recorded.actor_label == "api-key:member bot"


def test_viewer_api_key_reads_but_cannot_write_tasks(clients_a, make_task, web):
    task = make_task(web)
    bot = api_key_client(clients_a[Role.ADMIN], "viewer")

    assert bot.get(URL).status_code == 200
    assert bot.get(detail(task)).status_code == 200
    assert create(bot, web).status_code == 403
    assert bot.patch(detail(task), {"status": "done"}).status_code == 403
    assert bot.delete(detail(task)).status_code == 403
    assert Task.objects.count() == 1


def test_member_api_key_cannot_delete_a_project(clients_a, web):
    bot = api_key_client(clients_a[Role.ADMIN], "member")

    assert bot.delete(f"/api/v1/projects/{web.pk}/").status_code == 403
    assert Project.objects.filter(pk=web.pk).exists()
