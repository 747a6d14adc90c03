from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from taskhub.audit.models import AuditEvent
from taskhub.core.actor import Actor
from taskhub.core.errors import DomainError, violates
from taskhub.projects.models import KEY_UNIQUE, Project, ProjectStatus
from taskhub.projects.services import project_create
from taskhub.tenancy.roles import Role

# Marked, not only requested through fixtures: the database is then set up before the
# root conftest opens the platform view (RLS bypassed) for the test body.
pytestmark = pytest.mark.django_db

URL = "/api/v1/projects/"
FIELDS = {"id", "key", "name", "description", "status", "created_by", "created_at", "updated_at"}
WRITERS = [Role.MEMBER, Role.ADMIN, Role.OWNER]


def detail(project: Any) -> str:
    return f"{URL}{getattr(project, 'pk', project)}/"


def event(action: str, project: Any) -> AuditEvent:
    return AuditEvent.objects.get(action=action, target_id=str(getattr(project, "pk", project)))


# Creating


@pytest.mark.parametrize("role", WRITERS)
def test_member_admin_and_owner_can_create_project(clients_a, tenant_a, role):
    response = clients_a[role].post(URL, {"key": "WEB", "name": "Website", "description": "The public site"})

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == FIELDS
    assert body["key"] == "WEB"
    assert body["name"] == "Website"
    assert body["description"] == "The public site"
    assert body["status"] == "active"
    assert body["created_by"] == str(tenant_a.users[role].pk)
    stored = Project.objects.get(pk=body["id"])
    assert stored.organization_id == tenant_a.organization.pk
    assert stored.task_counter == 0


def test_viewer_cannot_create_project(clients_a):
    response = clients_a[Role.VIEWER].post(URL, {"key": "WEB", "name": "Website"})

    assert response.status_code == 403
    assert not Project.objects.exists()


def test_creating_a_project_is_audited_with_its_fields(clients_a, tenant_a):
    response = clients_a[Role.MEMBER].post(URL, {"key": "OPS", "name": "Operations"}, HTTP_X_REQUEST_ID="req-project-1")

    recorded = event("project.created", response.json()["id"])
    assert recorded.organization_id == tenant_a.organization.pk
    assert recorded.actor_user_id == tenant_a.users[Role.MEMBER].pk
    assert recorded.request_id == "req-project-1"
    assert recorded.target_type == "projects.project"
    assert recorded.changes == {
        "key": [None, "OPS"],
        "name": [None, "Operations"],
        "description": [None, ""],
        "status": [None, "active"],
    }


def test_project_may_be_created_archived(clients_a):
    response = clients_a[Role.MEMBER].post(URL, {"key": "OLD", "name": "Legacy", "status": "archived"})

    assert response.status_code == 201
    assert response.json()["status"] == "archived"


@pytest.mark.parametrize("key", ["web", "Web", "W", "1WEB", "WEB-1", "WEB 1", "ABCDEFGHIJK", "", "ÄBC"])
def test_project_key_must_be_a_capital_then_capitals_or_digits(clients_a, key):
    response = clients_a[Role.MEMBER].post(URL, {"key": key, "name": "Website"})

    assert response.status_code == 400
    assert "key" in response.json()["errors"]
    assert not Project.objects.exists()


@pytest.mark.parametrize("key", ["AB", "WEB", "A1", "ABCDEFGHIJ", "OPS2024"])
def test_project_key_accepts_two_to_ten_capitals_or_digits(clients_a, key):
    assert clients_a[Role.MEMBER].post(URL, {"key": key, "name": "Website"}).status_code == 201


def test_project_create_requires_key_and_name(clients_a):
    response = clients_a[Role.MEMBER].post(URL, {})

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"key", "name"}


def test_duplicate_key_in_the_same_organization_is_key_taken(clients_a, make_project, tenant_a):
    make_project(tenant_a, key="WEB")

    response = clients_a[Role.MEMBER].post(URL, {"key": "WEB", "name": "Another"})

    assert response.status_code == 400
    assert response.json()["errors"]["key"][0]["code"] == "key_taken"
    assert Project.objects.filter(organization=tenant_a.organization).count() == 1
    assert not AuditEvent.objects.filter(action="project.created", target_label__contains="Another").exists()


def test_same_key_in_another_organization_is_allowed(clients_a, make_project, tenant_b):
    make_project(tenant_b, key="WEB")

    assert clients_a[Role.MEMBER].post(URL, {"key": "WEB", "name": "Website"}).status_code == 201
    assert Project.objects.filter(key="WEB").count() == 2


