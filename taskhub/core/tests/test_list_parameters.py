"""List query parameters answer what the schema says they accept (found by schemathesis), on every list.

``page_size`` and ``ordering`` first; then a walk of every list route in the URLconf: an unknown
ordering term, and an invalid value for each filter of the view's own filterset, are each a 400 in
the one error shape.
"""

import re
from collections.abc import Iterator
from functools import cache
from typing import Any
from uuid import UUID

import django_filters
import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.generators import SchemaGenerator

from taskhub.core.filters import ChoiceListFilter
from taskhub.tasks.filters import AssigneeFilter
from taskhub.tenancy.roles import Role
from tests.support.isolation import Tenancy, own_reference, populate, tenancy_of


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["null", "0", "-215", "1.5", "", "٣"])
def test_page_size_that_is_not_a_positive_whole_number_answers_400(clients_a, value):
    # It used to fall back to 20 silently: a schema-violating request accepted.
    response = clients_a["viewer"].get("/api/v1/projects/", {"page_size": value})

    assert response.status_code == 400, response.content
    assert "page_size" in response.json()["errors"]


@pytest.mark.django_db
def test_page_size_above_the_maximum_is_capped(clients_a):
    response = clients_a["viewer"].get("/api/v1/tasks/", {"page_size": "4888506782961410"})

    assert response.status_code == 200, response.content


@pytest.mark.django_db
@pytest.mark.parametrize("value", [" name", "name,", "name, -created_at"])
def test_ordering_outside_the_schema_pattern_answers_400(clients_a, value):
    response = clients_a["viewer"].get("/api/v1/projects/", {"ordering": value})

    assert response.status_code == 400, response.content


def _parameter(schema, path, name):
    return next(p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == name)


@pytest.mark.django_db
def test_schema_states_the_accepted_orderings_and_page_sizes():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    ordering = _parameter(schema, "/api/v1/projects/", "ordering")["schema"]
    pattern = re.compile(ordering["pattern"])
    for accepted in ["", "name", "-created_at", "name,-updated_at"]:
        assert pattern.match(accepted), accepted
    for refused in ["&us", "due_date", " name", "name,"]:
        assert not pattern.match(refused), refused
    assert _parameter(schema, "/api/v1/tasks/", "page_size")["schema"]["minimum"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["project", "status", "assignee", "due_before"])
def test_an_empty_filter_value_filters_nothing_as_the_schema_says(clients_a, name):
    # Found by schemathesis: `?project=` was accepted while the schema said a uuid was required.
    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert _parameter(schema, "/api/v1/tasks/", name)["allowEmptyValue"] is True

    response = clients_a["viewer"].get("/api/v1/tasks/", {name: ""})

    assert response.status_code == 200, response.content


@pytest.mark.django_db
def test_every_operation_documents_the_servers_html_414():
    # Found by schemathesis: 60 repeated `page_size` values made a request line gunicorn refuses
    # (414, HTML) before Django runs; the schema now says so for every operation.
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = [operation for item in schema["paths"].values() for operation in item.values()]

    assert operations
    for operation in operations:
        assert list(operation["responses"]["414"]["content"]) == ["text/html"]


# The same strictness on every list: each list route comes from the URLconf (a list is a GET the
# schema paginates), each filter from that view's own filterset; nothing here names an endpoint.

PATH_PARAMETER = re.compile(r"<(?:\w+:)?(?P<name>\w+)>")

# A value each kind of filter must refuse. A filter of a kind not listed fails the walk: add a
# refusal for it here, or make the filter refuse something.
INVALID_VALUES: list[tuple[type, str]] = [
    (ChoiceListFilter, "bogus"),
    (AssigneeFilter, "nobody"),
    (django_filters.ChoiceFilter, "bogus"),
    (django_filters.UUIDFilter, "not-a-uuid"),
    (django_filters.IsoDateTimeFilter, "2030-01-01T25:00:00Z"),
    (django_filters.DateFilter, "2030-13-01"),
    # A whole number (audit-events/?seq=): a fraction is refused, not rounded.
    (django_filters.NumberFilter, "1.5"),
    # Free text has one value it refuses: NUL, which PostgreSQL text cannot hold.
    (django_filters.CharFilter, "a\x00b"),
]


