"""Labels of an organization through the API: CRUD, names unique whatever their case, colours, roles, isolation."""

from typing import Any
from uuid import uuid4

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from taskhub.audit.models import AuditEvent
from taskhub.labels.models import Label, TaskLabel
from taskhub.tenancy.roles import Role
from tests.support.factories import create_project

# Marked, not only requested through fixtures: the database is then set up before the
# root conftest opens the platform view (RLS bypassed) for the test body.
pytestmark = pytest.mark.django_db

URL = "/api/v1/labels/"
FIELDS = {"id", "name", "color", "description", "created_at", "updated_at"}
WRITERS = [Role.MEMBER, Role.ADMIN, Role.OWNER]


def detail(label: Any) -> str:
    return f"{URL}{getattr(label, 'pk', label)}/"


def event(action: str, label: Any) -> AuditEvent:
    return AuditEvent.objects.get(action=action, target_id=str(getattr(label, "pk", label)))


def names(client: APIClient, **params: Any) -> list[str]:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return [label["name"] for label in response.json()["results"]]


def api_key(admin: APIClient, role: str) -> APIClient:
    response = admin.post("/api/v1/api-keys/", {"name": f"labels {role}", "role": role})
    assert response.status_code == 201, response.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {response.json()['key']}")
    return client


# Creating


@pytest.mark.parametrize("role", WRITERS)
def test_member_admin_and_owner_create_a_label(clients_a, tenant_a, role):
    response = clients_a[role].post(URL, {"name": "bug", "color": "#D73A4A", "description": "Something is broken"})

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == FIELDS
    # The colour is kept in lower case: one colour, one spelling.
    assert (body["name"], body["color"], body["description"]) == ("bug", "#d73a4a", "Something is broken")
    assert Label.objects.get(pk=body["id"]).organization_id == tenant_a.organization.pk


def test_creating_a_label_is_audited(clients_a, tenant_a):
    body = clients_a[Role.MEMBER].post(URL, {"name": "docs", "color": "#0075CA"}).json()

    recorded = event("label.created", body["id"])
    assert recorded.actor_user_id == tenant_a.users[Role.MEMBER].pk
    assert recorded.target_type == "labels.label"
    assert recorded.target_label == "docs"
    assert recorded.changes == {"name": [None, "docs"], "color": [None, "#0075ca"], "description": [None, ""]}


def test_a_label_needs_a_name_and_a_colour(clients_a):
    response = clients_a[Role.MEMBER].post(URL, {})

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"name", "color"}


