"""Listing tasks, all of them or one project's: filters, search, ordering, cursor pages, cost."""

from datetime import date
from typing import Any
from uuid import uuid4

import pytest
from django.http import QueryDict

from conftest import TENANT_REQUEST_OVERHEAD
from taskhub.tasks.filters import TaskFilter
from taskhub.tasks.models import Task
from taskhub.tasks.serializers import TaskSerializer
from taskhub.tenancy.roles import Role

# Marked, not only requested through fixtures: the database is then set up before the
# root conftest opens the platform view (RLS bypassed) for the test body.
pytestmark = pytest.mark.django_db

URL = "/api/v1/tasks/"


def project_url(project: Any) -> str:
    return f"/api/v1/projects/{getattr(project, 'pk', project)}/tasks/"


def listed(client: Any, url: str = URL, **params: Any) -> list[dict[str, Any]]:
    response = client.get(url, params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def titles(client: Any, url: str = URL, **params: Any) -> list[str]:
    return [task["title"] for task in listed(client, url, **params)]


def walk(client: Any, url: str, **params: Any) -> list[dict[str, Any]]:
    """Follow ``next`` links from the first page to the last and return every row seen."""
    rows: list[dict[str, Any]] = []
    response = client.get(url, params)
    while True:
        assert response.status_code == 200, response.content
        page = response.json()
        rows += page["results"]
        if page["next"] is None:
            return rows
        response = client.get(page["next"])


@pytest.fixture
def board(tenant_a, make_project, make_task, web):
    """Tasks in two projects of A, created in this order: t1 … t5."""
    ops = make_project(tenant_a, key="OPS")
    member = tenant_a.users[Role.MEMBER].pk
    admin = tenant_a.users[Role.ADMIN].pk
    return {
        "ops": ops,
        "t1": make_task(web, "t1 landing copy", priority="high", assignee_id=member, due_date=date(2030, 1, 10)),
        "t2": make_task(web, "t2 pricing page", status="done", due_date=date(2030, 1, 20)),
        "t3": make_task(ops, "t3 rotate keys", description="Landing zone", assignee_id=admin),
        "t4": make_task(ops, "t4 backups", status="in_progress", priority="urgent", due_date=date(2030, 1, 15)),
        "t5": make_task(web, "t5 footer", assignee_id=member, due_date=date(2030, 1, 20)),
    }


# One project's tasks


@pytest.mark.parametrize("role", list(Role))
def test_every_role_lists_one_projects_tasks(clients_a, board, web, role):
    assert titles(clients_a[role], project_url(web)) == ["t5 footer", "t2 pricing page", "t1 landing copy"]


def test_project_tasks_of_another_organization_or_unknown_project_is_404(clients_a, make_task, foreign_project):
    make_task(foreign_project)
    client = clients_a[Role.OWNER]

    assert client.get(project_url(foreign_project)).status_code == 404
    assert client.get(project_url(uuid4())).status_code == 404
    assert client.get("/api/v1/projects/not-a-uuid/tasks/").status_code == 404


def test_project_tasks_take_the_same_filters_and_ordering(clients_a, board, web):
    client = clients_a[Role.VIEWER]

    assert titles(client, project_url(web), status="done") == ["t2 pricing page"]
    assert titles(client, project_url(web), ordering="number") == ["t1 landing copy", "t2 pricing page", "t5 footer"]
    assert titles(client, project_url(web), search="footer") == ["t5 footer"]
    assert client.get(project_url(web), {"ordering": "title"}).status_code == 400
    assert client.get(project_url(web), {"status": "bogus"}).status_code == 400


def test_project_tasks_page_with_next_links(clients_a, board, web):
    rows = walk(clients_a[Role.VIEWER], project_url(web), page_size=1)

    assert [r["title"] for r in rows] == ["t5 footer", "t2 pricing page", "t1 landing copy"]


# Filters


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "done"}, ["t2"]),
        ({"status": "in_progress"}, ["t4"]),
        ({"priority": "high"}, ["t1"]),
        ({"priority": "medium"}, ["t5", "t3", "t2"]),
        ({"status": "todo", "priority": "medium"}, ["t5", "t3"]),
        # due_after is inclusive, due_before exclusive.
        ({"due_after": "2030-01-15"}, ["t5", "t4", "t2"]),
        ({"due_before": "2030-01-15"}, ["t1"]),
        ({"due_after": "2030-01-10", "due_before": "2030-01-20"}, ["t4", "t1"]),
        ({"due_after": "2030-02-01"}, []),
    ],
)
def test_tasks_filter_by_status_priority_and_due_date(clients_a, board, params, expected):
    assert [t.split()[0] for t in titles(clients_a[Role.VIEWER], **params)] == expected