def test_project_key_is_unique_regardless_of_case(make_project, tenant_a):
    make_project(tenant_a, key="WEB")
    actor = Actor(user_id=tenant_a.owner.pk)

    # The service compares case-insensitively ...
    with pytest.raises(DomainError) as raised:
        project_create(organization_id=tenant_a.organization.pk, actor=actor, key="web", name="Lower")
    assert raised.value.code == "key_taken"
    # ... and so does the database, for rows written around the service.
    with pytest.raises(IntegrityError), transaction.atomic():
        Project.objects.create(organization=tenant_a.organization, key="Web", name="Raw")


def test_a_taken_key_is_refused_by_the_unique_index_without_asking_first(clients_a, make_project, tenant_a):
    make_project(tenant_a, key="WEB")

    with CaptureQueriesContext(connection) as queries:
        response = clients_a[Role.MEMBER].post(URL, {"key": "WEB", "name": "Racing"})

    assert response.status_code == 400
    assert response.json()["errors"]["key"][0]["code"] == "key_taken"
    assert Project.objects.filter(organization=tenant_a.organization).count() == 1
    # No SELECT of projects first: under row-level security it would filter every project of the
    # organization (upper() is not leakproof, so its index is not used). A concurrent create
    # taking the key is the same case: the index answers.
    assert not [
        sql
        for query in queries.captured_queries
        if (sql := query["sql"]).startswith("SELECT") and '"projects_project"' in sql
    ]


def test_only_the_key_constraint_is_reported_as_key_taken(make_project, tenant_a):
    web = make_project(tenant_a, key="WEB")

    with pytest.raises(IntegrityError) as same_key, transaction.atomic():
        Project.objects.create(organization=tenant_a.organization, key="Web", name="Again")
    with pytest.raises(IntegrityError) as same_id, transaction.atomic():
        Project.objects.create(id=web.pk, organization=tenant_a.organization, key="OPS", name="Same id")

    assert violates(same_key.value, KEY_UNIQUE)
    assert not violates(same_id.value, KEY_UNIQUE)


# Reading


@pytest.mark.parametrize("role", list(Role))
def test_every_role_lists_its_own_organizations_projects_only(clients_a, make_project, tenant_a, tenant_b, role):
    mine = make_project(tenant_a, key="WEB")
    make_project(tenant_b, key="OPS")

    response = clients_a[role].get(URL)

    assert response.status_code == 200
    results = response.json()["results"]
    assert [p["id"] for p in results] == [str(mine.pk)]
    assert set(results[0]) == FIELDS


@pytest.mark.parametrize("role", list(Role))
def test_every_role_retrieves_a_project(clients_a, make_project, tenant_a, role):
    project = make_project(tenant_a, key="WEB", name="Website", description="Public")

    response = clients_a[role].get(detail(project))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(project.pk)
    assert body["key"] == "WEB"
    assert body["created_by"] == str(tenant_a.owner.pk)
    assert "task_counter" not in body


def test_another_organizations_project_is_404_for_every_method(clients_a, make_project, tenant_b):
    foreign = make_project(tenant_b, key="WEB", name="Theirs")
    owner = clients_a[Role.OWNER]

    assert owner.get(detail(foreign)).status_code == 404
    assert owner.patch(detail(foreign), {"name": "Mine now"}).status_code == 404
    put = {"key": "WEB", "name": "Mine now", "description": "", "status": "archived"}
    assert owner.put(detail(foreign), put).status_code == 404
    assert owner.delete(detail(foreign)).status_code == 404

    foreign.refresh_from_db()
    assert (foreign.name, foreign.status) == ("Theirs", ProjectStatus.ACTIVE)
    assert not AuditEvent.objects.filter(action__in=["project.updated", "project.deleted"]).exists()


def test_unknown_project_is_404(clients_a):
    assert clients_a[Role.VIEWER].get(detail("7c4d5a54-3a6c-4e4e-9a55-0d7f3e0f1e11")).status_code == 404


# Updating


@pytest.mark.parametrize("role", WRITERS)
def test_member_admin_and_owner_can_archive_project(clients_a, make_project, tenant_a, role):
    project = make_project(tenant_a, key="WEB")

    response = clients_a[role].patch(detail(project), {"status": "archived"})

    assert response.status_code == 200
    assert response.json()["status"] == "archived"
    project.refresh_from_db()
    assert project.status == ProjectStatus.ARCHIVED
    recorded = event("project.updated", project)
    assert recorded.changes == {"status": ["active", "archived"]}
    assert recorded.actor_user_id == tenant_a.users[role].pk


