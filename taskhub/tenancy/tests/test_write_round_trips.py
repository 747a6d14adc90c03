"""A write's round trips to PostgreSQL: its savepoints ride along, its checks are its statements (issue #17).

Inside a write's transaction the savepoint commands Django sends for nested ``atomic()`` blocks
(a service's own) wait for the next statement and go out in its pipeline (rls._Carrier); a
RELEASE still waiting at the end is dropped, COMMIT ends the savepoint. The unique index is a
create's key check, the audit chain's head brings the actor's username with it, and a task's
number comes from one ``UPDATE ... RETURNING``. These tests run outside a test transaction
(``transaction=True``), as production requests do.
"""

from __future__ import annotations

from contextlib import suppress

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from conftest import as_app_role
from taskhub.audit.models import AuditEvent
from taskhub.core import rls
from taskhub.labels.models import Label
from taskhub.projects.models import Project
from taskhub.tasks.models import Task
from taskhub.tenancy.roles import Role
from tests.support.factories import create_project
from tests.support.round_trips import round_trips

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="round trips and row-level security are PostgreSQL's"),
    pytest.mark.django_db(transaction=True),
]

PROJECTS = "/api/v1/projects/"
TASKS = "/api/v1/tasks/"


@pytest.fixture
def member(clients_a):
    client = clients_a[Role.MEMBER]
    # The connection open, the token's membership version and the webhook flag cached: a warm worker.
    assert client.post(PROJECTS, {"key": "WARM", "name": "Warm"}).status_code == 201
    return client


def _sent(statements: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in statements.captured_queries]


def test_a_project_create_is_four_round_trips(member, tenant_a):
    with round_trips() as counted, CaptureQueriesContext(connection) as statements:
        response = member.post(PROJECTS, {"key": "OPS", "name": "Operations"})

    assert response.status_code == 201, response.content
    # BEGIN, the context, the service's SAVEPOINT and the INSERT together; the chain's head (and
    # the actor's username); the audit event; COMMIT.
    assert counted.postgresql == ["_exit_gen", "_execute_gen", "_execute_gen", "_commit_gen"]
    if settings.USES_REDIS:
        # The throttles, the token's revocation and whether the organization has webhooks: one call.
        assert counted.redis == 1
    sent = _sent(statements)
    assert sent[0] == "BEGIN"
    assert "taskhub_rls.enter" in sent[1]
    assert sent[2].startswith("SAVEPOINT ")
    assert sent[3].startswith('INSERT INTO "projects_project"')
    assert sent[-1] == "COMMIT"
    # The RELEASE waited for a statement that never came: COMMIT ended the savepoint instead.
    assert not [sql for sql in sent if sql.startswith("RELEASE")]
    event = AuditEvent.objects.get(action="project.created", target_id=response.json()["id"])
    assert event.actor_label == tenant_a.users[Role.MEMBER].username


def test_a_task_create_is_five_round_trips_and_numbers_tasks_in_turn(member, tenant_a):
    project = create_project(tenant_a, key="WEB")
    assert member.post(TASKS, {"project": str(project.pk), "title": "First"}).status_code == 201

    with round_trips() as counted, CaptureQueriesContext(connection) as statements:
        response = member.post(TASKS, {"project": str(project.pk), "title": "Second"})

    assert response.status_code == 201, response.content
    assert response.json()["number"] == 2
    # The project's counter taken with the context and the SAVEPOINT; the task; head; event; COMMIT.
    assert counted.postgresql == ["_exit_gen", "_execute_gen", "_execute_gen", "_execute_gen", "_commit_gen"]
    assert 'UPDATE "projects_project" SET "task_counter"' in _sent(statements)[3]
    project.refresh_from_db()
    assert project.task_counter == 2


def test_a_task_for_another_organizations_project_is_refused_and_changes_nothing(member, tenant_b):
    other = create_project(tenant_b, key="THEIRS")

    response = member.post(TASKS, {"project": str(other.pk), "title": "Sneaky"})

    assert response.status_code == 400, response.content
    other.refresh_from_db()
    assert other.task_counter == 0
    assert not Task.objects.filter(title="Sneaky").exists()


def test_a_taken_key_is_the_unique_index_answering_and_nothing_is_written(member, tenant_a):
    assert member.post(PROJECTS, {"key": "OPS", "name": "Operations"}).status_code == 201
    events = AuditEvent.objects.count()

    response = member.post(PROJECTS, {"key": "OPS", "name": "Again"})

    assert response.status_code == 400, response.content
    assert response.json()["errors"]["key"][0]["code"] == "key_taken"
    assert Project.objects.filter(organization=tenant_a.organization, key__iexact="OPS").count() == 1
    assert AuditEvent.objects.count() == events
    # The connection is fine afterwards: the savepoint was rolled back, the transaction ended.
    assert member.post(PROJECTS, {"key": "NEXT", "name": "Next"}).status_code == 201


def test_a_taken_label_name_is_the_unique_index_answering(clients_a, tenant_a):
    admin = clients_a[Role.ADMIN]
    assert admin.post("/api/v1/labels/", {"name": "Bug", "color": "#ff0000"}).status_code == 201

    response = admin.post("/api/v1/labels/", {"name": "BUG", "color": "#00ff00"})

    assert response.status_code == 400, response.content
    assert response.json()["errors"]["name"][0]["code"] == "name_taken"
    assert Label.objects.filter(organization=tenant_a.organization).count() == 1


def test_a_savepoint_rolled_back_before_any_statement_and_one_after_a_failure_keep_the_transaction(tenant_a):
    """Straight through rls.carried: the waiting SAVEPOINT goes out with its ROLLBACK TO; an
    IntegrityError inside a nested block leaves the outer block's rows to commit."""
    organization = tenant_a.organization
    with as_app_role(), rls.carried(organization_id=organization.pk), transaction.atomic():
        with suppress(LookupError), transaction.atomic():
            raise LookupError("before any statement")
        kept = Project.objects.create(organization=organization, key="KEPT", name="Kept")
        with suppress(IntegrityError), transaction.atomic():
            Project.objects.create(organization=organization, key="kept", name="Twice")
        after = Project.objects.create(organization=organization, key="AFTER", name="After")

    assert set(Project.objects.filter(organization=organization).values_list("pk", flat=True)) == {kept.pk, after.pk}
    # Nothing waits on the connection once the block is over: the next statement is plain.
    assert connection.connection.info.transaction_status == 0
