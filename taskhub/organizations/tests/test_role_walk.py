"""Broken function-level authorization (OWASP API5): every route and method, tried by every role too low for it.

Routes come from the URL conf and the permission each method needs from the view's
``permission_by_method`` and roles.MINIMUM_ROLE, so a route added tomorrow is walked too.
Each caller below the minimum (a user of that role, or an API key of that role) sends a body
the endpoint would accept and must get 403, with no row of any table changed.
"""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec
from typing import Any

import pytest
from django.apps import apps
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from taskhub.tenancy.roles import API_KEY_ROLES, MINIMUM_ROLE, Role, role_allows
from tests.support.isolation import (
    Route as IsolationRoute,
)
from tests.support.isolation import (
    _request_bodies,
    api_routes,
    body_for,
    own_reference,
    populate,
    snapshot,
    tenancy_of,
)


def _contracts() -> dict[tuple[str, str], Role]:
    """The README's "who" table: each installed app's ``tests/role_contract.py``, merged."""
    merged: dict[tuple[str, str], Role] = {}
    for config in apps.get_app_configs():
        if not config.name.startswith("taskhub.") or find_spec(f"{config.name}.tests.role_contract") is None:
            continue
        merged.update(import_module(f"{config.name}.tests.role_contract").CONTRACT)
    return merged


CONTRACT = _contracts()


def test_each_function_needs_the_role_the_contract_names():
    actual = {}
    for route in api_routes():
        permissions = getattr(route.view_class, "permission_by_method", None)
        if permissions is None:
            continue
        for method in route.methods:
            required = permissions.get(method.upper())
            actual[(route.template, method.upper())] = MINIMUM_ROLE[required] if required else None
    assert actual == CONTRACT


def key_client(admin: APIClient, role: Role) -> APIClient:
    response = admin.post("/api/v1/api-keys/", {"name": f"walk-{role}", "role": role.value})
    assert response.status_code == 201, response.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {response.json()['key']}")
    return client


def denied_roles(route: IsolationRoute, method: str) -> list[Role]:
    required = getattr(route.view_class, "permission_by_method", {}).get(method.upper())
    return [role for role in Role if required is None or not role_allows(role, required)]


@pytest.mark.django_db
def test_no_role_reaches_a_function_above_it(tenant_a, clients_a):
    populate(clients_a, str(tenant_a.users[Role.MEMBER].pk))
    users = [tenant_a.users[role].pk for role in (Role.OWNER, Role.ADMIN, Role.VIEWER, Role.MEMBER)]
    own = tenancy_of(tenant_a.organization.pk, users)
    callers: list[tuple[str, Role, APIClient]] = [(f"user {role}", role, client) for role, client in clients_a.items()]
    callers += [(f"API key {role}", role, key_client(clients_a[Role.ADMIN], role)) for role in API_KEY_ROLES]
    schema = SchemaGenerator().get_schema(request=None, public=True)
    problems: list[str] = []
    tried = 0
    for route in api_routes():
        if not hasattr(route.view_class, "permission_by_method"):
            continue  # the caller's own account (auth/me, switch, ...) or a public endpoint
        url = route.url(own_reference(route.param_model(), own) or "") if route.params else route.url("")
        for method in route.methods:
            component = _request_bodies(schema, route, method)
            body: dict[str, Any] = body_for(component, own, schema) if component else {}
            for label, role, client in callers:
                if role not in denied_roles(route, method):
                    continue
                tried += 1
                before = snapshot()
                response = client.get(url) if method == "get" else getattr(client, method)(url, body, format="json")
                if response.status_code != 403:
                    problems.append(f"{label}: {method.upper()} {url} answered {response.status_code}")
                elif response.json().get("code") != "permission_denied":
                    problems.append(f"{label}: {method.upper()} {url} 403 without the error shape")
                if method != "get" and snapshot() != before:
                    problems.append(f"{label}: {method.upper()} {url} changed rows")
    assert problems == []
    # Proof the walk covered the API: every admin-only and owner-only function, for each lower role.
    assert tried >= 60