def _url_patterns(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _url_patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


@cache
def list_routes() -> list[tuple[str, type]]:
    """(route, view class) of every list in the URLconf: a GET whose schema has a pagination cursor."""
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    routes = []
    for template, callback in _url_patterns(get_resolver().url_patterns):
        view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        schema_path = "/" + PATH_PARAMETER.sub(lambda match: "{" + match["name"] + "}", template)
        operation = paths.get(schema_path, {}).get("get", {})
        if view_class is not None and any(p["name"] == "cursor" for p in operation.get("parameters", [])):
            routes.append((template, view_class))
    return routes


def filterset_of(view_class: Any) -> Any:
    """The view's FilterSet class, as its django-filter backend finds it; None without one."""
    view = view_class()
    queryset = view_class.selector(organization_id=UUID(int=0))
    for backend in view.filter_backends:
        if issubclass(backend, DjangoFilterBackend):
            return backend().get_filterset_class(view, queryset)
    return None


def invalid_value(filter_: Any) -> str:
    for kind, value in INVALID_VALUES:
        if isinstance(filter_, kind):
            return value
    raise AssertionError(f"No invalid value known for {type(filter_).__name__}: add one to INVALID_VALUES.")


def list_cases() -> list[Any]:
    return [pytest.param(template, view_class, id=template) for template, view_class in list_routes()]


def filter_cases() -> list[Any]:
    cases = []
    for template, view_class in list_routes():
        filterset = filterset_of(view_class)
        for name, filter_ in (filterset.base_filters if filterset else {}).items():
            cases.append(pytest.param(template, name, invalid_value(filter_), id=f"{template}?{name}"))
    return cases


@pytest.fixture
def list_url(clients_a, tenant_a):
    """The URL of a list route, its path parameters (``<model>_id``) filled with rows of organization A.

    The rows come from the isolation walk's ``populate``, which makes one in every tenant table
    through the API: a list nested under a resource added tomorrow needs no maker here.
    """
    own: list[Tenancy] = []

    def row_id(name: str) -> str:
        if not own:
            member = tenant_a.users[Role.MEMBER].pk
            populate(clients_a, str(member))
            own.append(tenancy_of(tenant_a.organization.pk, [member]))
        found = own_reference(name.removesuffix("_id"), own[0])
        assert found is not None, f"no row of {name.removesuffix('_id')} after populate"
        return found

    def url(template: str) -> str:
        def fill(match: re.Match[str]) -> str:
            return row_id(match["name"])

        return "/" + PATH_PARAMETER.sub(fill, template)

    return url


def assert_one_error_shape(response: Any, parameter: str) -> None:
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == "invalid"
    assert body["detail"]
    errors = body["errors"][parameter]
    assert errors
    assert all(set(error) == {"message", "code"} and error["message"] for error in errors), errors


def test_the_walk_finds_every_list():
    found = {template for template, _ in list_routes()}

    assert found >= {
        "api/v1/projects/",
        "api/v1/tasks/",
        "api/v1/projects/<uuid:project_id>/tasks/",
        "api/v1/members/",
        "api/v1/invitations/",
        "api/v1/api-keys/",
        "api/v1/audit-events/",
    }
    # Details and other GETs are not lists.
    assert not {"api/v1/tasks/<uuid:id>/", "api/v1/auth/me/", "api/v1/organization/"} & found
    assert len(filter_cases()) >= 20


@pytest.mark.django_db
@pytest.mark.parametrize(("template", "view_class"), list_cases())
@pytest.mark.parametrize("ordering", ["bogus", "-bogus", "created_at,bogus", "password", "organization__name"])
def test_every_list_refuses_an_unknown_ordering_term(clients_a, list_url, template, view_class, ordering):
    response = clients_a["owner"].get(list_url(template), {"ordering": ordering})

    assert_one_error_shape(response, "ordering")
    # The message names the term refused (each case's last one).
    assert repr(ordering.split(",")[-1]) in response.json()["errors"]["ordering"][0]["message"]


@pytest.mark.django_db
@pytest.mark.parametrize(("template", "view_class"), list_cases())
def test_every_list_accepts_each_ordering_it_offers(clients_a, list_url, template, view_class):
    for field in view_class.ordering_fields:
        for term in (field, f"-{field}"):
            response = clients_a["owner"].get(list_url(template), {"ordering": term})
            assert response.status_code == 200, (template, term, response.content)


@pytest.mark.django_db
@pytest.mark.parametrize(("template", "name", "value"), filter_cases())
def test_every_filter_of_every_list_refuses_an_invalid_value(clients_a, list_url, template, name, value):
    response = clients_a["owner"].get(list_url(template), {name: value})

    assert_one_error_shape(response, name)