@pytest.mark.parametrize(
    "color", ["red", "d73a4a", "#d73a4", "#d73a4a0", "#GGGGGG", "#d73a4a ", " #d73a4a", "#d73a4a\n", "", "#fff", 123]
)
def test_a_colour_that_is_not_hash_and_six_hex_digits_is_a_400(clients_a, color):
    response = clients_a[Role.MEMBER].post(URL, {"name": "bug", "color": color}, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["errors"]["color"][0]["code"] in {"invalid", "max_length", "blank"}
    assert not Label.objects.exists()


@pytest.mark.parametrize("color", ["#000000", "#FFFFFF", "#a1B2c3"])
def test_any_six_hex_digits_are_a_colour(clients_a, color):
    response = clients_a[Role.MEMBER].post(URL, {"name": "x", "color": color})

    assert response.status_code == 201, response.content
    assert response.json()["color"] == color.lower()


@pytest.mark.parametrize(("name", "status"), [("", 400), ("   ", 400), ("x" * 51, 400), ("x" * 50, 201), ("é", 201)])
def test_a_name_has_1_to_50_characters(clients_a, name, status):
    response = clients_a[Role.MEMBER].post(URL, {"name": name, "color": "#000000"})

    assert response.status_code == status, response.content
    if status == 400:
        assert "name" in response.json()["errors"]


# Names: unique in the organization, whatever their case


@pytest.mark.parametrize("taken", ["bug", "BUG", "Bug"])
def test_a_name_another_label_has_in_any_case_is_name_taken(clients_a, make_label, tenant_a, taken):
    make_label(tenant_a, name="bug")

    response = clients_a[Role.MEMBER].post(URL, {"name": taken, "color": "#000000"})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "name_taken"
    assert body["errors"]["name"][0]["code"] == "name_taken"
    assert Label.objects.count() == 1


def test_the_same_name_in_another_organization_is_allowed(clients_a, make_label, tenant_b):
    make_label(tenant_b, name="bug")

    assert clients_a[Role.MEMBER].post(URL, {"name": "bug", "color": "#000000"}).status_code == 201


def test_the_database_refuses_a_name_in_another_case_too(make_label, tenant_a):
    make_label(tenant_a, name="bug")

    with pytest.raises(IntegrityError), transaction.atomic():
        Label.objects.create(organization=tenant_a.organization, name="BUG", color="#000000")


def test_a_taken_name_is_refused_by_the_unique_index_without_asking_first(clients_a, make_label, tenant_a):
    make_label(tenant_a, name="bug")

    with CaptureQueriesContext(connection) as queries:
        response = clients_a[Role.MEMBER].post(URL, {"name": "Bug", "color": "#000000"})

    assert response.status_code == 400
    assert response.json()["errors"]["name"][0]["code"] == "name_taken"
    assert Label.objects.count() == 1
    # The index answers, as it does for a concurrent create: no SELECT of labels asks first.
    assert not [
        sql
        for query in queries.captured_queries
        if (sql := query["sql"]).startswith("SELECT") and '"labels_label"' in sql
    ]


def test_renaming_to_a_name_taken_in_any_case_is_name_taken(clients_a, make_label, tenant_a):
    make_label(tenant_a, name="bug")
    docs = make_label(tenant_a, name="docs")

    response = clients_a[Role.MEMBER].patch(detail(docs), {"name": "BUG"})

    assert response.status_code == 400
    assert response.json()["errors"]["name"][0]["code"] == "name_taken"
    docs.refresh_from_db()
    assert docs.name == "docs"


def test_a_label_may_change_the_case_of_its_own_name(clients_a, make_label, tenant_a):
    label = make_label(tenant_a, name="bug")

    response = clients_a[Role.MEMBER].patch(detail(label), {"name": "Bug"})

    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Bug"


# Reading


@pytest.mark.parametrize("role", list(Role))
def test_every_role_lists_and_reads_its_organizations_labels_only(clients_a, make_label, tenant_a, tenant_b, role):
    mine = make_label(tenant_a, name="bug")
    make_label(tenant_b, name="theirs")

    response = clients_a[role].get(URL)
    assert response.status_code == 200
    assert [label["id"] for label in response.json()["results"]] == [str(mine.pk)]
    shown = clients_a[role].get(detail(mine))
    assert shown.status_code == 200
    assert set(shown.json()) == FIELDS


def test_labels_are_listed_by_name_searched_and_ordered(clients_a, make_label, tenant_a):
    for name in ("wontfix", "bug", "docs", "Bugfix release"):
        make_label(tenant_a, name=name)
    client = clients_a[Role.VIEWER]

    assert names(client) == ["Bugfix release", "bug", "docs", "wontfix"]
    assert names(client, ordering="-name") == ["wontfix", "docs", "bug", "Bugfix release"]
    assert names(client, ordering="-created_at") == ["Bugfix release", "docs", "bug", "wontfix"]
    assert names(client, search="BUG") == ["Bugfix release", "bug"]
    assert names(client, search="nothing") == []
    assert client.get(URL, {"ordering": "color"}).status_code == 400


def test_label_pages_follow_next_links(clients_a, make_label, tenant_a):
    for i in range(5):
        make_label(tenant_a, name=f"label {i}")
    client = clients_a[Role.VIEWER]

    seen: list[str] = []
    response = client.get(URL, {"page_size": 2})
    while True:
        assert response.status_code == 200, response.content
        seen += [label["name"] for label in response.json()["results"]]
        if response.json()["next"] is None:
            break
        response = client.get(response.json()["next"])
    assert seen == [f"label {i}" for i in range(5)]


# Updating


@pytest.mark.parametrize("role", WRITERS)
def test_member_admin_and_owner_update_a_label(clients_a, make_label, tenant_a, role):
    label = make_label(tenant_a, name="bug", color="#d73a4a")

    response = clients_a[role].patch(detail(label), {"color": "#00FF00"})

    assert response.status_code == 200, response.content
    assert response.json()["color"] == "#00ff00"
    recorded = event("label.updated", label)
    assert recorded.actor_user_id == tenant_a.users[role].pk
    assert recorded.changes == {"color": ["#d73a4a", "#00ff00"]}


def test_put_replaces_every_field_and_requires_them(clients_a, make_label, tenant_a):
    label = make_label(tenant_a, name="bug", color="#d73a4a", description="Broken")
    client = clients_a[Role.MEMBER]

    incomplete = client.put(detail(label), {"name": "defect"})
    assert incomplete.status_code == 400
    assert set(incomplete.json()["errors"]) == {"color", "description"}

    response = client.put(detail(label), {"name": "defect", "color": "#000000", "description": ""})
    assert response.status_code == 200, response.content
    assert {k: response.json()[k] for k in ("name", "color", "description")} == {
        "name": "defect",
        "color": "#000000",
        "description": "",
    }
    assert event("label.updated", label).changes == {
        "name": ["bug", "defect"],
        "color": ["#d73a4a", "#000000"],
        "description": ["Broken", ""],
    }


def test_a_write_that_changes_nothing_records_no_event(clients_a, make_label, tenant_a):
    label = make_label(tenant_a, name="bug", color="#d73a4a")

    # The same colour in upper case is the same colour.
    response = clients_a[Role.MEMBER].patch(detail(label), {"name": "bug", "color": "#D73A4A"})

    assert response.status_code == 200, response.content
    assert not AuditEvent.objects.filter(action="label.updated").exists()


def test_a_stale_if_match_is_412_and_changes_nothing(clients_a, make_label, tenant_a):
    label = make_label(tenant_a, name="bug")
    client = clients_a[Role.MEMBER]
    read = client.get(detail(label))
    etag = read["ETag"]
    assert client.patch(detail(label), {"color": "#111111"}, HTTP_IF_MATCH=etag).status_code == 200

    stale = client.patch(detail(label), {"name": "lost update"}, HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    assert stale.json()["code"] == "precondition_failed"
    assert clients_a[Role.ADMIN].delete(detail(label), HTTP_IF_MATCH=etag).status_code == 412

    current = client.get(detail(label))["ETag"]
    assert current != etag
    assert client.patch(detail(label), {"name": "kept"}, HTTP_IF_MATCH=current).status_code == 200
    label.refresh_from_db()
    assert label.name == "kept"


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_viewer_cannot_write_a_label(clients_a, make_label, tenant_a, method):
    label = make_label(tenant_a, name="bug")
    body = {"name": "x", "color": "#000000", "description": ""}

    response = getattr(clients_a[Role.VIEWER], method)(detail(label), body)

    assert response.status_code == 403
    label.refresh_from_db()
    assert label.name == "bug"


# Deleting, by admins and owners


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
def test_admin_and_owner_delete_a_label_and_it_leaves_every_task(clients_a, make_label, tenant_a, role):
    label = make_label(tenant_a, name="bug")
    other = make_label(tenant_a, name="docs")
    project = create_project(tenant_a, key="WEB")
    client = clients_a[role]
    created = client.post(
        "/api/v1/tasks/", {"project": str(project.pk), "title": "Fix", "labels": [str(label.pk), str(other.pk)]}
    )
    assert created.status_code == 201, created.content
    task = created.json()

    response = client.delete(detail(label))

    assert response.status_code == 204
    assert not Label.objects.filter(pk=label.pk).exists()
    after = client.get(f"/api/v1/tasks/{task['id']}/").json()
    assert after["labels"] == [str(other.pk)]
    # Taken off by the label's deletion, not by a change to the task: its updated_at stays.
    assert after["updated_at"] == task["updated_at"]
    assert list(TaskLabel.objects.values_list("label_id", flat=True)) == [other.pk]
    recorded = event("label.deleted", label)
    assert recorded.actor_user_id == tenant_a.users[role].pk
    assert recorded.changes == {"name": ["bug", None], "color": ["#d73a4a", None], "description": ["", None]}


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_member_and_viewer_cannot_delete_a_label(clients_a, make_label, tenant_a, role):
    label = make_label(tenant_a, name="bug")

    response = clients_a[role].delete(detail(label))

    assert response.status_code == 403
    assert Label.objects.filter(pk=label.pk).exists()


# API keys


def test_a_member_api_key_creates_and_updates_labels_but_cannot_delete_them(clients_a):
    bot = api_key(clients_a[Role.ADMIN], "member")

    created = bot.post(URL, {"name": "automated", "color": "#123456"})
    assert created.status_code == 201, created.content
    assert bot.patch(detail(created.json()["id"]), {"description": "Set by CI"}).status_code == 200
    assert bot.delete(detail(created.json()["id"])).status_code == 403


def test_a_viewer_api_key_reads_labels_only(clients_a, make_label, tenant_a):
    label = make_label(tenant_a, name="bug")
    bot = api_key(clients_a[Role.ADMIN], "viewer")

    assert bot.get(URL).status_code == 200
    assert bot.get(detail(label)).status_code == 200
    assert bot.post(URL, {"name": "x", "color": "#000000"}).status_code == 403
    assert bot.patch(detail(label), {"name": "x"}).status_code == 403


# Another organization's labels


def test_another_organizations_label_is_404_for_every_method(clients_a, make_label, tenant_b):
    theirs = make_label(tenant_b, name="theirs", color="#abcdef")
    owner = clients_a[Role.OWNER]
    body = {"name": "mine", "color": "#000000", "description": ""}

    assert owner.get(detail(theirs)).status_code == 404
    assert owner.put(detail(theirs), body).status_code == 404
    assert owner.patch(detail(theirs), {"name": "mine"}).status_code == 404
    assert owner.delete(detail(theirs)).status_code == 404
    assert owner.get(detail(uuid4())).status_code == 404

    theirs.refresh_from_db()
    assert (theirs.name, theirs.color) == ("theirs", "#abcdef")
    assert not AuditEvent.objects.filter(action__in=["label.updated", "label.deleted"]).exists()


def test_a_name_taken_in_another_organization_is_never_revealed(clients_a, make_label, tenant_a, tenant_b):
    make_label(tenant_b, name="secret")
    mine = make_label(tenant_a, name="public")

    assert clients_a[Role.MEMBER].patch(detail(mine), {"name": "SECRET"}).status_code == 200


# What each request costs


def test_the_label_list_and_detail_run_one_query(clients_a, make_label, tenant_a, django_assert_max_num_queries):
    from conftest import TENANT_REQUEST_OVERHEAD  # noqa: PLC0415 - the root conftest, as the other apps' tests

    for i in range(30):
        make_label(tenant_a, name=f"label {i}")
    client = clients_a[Role.VIEWER]
    client.get(URL)  # warm the token cache

    with django_assert_max_num_queries(TENANT_REQUEST_OVERHEAD + 1):
        assert len(client.get(URL, {"page_size": 25}).json()["results"]) == 25
    label = Label.objects.first()
    with django_assert_max_num_queries(TENANT_REQUEST_OVERHEAD + 1):
        assert client.get(detail(label)).status_code == 200
