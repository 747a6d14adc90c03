"""Fixtures shared by every app's tests: two organizations, a user per role in each, clients."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from taskhub.accounts.models import User
from taskhub.accounts.tokens import token_pair
from taskhub.organizations.models import Membership, Organization
from taskhub.organizations.roles import Role

PASSWORD = "correct-horse-battery-9"


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


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def make_user(db) -> Callable[..., User]:
    def make(username: str, email: str | None = None, password: str = PASSWORD) -> User:
        return User.objects.create_user(username=username, email=email or f"{username}@example.com", password=password)

    return make


def _tenant(make_user: Callable[..., User], name: str) -> Tenant:
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
