"""Every ordering a big list offers is read through an index, never by sorting the organization.

A cursor page in an ordering no index provides makes PostgreSQL read and sort every row of the
organization for each page: 5.5 ms for `projects/?ordering=name` in an organization of 13,406
projects (docs/benchmarks.md), growing with the organization. Here, for each list and each
ordering it accepts, the page query the API sends is planned with sorting and sequential scans
priced out (``enable_sort``, ``enable_seqscan`` off): a plain Sort left in the plan means no
index can give that order. An Incremental Sort (the id that breaks ties, within rows the index
already ordered) is fine where ties are rare (times, unique label names); where values repeat a
lot (``MANY_TIES``) the index ends with that id too, so there is none either.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from taskhub.tenancy.roles import Role
from tests.support.factories import create_project

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="query plans are PostgreSQL's"),
    pytest.mark.django_db,
]

ORDERINGS = {
    "projects": ("projects_project", ["name", "created_at", "updated_at"]),
    "tasks": ("tasks_task", ["created_at", "updated_at", "due_date", "number", "priority"]),
    "labels": ("labels_label", ["name", "created_at"]),
    "comments": ("comments_comment", ["created_at"]),
}
# Orderings whose values repeat a lot: equal project names, every project's task 1, most tasks
# without a due date, four priorities. An Incremental Sort there would read a whole run of ties.
MANY_TIES = {("projects", "name"), ("tasks", "number"), ("tasks", "due_date"), ("tasks", "priority")}
CASES = [
    (resource, f"{sign}{field}")
    for resource, (_, fields) in ORDERINGS.items()
    for field in fields
    for sign in ("", "-")
]


def _page_query(client: Any, path: str, table: str) -> str:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, response.content
    pages = [query["sql"] for query in queries.captured_queries if f'FROM "{table}"' in query["sql"]]
    assert pages, [query["sql"] for query in queries.captured_queries]
    return pages[-1]


def _plan(sql: str) -> list[str]:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.parametrize(("resource", "ordering"), CASES)
def test_each_ordering_of_a_big_list_is_read_through_an_index(clients_a, tenant_a, resource, ordering):
    client = clients_a[Role.MEMBER]
    project = create_project(tenant_a, key="WEB")
    task = client.post("/api/v1/tasks/", {"project": str(project.pk), "title": "First"}).json()
    path = {
        "projects": "/api/v1/projects/",
        "tasks": "/api/v1/tasks/",
        "labels": "/api/v1/labels/",
        "comments": f"/api/v1/tasks/{task['id']}/comments/",
    }[resource]
    table = ORDERINGS[resource][0]

    plan = _plan(_page_query(client, f"{path}?ordering={ordering}&page_size=50", table))

    assert not [line for line in plan if re.match(r"^\s*(->\s+)?Sort\s+\(", line)], "\n".join(plan)
    if (resource, ordering.removeprefix("-")) in MANY_TIES:
        # Ties need no sorting either: the index ends with the id that breaks them, in the
        # ordering's direction.
        assert not [line for line in plan if "Incremental Sort" in line], "\n".join(plan)
