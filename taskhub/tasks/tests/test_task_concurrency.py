"""Concurrent writes on PostgreSQL, where row locks are real (SQLite serializes every writer)."""

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from taskhub.core import rls
from taskhub.core.actor import Actor
from taskhub.core.errors import DomainError
from taskhub.projects.models import Project
from taskhub.projects.services import project_create
from taskhub.tasks.models import Task
from taskhub.tasks.services import task_create
from taskhub.tenancy.roles import Role

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs real row locks and concurrent connections"),
    pytest.mark.django_db(transaction=True),
]


def run_at_once(count: int, work: Callable[[int], Any]) -> tuple[list[Any], list[BaseException]]:
    """Run ``work(i)`` in ``count`` threads released together; return results and errors."""
    barrier = threading.Barrier(count)
    results: list[Any] = []
    errors: list[BaseException] = []

    def thread(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(work(index))
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)
        finally:
            # ``connection`` is this thread's own; the test database cannot be dropped while it is open.
            connection.close()

    threads = [threading.Thread(target=thread, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results, errors


def test_concurrent_task_creates_get_numbers_one_to_eight_without_duplicates(tenant_a):
    organization_id = tenant_a.organization.pk
    actor = Actor(user_id=tenant_a.users[Role.MEMBER].pk, label="member-a")
    with rls.scoped(organization_id=organization_id):
        project = project_create(organization_id=organization_id, actor=actor, key="RACE", name="Race")

    def create(index: int) -> int:
        with rls.scoped(organization_id=organization_id):
            task = task_create(organization_id=organization_id, actor=actor, project_id=project.pk, title=f"t{index}")
        return task.number

    numbers, errors = run_at_once(8, create)

    assert errors == []
    assert sorted(numbers) == list(range(1, 9))
    with rls.scoped(organization_id=organization_id):
        assert sorted(Task.objects.filter(project=project).values_list("number", flat=True)) == list(range(1, 9))
        assert Project.objects.get(pk=project.pk).task_counter == 8


def test_concurrent_creates_of_one_key_make_one_project(tenant_a):
    organization_id = tenant_a.organization.pk
    actor = Actor(user_id=tenant_a.users[Role.MEMBER].pk, label="member-a")

    def create(index: int) -> str:
        with rls.scoped(organization_id=organization_id):
            return project_create(organization_id=organization_id, actor=actor, key="SAME", name=f"p{index}").name

    created, errors = run_at_once(4, create)

    assert len(created) == 1
    assert len(errors) == 3
    assert all(isinstance(e, DomainError) and e.code == "key_taken" for e in errors), errors
    with rls.scoped(organization_id=organization_id):
        assert Project.objects.filter(organization_id=organization_id, key="SAME").count() == 1
