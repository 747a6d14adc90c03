"""Listing tasks, all of them or one project's: filters, search, ordering, cursor pages, cost."""

import re
from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

import pytest
from django.http import QueryDict
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from conftest import TENANT_REQUEST_OVERHEAD
from taskhub.tasks.filters import TASK_ORDERING_FIELDS, TASK_ORDERING_SUBSTITUTES, TaskFilter
from taskhub.tasks.models import Task
from taskhub.tasks.selectors import task_list
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


def first_words(client: Any, url: str = URL, **params: Any) -> list[str]:
    return [t.split()[0] for t in titles(client, url, **params)]


def error_of(response: Any, param: str) -> dict[str, Any]:
    """The one error shape: a 400 ``invalid``, with the parameter's first error."""
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid"
    return body["errors"][param][0]


# assignee: a user id, me, none


@pytest.mark.parametrize(
    ("role", "expected"),
    [(Role.MEMBER, ["t5", "t1"]), (Role.ADMIN, ["t3"]), (Role.VIEWER, []), (Role.OWNER, [])],
)
def test_assignee_me_is_the_signed_in_user(clients_a, board, role, expected):
    assert first_words(clients_a[role], assignee="me") == expected


def test_assignee_none_is_the_unassigned_tasks(clients_a, board, web):
    client = clients_a[Role.VIEWER]

    assert first_words(client, assignee="none") == ["t4", "t2"]
    assert first_words(client, project_url(web), assignee="none") == ["t2"]
    assert first_words(client, assignee="none", status="in_progress") == ["t4"]


def test_assignee_user_id_in_any_case_and_of_no_member(clients_a, tenant_a, tenant_b, board):
    client = clients_a[Role.VIEWER]
    member = str(tenant_a.users[Role.MEMBER].pk)

    assert first_words(client, assignee=member.upper()) == ["t5", "t1"]
    # A user id that is no member's (here, another organization's) is well formed: it finds nothing.
    assert first_words(client, assignee=str(tenant_b.users[Role.MEMBER].pk)) == []
    assert first_words(client, assignee=str(uuid4())) == []


@pytest.mark.parametrize(
    "value",
    [
        *("nobody", "ME", "None", "null", " me", "me ", "me,none", "42"),
        # Fresh ids, under fixed names: every pytest-xdist worker must collect the same test ids.
        pytest.param(uuid4().hex, id="uuid-hex"),
        pytest.param(f"{{{uuid4()}}}", id="uuid-in-braces"),
        pytest.param(uuid4().urn, id="uuid-urn"),
    ],
)
def test_assignee_anything_else_is_a_400_saying_what_is_accepted(clients_a, board, value):
    error = error_of(clients_a[Role.VIEWER].get(URL, {"assignee": value}), "assignee")

    assert error["code"] == "invalid"
    assert '"me"' in error["message"]
    assert '"none"' in error["message"]


def test_assignee_me_with_an_api_key_is_a_400(clients_a, board, web):
    response = clients_a[Role.ADMIN].post("/api/v1/api-keys/", {"name": "sync bot", "role": "viewer"})
    assert response.status_code == 201, response.content
    bot = APIClient()
    bot.credentials(HTTP_AUTHORIZATION=f"Api-Key {response.json()['key']}")

    for url in (URL, project_url(web)):
        error = error_of(bot.get(url, {"assignee": "me"}), "assignee")
        assert error["code"] == "invalid"
        assert "API key" in error["message"]
    # The key may still ask for unassigned tasks, or one user's.
    assert [t.split()[0] for t in titles(bot, assignee="none")] == ["t4", "t2"]


