"""Bad input gets a clear JSON error and changes nothing: never a 500."""

from functools import cache

import pytest
from drf_spectacular.generators import SchemaGenerator

from taskhub.tenancy.roles import Role
from tests.support.isolation import api_routes

SQL_METACHARACTERS = ["'", '"', "' OR '1'='1", "1; DROP TABLE projects_project; --", "%", "_", "\\", "`", "/*", "-- x"]


def list_urls() -> list[str]:
    """Every list endpoint without path parameters, found from the URL conf."""
    return ["/" + route.template for route in api_routes() if not route.params and "get" in route.methods]


@cache
def documented_query_parameters() -> list[tuple[str, str]]:
    """(list URL, query parameter) for every parameter the OpenAPI schema documents on a list.

    ``cursor`` is left out: it is opaque, and one that does not decode is a 404 "Invalid cursor"
    (taskhub.core.pagination, test_members.py), not a 400.
    """
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return [
        (url, parameter["name"])
        for url in list_urls()
        for parameter in paths[url]["get"].get("parameters", [])
        if parameter["in"] == "query" and parameter["name"] != "cursor"
    ]


def nul_cases() -> list[object]:
    return [pytest.param(url, name, id=f"{url}?{name}") for url, name in documented_query_parameters()]


@pytest.mark.django_db
def test_deeply_nested_json_is_a_400(clients_a):
    body = "[" * 100_000 + "]" * 100_000
    response = clients_a[Role.MEMBER].post("/api/v1/projects/", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


@pytest.mark.django_db
def test_nul_bytes_in_a_json_string_are_a_400_and_nothing_is_stored(clients_a):
    response = clients_a[Role.MEMBER].post(
        "/api/v1/projects/", data='{"key": "NUL", "name": "a\\u0000b"}', content_type="application/json"
    )
    assert response.status_code == 400
    assert clients_a[Role.MEMBER].get("/api/v1/projects/").json()["results"] == []


@pytest.mark.django_db
def test_invalid_utf8_body_is_a_400(clients_a):
    response = clients_a[Role.MEMBER].post(
        "/api/v1/projects/", data=b'{"key": "BAD", "name": "\xff\xfe"}', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


@pytest.mark.django_db
def test_wrong_content_type_is_a_415(clients_a):
    response = clients_a[Role.MEMBER].post("/api/v1/projects/", data="key=X", content_type="text/plain")
    assert response.status_code == 415


def test_every_filterable_list_is_walked_for_nul_bytes():
    walked = {url for url, _ in documented_query_parameters()}
    assert walked >= {"/api/v1/projects/", "/api/v1/tasks/", "/api/v1/members/", "/api/v1/audit-events/"}
    assert len(documented_query_parameters()) >= 25


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "name"), nul_cases())
def test_nul_bytes_in_query_parameters_are_a_400_on_every_list(clients_a, url, name):
    client = clients_a[Role.OWNER]
    for value in ("\x00", "a\x00b"):
        response = client.get(url, {name: value})
        assert response.status_code == 400, (url, name, value, response.status_code)
        assert response["Content-Type"].startswith("application/json")
        assert response.json()["code"] == "invalid"


@pytest.mark.django_db
def test_sql_metacharacters_in_every_filter_search_and_ordering_are_harmless(clients_a, clients_b):
    client = clients_a[Role.OWNER]
    client.post("/api/v1/projects/", {"key": "SQL", "name": "Injection target"})
    urls = list_urls()
    assert len(urls) >= 6
    names = ["search", "ordering", "status", "role", "project", "assignee", "priority", "due_before", "action"]
    for url in urls:
        for name in names:
            for value in SQL_METACHARACTERS:
                response = client.get(url, {name: value})
                assert response.status_code in (200, 400), (url, name, value, response.status_code)
                assert response["Content-Type"].startswith("application/json")
    # Still there, still one.
    assert len(client.get("/api/v1/projects/").json()["results"]) == 1
