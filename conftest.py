"""Fixtures shared by every app's tests: two organizations, a user per role in each, clients."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import connection
from rest_framework.test import APIClient

from taskhub.accounts.models import User
from taskhub.accounts.tokens import token_pair
from taskhub.core import rls
from taskhub.organizations.models import Membership, Organization
from taskhub.organizations.roles import Role

PASSWORD = "correct-horse-battery-9"
# Statements a tenant request adds around its own queries inside a test's transaction:
# SAVEPOINT and RELEASE (BEGIN and COMMIT in production), plus the RLS set_config on PostgreSQL.
TENANT_REQUEST_OVERHEAD = 3 if connection.vendor == "postgresql" else 2


@dataclass
class Tenant:
    """An organization with one user per role."""

    organization: Organization
    users: dict[Role, User] = field(default_factory=dict)
    memberships: dict[Role, Membership] = field(default_factory=dict)

    @property
    def owner(self) -> User:
        return self.users[Role.OWNER]


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _set_raw(*, bypass: bool) -> None:
    """Set the RLS variables on the test's transaction without being counted as a query."""
    if not (rls.enabled() and connection.in_atomic_block):
        return
    connection.ensure_connection()
    values = ["on" if name == "bypass_rls" and bypass else "" for name in rls.VARIABLES]
    assignments = ", ".join(f"set_config('app.{name}', %s, true)" for name in rls.VARIABLES)
    with connection.connection.cursor() as cursor:
        cursor.execute(f"SELECT {assignments}", values)


def _request_starts(**kwargs: object) -> None:
    _set_raw(bypass=False)


def _request_ends(**kwargs: object) -> None:
    _set_raw(bypass=True)


@pytest.fixture(autouse=True)
def _platform_view_between_requests(request):
    """On PostgreSQL, let test code read every tenant's rows, and run each request as production does.

    A test runs in one transaction that its requests share. Between requests the test body
    sees the database as the platform (RLS bypassed) so it can set up and check rows of any
    organization; every request starts with no RLS variable set, exactly like a fresh
    production transaction, so a request that forgets its tenant finds nothing.
    """
    _set_raw(bypass=True)
    request_started.connect(_request_starts)
    request_finished.connect(_request_ends)
    yield
    request_started.disconnect(_request_starts)
    request_finished.disconnect(_request_ends)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def make_user(db) -> Callable[..., User]:
    def make(username: str, email: str | None = None, password: str = PASSWORD) -> User:
        return User.objects.create_user(username=username, email=email or f"{username}@example.com", password=password)

    return make


def _tenant(make_user: Callable[..., User], name: str) -> Tenant:
    with rls.bypass("test fixture"):
        organization = Organization.objects.create(name=f"Org {name.upper()}", slug=f"org-{name}")
        tenant = Tenant(organization=organization)
        for role in Role:
            user = make_user(f"{role.value}-{name}")
            tenant.users[role] = user
            tenant.memberships[role] = Membership.objects.create(organization=organization, user=user, role=role)
    return tenant


@pytest.fixture
def tenant_a(make_user) -> Tenant:
    return _tenant(make_user, "a")


@pytest.fixture
def tenant_b(make_user) -> Tenant:
    return _tenant(make_user, "b")


@pytest.fixture
def client_for() -> Callable[[Membership], APIClient]:
    """Return an API client signed in as ``membership``'s user in its organization."""

    def make(membership: Membership) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair(membership)['access']}")
        return client

    return make


@pytest.fixture
def clients_a(tenant_a, client_for) -> dict[Role, APIClient]:
    return {role: client_for(membership) for role, membership in tenant_a.memberships.items()}


@pytest.fixture
def clients_b(tenant_b, client_for) -> dict[Role, APIClient]:
    return {role: client_for(membership) for role, membership in tenant_b.memberships.items()}