def test_tasks_filter_by_project_and_assignee(clients_a, tenant_a, board, web):
    client = clients_a[Role.VIEWER]
    member = tenant_a.users[Role.MEMBER]

    assert [t.split()[0] for t in titles(client, project=str(board["ops"].pk))] == ["t4", "t3"]
    assert [t.split()[0] for t in titles(client, assignee=str(member.pk))] == ["t5", "t1"]
    assert [t.split()[0] for t in titles(client, project=str(web.pk), assignee=str(member.pk))] == ["t5", "t1"]
    assert titles(client, project=str(uuid4())) == []


def test_filtering_by_another_organizations_project_finds_nothing(clients_a, make_task, foreign_project):
    make_task(foreign_project)

    assert titles(clients_a[Role.OWNER], project=str(foreign_project.pk)) == []


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("status", "bogus"),
        ("priority", "critical"),
        ("due_before", "notadate"),
        ("due_after", "2030-13-01"),
        ("project", "not-a-uuid"),
        ("assignee", "nobody"),
    ],
)
def test_invalid_filter_value_is_400_naming_the_filter(clients_a, board, param, value):
    response = clients_a[Role.VIEWER].get(URL, {param: value})

    assert response.status_code == 400
    assert param in response.json()["errors"]


@pytest.mark.parametrize(
    ("term", "expected"),
    [("landing", ["t3", "t1"]), ("BACKUPS", ["t4"]), ("zone", ["t3"]), ("nothing like it", [])],
)
def test_tasks_search_title_and_description(clients_a, board, term, expected):
    assert [t.split()[0] for t in titles(clients_a[Role.VIEWER], search=term)] == expected


# Ordering


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        (None, ["t5", "t4", "t3", "t2", "t1"]),
        ("created_at", ["t1", "t2", "t3", "t4", "t5"]),
        ("-created_at", ["t5", "t4", "t3", "t2", "t1"]),
        ("updated_at", ["t1", "t2", "t3", "t4", "t5"]),
        # Tasks without a due date come last, and first when descending; ties keep one order.
        ("due_date", ["t1", "t4", "t2|t5", "t2|t5", "t3"]),
        ("-due_date", ["t3", "t2|t5", "t2|t5", "t4", "t1"]),
        ("number,created_at", ["t1|t3", "t1|t3", "t2|t4", "t2|t4", "t5"]),
    ],
)
def test_tasks_order_by_created_updated_due_date_and_number(clients_a, board, ordering, expected):
    params = {} if ordering is None else {"ordering": ordering}
    got = [t.split()[0] for t in titles(clients_a[Role.VIEWER], **params)]

    assert len(got) == len(expected)
    for name, allowed in zip(got, expected, strict=True):
        assert name in allowed.split("|"), (got, expected)


def test_number_ordering_within_a_project(clients_a, board, web):
    client = clients_a[Role.VIEWER]

    assert [t["number"] for t in listed(client, project_url(web), ordering="number")] == [1, 2, 3]
    assert [t["number"] for t in listed(client, project_url(web), ordering="-number")] == [3, 2, 1]


@pytest.mark.parametrize("ordering", ["priority", "title", "bogus", "number,bogus", "-", "project__name", "due_date,"])
def test_unknown_ordering_is_400_not_ignored(clients_a, board, ordering):
    response = clients_a[Role.VIEWER].get(URL, {"ordering": ordering})

    assert response.status_code == 400
    assert response.json()["errors"]["ordering"][0]["code"] == "invalid"


# Cursor pages


@pytest.mark.parametrize("ordering", [None, "due_date", "-due_date", "number", "-number", "updated_at"])
def test_page_size_one_walks_every_task_exactly_once(clients_a, board, ordering):
    params: dict[str, Any] = {"page_size": 1}
    if ordering:
        params["ordering"] = ordering

    rows = walk(clients_a[Role.VIEWER], URL, **params)

    assert sorted(r["title"].split()[0] for r in rows) == ["t1", "t2", "t3", "t4", "t5"]
    if ordering is None or ordering.endswith("due_date"):
        # The same order as one large page.
        assert [r["id"] for r in rows] == [
            r["id"] for r in listed(clients_a[Role.VIEWER], **params | {"page_size": 10})
        ]


