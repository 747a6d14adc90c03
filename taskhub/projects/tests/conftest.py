"""Project factories: rows are made through the services, as the API makes them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from taskhub.core.actor import Actor
from taskhub.organizations.roles import Role
from taskhub.projects.models import Project
from taskhub.projects.services import project_create


@pytest.fixture
def make_project(db) -> Callable[..., Project]:
    """Return a factory: ``make_project(tenant, key="WEB", name=..., **fields)``, created by the tenant's owner."""

    def make(tenant: Any, key: str = "WEB", name: str | None = None, **fields: Any) -> Project:
        actor = Actor(user_id=tenant.users[Role.OWNER].pk, label="fixture")
        return project_create(
            organization_id=tenant.organization.pk, actor=actor, key=key, name=name or f"Project {key}", **fields
        )

    return make
