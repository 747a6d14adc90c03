"""Tasks carrying labels: set on create, replaced on update, shown sorted, filtered with ``label=``, audited, cheap."""

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from conftest import TENANT_REQUEST_OVERHEAD
from taskhub.audit.models import AuditEvent
from taskhub.core.errors import DomainError
from taskhub.labels.models import MAX_LABELS_PER_TASK, Label, TaskLabel
from taskhub.labels.services import task_labels_replace
from taskhub.labels.tests.conftest import create_label
from taskhub.tasks.models import Task
from taskhub.tasks.selectors import task_list
from taskhub.tasks.serializers import TaskSerializer
from taskhub.tenancy.roles import Role

pytestmark = pytest.mark.django_db

URL = "/api/v1/tasks/"


def detail(task: Any) -> str:
    return f"{URL}{getattr(task, 'pk', task) if not isinstance(task, dict) else task['id']}/"


def ids(*labels: Label) -> list[str]:
    return sorted(str(label.pk) for label in labels)


@pytest.fixture
def labels(tenant_a) -> dict[str, Label]:
    return {name: create_label(tenant_a, name=name) for name in ("bug", "docs", "ui", "urgent")}


@pytest.fixture
def theirs(tenant_b) -> Label:
    return create_label(tenant_b, name="bug")


def create(client: APIClient, project: Any, title: str = "Fix it", **fields: Any) -> Any:
    return client.post(URL, {"project": str(project.pk), "title": title, **fields}, format="json")


def events(action: str, task: Any) -> list[AuditEvent]:
    target = task["id"] if isinstance(task, dict) else str(task.pk)
    return list(AuditEvent.objects.filter(action=action, target_id=target).order_by("created_at"))


# On create


def test_a_task_is_created_with_labels_shown_sorted_and_audited(clients_a, web, labels):
    given = [str(labels["ui"].pk), str(labels["bug"].pk), str(labels["ui"].pk)]

    response = create(clients_a[Role.MEMBER], web, labels=given)

    assert response.status_code == 201, response.content
    body = response.json()
    # Repeated ids count once; ascending order, whatever order they came in.
    assert body["labels"] == ids(labels["ui"], labels["bug"])
    assert events("task.created", body)[0].changes["labels"] == [None, ids(labels["ui"], labels["bug"])]
    rows = TaskLabel.objects.filter(task_id=body["id"])
    assert {row.organization_id for row in rows} == {web.organization_id}
    assert clients_a[Role.VIEWER].get(detail(body)).json()["labels"] == body["labels"]


def test_a_task_created_without_labels_carries_none(clients_a, web):
    body = create(clients_a[Role.MEMBER], web).json()

    assert body["labels"] == []
    assert create(clients_a[Role.MEMBER], web, labels=[]).json()["labels"] == []


def test_another_organizations_label_is_a_400_on_labels_naming_it(clients_a, web, labels, theirs):
    response = create(clients_a[Role.MEMBER], web, labels=[str(labels["bug"].pk), str(theirs.pk)])

    assert response.status_code == 400
    error = response.json()["errors"]["labels"][0]
    assert error["code"] == "does_not_exist"
    assert str(theirs.pk) in error["message"]
    assert str(labels["bug"].pk) not in error["message"]
    assert not Task.objects.exists()
    assert not TaskLabel.objects.exists()
    web.refresh_from_db()
    assert web.task_counter == 0


def test_an_unknown_label_id_is_a_400_on_labels(clients_a, web):
    unknown = str(uuid4())

    response = create(clients_a[Role.MEMBER], web, labels=[unknown])

    assert response.status_code == 400
    assert unknown in response.json()["errors"]["labels"][0]["message"]
    assert not Task.objects.exists()


@pytest.mark.parametrize("value", ["not-a-list", ["not-a-uuid"], [None], [1.5], {"id": "x"}])
def test_labels_that_are_not_a_list_of_ids_are_a_400(clients_a, web, value):
    response = create(clients_a[Role.MEMBER], web, labels=value)

    assert response.status_code == 400
    assert "labels" in response.json()["errors"]
    assert not Task.objects.exists()


