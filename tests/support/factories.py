"""Test rows made through the services, as the API makes them (and as row-level security allows)."""

from typing import Any

from taskhub.core.actor import Actor
from taskhub.projects.models import Project
from taskhub.projects.services import project_create
from taskhub.tenancy.roles import Role


def create_project(tenant: Any, key: str = "WEB", name: str | None = None, **fields: Any) -> Project:
    """Create a project in ``tenant``'s organization as its owner."""
    actor = Actor(user_id=tenant.users[Role.OWNER].pk, label="fixture")
    return project_create(
        organization_id=tenant.organization.pk, actor=actor, key=key, name=name or f"Project {key}", **fields
    )