# status and priority: one value or several, comma-separated


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "todo,in_progress"}, ["t5", "t4", "t3", "t1"]),
        ({"status": "in_progress,todo"}, ["t5", "t4", "t3", "t1"]),
        ({"status": "done,cancelled"}, ["t2"]),
        ({"status": "cancelled"}, []),
        ({"status": "todo,todo"}, ["t5", "t3", "t1"]),
        ({"status": "todo,in_progress,done,cancelled"}, ["t5", "t4", "t3", "t2", "t1"]),
        ({"priority": "high,urgent"}, ["t4", "t1"]),
        ({"priority": "low"}, []),
        ({"priority": "low,medium"}, ["t5", "t3", "t2"]),
        ({"status": "todo,done", "priority": "medium,high"}, ["t5", "t3", "t2", "t1"]),
        # Empty filters nothing, as the schema's allowEmptyValue says.
        ({"status": "", "priority": ""}, ["t5", "t4", "t3", "t2", "t1"]),
    ],
)
def test_status_and_priority_take_several_comma_separated_values(clients_a, board, params, expected):
    assert first_words(clients_a[Role.VIEWER], **params) == expected


@pytest.mark.parametrize(
    ("param", "value", "named"),
    [
        ("status", "bogus", ["'bogus'"]),
        ("status", "todo,bogus", ["'bogus'"]),
        ("status", "todo,bogus,DONE", ["'bogus'", "'DONE'"]),
        ("status", "todo,", ["''"]),
        ("status", ",todo", ["''"]),
        ("status", "todo, done", ["' done'"]),
        ("status", "To do", ["'To do'"]),
        ("priority", "critical", ["'critical'"]),
        ("priority", "high,critical", ["'critical'"]),
        ("priority", "1", ["'1'"]),
        # The message is %-formatted: a value holding "%" is named as given, not a 500.
        ("priority", "100%,%(x)s", ["'100%'", "'%(x)s'"]),
    ],
)
def test_an_unknown_status_or_priority_is_a_400_naming_it(clients_a, web, param, value, named):
    for url in (URL, project_url(web)):
        error = error_of(clients_a[Role.VIEWER].get(url, {param: value}), param)
        assert error["code"] == "invalid"
        for text in named:
            assert text in error["message"], error
        # ...and the values that would do.
        assert ("todo, in_progress, done, cancelled" if param == "status" else "low, medium, high, urgent") in (
            error["message"]
        )


@pytest.mark.parametrize("param", ["status", "priority"])
def test_status_or_priority_given_twice_is_a_400_not_one_of_them_silently(clients_a, board, param):
    value = {"status": ["todo", "done"], "priority": ["high", "urgent"]}[param]

    error = error_of(clients_a[Role.VIEWER].get(URL, {param: value}), param)

    assert "comma-separated" in error["message"]


# updated_since: what changed at or after a time (sync clients)


@pytest.fixture
def updated_board(board):
    """board, each task last changed at a known time: t1 at 08:00 UTC on 2030-01-01, t2 at 09:00, ..."""
    for hour, name in enumerate(["t1", "t2", "t3", "t4", "t5"], start=8):
        # update() leaves auto_now alone: the times are exactly these.
        Task.objects.filter(pk=board[name].pk).update(updated_at=datetime(2030, 1, 1, hour, tzinfo=UTC))
    return board


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Inclusive: a task changed at exactly that time is listed.
        ("2030-01-01T10:00:00Z", ["t5", "t4", "t3"]),
        ("2030-01-01T10:00:00.000001Z", ["t5", "t4"]),
        ("2030-01-01T09:59:59.999999Z", ["t5", "t4", "t3"]),
        ("2030-01-01T10:00:00+00:00", ["t5", "t4", "t3"]),
        # The same instant with an offset.
        ("2030-01-01T12:00:00+02:00", ["t5", "t4", "t3"]),
        ("2030-01-01T05:00:00-05:00", ["t5", "t4", "t3"]),
        ("2030-01-01T15:30:00+05:30", ["t5", "t4", "t3"]),
        # Without an offset: UTC.
        ("2030-01-01T10:00:00", ["t5", "t4", "t3"]),
        ("2030-01-01T12:00:00Z", ["t5"]),
        ("2030-01-01T12:00:01Z", []),
        ("2000-01-01T00:00:00Z", ["t5", "t4", "t3", "t2", "t1"]),
        # An offset PostgreSQL itself would refuse (beyond 15:59) is fine once in UTC.
        ("2030-01-02T02:29:00+16:29", ["t5", "t4", "t3"]),
        ("", ["t5", "t4", "t3", "t2", "t1"]),
    ],
)
def test_updated_since_lists_tasks_changed_at_or_after_it(clients_a, updated_board, value, expected):
    assert first_words(clients_a[Role.VIEWER], updated_since=value) == expected