def test_more_labels_than_a_task_carries_is_a_400(clients_a, tenant_a, web):
    many = [create_label(tenant_a, name=f"l{i}") for i in range(MAX_LABELS_PER_TASK + 1)]

    too_many = create(clients_a[Role.MEMBER], web, labels=[str(label.pk) for label in many])
    assert too_many.status_code == 400
    assert too_many.json()["errors"]["labels"][0]["code"] == "max_length"
    # As the schema's maxItems says: every id given counts, a repeated one too.
    twice = create(clients_a[Role.MEMBER], web, labels=[str(many[0].pk)] * (MAX_LABELS_PER_TASK + 1))
    assert twice.status_code == 400
    assert not Task.objects.exists()

    most = create(clients_a[Role.MEMBER], web, labels=[str(label.pk) for label in many[:MAX_LABELS_PER_TASK]])
    assert most.status_code == 201, most.content
    assert len(most.json()["labels"]) == MAX_LABELS_PER_TASK


def test_the_service_refuses_more_labels_than_a_task_carries(web):
    many = [uuid4() for _ in range(MAX_LABELS_PER_TASK + 1)]
    with pytest.raises(DomainError) as refused:
        task_labels_replace(organization_id=web.organization_id, task_id=uuid4(), current=[], label_ids=many)
    assert (refused.value.code, refused.value.field) == ("too_many", "labels")


# On update: the list given replaces the set