def test_archived_project_can_be_restored(clients_a, make_project, tenant_a):
    project = make_project(tenant_a, key="WEB", status="archived")

    response = clients_a[Role.MEMBER].patch(detail(project), {"status": "active"})

    assert response.json()["status"] == "active"


@pytest.mark.parametrize("method", ["put", "patch"])
def test_viewer_cannot_update_project(clients_a, make_project, tenant_a, method):
    project = make_project(tenant_a, key="WEB", name="Website")
    body = {"key": "NEW", "name": "Renamed", "description": "", "status": "archived"}

    response = getattr(clients_a[Role.VIEWER], method)(detail(project), body)

    assert response.status_code == 403
    project.refresh_from_db()
    assert (project.key, project.name, project.status) == ("WEB", "Website", "active")


def test_put_replaces_every_writable_field(clients_a, make_project, tenant_a):
    project = make_project(tenant_a, key="WEB", name="Website", description="Old")
    body = {"key": "SITE", "name": "Site", "description": "New", "status": "archived"}

    response = clients_a[Role.MEMBER].put(detail(project), body)

    assert response.status_code == 200
    assert {k: response.json()[k] for k in body} == body
    assert event("project.updated", project).changes == {
        "key": ["WEB", "SITE"],
        "name": ["Website", "Site"],
        "description": ["Old", "New"],
        "status": ["active", "archived"],
    }


def test_put_requires_every_writable_field(clients_a, make_project, tenant_a):
    project = make_project(tenant_a, key="WEB", name="Website")

    response = clients_a[Role.MEMBER].put(detail(project), {"name": "Renamed"})

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"key", "description", "status"}
    project.refresh_from_db()
    assert project.name == "Website"


def test_patch_changes_only_the_fields_sent(clients_a, make_project, tenant_a):
    project = make_project(tenant_a, key="WEB", name="Website", description="Keep me")

    response = clients_a[Role.MEMBER].patch(detail(project), {"name": "Renamed"})

    assert response.status_code == 200
    project.refresh_from_db()
    assert (project.key, project.name, project.description) == ("WEB", "Renamed", "Keep me")
    assert event("project.updated", project).changes == {"name": ["Website", "Renamed"]}


def test_patch_that_changes_nothing_records_no_event(clients_a, make_project, tenant_a):
    project = make_project(tenant_a, key="WEB", name="Website")

    assert clients_a[Role.MEMBER].patch(detail(project), {"name": "Website"}).status_code == 200
    assert clients_a[Role.MEMBER].patch(detail(project), {}).status_code == 200

    assert not AuditEvent.objects.filter(action="project.updated").exists()


def test_changing_key_to_one_taken_in_the_organization_is_key_taken(clients_a, make_project, tenant_a, tenant_b):
    make_project(tenant_a, key="OPS")
    make_project(tenant_b, key="SITE")
    project = make_project(tenant_a, key="WEB")

    taken = clients_a[Role.MEMBER].patch(detail(project), {"key": "OPS"})
    free_here = clients_a[Role.MEMBER].patch(detail(project), {"key": "SITE"})

    assert taken.status_code == 400
    assert taken.json()["errors"]["key"][0]["code"] == "key_taken"
    assert free_here.status_code == 200
    project.refresh_from_db()
    assert project.key == "SITE"


def test_patch_rejects_lowercase_key_and_unknown_status(clients_a, make_project, tenant_a):
    project = make_project(tenant_a, key="WEB")

    response = clients_a[Role.MEMBER].patch(detail(project), {"key": "web", "status": "deleted"})

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"key", "status"}


# Deleting


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
def test_admin_and_owner_can_delete_project(clients_a, make_project, tenant_a, role):
    project = make_project(tenant_a, key="WEB", name="Website")

    response = clients_a[role].delete(detail(project))

    assert response.status_code == 204
    assert not Project.objects.filter(pk=project.pk).exists()
    recorded = event("project.deleted", project)
    assert recorded.actor_user_id == tenant_a.users[role].pk
    assert recorded.target_label == "WEB: Website"
    assert recorded.changes == {
        "key": ["WEB", None],
        "name": ["Website", None],
        "description": ["", None],
        "status": ["active", None],
    }


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_member_and_viewer_cannot_delete_project(clients_a, make_project, tenant_a, role):
    project = make_project(tenant_a, key="WEB")

    assert clients_a[role].delete(detail(project)).status_code == 403
    assert Project.objects.filter(pk=project.pk).exists()