def test_updated_since_with_the_other_filters_and_ordering(clients_a, updated_board, web):
    client = clients_a[Role.VIEWER]

    assert first_words(client, project_url(web), updated_since="2030-01-01T09:00:00Z") == ["t5", "t2"]
    assert first_words(client, updated_since="2030-01-01T09:00:00Z", ordering="updated_at") == ["t2", "t3", "t4", "t5"]
    assert first_words(client, updated_since="2030-01-01T09:00:00Z", status="todo,done") == ["t5", "t3", "t2"]


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2030-13-01T00:00:00Z",
        "2030-01-32T00:00:00Z",
        "2030-01-01T25:00:00Z",
        # A "+" left unencoded in a URL arrives as a space.
        "2030-01-01T10:00:00 02:00",
        "2030-01-01T10:00:00+24:00",
        # An offset that moves the time out of the years 1-9999.
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:00:00-02:00",
        "1735689600",
    ],
)
def test_updated_since_that_is_no_date_and_time_is_a_400(clients_a, board, value):
    error = error_of(clients_a[Role.VIEWER].get(URL, {"updated_since": value}), "updated_since")

    assert error["code"] == "invalid"


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("status", "bogus"),
        ("priority", "critical"),
        ("due_before", "notadate"),
        ("due_after", "2030-13-01"),
        ("project", "not-a-uuid"),
        ("assignee", "nobody"),
        ("status", "todo,bogus"),
        ("priority", "high,"),
        ("updated_since", "notatime"),
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
        # By rank, not the alphabet: medium < high < urgent (t2, t3 and t5 are medium).
        ("priority", ["t2|t3|t5", "t2|t3|t5", "t2|t3|t5", "t1", "t4"]),
        ("-priority", ["t4", "t1", "t2|t3|t5", "t2|t3|t5", "t2|t3|t5"]),
        ("-priority,created_at", ["t4", "t1", "t2", "t3", "t5"]),
        ("priority,-number", ["t5", "t2", "t3", "t1", "t4"]),
    ],
)
def test_tasks_order_by_created_updated_due_date_number_and_priority(clients_a, board, ordering, expected):
    params = {} if ordering is None else {"ordering": ordering}
    got = [t.split()[0] for t in titles(clients_a[Role.VIEWER], **params)]

    assert len(got) == len(expected)
    for name, allowed in zip(got, expected, strict=True):
        assert name in allowed.split("|"), (got, expected)


def test_number_ordering_within_a_project(clients_a, board, web):
    client = clients_a[Role.VIEWER]

    assert [t["number"] for t in listed(client, project_url(web), ordering="number")] == [1, 2, 3]
    assert [t["number"] for t in listed(client, project_url(web), ordering="-number")] == [3, 2, 1]


@pytest.mark.parametrize("ordering", ["title", "bogus", "number,bogus", "-", "project__name", "due_date,"])
def test_unknown_ordering_is_400_not_ignored(clients_a, board, ordering):
    response = clients_a[Role.VIEWER].get(URL, {"ordering": ordering})

    assert response.status_code == 400
    assert response.json()["errors"]["ordering"][0]["code"] == "invalid"


# Cursor pages


@pytest.mark.parametrize(
    "ordering", [None, "due_date", "-due_date", "number", "-number", "updated_at", "priority", "-priority"]
)
def test_page_size_one_walks_every_task_exactly_once(clients_a, board, ordering):
    params: dict[str, Any] = {"page_size": 1}
    if ordering:
        params["ordering"] = ordering

    rows = walk(clients_a[Role.VIEWER], URL, **params)

    assert sorted(r["title"].split()[0] for r in rows) == ["t1", "t2", "t3", "t4", "t5"]
    if ordering is None or ordering.endswith(("due_date", "priority")):
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


RANK = {"low": 1, "medium": 2, "high": 3, "urgent": 4}


