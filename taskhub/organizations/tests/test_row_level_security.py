"""Layer 2: PostgreSQL itself keeps tenants apart, whatever SQL the application sends.

Runs as the application's own role (the suite refuses a superuser), with raw SQL.
"""

import uuid

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client

from taskhub.core import rls
from taskhub.organizations.checks import check_row_level_security
from taskhub.organizations.export import tenant_models
from taskhub.organizations.roles import Role

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="row-level security is PostgreSQL's")


def tables():
    return [model._meta.db_table for model in tenant_models()]


def count(table, organization_id):
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{table}" WHERE organization_id = %s', [organization_id])  # noqa: S608
        return cursor.fetchone()[0]


def total(table):
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608
        return cursor.fetchone()[0]


@pytest.fixture
def two_tenants_with_rows(tenant_a, tenant_b, clients_a, clients_b):
    """Put a row in every tenant table of both organizations, through the API."""
    for clients in (clients_a, clients_b):
        admin = clients[Role.ADMIN]
        assert admin.post("/api/v1/api-keys/", {"name": "ci", "role": "viewer"}).status_code == 201
        assert admin.post("/api/v1/invitations/", {"email": "guest@example.com", "role": "viewer"}).status_code == 201
        project = admin.post("/api/v1/projects/", {"key": "ISO", "name": "Isolation"})
        assert project.status_code == 201, project.content
        task = admin.post("/api/v1/tasks/", {"project": project.json()["id"], "title": "Stay inside"})
        assert task.status_code == 201, task.content
    return tenant_a, tenant_b


@pytest.mark.django_db
def test_every_tenant_table_has_forced_rls_and_the_check_passes():
    assert {"organizations_membership", "organizations_invitation", "accounts_apikey", "audit_auditevent"} <= set(
        tables()
    )
    assert rls.unprotected_tables(tables()) == []
    assert check_row_level_security(databases=["default"]) == []


@pytest.mark.django_db
def test_the_check_fails_for_a_tenant_table_without_forced_rls():
    with connection.cursor() as cursor:
        cursor.execute('ALTER TABLE "audit_auditevent" NO FORCE ROW LEVEL SECURITY')
    errors = check_row_level_security(databases=["default"])
    assert [error.id for error in errors] == ["taskhub.E001"]
    assert "audit.AuditEvent" in errors[0].msg


@pytest.mark.django_db
def test_with_organization_a_set_rows_of_b_cannot_be_read_changed_or_deleted(two_tenants_with_rows):
    tenant_a, tenant_b = two_tenants_with_rows
    a, b = tenant_a.organization.pk, tenant_b.organization.pk
    with transaction.atomic():
        rls.set_context(organization_id=a)
        for table in tables():
            assert count(table, a) > 0, table
            assert count(table, b) == 0, table
            with connection.cursor() as cursor:
                cursor.execute(f'UPDATE "{table}" SET organization_id = %s WHERE organization_id = %s', [a, b])  # noqa: S608
                assert cursor.rowcount == 0, table
                cursor.execute(f'DELETE FROM "{table}" WHERE organization_id = %s', [b])  # noqa: S608
                assert cursor.rowcount == 0, table
    rls.set_context(bypass=True)
    for table in tables():
        assert count(table, b) > 0, f"{table}: B's rows must be untouched"


@pytest.mark.django_db
def test_with_organization_a_set_a_row_cannot_be_written_into_b(two_tenants_with_rows):
    tenant_a, tenant_b = two_tenants_with_rows
    with transaction.atomic():
        rls.set_context(organization_id=tenant_a.organization.pk)
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic(), connection.cursor() as c:
            c.execute(
                "UPDATE audit_auditevent SET organization_id = %s WHERE organization_id = %s",
                [tenant_b.organization.pk, tenant_a.organization.pk],
            )
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic(), connection.cursor() as c:
            c.execute(
                "INSERT INTO organizations_membership (id, created_at, updated_at, role, token_version, "
                "organization_id, user_id) VALUES (%s, now(), now(), 'owner', 1, %s, %s)",
                [uuid.uuid4(), tenant_b.organization.pk, tenant_a.owner.pk],
            )


@pytest.mark.django_db
@pytest.mark.parametrize("value", [None, ""])
def test_with_nothing_set_no_row_is_visible(two_tenants_with_rows, value):
    with transaction.atomic():
        rls.set_context()
        if value is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('app.organization_id', %s, true)", [value])
        for table in tables():
            assert total(table) == 0, table


@pytest.mark.django_db
def test_a_user_sees_own_memberships_in_every_organization_but_nobody_elses(two_tenants_with_rows, tenant_b):
    tenant_a, _ = two_tenants_with_rows
    from taskhub.organizations.models import Membership  # noqa: PLC0415

    Membership.objects.create(organization=tenant_b.organization, user=tenant_a.owner, role=Role.VIEWER)
    with transaction.atomic():
        rls.set_context(user_id=tenant_a.owner.pk)
        assert total("organizations_membership") == 2
        assert total("audit_auditevent") == 0


@pytest.mark.django_db(transaction=True)
def test_the_tenant_setting_ends_with_the_transaction_even_after_an_error(tenant_a, clients_a):
    """On a persistent connection, nothing of one request's tenant is left for the next."""
    organization_id = str(tenant_a.organization.pk)
    assert clients_a[Role.VIEWER].get("/api/v1/members/").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(current_setting('app.organization_id', true), '')")
        assert cursor.fetchone()[0] == ""
    try:
        with transaction.atomic():
            rls.set_context(organization_id=organization_id)
            raise RuntimeError("request failed halfway")
    except RuntimeError:
        pass
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(current_setting('app.organization_id', true), '')")
        assert cursor.fetchone()[0] == ""
        cursor.execute("SELECT count(*) FROM organizations_membership")
        assert cursor.fetchone()[0] == 0


@pytest.mark.django_db(transaction=True)
def test_set_context_refuses_to_run_outside_a_transaction():
    # In autocommit the value would be gone before the next statement: refuse instead.
    with pytest.raises(RuntimeError, match="outside a transaction"):
        rls.set_context(organization_id=uuid.uuid4())


@pytest.mark.django_db(transaction=True)
def test_staff_see_every_tenant_in_the_admin_and_only_there(tenant_a, tenant_b):
    from taskhub.accounts.models import User  # noqa: PLC0415

    User.objects.create_superuser(username="root", email="root@example.com", password="a-strong-pass-42")
    client = Client()
    client.force_login(User.objects.get(username="root"))
    page = client.get("/admin/organizations/membership/").content.decode()
    assert "owner-a" in page
    assert "owner-b" in page
    # The same staff session gets nothing through the API: it holds no tenant token.
    assert client.get("/api/v1/members/").status_code == 401


@pytest.mark.django_db
def test_the_check_ignores_tables_that_migrate_has_not_created_yet():
    assert rls.unprotected_tables(["no_such_table", "audit_auditevent"]) == []
