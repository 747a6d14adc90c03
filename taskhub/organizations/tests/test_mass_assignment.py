"""Mass assignment (OWASP API3): fields a client may not set are ignored or refused, never stored.

Every writable endpoint gets its ordinary valid body plus, one at a time, a field it must not
take: the owning ``organization`` (another organization's id), ``created_by``, ``id``,
``number``, ``created_at``, a writer (``author``, ``api_key``), another organization's label
in ``labels``, and the endpoint's own sensitive columns. The answer is a success that ignored
the field or a 400; either way no row anywhere holds the forged value and the other
organization's rows are untouched.

Two walks: the endpoints listed below by hand (the caller's account, the organization, its
members, invitations and API keys: bodies and columns of their own), and every write of every
tenant resource, found in the URL conf (``TenantListApi`` POST, ``TenantDetailApi`` PUT and
PATCH) with bodies from the OpenAPI schema and the resource's own columns from its model: a
resource added tomorrow is walked under its own test ids without an edit here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from itertools import count
from typing import Any

import pytest
from django.core import mail
from django.db import models
from django.db.models import Model
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from conftest import PASSWORD, Tenant
from taskhub.accounts.models import User
from taskhub.core import rls
from taskhub.organizations.models import Membership, Organization
from taskhub.tasks.tests.conftest import create_task
from taskhub.tenancy.registry import tenant_models
from taskhub.tenancy.resources import TenantDetailApi, TenantListApi
from taskhub.tenancy.roles import Role
from tests.support.factories import create_project
from tests.support.isolation import (
    Route,
    Tenancy,
    _request_bodies,
    api_routes,
    body_for,
    matching,
    own_reference,
    populate_the_rest,
    tenancy_of,
)

FORGED_ID = "00000000-0000-4000-8000-00000000f0f0"
FORGED_DAY = "2001-01-01"
FORGED_TIME = f"{FORGED_DAY}T00:00:00Z"
FORGED_NUMBER = 987654
FORGED_TEXT = "forged"
unique = count(1)


@dataclass
class World:
    a: Tenant
    b: Tenant
    clients: dict[Role, APIClient]
    # Organization B's rows, one at least in every tenant table: the values a forged field names.
    theirs: Tenancy


def forged_fields(world: World) -> dict[str, Any]:
    """What every endpoint gets offered, one at a time."""
    return {
        "organization": str(world.b.organization.pk),
        "organization_id": str(world.b.organization.pk),
        "created_by": str(world.b.owner.pk),
        "id": FORGED_ID,
        "number": FORGED_NUMBER,
        "created_at": FORGED_TIME,
        "updated_at": FORGED_TIME,
        # A comment's writer is the caller, never a body's choice.
        "author": str(world.b.owner.pk),
        "api_key": own_reference("apikey", world.theirs),
        # Another organization's label on a task: refused (a 400), never joined.
        "labels": [own_reference("label", world.theirs)],
    }


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    url: Callable[[World], str]
    body: Callable[[World], dict[str, Any]]
    # Columns of this resource that must never come from a request body.
    sensitive: tuple[tuple[str, Any], ...] = ()
    anonymous: bool = False


def invitation_token(world: World) -> str:
    response = world.clients[Role.ADMIN].post(
        "/api/v1/invitations/", {"email": f"joiner{next(unique)}@example.com", "role": "viewer"}
    )
    assert response.status_code == 201, response.content
    match = re.search(r"accept-invitation/\?token=([A-Za-z0-9_-]+)", str(mail.outbox[-1].body))
    assert match
    return match[1]


# Stands for organization B's owner, whose id is known only once the test runs.
THEIR_OWNER = "their-owner"
USER_FLAGS = (("is_staff", True), ("is_superuser", True), ("is_active", False), ("user", THEIR_OWNER))
# The endpoints that are not tenant resources, or whose bodies and columns are their own: projects,
# tasks, labels, comments (and a tenant resource added tomorrow) are walked from the URL conf below.
ENDPOINTS = [
    Endpoint(
        "update organization",
        "patch",
        lambda w: "/api/v1/organization/",
        lambda w: {"name": f"Renamed {next(unique)}"},
        (("token_version", 50),),
    ),
    Endpoint(
        "change a member's role",
        "patch",
        lambda w: f"/api/v1/members/{w.a.memberships[Role.MEMBER].pk}/",
        lambda w: {
            "role": "viewer"
            if Membership.objects.get(pk=w.a.memberships[Role.MEMBER].pk).role == "member"
            else "member"
        },
        (("user", THEIR_OWNER), ("token_version", 50)),
    ),
    Endpoint(
        "create invitation",
        "post",
        lambda w: "/api/v1/invitations/",
        lambda w: {"email": f"invitee{next(unique)}@example.com", "role": "viewer"},
        (
            ("status", "accepted"),
            ("token_hash", "0" * 64),
            ("expires_at", "2999-01-01T00:00:00Z"),
            ("invited_by", THEIR_OWNER),
        ),
    ),
    Endpoint(
        "create API key",
        "post",
        lambda w: "/api/v1/api-keys/",
        lambda w: {"name": f"key{next(unique)}", "role": "viewer"},
        (("key", "thk_000000000000_forged"), ("prefix", "000000000000"), ("key_hash", "0" * 64), ("role", "admin")),
    ),
    Endpoint(
        "register",
        "post",
        lambda w: "/api/v1/auth/register/",
        lambda w: {
            "username": f"newcomer{next(unique)}",
            "email": f"newcomer{next(unique)}@example.com",
            "password": PASSWORD,
            "organization_name": "Newcomers",
        },
        USER_FLAGS,
        anonymous=True,
    ),
    Endpoint(
        "accept an invitation as a new user",
        "post",
        lambda w: "/api/v1/invitations/accept/",
        lambda w: {"token": invitation_token(w), "username": f"joiner{next(unique)}", "password": PASSWORD},
        (*USER_FLAGS, ("role", "owner")),
        anonymous=True,
    ),
]


def rows() -> dict[str, dict[str, dict[str, str]]]:
    """Every row of every tenant table, plus users and organizations, keyed by table and pk."""
    tables: dict[str, dict[str, dict[str, str]]] = {}
    with rls.bypass("mass assignment test: snapshot"):
        models: list[type[Model]] = [*tenant_models(), User, Organization]
        for model in models:
            tables[model._meta.label_lower] = {
                str(row[model._meta.pk.attname]): {name: str(value) for name, value in row.items()}
                for row in model._default_manager.values()
            }
    return tables


def changed(before: dict[str, dict[str, dict[str, str]]], after: dict[str, dict[str, dict[str, str]]]) -> list[Any]:
    return [
        (table, pk, row)
        for table, table_rows in after.items()
        for pk, row in table_rows.items()
        if before[table].get(pk) != row
    ]


def forged_value_stored(name: str, value: Any, row: dict[str, str], world: World) -> bool:
    if name in {"organization", "organization_id"}:
        return row.get("organization_id") == str(value)
    if isinstance(value, list):
        # Ids for a many-to-many (``labels``): a join row naming one of them (``label_id``).
        return row.get(f"{name.removesuffix('s')}_id") in {str(item) for item in value}
    if value in {FORGED_TIME, FORGED_DAY}:
        return (row.get(name) or "").startswith(FORGED_DAY)
    # id, number, a column (``task_counter``) or a reference (``created_by`` → ``created_by_id``).
    return row.get(name, row.get(f"{name}_id")) == str(value)


def check_answer(
    label: str,
    name: str,
    value: Any,
    *,
    before: dict[str, dict[str, dict[str, str]]],
    response: Any,
    world: World,
) -> dict[str, dict[str, dict[str, str]]]:
    """A request carrying the forged ``name`` was refused (400, nothing written) or ignored it; returns the rows."""
    assert response.status_code in (200, 201, 400), (label, name, response.status_code, response.content[:300])
    after = rows()
    if response.status_code == 400:
        assert after == before, f"{label}: refused {name} but changed rows"
        return after
    for table, pk, row in changed(before, after):
        # A row the request wrote holds the forged value, unless it held it already.
        earlier = before[table].get(pk)
        held = earlier is not None and forged_value_stored(name, value, earlier, world)
        assert held or not forged_value_stored(name, value, row, world), (
            f"{label}: stored the forged {name} in {table} {pk}"
        )
    theirs = str(world.b.organization.pk)
    for table, table_rows in before.items():
        for pk, row in table_rows.items():
            if row.get("organization_id") == theirs or pk == theirs:
                assert after[table].get(pk) == row, (label, name, table, "changed B's row")
    text = response.content.decode()
    assert FORGED_ID not in text
    assert FORGED_DAY not in text
    return after


@pytest.fixture
def world(tenant_a, tenant_b, clients_a, clients_b) -> World:
    create_task(create_project(tenant_a, key="OWN", name="Own"), title="Own")
    create_task(create_project(tenant_b, key="THEIRS", name="Theirs"), title="Theirs")
    # B gets a row in every tenant table (a key, a label on its task, a comment...): forged values to name.
    populate_the_rest(clients_b[Role.OWNER], str(tenant_b.users[Role.MEMBER].pk))
    theirs = tenancy_of(tenant_b.organization.pk, [user.pk for user in tenant_b.users.values()])
    assert own_reference("apikey", theirs), theirs.ids_by_model
    assert own_reference("label", theirs), theirs.ids_by_model
    return World(a=tenant_a, b=tenant_b, clients=clients_a, theirs=theirs)


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda endpoint: endpoint.name)
def test_fields_a_client_may_not_set_are_ignored_or_refused(endpoint, world):
    client = APIClient() if endpoint.anonymous else world.clients[Role.OWNER]
    extras = {**forged_fields(world), **dict(endpoint.sensitive)}
    extras = {name: str(world.b.owner.pk) if value == THEIR_OWNER else value for name, value in extras.items()}
    for name, value in extras.items():
        body = {**endpoint.body(world), name: value}
        before = rows()  # after the body, which may make rows of its own (an invitation to accept)
        response = getattr(client, endpoint.method)(endpoint.url(world), body, format="json")
        after = check_answer(endpoint.name, name, value, before=before, response=response, world=world)
        if response.status_code != 400:
            assert changed(before, after), f"{endpoint.name} with {name}: the request itself did nothing"


# Every write of every tenant resource, from the URL conf: nothing below names a resource.


@dataclass(frozen=True)
class ResourceWrite:
    route: Route
    method: str

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.route.template}"

    @property
    def model(self) -> type[Model]:
        return next(model for model in tenant_models() if model._meta.model_name == self.route.model_name)


def resource_writes() -> list[ResourceWrite]:
    """Each route of a ``TenantListApi`` that creates (POST) and of a ``TenantDetailApi`` that writes (PUT, PATCH)."""
    writes = []
    for route in api_routes():
        if not isinstance(route.view_class, type):
            continue
        if issubclass(route.view_class, TenantListApi):
            writes += [ResourceWrite(route, method) for method in ("post",) if method in route.methods]
        if issubclass(route.view_class, TenantDetailApi):
            writes += [ResourceWrite(route, method) for method in ("put", "patch") if method in route.methods]
    return writes


RESOURCE_WRITES = resource_writes()

# The writes of the resources there are today: a route discovery that finds fewer fails here.
WRITES_TODAY = {
    *(("POST", f"api/v1/{name}/") for name in ("projects", "tasks", "labels", "api-keys", "invitations")),
    ("POST", "api/v1/tasks/<uuid:task_id>/comments/"),
    *((method, f"api/v1/{name}/<uuid:id>/") for method in ("PUT", "PATCH") for name in ("projects", "tasks")),
    *((method, f"api/v1/{name}/<uuid:id>/") for method in ("PUT", "PATCH") for name in ("labels", "comments")),
    ("PATCH", "api/v1/members/<uuid:id>/"),
}


def test_the_walk_finds_every_resource_write_there_is_today():
    found = {(write.method.upper(), write.route.template) for write in RESOURCE_WRITES}
    assert found >= WRITES_TODAY, sorted(WRITES_TODAY - found)
    assert {write.route.model_name for write in RESOURCE_WRITES} >= {
        "project",
        "task",
        "label",
        "comment",
        "apikey",
        "invitation",
        "membership",
    }


@cache
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def free_text(prop: dict[str, Any]) -> bool:
    return prop.get("type") == "string" and not prop.get("format") and "enum" not in prop


def unique_text(name: str, prop: dict[str, Any]) -> str:
    """A value for a free-text property that no earlier request sent: a name or key unique in the organization."""
    n = next(unique)
    limit = prop.get("maxLength", 200)
    pattern = prop.get("pattern")
    if not pattern:
        return f"M{n} {name}"[:limit]
    for candidate in (f"M{n}", f"MASS{n}", f"mass-{n}", f"mass{n}"):
        if len(candidate) <= limit and re.fullmatch(pattern, candidate):
            return candidate
    return matching(pattern)  # a value that need not be unique (a colour)


def valid_body(component: dict[str, Any], own: Tenancy, current: dict[str, Any]) -> dict[str, Any]:
    """The schema's valid body: the object as it is for a detail write, with fresh names, keys and emails."""
    body = body_for(component, own, schema())
    for name, prop in component.get("properties", {}).items():
        if prop.get("readOnly"):
            continue
        if name in current:
            body[name] = current[name]  # fields that must stay what they are (a task's project and number)
        if free_text(prop):
            body[name] = unique_text(name, prop)
        elif prop.get("format") == "email":
            body[name] = f"mass{next(unique)}@example.com"
    return body


