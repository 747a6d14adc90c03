"""Listing projects: filters, search, ordering, cursor pages and what a page costs."""

from typing import Any

import pytest

from conftest import TENANT_REQUEST_OVERHEAD
from taskhub.projects.models import Project
from taskhub.projects.serializers import ProjectSerializer
from taskhub.tenancy.roles import Role

# Marked, not only requested through fixtures: the database is then set up before the
# root conftest opens the platform view (RLS bypassed) for the test body.
pytestmark = pytest.mark.django_db

URL = "/api/v1/projects/"


def listed(client: Any, **params: Any) -> list[dict[str, Any]]:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def keys(client: Any, **params: Any) -> list[str]:
    return [project["key"] for project in listed(client, **params)]


@pytest.fixture
def three_projects(make_project, tenant_a):
    return [
        make_project(tenant_a, key="WEB", name="Website", description="The public site"),
        make_project(tenant_a, key="OPS", name="Operations", status="archived"),
        make_project(tenant_a, key="APP", name="Mobile app", description="iOS and Android"),
    ]


def test_projects_list_newest_first_by_default(clients_a, three_projects):
    assert keys(clients_a[Role.VIEWER]) == ["APP", "OPS", "WEB"]


def test_projects_filter_by_status(clients_a, three_projects):
    assert keys(clients_a[Role.VIEWER], status="archived") == ["OPS"]
    assert keys(clients_a[Role.VIEWER], status="active") == ["APP", "WEB"]


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("web", ["WEB"]),
        ("ops", ["OPS"]),
        ("ANDROID", ["APP"]),
        ("site", ["WEB"]),
        ("s", ["APP", "OPS", "WEB"]),
        ("zz", []),
    ],
)
def test_projects_search_name_key_and_description(clients_a, three_projects, term, expected):
    assert keys(clients_a[Role.VIEWER], search=term) == expected


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("name", ["APP", "OPS", "WEB"]),
        ("-name", ["WEB", "OPS", "APP"]),
        ("created_at", ["WEB", "OPS", "APP"]),
        ("-created_at", ["APP", "OPS", "WEB"]),
        ("updated_at", ["WEB", "OPS", "APP"]),
    ],
)
def test_projects_order_by_name_created_at_and_updated_at(clients_a, three_projects, ordering, expected):
    assert keys(clients_a[Role.VIEWER], ordering=ordering) == expected


@pytest.mark.parametrize("ordering", ["bogus", "key", "task_counter", "-organization", "name,bogus", "name,", "-"])
def test_unknown_ordering_is_400_not_ignored(clients_a, three_projects, ordering):
    response = clients_a[Role.VIEWER].get(URL, {"ordering": ordering})

    assert response.status_code == 400
    assert response.json()["errors"]["ordering"][0]["code"] == "invalid"


@pytest.mark.parametrize("status", ["bogus", "ACTIVE", "deleted"])
def test_invalid_status_filter_is_400(clients_a, status):
    response = clients_a[Role.VIEWER].get(URL, {"status": status})

    assert response.status_code == 400
    assert "status" in response.json()["errors"]


@pytest.mark.parametrize("ordering", [None, "name", "-updated_at"])
def test_page_size_one_walks_every_project_once_by_next_links(clients_a, make_project, tenant_a, ordering):
    # Equal names: the cursor must page over ties without losing or repeating a row.
    created = {str(make_project(tenant_a, key=f"P{i}", name="Same" if i % 2 else f"N{i}").pk) for i in range(7)}
    client = clients_a[Role.VIEWER]
    params = {"page_size": 1} if ordering is None else {"page_size": 1, "ordering": ordering}

    seen: list[str] = []
    page = client.get(URL, params).json()
    while True:
        assert len(page["results"]) == 1
        seen += [p["id"] for p in page["results"]]
        if page["next"] is None:
            break
        page = client.get(page["next"]).json()

    assert len(seen) == 7
    assert set(seen) == created


def test_previous_link_walks_back(clients_a, three_projects):
    client = clients_a[Role.VIEWER]
    first = client.get(URL, {"page_size": 2}).json()
    second = client.get(first["next"]).json()
    back = client.get(second["previous"]).json()

    assert [p["key"] for p in second["results"]] == ["WEB"]
    assert [p["key"] for p in back["results"]] == ["APP", "OPS"]


def test_page_size_above_100_is_clamped_to_100(clients_a, make_project, tenant_a):
    for i in range(101):
        make_project(tenant_a, key=f"P{i}")

    page = clients_a[Role.VIEWER].get(URL, {"page_size": 101}).json()

    assert len(page["results"]) == 100
    assert page["next"] is not None


def test_project_list_runs_one_page_query_and_never_counts(
    clients_a, make_project, tenant_a, django_assert_max_num_queries
):
    for i in range(105):
        make_project(tenant_a, key=f"P{i}")
    client = clients_a[Role.VIEWER]
    client.get(URL)  # warm the token cache

    for size in (1, 20, 100):
        with django_assert_max_num_queries(TENANT_REQUEST_OVERHEAD + 1) as queries:
            assert len(listed(client, page_size=size, ordering="name")) == size
        assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)


def test_project_detail_runs_one_query(clients_a, make_project, tenant_a, django_assert_max_num_queries):
    project = make_project(tenant_a, key="WEB")
    client = clients_a[Role.VIEWER]
    client.get(URL)

    with django_assert_max_num_queries(TENANT_REQUEST_OVERHEAD + 1):
        assert client.get(f"{URL}{project.pk}/").status_code == 200


def test_project_create_stays_within_its_query_budget(clients_a, django_assert_max_num_queries):
    client = clients_a[Role.MEMBER]
    client.get(URL)

    # Service savepoint, insert (the unique index checks the key), audit chain head lock (which reads
    # the actor's username too), audit insert, whether the organization has a webhook (read once,
    # then cached: taskhub.webhooks.events), the savepoint's release (SQLite: on PostgreSQL no
    # statement follows it, so it is never sent and COMMIT ends the savepoint; rls._Carrier).
    with django_assert_max_num_queries(TENANT_REQUEST_OVERHEAD + 6):
        assert client.post(URL, {"key": "WEB", "name": "Website"}).status_code == 201


# The read path: rows shaped without per-row serializers


def test_project_list_and_detail_equal_the_serializer_output(clients_a, make_project, tenant_a):
    make_project(tenant_a, key="WEB", name='Ünïcode ✓ \u2028 "quoted"', description="")
    make_project(tenant_a, key="OPS", status="archived", description="line\nbreak")
    Project.objects.filter(key="OPS").update(created_by=None)
    client = clients_a[Role.VIEWER]
    expected = [dict(row) for row in ProjectSerializer(Project.objects.order_by("-created_at", "pk"), many=True).data]

    assert listed(client) == expected
    for row in expected:
        assert client.get(f"{URL}{row['id']}/").json() == row
