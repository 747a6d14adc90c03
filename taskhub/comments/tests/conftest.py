from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from taskhub.comments.models import Comment
from taskhub.comments.services import comment_create
from taskhub.core.actor import Actor
from taskhub.projects.models import Project
from taskhub.tasks.models import Task
from taskhub.tasks.services import task_create
from taskhub.tenancy.roles import Role
from tests.support.factories import create_project


def create_task(project: Project, title: str = "Discuss it") -> Task:
    actor = Actor(user_id=project.created_by_id, label="fixture")
    return task_create(organization_id=project.organization_id, actor=actor, project_id=project.pk, title=title)


def create_comment(task: Task, user_id: Any, body: str = "A thought") -> Comment:
    """Comment on ``task`` as the user ``user_id``, through the service."""
    actor = Actor(user_id=user_id, label="fixture")
    return comment_create(organization_id=task.organization_id, actor=actor, task_id=task.pk, body=body)


@pytest.fixture
def task(tenant_a) -> Task:
    return create_task(create_project(tenant_a, key="WEB", name="Website"))


@pytest.fixture
def other_task(task) -> Task:
    return create_task(Project.objects.get(pk=task.project_id), title="Another")


@pytest.fixture
def foreign_task(tenant_b) -> Task:
    return create_task(create_project(tenant_b, key="WEB", name="Theirs"), title="Theirs")


@pytest.fixture
def make_comment(db) -> Callable[..., Comment]:
    """Return ``create_comment(task, user_id, body=...)``."""
    return create_comment


@pytest.fixture
def api_key_client(clients_a) -> Callable[[str], APIClient]:
    """Return a client signed in with a new API key of ``role``, made by organization A's admin."""

    def make(role: str, name: str = "bot") -> APIClient:
        response = clients_a[Role.ADMIN].post("/api/v1/api-keys/", {"name": f"{name} {role}", "role": role})
        assert response.status_code == 201, response.content
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {response.json()['key']}")
        client.key_id = response.json()["id"]  # type: ignore[attr-defined]
        return client

    return make