def forged_column(field: Any, world: World) -> Any:  # noqa: PLR0911
    """A value for one of the model's columns that no request may put there, or None for a column left out."""
    if field.is_relation:
        related = field.related_model
        if related is Organization:
            reference: str | None = str(world.b.organization.pk)
        elif related is User:
            reference = str(world.b.owner.pk)
        else:
            reference = own_reference(related._meta.model_name, world.theirs)
        return [reference] if field.many_to_many and reference else reference
    if field.choices:
        return field.choices[-1][0]
    if isinstance(field, models.DateTimeField):
        return FORGED_TIME
    if isinstance(field, models.DateField):
        return FORGED_DAY
    if isinstance(field, models.IntegerField):
        return FORGED_NUMBER
    if isinstance(field, models.UUIDField):
        return FORGED_ID
    if isinstance(field, models.BooleanField):
        return not field.default
    if isinstance(field, models.CharField | models.TextField):
        return FORGED_TEXT[: field.max_length]
    return None  # JSON, addresses...: no column of today's resources


def column_forgeries(model: type[Model], writable: set[str], world: World) -> dict[str, Any]:
    """The resource's own columns its request does not take (``task_counter``, a comment's ``task``...), forged."""
    forged = {}
    for field in model._meta.get_fields():
        if field.auto_created or field.name in writable or not (field.concrete or field.many_to_many):
            continue
        value = forged_column(field, world)
        if value is not None:
            forged[field.name] = value
    return forged