def test_pages_cross_many_undated_tasks_without_loss(clients_a, make_task, web):
    for i in range(7):
        make_task(web, f"undated {i}")
    make_task(web, "dated", due_date=date(2030, 1, 1))

    rows = walk(clients_a[Role.VIEWER], URL, page_size=3, ordering="due_date")

    assert rows[0]["title"] == "dated"
    assert len({r["id"] for r in rows}) == 8


def test_page_size_above_100_is_clamped_to_100(clients_a, make_task, web):
    for i in range(101):
        make_task(web, f"task {i}")
    client = clients_a[Role.VIEWER]

    first = client.get(URL, {"page_size": 101}).json()
    second = client.get(first["next"]).json()

    assert len(first["results"]) == 100
    assert len(second["results"]) == 1
    assert second["next"] is None


@pytest.mark.parametrize("page_size", ["0", "-1", "abc"])
def test_unusable_page_size_answers_400(clients_a, page_size):
    # It used to fall back to 20, which the schema (an integer from 1) did not say.
    response = clients_a[Role.VIEWER].get(URL, {"page_size": page_size})

    assert response.status_code == 400
    assert "page_size" in response.json()["errors"]


# What each request costs


def test_task_lists_run_at_most_two_queries_and_never_count(
    clients_a, make_task, tenant_a, web, django_assert_max_num_queries
):
    member = tenant_a.users[Role.MEMBER].pk
    for i in range(105):
        make_task(web, f"task {i}", assignee_id=member if i % 2 else None, due_date=date(2030, 1, 1 + i % 28))
    client = clients_a[Role.VIEWER]
    client.get(URL)  # warm the token cache

    for url, budget in ((URL, 1), (project_url(web), 2)):
        for size in (1, 20, 100):
            for ordering in ("-created_at", "due_date"):
                with django_assert_max_num_queries(TENANT_REQUEST_OVERHEAD + budget) as queries:
                    assert len(listed(client, url, page_size=size, ordering=ordering)) == size
                assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)


def test_task_detail_runs_one_query(clients_a, make_task, web, django_assert_max_num_queries):
    task = make_task(web)
    client = clients_a[Role.VIEWER]
    client.get(URL)

    with django_assert_max_num_queries(TENANT_REQUEST_OVERHEAD + 1):
        assert client.get(f"{URL}{task.pk}/").status_code == 200


def test_task_create_stays_within_eight_queries(clients_a, tenant_a, web, django_assert_max_num_queries):
    client = clients_a[Role.MEMBER]
    client.get(URL)

    # Service savepoint, project lock, counter update, assignee check, insert, actor label,
    # audit insert, release.
    with django_assert_max_num_queries(TENANT_REQUEST_OVERHEAD + 8):
        response = client.post(
            URL, {"project": str(web.pk), "title": "Counted", "assignee": str(tenant_a.users[Role.ADMIN].pk)}
        )
    assert response.status_code == 201


# The read path: rows shaped without per-row serializers


def serialized(tasks: Any) -> list[dict[str, Any]]:
    return [dict(task) for task in TaskSerializer(tasks, many=True).data]


@pytest.mark.parametrize("ordering", ["", "due_date", "-number"])
def test_task_lists_equal_the_serializer_output(clients_a, board, web, ordering):
    client = clients_a[Role.VIEWER]
    params = {"ordering": ordering} if ordering else {}
    rows = listed(client, **params)
    by_id = {str(task.pk): task for task in Task.objects.filter(organization_id=web.organization_id)}

    assert rows == serialized([by_id[row["id"]] for row in rows])
    assert listed(client, project_url(web), **params) == [row for row in rows if row["project"] == str(web.pk)]


def test_task_detail_equals_the_serializer_output(clients_a, board):
    for task in (board["t1"], board["t3"]):
        response = clients_a[Role.VIEWER].get(f"{URL}{task.pk}/")
        assert response.json() == serialized([Task.objects.get(pk=task.pk)])[0]


def test_a_filterset_builds_only_the_filters_the_query_names():
    asked = TaskFilter(QueryDict("status=todo&due_after=2030-01-01&page_size=5"), Task.objects.none())
    assert set(asked.filters) == {"status", "due_after"}
    assert set(asked.form.fields) == {"status", "due_after"}
    # Unbound (the schema generator's view), every filter is there.
    assert set(TaskFilter(queryset=Task.objects.none()).filters) == set(TaskFilter.base_filters)


def test_parameters_that_name_no_filter_leave_the_list_unchanged(clients_a, board):
    client = clients_a[Role.VIEWER]
    assert listed(client, unknown="x", page_size=20) == listed(client)