@pytest.fixture
def priorities(make_task, web, make_project, tenant_a):
    """Seventeen tasks in two projects (odd ones in WEB), every priority several times, the low one last."""
    ops = make_project(tenant_a, key="OPS")
    created = []
    for i, priority in enumerate(["urgent", "high", "medium", "urgent", "high", "medium", "medium", "high"] * 2):
        created.append(make_task(web if i % 2 else ops, f"p{i} {priority}", priority=priority))
    created.append(make_task(web, "p16 low", priority="low"))
    return created


@pytest.mark.parametrize("ordering", ["priority", "-priority", "priority,-created_at", "-priority,number"])
@pytest.mark.parametrize("page_size", [1, 2, 3, 5])
def test_cursor_pages_ordered_by_priority_follow_the_rank_without_loss(clients_a, priorities, ordering, page_size):
    client = clients_a[Role.VIEWER]

    rows = walk(client, URL, ordering=ordering, page_size=page_size)

    ranks = [RANK[row["priority"]] for row in rows]
    assert ranks == sorted(ranks, reverse=ordering.startswith("-")), [row["title"] for row in rows]
    assert sorted(row["id"] for row in rows) == sorted(str(task.pk) for task in priorities)
    # Page by page, the very order of one large page.
    assert [row["id"] for row in rows] == [row["id"] for row in listed(client, ordering=ordering, page_size=100)]


def test_cursor_pages_ordered_by_priority_walk_back_with_previous_links(clients_a, priorities):
    client = clients_a[Role.VIEWER]
    forward = walk(client, URL, ordering="-priority", page_size=4)

    pages = []
    response = client.get(URL, {"ordering": "-priority", "page_size": 4})
    while response.json()["next"]:
        response = client.get(response.json()["next"])
    pages.append(response.json()["results"])
    while response.json()["previous"]:
        response = client.get(response.json()["previous"])
        assert response.status_code == 200, response.content
        pages.insert(0, response.json()["results"])

    assert [row["id"] for page in pages for row in page] == [row["id"] for row in forward]


def test_priority_ordering_pages_one_projects_tasks(clients_a, priorities, web):
    rows = walk(clients_a[Role.VIEWER], project_url(web), ordering="-priority", page_size=2)
    names = [row["title"].split()[0] for row in rows]

    # Urgent, high, medium, low; within a priority, the id decides (no order promised).
    assert [set(names[:2]), set(names[2:6]), set(names[6:8]), names[8:]] == [
        {"p3", "p11"},
        {"p1", "p7", "p9", "p15"},
        {"p5", "p13"},
        ["p16"],
    ]


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


# What the schema says