@pytest.mark.django_db
@pytest.mark.parametrize("write", RESOURCE_WRITES, ids=str)
def test_no_resource_write_stores_a_field_the_client_may_not_set(write, world):
    # The owner writes: it may write every row (a comment only its writer edits: the owner wrote them).
    client = world.clients[Role.OWNER]
    populate_the_rest(client, str(world.a.users[Role.MEMBER].pk))
    own = tenancy_of(world.a.organization.pk, [world.a.users[Role.MEMBER].pk])
    route, method = write.route, write.method
    target = own_reference(route.param_model(), own) if route.params else ""
    assert target is not None, f"{write}: organization A has no {route.param_model()} to write to"
    url = route.url(target)
    component = _request_bodies(schema(), route, method)
    assert component, f"{write}: the schema has no request body"
    current: dict[str, Any] = {}
    if method != "post" and "get" in route.methods:
        shown = client.get(url)
        assert shown.status_code == 200, (write, shown.status_code)
        current = shown.json()
    # The valid body alone succeeds, or a 400 below would prove nothing.
    response = getattr(client, method)(url, valid_body(component, own, current), format="json")
    assert response.status_code in (200, 201), (str(write), response.status_code, response.content[:300])

    writable = {name for name, prop in component.get("properties", {}).items() if not prop.get("readOnly")}
    forgeries = {**column_forgeries(write.model, writable, world), **forged_fields(world)}
    for name, value in forgeries.items():
        body = {**valid_body(component, own, current), name: value}
        before = rows()
        response = getattr(client, method)(url, body, format="json")
        check_answer(str(write), name, value, before=before, response=response, world=world)
