"""Mass assignment (OWASP API3): fields a client may not set are ignored or refused, never stored.

Every writable endpoint gets its ordinary valid body plus, one at a time, a field it must not
take: the owning ``organization`` (another organization's id), ``created_by``, ``id``,
``number``, ``created_at`` and the endpoint's own sensitive columns. The answer is a success
that ignored the field or a 400; either way no row anywhere holds the forged value and the
other organization's rows are untouched.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from typing import Any

import pytest
from django.core import mail
from django.db.models import Model
from rest_framework.test import APIClient

from conftest import PASSWORD, Tenant
from taskhub.accounts.models import User
from taskhub.core import rls
from taskhub.organizations.models import Membership, Organization
from taskhub.tasks.tests.conftest import create_task
from taskhub.tenancy.registry import tenant_models
from taskhub.tenancy.roles import Role
from tests.support.factories import create_project

FORGED_ID = "00000000-0000-4000-8000-00000000f0f0"
FORGED_TIME = "2001-01-01T00:00:00Z"
FORGED_NUMBER = 987654
unique = count(1)


@dataclass
class World:
    a: Tenant
    b: Tenant
    clients: dict[Role, APIClient]
    ids: dict[str, str]


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


def project_body(world: World) -> dict[str, Any]:
    return {"key": f"MA{next(unique)}", "name": "Mass", "description": "", "status": "active"}


def task_body(world: World) -> dict[str, Any]:
    return {
        "project": world.ids["project"],
        "title": f"Mass {next(unique)}",
        "description": "",
        "status": "todo",
        "priority": "low",
        "assignee": None,
        "due_date": None,
    }


def invitation_token(world: World) -> str:
    response = world.clients[Role.ADMIN].post(
        "/api/v1/invitations/", {"email": f"joiner{next(unique)}@example.com", "role": "viewer"}
    )
    assert response.status_code == 201, response.content
    match = re.search(r"accept-invitation\?token=([A-Za-z0-9_-]+)", str(mail.outbox[-1].body))
    assert match
    return match[1]


# Stands for organization B's owner, whose id is known only once the test runs.
THEIR_OWNER = "their-owner"
USER_FLAGS = (("is_staff", True), ("is_superuser", True), ("is_active", False), ("user", THEIR_OWNER))
ENDPOINTS = [
    Endpoint("create project", "post", lambda w: "/api/v1/projects/", project_body, (("task_counter", 50),)),
    Endpoint("replace project", "put", lambda w: f"/api/v1/projects/{w.ids['project']}/", project_body),
    Endpoint(
        "update project",
        "patch",
        lambda w: f"/api/v1/projects/{w.ids['project']}/",
        lambda w: {"name": f"M{next(unique)}"},
    ),
    Endpoint("create task", "post", lambda w: "/api/v1/tasks/", task_body),
    Endpoint("replace task", "put", lambda w: f"/api/v1/tasks/{w.ids['task']}/", task_body),
    Endpoint(
        "update task", "patch", lambda w: f"/api/v1/tasks/{w.ids['task']}/", lambda w: {"title": f"M{next(unique)}"}
    ),
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
                str(row["id"]): {name: str(value) for name, value in row.items()}
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
    if name == "created_by":
        return row.get("created_by_id") == str(value)
    if name == "id":
        return row.get("id") == FORGED_ID
    if name in {"created_at", "updated_at"}:
        return row.get(name, "").startswith("2001-01-01")
    if name == "number":
        return row.get("number") == str(FORGED_NUMBER)
    return row.get(name, row.get(f"{name}_id")) == str(value)


@pytest.fixture
def world(tenant_a, tenant_b, clients_a) -> World:
    project = create_project(tenant_a, key="OWN", name="Own")
    task = create_task(project, title="Own")
    create_task(create_project(tenant_b, key="THEIRS", name="Theirs"), title="Theirs")
    return World(a=tenant_a, b=tenant_b, clients=clients_a, ids={"project": str(project.pk), "task": str(task.pk)})


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
        assert response.status_code in (200, 201, 400), (name, response.status_code, response.content[:300])
        after = rows()
        if response.status_code == 400:
            assert after == before, f"{endpoint.name}: refused {name} but changed rows"
            continue
        assert changed(before, after), f"{endpoint.name} with {name}: the request itself did nothing"
        for table, _, row in changed(before, after):
            assert not forged_value_stored(name, value, row, world), (endpoint.name, name, table, row)
        theirs = str(world.b.organization.pk)
        for table, table_rows in before.items():
            for pk, row in table_rows.items():
                if row.get("organization_id") == theirs or pk == theirs:
                    assert after[table].get(pk) == row, (endpoint.name, name, table, "changed B's row")
        text = response.content.decode()
        assert FORGED_ID not in text
        assert "2001-01-01" not in text