def task_list_parameters(path: str = URL) -> dict[str, dict[str, Any]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {parameter["name"]: parameter for parameter in schema["paths"][path]["get"]["parameters"]}


@pytest.mark.parametrize("path", [URL, "/api/v1/projects/{project_id}/tasks/"])
def test_the_schema_describes_every_task_filter(path):
    parameters = task_list_parameters(path)

    for name in TaskFilter.base_filters:
        assert parameters[name]["description"], name
        assert parameters[name]["allowEmptyValue"] is True, name
    for name, choices in (("status", ["cancelled", "done", "in_progress", "todo"]), ("priority", list(RANK))):
        parameter = parameters[name]
        assert parameter["schema"] == {"type": "array", "items": {"type": "string", "enum": sorted(choices)}}
        # One parameter, its values comma-separated: status=todo,in_progress.
        assert (parameter["style"], parameter["explode"]) == ("form", False)
        assert "comma-separated" in parameter["description"]
    assignee = re.compile(parameters["assignee"]["schema"]["pattern"])
    for accepted in ["me", "none", str(uuid4()), str(uuid4()).upper()]:
        assert assignee.match(accepted), accepted
    for refused in ["nobody", "ME", " me", "me,none", uuid4().hex, ""]:
        assert not assignee.match(refused), refused
    assert '"me"' in parameters["assignee"]["description"]
    assert "API key" in parameters["assignee"]["description"]
    assert parameters["updated_since"]["schema"] == {"type": "string", "format": "date-time"}
    assert "inclusive" in parameters["updated_since"]["description"]


def test_the_ordering_constants_name_what_priority_and_due_date_sort_by():
    assert TASK_ORDERING_FIELDS == ["created_at", "updated_at", "due_date", "number", "priority"]
    assert set(TASK_ORDERING_SUBSTITUTES) == {"due_date", "priority"}
    assert set(TASK_ORDERING_SUBSTITUTES) <= set(TASK_ORDERING_FIELDS)


@pytest.mark.parametrize("path", [URL, "/api/v1/projects/{project_id}/tasks/"])
def test_the_schema_accepts_every_task_ordering(path):
    pattern = re.compile(task_list_parameters(path)["ordering"]["schema"]["pattern"])

    for field in TASK_ORDERING_FIELDS:
        assert pattern.match(field), field
        assert pattern.match(f"-{field}"), field
    assert pattern.match("-priority,due_date,number")
    assert not pattern.match("title")


# What each request costs


def test_task_lists_run_at_most_two_queries_and_never_count(
    clients_a, make_task, tenant_a, web, django_assert_max_num_queries
):
    member = tenant_a.users[Role.MEMBER].pk
    for i in range(105):
        make_task(
            web,
            f"task {i}",
            assignee_id=member if i % 2 else None,
            due_date=date(2030, 1, 1 + i % 28),
            priority=["low", "medium", "high", "urgent"][i % 4],
        )
    client = clients_a[Role.VIEWER]
    client.get(URL)  # warm the token cache

    for url, budget in ((URL, 1), (project_url(web), 2)):
        for size in (1, 20, 100):
            for ordering in ("-created_at", "due_date", "-priority"):
                with django_assert_max_num_queries(TENANT_REQUEST_OVERHEAD + budget) as queries:
                    assert len(listed(client, url, page_size=size, ordering=ordering)) == size
                assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)


def test_task_detail_runs_one_query(clients_a, make_task, web, django_assert_max_num_queries):
    task = make_task(web)
    client = clients_a[Role.VIEWER]
    client.get(URL)

    with django_assert_max_num_queries(TENANT_REQUEST_OVERHEAD + 1):
        assert client.get(f"{URL}{task.pk}/").status_code == 200


def test_task_create_stays_within_seven_queries(clients_a, tenant_a, web, django_assert_max_num_queries):
    client = clients_a[Role.MEMBER]
    client.get(URL)

    # Service savepoint, the project's counter (one UPDATE ... RETURNING, which locks the row),
    # assignee check, insert, audit chain head lock (with the actor's username), audit insert,
    # release (SQLite only: on PostgreSQL COMMIT ends the savepoint; rls._Carrier).
    with django_assert_max_num_queries(TENANT_REQUEST_OVERHEAD + 7):
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
    by_id = {str(task.pk): task for task in task_list(organization_id=web.organization_id)}

    assert rows == serialized([by_id[row["id"]] for row in rows])
    assert listed(client, project_url(web), **params) == [row for row in rows if row["project"] == str(web.pk)]


def test_task_detail_equals_the_serializer_output(clients_a, board):
    for task in (board["t1"], board["t3"]):
        response = clients_a[Role.VIEWER].get(f"{URL}{task.pk}/")
        assert response.json() == serialized([task_list(organization_id=task.organization_id).get(pk=task.pk)])[0]


def test_a_filterset_builds_only_the_filters_the_query_names():
    asked = TaskFilter(QueryDict("status=todo&due_after=2030-01-01&page_size=5"), Task.objects.none())
    assert set(asked.filters) == {"status", "due_after"}
    assert set(asked.form.fields) == {"status", "due_after"}
    # Unbound (the schema generator's view), every filter is there.
    assert set(TaskFilter(queryset=Task.objects.none()).filters) == set(TaskFilter.base_filters)


def test_parameters_that_name_no_filter_leave_the_list_unchanged(clients_a, board):
    client = clients_a[Role.VIEWER]
    assert listed(client, unknown="x", page_size=20) == listed(client)
