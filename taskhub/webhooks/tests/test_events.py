"""emit(): what the services call, inside their transaction; free for an organization without webhooks."""

from typing import Any

import pytest
from django.db import connection, transaction

from taskhub.core import rls
from taskhub.tenancy.roles import Role
from taskhub.webhooks.events import emit
from taskhub.webhooks.models import Event
from taskhub.webhooks.tests.conftest import create_webhook
from taskhub.webhooks.tests.receiver import receiving
from tests.support.queue import queued_job_arguments

pytestmark = pytest.mark.django_db
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="the queue lives in PostgreSQL")


def _events() -> list[str]:
    with rls.bypass("test: read events"):
        return list(Event.objects.order_by("created_at").values_list("type", flat=True))


def test_emit_costs_one_query_at_most_without_webhooks_and_none_once_cached(tenant_a, django_assert_num_queries):
    built: list[int] = []

    def data() -> dict[str, Any]:
        built.append(1)
        return {}

    with django_assert_num_queries(1):
        emit(organization_id=tenant_a.organization.pk, type="task.created", data=data)
    with django_assert_num_queries(0):
        emit(organization_id=tenant_a.organization.pk, type="task.created", data=data)
    assert built == []  # nobody receives it: the data is never built
    assert _events() == []


def test_a_webhook_created_after_none_was_cached_receives_the_next_event(tenant_a, clients_a, receiver):
    emit(organization_id=tenant_a.organization.pk, type="task.created", data={})  # caches "none"

    create_webhook(clients_a[Role.ADMIN], receiver.url)
    emit(organization_id=tenant_a.organization.pk, type="task.created", data={"id": "after"})

    assert [hit.headers["webhook-id"] for hit in receiver.wait_for(2)][1:]
    assert _events() == ["webhook.ping", "task.created"]


def test_only_subscribed_active_webhooks_get_the_event_one_delivery_each(tenant_a, clients_a):
    admin = clients_a[Role.ADMIN]
    with receiving() as tasks, receiving() as projects, receiving() as everything, receiving() as off:
        create_webhook(admin, tasks.url, events=["task.created", "task.updated"])
        create_webhook(admin, projects.url, events=["project.created"])
        create_webhook(admin, everything.url, events=["*"])
        create_webhook(admin, off.url, active=False)

        emit(organization_id=tenant_a.organization.pk, type="task.updated", data={"id": "t"})

        counts = [len(r.hits) for r in (tasks, projects, everything, off)]
    # Each got its creation ping; the event went to the task and "*" webhooks only.
    assert counts == [2, 1, 2, 1]
    assert _events().count("task.updated") == 1


def test_an_event_nobody_subscribes_to_writes_nothing(tenant_a, clients_a, receiver):
    create_webhook(clients_a[Role.ADMIN], receiver.url, events=["project.deleted"])

    emit(organization_id=tenant_a.organization.pk, type="task.created", data={})

    assert _events() == ["webhook.ping"]


def test_an_unknown_event_type_is_a_programming_error(tenant_a):
    with pytest.raises(ValueError, match="unknown webhook event type"):
        emit(organization_id=tenant_a.organization.pk, type="task.exploded", data={})


@postgresql_only
def test_a_rolled_back_change_leaves_no_event_and_no_job(job_queue, tenant_a, clients_a, receiver):
    create_webhook(clients_a[Role.ADMIN], receiver.url, events=["task.created"])
    jobs_before = len(queued_job_arguments())

    def change_that_fails() -> None:
        with transaction.atomic(), rls.scoped(organization_id=tenant_a.organization.pk):
            emit(organization_id=tenant_a.organization.pk, type="task.created", data={"id": "rolled back"})
            raise RuntimeError("the change fails after emitting")

    with pytest.raises(RuntimeError):
        change_that_fails()

    assert len(queued_job_arguments()) == jobs_before
    assert _events() == ["webhook.ping"]
    with rls.scoped(organization_id=tenant_a.organization.pk):
        emit(organization_id=tenant_a.organization.pk, type="task.created", data={"id": "kept"})
    assert len(queued_job_arguments()) == jobs_before + 1
    assert _events() == ["webhook.ping", "task.created"]
