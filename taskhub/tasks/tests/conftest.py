from collections.abc import Callable
from typing import Any

import pytest

from taskhub.core.actor import Actor
from taskhub.projects.models import Project
from taskhub.tasks.models import Task
from taskhub.tasks.services import task_create
from tests.support.factories import create_project


def create_task(project: Project, title: str = "Do it", **fields: Any) -> Task:
    """Create a task in ``project`` as the project's creator (the organization's owner)."""
    actor = Actor(user_id=project.created_by_id, label="fixture")
    return task_create(
        organization_id=project.organization_id, actor=actor, project_id=project.pk, title=title, **fields
    )


@pytest.fixture
def make_project(db) -> Callable[..., Project]:
    """Return ``create_project(tenant, key="WEB", name=..., **fields)``."""
    return create_project


@pytest.fixture
def make_task(db) -> Callable[..., Task]:
    """Return ``create_task(project, title=..., **fields)``."""
    return create_task


@pytest.fixture
def web(tenant_a) -> Project:
    return create_project(tenant_a, key="WEB", name="Website")


@pytest.fixture
def foreign_project(tenant_b) -> Project:
    return create_project(tenant_b, key="WEB", name="Theirs")