def test_patch_replaces_the_set_audits_it_and_moves_updated_at(clients_a, web, labels):
    client = clients_a[Role.MEMBER]
    task = create(client, web, labels=[str(labels["bug"].pk), str(labels["docs"].pk)]).json()
    Task.objects.filter(pk=task["id"]).update(updated_at=datetime(2020, 1, 1, tzinfo=UTC))
    etag = client.get(detail(task))["ETag"]

    response = client.patch(detail(task), {"labels": [str(labels["docs"].pk), str(labels["ui"].pk)]}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["labels"] == ids(labels["docs"], labels["ui"])
    # A change of labels alone is a change of the task: updated_since and the ETag see it.
    assert body["updated_at"] > "2020-01-01T00:00:00Z"
    assert response["ETag"] != etag
    (updated,) = events("task.updated", task)
    assert updated.changes == {
        "labels": [ids(labels["bug"], labels["docs"]), ids(labels["docs"], labels["ui"])],
    }
    assert set(TaskLabel.objects.filter(task_id=task["id"]).values_list("label_id", flat=True)) == {
        labels["docs"].pk,
        labels["ui"].pk,
    }
    since = client.get(URL, {"updated_since": "2020-01-01T00:00:01Z"}).json()["results"]
    assert [row["id"] for row in since] == [task["id"]]


def test_an_empty_list_takes_every_label_off(clients_a, web, labels):
    client = clients_a[Role.MEMBER]
    task = create(client, web, labels=[str(labels["bug"].pk)]).json()

    response = client.patch(detail(task), {"labels": []}, format="json")

    assert response.json()["labels"] == []
    assert not TaskLabel.objects.exists()
    assert events("task.updated", task)[0].changes == {"labels": [ids(labels["bug"]), []]}


def test_the_same_set_in_another_order_changes_nothing(clients_a, web, labels):
    client = clients_a[Role.MEMBER]
    task = create(client, web, labels=[str(labels["bug"].pk), str(labels["ui"].pk)]).json()

    response = client.patch(detail(task), {"labels": [str(labels["ui"].pk), str(labels["bug"].pk)]}, format="json")

    assert response.status_code == 200
    assert response.json()["updated_at"] == task["updated_at"]
    assert not events("task.updated", task)


def test_patch_without_labels_keeps_them_and_audits_the_other_fields(clients_a, web, labels):
    client = clients_a[Role.MEMBER]
    task = create(client, web, labels=[str(labels["bug"].pk)]).json()

    response = client.patch(detail(task), {"title": "Renamed"}, format="json")

    assert response.json()["labels"] == ids(labels["bug"])
    assert events("task.updated", task)[0].changes == {"title": ["Fix it", "Renamed"]}


def test_put_with_labels_replaces_them_and_put_without_keeps_them(clients_a, web, labels):
    client = clients_a[Role.MEMBER]
    task = create(client, web, labels=[str(labels["bug"].pk)]).json()
    fields = {"title": "T", "description": "", "status": "todo", "priority": "low", "assignee": None, "due_date": None}

    replaced = client.put(detail(task), {**fields, "labels": [str(labels["docs"].pk)]}, format="json")
    assert replaced.status_code == 200, replaced.content
    assert replaced.json()["labels"] == ids(labels["docs"])

    # A client that knows nothing of labels replaces the other fields and leaves them.
    kept = client.put(detail(task), {**fields, "title": "T2"}, format="json")
    assert kept.status_code == 200, kept.content
    assert kept.json()["labels"] == ids(labels["docs"])


def test_put_of_a_task_as_it_was_read_keeps_its_labels(clients_a, web, labels):
    client = clients_a[Role.MEMBER]
    task = create(client, web, labels=[str(labels["bug"].pk), str(labels["ui"].pk)]).json()
    read = client.get(detail(task))

    response = client.put(detail(task), {**read.json(), "title": "Again"}, format="json", HTTP_IF_MATCH=read["ETag"])

    assert response.status_code == 200, response.content
    assert response.json()["labels"] == task["labels"]
    assert events("task.updated", task)[0].changes == {"title": ["Fix it", "Again"]}


def test_update_to_another_organizations_label_is_a_400_and_changes_nothing(clients_a, web, labels, theirs):
    client = clients_a[Role.MEMBER]
    task = create(client, web, labels=[str(labels["bug"].pk)]).json()

    response = client.patch(detail(task), {"title": "New", "labels": [str(theirs.pk)]}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"]["labels"][0]["code"] == "does_not_exist"
    after = client.get(detail(task)).json()
    assert (after["title"], after["labels"]) == ("Fix it", ids(labels["bug"]))
    assert not events("task.updated", task)


def test_a_viewer_cannot_label_a_task(clients_a, make_task, web, labels):
    task = make_task(web)

    response = clients_a[Role.VIEWER].patch(detail(task), {"labels": [str(labels["bug"].pk)]}, format="json")

    assert response.status_code == 403
    assert not TaskLabel.objects.exists()


def test_deleting_a_task_audits_its_labels_and_deletes_its_rows(clients_a, web, labels):
    client = clients_a[Role.MEMBER]
    task = create(client, web, labels=[str(labels["bug"].pk)]).json()

    assert client.delete(detail(task)).status_code == 204

    assert events("task.deleted", task)[0].changes["labels"] == [ids(labels["bug"]), None]
    assert not TaskLabel.objects.exists()
    assert Label.objects.filter(pk=labels["bug"].pk).exists()


# The label filter: every label given


@pytest.fixture
def labelled(clients_a, web, labels) -> dict[str, str]:
    """Tasks t1 … t4, created in this order, carrying: t1 bug; t2 bug, ui; t3 ui; t4 nothing."""
    client = clients_a[Role.MEMBER]
    carried = {"t1": ["bug"], "t2": ["bug", "ui"], "t3": ["ui"], "t4": []}
    return {
        name: create(client, web, name, labels=[str(labels[label].pk) for label in names]).json()["id"]
        for name, names in carried.items()
    }


def titles(client: APIClient, url: str = URL, **params: Any) -> list[str]:
    response = client.get(url, params)
    assert response.status_code == 200, response.content
    return [task["title"] for task in response.json()["results"]]


def test_label_lists_the_tasks_carrying_it(clients_a, labelled, labels, web):
    client = clients_a[Role.VIEWER]

    assert titles(client, label=str(labels["bug"].pk)) == ["t2", "t1"]
    assert titles(client, label=str(labels["ui"].pk)) == ["t3", "t2"]
    assert titles(client, label=str(labels["docs"].pk)) == []
    assert titles(client, f"/api/v1/projects/{web.pk}/tasks/", label=str(labels["ui"].pk)) == ["t3", "t2"]


def test_label_given_twice_lists_the_tasks_carrying_both(clients_a, labelled, labels):
    client = clients_a[Role.VIEWER]
    bug, ui, docs = (str(labels[name].pk) for name in ("bug", "ui", "docs"))

    assert titles(client, label=[bug, ui]) == ["t2"]
    assert titles(client, label=[ui, bug, bug]) == ["t2"]
    assert titles(client, label=[bug, docs]) == []
    assert titles(client, label=[bug, ui], status="todo", ordering="created_at") == ["t2"]


def test_label_of_another_organization_or_unknown_finds_nothing(clients_a, labelled, theirs):
    client = clients_a[Role.VIEWER]

    assert titles(client, label=str(theirs.pk)) == []
    assert titles(client, label=str(uuid4())) == []


def test_an_empty_label_filters_nothing(clients_a, labelled):
    assert titles(clients_a[Role.VIEWER], label="") == ["t4", "t3", "t2", "t1"]


@pytest.mark.parametrize(
    "value",
    [
        "not-a-uuid",
        "bug",
        # Fresh ids, under fixed names: every pytest-xdist worker must collect the same test ids.
        pytest.param(uuid4().hex, id="uuid-hex"),
        pytest.param(f"{{{uuid4()}}}", id="uuid-in-braces"),
        "1",
        "%(x)s",
    ],
)
def test_label_that_is_no_id_is_a_400_naming_it(clients_a, labelled, labels, value):
    response = clients_a[Role.VIEWER].get(URL, {"label": [str(labels["bug"].pk), value]})

    assert response.status_code == 400
    error = response.json()["errors"]["label"][0]
    assert error["code"] == "invalid"
    assert repr(value) in error["message"]


def test_more_labels_than_a_task_carries_is_a_400_on_the_filter(clients_a):
    client = clients_a[Role.VIEWER]
    response = client.get(URL, {"label": [str(uuid4()) for _ in range(MAX_LABELS_PER_TASK + 1)]})

    assert response.status_code == 400
    assert "label" in response.json()["errors"]
    # As the schema's maxItems: the values as given, a repeated one too.
    assert client.get(URL, {"label": [str(uuid4())] * (MAX_LABELS_PER_TASK + 1)}).status_code == 400
    assert client.get(URL, {"label": [str(uuid4()) for _ in range(MAX_LABELS_PER_TASK)]}).status_code == 200


def test_the_schema_describes_label_as_repeated_ids():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path in (URL, "/api/v1/projects/{project_id}/tasks/"):
        (parameter,) = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == "label"]
        assert parameter["schema"]["type"] == "array"
        assert parameter["schema"]["items"]["format"] == "uuid"
        assert parameter["schema"]["maxItems"] == MAX_LABELS_PER_TASK
        # One parameter per value: label=<id>&label=<id>.
        assert parameter.get("explode", True) is True
        assert parameter.get("style", "form") == "form"
        assert "every one" in parameter["description"]
    task = schema["components"]["schemas"]["Task"]["properties"]["labels"]
    assert task["type"] == "array"
    assert task["readOnly"] is True
    for component in ("TaskCreateInputRequest", "TaskUpdateInputRequest", "PatchedTaskUpdateInputRequest"):
        written = schema["components"]["schemas"][component]["properties"]["labels"]
        assert (written["type"], written["items"]["format"]) == ("array", "uuid"), component
        assert written["maxItems"] == MAX_LABELS_PER_TASK, component


# What it costs: the labels come in the task's own statement


def test_task_lists_with_labels_still_run_one_query(clients_a, web, labels, django_assert_max_num_queries):
    client = clients_a[Role.MEMBER]
    every = [str(label.pk) for label in labels.values()]
    for i in range(30):
        assert create(client, web, f"task {i}", labels=every[: i % 5]).status_code == 201
    client.get(URL)  # warm the token cache

    for params in ({}, {"label": every[0]}, {"label": every[:2]}, {"ordering": "-priority", "label": every[1]}):
        for size in (1, 20, 100):
            with django_assert_max_num_queries(TENANT_REQUEST_OVERHEAD + 1) as queries:
                response = client.get(URL, {**params, "page_size": size})
            assert response.status_code == 200
            assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)
    task = Task.objects.filter(title="task 4").get()
    with django_assert_max_num_queries(TENANT_REQUEST_OVERHEAD + 1):
        assert len(client.get(detail(task)).json()["labels"]) == 4


def test_task_rows_with_labels_equal_the_serializer_output(clients_a, labelled, web):
    rows = clients_a[Role.VIEWER].get(URL).json()["results"]
    by_id = {str(task.pk): task for task in task_list(organization_id=web.organization_id)}

    assert rows == [dict(TaskSerializer(by_id[row["id"]]).data) for row in rows]
    assert [len(row["labels"]) for row in rows] == [0, 1, 2, 1]
