"""On PostgreSQL the app role can add audit events and read them, nothing more; appends never fork.

Two walls (taskhub/audit/database.py): the app role's grants (SELECT and INSERT only, whatever
``migrate`` granted on every other table), and a trigger that refuses UPDATE to every role but
the table's owner and DELETE or TRUNCATE to every role but the owner and, in a transaction of the
retention purge, the platform role. Each wall is tested alone: the trigger with the grants
given back by mistake.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction

from conftest import REQUEST_ROLE, as_app_role, connect_as
from taskhub.audit import chain
from taskhub.audit.database import PURGE_SETTING
from taskhub.audit.models import AuditEvent
from taskhub.audit.services import audit_record
from taskhub.core import dbroles, rls
from taskhub.core.actor import Actor

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="grants, triggers and roles are PostgreSQL's")

REFUSALS = [
    "UPDATE audit_auditevent SET target_label = 'forged'",
    "DELETE FROM audit_auditevent",
    "TRUNCATE audit_auditevent",
]


def event(organization, action: str = "x.done") -> AuditEvent:
    return audit_record(
        organization_id=organization.pk, actor=Actor(user_id=None, label="t"), action=action, target=organization
    )


def privileges(role: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE table_name = 'audit_auditevent' AND grantee = %s",
            [role],
        )
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.django_db
def test_the_app_role_may_only_select_and_insert_audit_events():
    names = dbroles.role_names()

    assert privileges(names["app"]) == {"SELECT", "INSERT"}
    # The platform role keeps DELETE and TRUNCATE for the purge (and flush), which the trigger guards.
    assert privileges(names["platform"]) == {"SELECT", "INSERT", "DELETE", "TRUNCATE"}


@pytest.mark.django_db
@pytest.mark.parametrize("sql", REFUSALS)
def test_the_app_role_cannot_change_or_remove_an_event(tenant_a, sql):
    event(tenant_a.organization)
    with as_app_role(), transaction.atomic():
        rls.set_context(organization_id=tenant_a.organization.pk)
        # It reads and appends like any request...
        assert AuditEvent.objects.count() == 1
        event(tenant_a.organization, "x.again")
        # ...and is refused anything else, before row-level security is even asked.
        with pytest.raises(DatabaseError, match="permission denied for table audit_auditevent"), transaction.atomic():
            connection.cursor().execute(sql)
    assert AuditEvent.objects.filter(organization=tenant_a.organization).count() == 2
    assert chain.verify(tenant_a.organization.pk).ok


@pytest.fixture
def grants_given_back() -> Iterator[None]:
    """The mistake the trigger is for: UPDATE, DELETE and TRUNCATE granted to the app role again."""
    app = connection.ops.quote_name(dbroles.role_names()["app"])
    owner_credentials = settings.DATABASE_MIGRATION_CREDENTIALS
    assert owner_credentials, "the PostgreSQL suite runs with the three roles"
    with connect_as(owner_credentials) as owner:
        owner.execute(f"GRANT UPDATE, DELETE, TRUNCATE ON audit_auditevent TO {app}")
        try:
            yield
        finally:
            owner.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_auditevent FROM {app}")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("sql", REFUSALS)
def test_the_trigger_refuses_the_app_role_even_with_the_grants(tenant_a, grants_given_back, sql):
    event(tenant_a.organization)
    with as_app_role(), transaction.atomic():
        rls.set_context(organization_id=tenant_a.organization.pk)
        # Even the purge's setting, which the app role can set, opens nothing to it.
        connection.cursor().execute("SELECT set_config(%s, 'on', true)", [PURGE_SETTING])
        with pytest.raises(DatabaseError, match="audit events are append-only"), transaction.atomic():
            connection.cursor().execute(sql)
    assert AuditEvent.objects.filter(organization=tenant_a.organization).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_platform_role_deletes_only_in_a_purge_and_never_updates(tenant_a):
    event(tenant_a.organization)
    # The suite runs as the platform role between requests (conftest.py).
    with pytest.raises(DatabaseError, match="append-only: DELETE refused"), transaction.atomic():
        AuditEvent.objects.all().delete()
    with transaction.atomic():
        connection.cursor().execute("SELECT set_config(%s, 'on', true)", [PURGE_SETTING])
        # Not granted to it at all (and the trigger would refuse it).
        with pytest.raises(DatabaseError, match="permission denied for table audit_auditevent"), transaction.atomic():
            AuditEvent.objects.update(target_label="forged")
        assert AuditEvent.objects.all().delete()[0] == 1
    # The setting was the transaction's only: the next one is refused again.
    event(tenant_a.organization)
    with pytest.raises(DatabaseError, match="append-only: DELETE refused"), transaction.atomic():
        AuditEvent.objects.all().delete()


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_of_one_organization_leave_one_linear_chain(tenant_a):
    """Threads, each its own connection as the app role in the organization's context, append at once."""
    threads, each = 6, 15
    start = threading.Barrier(threads)
    failures: list[BaseException] = []
    organization_id = tenant_a.organization.pk

    def writer(number: int) -> None:
        try:
            own = connections["default"]
            own.ensure_connection()
            with own.cursor() as cursor:
                cursor.execute(f"SET ROLE {own.ops.quote_name(REQUEST_ROLE)}")
            start.wait(timeout=30)
            for i in range(each):
                with transaction.atomic():
                    rls.set_context(organization_id=organization_id)
                    audit_record(
                        organization_id=organization_id,
                        actor=Actor(user_id=None, label=f"writer {number}"),
                        action="x.concurrent",
                        target=tenant_a.organization,
                        changes={"i": [None, i]},
                    )
        except BaseException as exc:  # noqa: BLE001 - reported below, in the test's thread
            failures.append(exc)
        finally:
            connections["default"].close()

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)

    assert failures == []
    rows = list(
        AuditEvent.objects.filter(organization_id=organization_id).order_by("seq").values_list("seq", "created_at")
    )
    assert [seq for seq, _ in rows] == list(range(1, threads * each + 1))
    assert [at for _, at in rows] == sorted(at for _, at in rows)
    verified = chain.verify(organization_id)
    assert (verified.ok, verified.count) == (True, threads * each)
    # Every writer got its turn: the lock serialized them, it did not starve one.
    labels = set(AuditEvent.objects.filter(organization_id=organization_id).values_list("actor_label", flat=True))
    assert labels == {f"writer {n}" for n in range(threads)}
