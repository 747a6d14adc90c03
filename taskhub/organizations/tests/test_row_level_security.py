"""Layer 2: PostgreSQL itself keeps tenants apart, whatever SQL the application sends.

Runs as the application's own role (``as_app_role``: the suite is the platform role between
requests), with raw SQL. The attacker's side, SQL that tries to lower or forge the wall, is
taskhub/core/tests/test_tenant_wall.py.
"""

import json
import uuid

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.test import Client

from conftest import REQUEST_ROLE, as_app_role, connect_as
from taskhub.core import dbroles, rls
from taskhub.tenancy.checks import check_row_level_security
from taskhub.tenancy.registry import tenant_models
from taskhub.tenancy.roles import Role
from tests.support.isolation import populate_the_rest

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="row-level security is PostgreSQL's")


def tables():
    return [model._meta.db_table for model in tenant_models()]


def append_only():
    """Tables the app role may only read and insert into (the audit log: taskhub/audit/database.py)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgrelid::regclass::text FROM pg_trigger WHERE tgname = %s", [dbroles.APPEND_ONLY_TRIGGER]
        )
        return {row[0] for row in cursor.fetchall()}


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
    for tenant, clients in ((tenant_a, clients_a), (tenant_b, clients_b)):
        admin = clients[Role.ADMIN]
        assert admin.post("/api/v1/api-keys/", {"name": "ci", "role": "viewer"}).status_code == 201
        assert admin.post("/api/v1/invitations/", {"email": "guest@example.com", "role": "viewer"}).status_code == 201
        # With an Idempotency-Key: its record is a tenant row too (taskhub.tenancy.idempotency).
        project = admin.post("/api/v1/projects/", {"key": "ISO", "name": "Isolation"}, HTTP_IDEMPOTENCY_KEY="iso")
        assert project.status_code == 201, project.content
        task = admin.post("/api/v1/tasks/", {"project": project.json()["id"], "title": "Stay inside"})
        assert task.status_code == 201, task.content
        # An export: owners only, written by a job (inline in the tests).
        assert clients[Role.OWNER].post("/api/v1/organization/exports/").status_code == 202
        # Every other tenant table (a resource added later, comments under the task), from its create route.
        populate_the_rest(admin, str(tenant.users[Role.MEMBER].pk))
    return tenant_a, tenant_b


@pytest.mark.django_db
def test_every_tenant_table_has_forced_rls_and_the_check_passes():
    assert {"organizations_membership", "organizations_invitation", "accounts_apikey", "audit_auditevent"} <= set(
        tables()
    )
    assert rls.unprotected_tables(tables()) == []
    assert check_row_level_security(databases=["default"]) == []


@pytest.mark.django_db(transaction=True)
def test_the_check_fails_for_a_tenant_table_without_forced_rls():
    # Only the owner can do this; the app's role cannot (test_tenant_wall.py).
    with connect_as(settings.DATABASE_MIGRATION_CREDENTIALS) as owner:
        owner.execute('ALTER TABLE "audit_auditevent" NO FORCE ROW LEVEL SECURITY')
        try:
            errors = check_row_level_security(databases=["default"])
        finally:
            owner.execute('ALTER TABLE "audit_auditevent" FORCE ROW LEVEL SECURITY')
    assert [error.id for error in errors] == ["taskhub.E001"]
    assert "audit.AuditEvent" in errors[0].msg
    assert check_row_level_security(databases=["default"]) == []


@pytest.mark.django_db
def test_with_organization_a_set_rows_of_b_cannot_be_read_changed_or_deleted(two_tenants_with_rows):
    tenant_a, tenant_b = two_tenants_with_rows
    a, b = tenant_a.organization.pk, tenant_b.organization.pk
    read_only = append_only()
    with as_app_role(), transaction.atomic():
        rls.set_context(organization_id=a)
        for table in tables():
            assert count(table, a) > 0, table
            assert count(table, b) == 0, table
            for sql in (
                f'UPDATE "{table}" SET organization_id = %s WHERE organization_id = %s',  # noqa: S608
                f'DELETE FROM "{table}" WHERE organization_id = %s AND organization_id <> %s',  # noqa: S608
            ):
                if table in read_only:
                    # Refused before row-level security is even asked: the app may not change these rows at all.
                    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
                        connection.cursor().execute(sql, [a, b])
                    continue
                with connection.cursor() as cursor:
                    cursor.execute(sql, [a, b] if sql.startswith("UPDATE") else [b, a])
                    assert cursor.rowcount == 0, table
    # Back to the platform role: B's rows are all still there.
    for table in tables():
        assert count(table, b) > 0, f"{table}: B's rows must be untouched"


@pytest.mark.django_db
def test_with_organization_a_set_a_row_cannot_be_written_into_b(two_tenants_with_rows):
    tenant_a, tenant_b = two_tenants_with_rows
    with as_app_role(), transaction.atomic():
        rls.set_context(organization_id=tenant_a.organization.pk)
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic(), connection.cursor() as c:
            c.execute(
                "UPDATE projects_project SET organization_id = %s WHERE organization_id = %s",
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
    with as_app_role(), transaction.atomic():
        rls.set_context()
        if value is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('taskhub.organization_id', %s, true)", [value])
        for table in tables():
            assert total(table) == 0, table


@pytest.mark.django_db
def test_a_user_sees_own_memberships_in_every_organization_but_nobody_elses(two_tenants_with_rows, tenant_b):
    tenant_a, _ = two_tenants_with_rows
    from taskhub.organizations.models import Membership  # noqa: PLC0415

    Membership.objects.create(organization=tenant_b.organization, user=tenant_a.owner, role=Role.VIEWER)
    with as_app_role(), transaction.atomic():
        rls.set_context(user_id=tenant_a.owner.pk)
        assert total("organizations_membership") == 2
        assert total("audit_auditevent") == 0


@pytest.mark.django_db(transaction=True)
def test_the_tenant_setting_ends_with_the_transaction_even_after_an_error(tenant_a, clients_a):
    """On a persistent connection, nothing of one request's tenant is left for the next."""
    organization_id = str(tenant_a.organization.pk)
    assert clients_a[Role.VIEWER].get("/api/v1/members/").status_code == 200
    with as_app_role():
        with connection.cursor() as cursor:
            cursor.execute("SELECT taskhub_rls.organization_id()")
            assert cursor.fetchone()[0] is None
        try:
            with transaction.atomic():
                rls.set_context(organization_id=organization_id)
                raise RuntimeError("request failed halfway")
        except RuntimeError:
            pass
        with connection.cursor() as cursor:
            cursor.execute("SELECT taskhub_rls.organization_id()")
            assert cursor.fetchone()[0] is None
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


@pytest.mark.django_db
def test_every_tenant_policy_is_in_the_current_form():
    """The verified_context migrations rewrote every policy: the verified context, no bypass branch."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, qual, with_check FROM pg_policies "
            "WHERE schemaname = current_schema() AND policyname = 'tenant_isolation'"
        )
        policies = {table: (qual, check) for table, qual, check in cursor.fetchall()}
    assert set(policies) == set(tables())
    for table, (raw_qual, raw_check) in policies.items():
        # PostgreSQL prints the expression back laid out over lines.
        qual, check = " ".join(raw_qual.split()), " ".join(raw_check.split())
        assert (
            qual.removeprefix("CASE WHEN (")
            .removeprefix("(")
            .startswith("organization_id = ( SELECT taskhub_rls.organization_id()")
        ), qual
        assert check.startswith("CASE WHEN (organization_id = ( SELECT taskhub_rls.organization_id()"), (table, check)
        # No branch of any policy reads a setting the app's role could write.
        assert "current_setting" not in qual + check, table
        assert "bypass" not in qual + check, table


ORGANIZATIONS, ROWS_EACH = 20, 200


@pytest.fixture
def policy_table():
    """A table of ORGANIZATIONS x ROWS_EACH rows under a tenant policy in the form asked, analyzed."""

    def make(form):
        visible, writable = rls.policy_conditions(form=form)
        with connection.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE policy_probe (organization_id uuid NOT NULL, n int NOT NULL)")
            cursor.execute("CREATE INDEX ON policy_probe (organization_id, n)")
            cursor.execute(
                "INSERT INTO policy_probe SELECT md5((i %% %s)::text)::uuid, i FROM generate_series(1, %s) i",
                [ORGANIZATIONS, ORGANIZATIONS * ROWS_EACH],
            )
            cursor.execute("ANALYZE policy_probe")
            cursor.execute("ALTER TABLE policy_probe ENABLE ROW LEVEL SECURITY")
            cursor.execute("ALTER TABLE policy_probe FORCE ROW LEVEL SECURITY")
            cursor.execute(f"CREATE POLICY probe ON policy_probe USING ({visible}) WITH CHECK ({writable})")
            if REQUEST_ROLE:
                cursor.execute(f"GRANT ALL ON policy_probe TO {connection.ops.quote_name(REQUEST_ROLE)}")
            cursor.execute("SELECT md5('1')::uuid, md5('2')::uuid")
            return cursor.fetchone()

    return make


def probe(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def enter(organization_id, form):
    """Set the context the way policies of ``form`` read it (form 1 read a plain setting)."""
    if form == 1:
        probe("SELECT set_config('app.organization_id', %s, true)", [str(organization_id or "")])
    else:
        rls.set_context(organization_id=organization_id)


def probe_as(organization_id, sql, params=(), form=rls.POLICY_FORM):
    with as_app_role(), transaction.atomic():
        enter(organization_id, form)
        return probe(sql, params)


@pytest.mark.django_db
@pytest.mark.parametrize("form", [1, 3])
def test_each_policy_form_lets_the_same_rows_through(policy_table, form):
    mine, other = policy_table(form)
    with as_app_role(), transaction.atomic():
        enter(mine, form)
        assert probe("SELECT DISTINCT organization_id FROM policy_probe") == [(mine,)]
        assert probe("SELECT count(*) FROM policy_probe") == [(ROWS_EACH,)]
        assert probe("UPDATE policy_probe SET n = n WHERE organization_id = %s RETURNING n", [other]) == []
    with pytest.raises(DatabaseError, match="row-level security"):
        probe_as(mine, "INSERT INTO policy_probe VALUES (%s, 0) RETURNING n", [other], form)
    with pytest.raises(DatabaseError, match="row-level security"):
        probe_as(
            mine,
            "UPDATE policy_probe SET organization_id = %s WHERE organization_id = %s RETURNING n",
            [other, mine],
            form,
        )
    with as_app_role(), transaction.atomic():
        enter("", form)
        assert probe("SELECT count(*) FROM policy_probe") == [(0,)]
    # The platform role (BYPASSRLS) is the only way to every row.
    assert probe("SELECT count(*) FROM policy_probe") == [(ORGANIZATIONS * ROWS_EACH,)]


def estimated_rows(organization_id, form=rls.POLICY_FORM):
    ((plan,),) = probe_as(
        organization_id,
        "EXPLAIN (FORMAT JSON) SELECT * FROM policy_probe WHERE organization_id = %s ORDER BY n",
        [organization_id],
        form,
    )
    plan = plan if isinstance(plan, list) else json.loads(plan)
    return plan[0]["Plan"]["Plan Rows"]


@pytest.mark.django_db
def test_the_policy_leaves_the_planner_estimate_of_a_tenant_query_within_2x(policy_table):
    """PostgreSQL multiplies the policy's selectivity into the query's own organization filter.

    Form 1's ``tenant OR bypass`` is rated about 1/organizations + 0.005, so with 20
    organizations a 200-row query is estimated at ~11 rows (and at a million rows a deep page
    was planned as a sort of 25,000 rows; docs/benchmarks.md). The CASE of forms 2 and 3 is rated 0.5.
    """
    mine, _ = policy_table(rls.POLICY_FORM)
    # 0.5 of 200 is exactly 100 here (every row sampled); the margin only guards the rounding.
    assert 0.4 * ROWS_EACH <= estimated_rows(mine) <= ROWS_EACH


@pytest.mark.django_db
def test_the_old_policy_form_underestimates_which_is_what_the_test_above_catches(policy_table):
    mine, _ = policy_table(1)
    assert estimated_rows(mine, form=1) < ROWS_EACH / 10
