"""The attacker's side of the wall: SQL run with the app's own credentials inside a request of A.

Whatever SQL injection, a leaked ``DB_PASSWORD`` or a bug in a raw query could send, it runs
as the app role, in some request's transaction. Here it is sent over a real login of that role
(not the suite's platform connection), after the app's own code path entered organization A's
context. Each attack is refused, or sees none of B's rows; B's rows are unchanged afterwards.
The data is committed (``transaction=True``) because the attacker's connection is another session.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from conftest import connect_as
from taskhub.core import dbroles, rls
from tests.support.servers import REPO, child_environment

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the database wall is PostgreSQL's"),
    pytest.mark.django_db(transaction=True),
]


@contextlib.contextmanager
def request_of(organization_id: Any) -> Iterator[Any]:
    """A transaction of the app role that the app's own code entered in ``organization_id``."""
    with (
        connect_as(settings.TEST_APP_CREDENTIALS, application_name="taskhub-attacker") as session,
        session.transaction(),
    ):
        # As rls.set_context does it: the signed context as bound parameters.
        session.execute(rls.ENTER_SQL, rls.context_parameters(organization_id))
        yield session


def attempt(session: Any, sql: str, parameters: Any = None) -> Any:
    """Run one statement in a savepoint; return its rows, or the error that refused it."""
    import psycopg  # noqa: PLC0415

    try:
        with session.transaction():
            cursor = session.execute(sql, parameters)
            return cursor.fetchall() if cursor.description else cursor.rowcount
    except psycopg.Error as exc:
        return exc


def refused(result: Any) -> bool:
    import psycopg  # noqa: PLC0415

    return isinstance(result, psycopg.Error)


def visible_projects(session: Any) -> set[str]:
    return {str(row[0]) for row in session.execute("SELECT organization_id FROM projects_project").fetchall()}


@pytest.fixture
def wall(tenant_a, tenant_b, clients_a, clients_b) -> dict[str, Any]:
    """A and B, each with a project, committed; what B has, to compare with afterwards."""
    # The product's fixtures key clients by role; "admin" is the role's value (core imports no app).
    for clients, name in ((clients_a, "Alpha plans"), (clients_b, "Bravo secret plans")):
        reply = clients["admin"].post("/api/v1/projects/", {"key": "WALL", "name": name})
        assert reply.status_code == 201, reply.content
    a, b = str(tenant_a.organization.pk), str(tenant_b.organization.pk)
    return {"a": a, "b": b, "b_before": snapshot(b), "a_owner": str(tenant_a.owner.pk)}


def snapshot(organization_id: str) -> list[tuple[Any, ...]]:
    """B's rows as the platform sees them (the suite's own connection bypasses RLS)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, name, key, updated_at FROM projects_project WHERE organization_id = %s ORDER BY id",
            [organization_id],
        )
        return cursor.fetchall()


def test_the_entered_context_shows_a_and_only_a(wall):
    with request_of(wall["a"]) as session:
        assert visible_projects(session) == {wall["a"]}
        assert session.execute("SELECT current_user").fetchone()[0] == settings.TEST_APP_CREDENTIALS["USER"]


def test_setting_another_organization_by_hand_shows_nothing(wall):
    with request_of(wall["a"]) as session:
        for statement in (
            "SELECT set_config('taskhub.organization_id', %s, true)",
            "SELECT set_config('app.organization_id', %s, true)",
            "SELECT set_config('app.bypass_rls', 'on', true), %s",
        ):
            attempt(session, statement, [wall["b"]])
            assert wall["b"] not in visible_projects(session), statement
        # The seal no longer matches the settings: not even A is visible now.
        assert visible_projects(session) == set()
    assert snapshot(wall["b"]) == wall["b_before"]


def test_entering_b_without_the_key_is_refused(wall):
    now = int(time.time() * 1000)
    with request_of(wall["a"]) as session:
        forged = rls.context_parameters(wall["b"], key=b"a guess at the key".ljust(32, b"\0"))
        assert refused(attempt(session, rls.ENTER_SQL, forged))
        assert refused(attempt(session, rls.ENTER_SQL, [wall["b"], "", "", "", now, ""]))
        # The pieces that would let it sign or seal on its own are out of reach.
        assert refused(attempt(session, f"SELECT * FROM {rls.SCHEMA}.key"))  # noqa: S608
        callable_functions = attempt(
            session,
            "SELECT p.proname FROM pg_proc p WHERE p.pronamespace = %s::regnamespace "
            "AND has_function_privilege(current_user, p.oid, 'EXECUTE') ORDER BY 1",
            [rls.SCHEMA],
        )
        assert [name for (name,) in callable_functions] == sorted(
            ["enter", "verified", "organization_id", "user_id", "api_key_prefix", "invitation_token_hash"]
        )
        assert wall["b"] not in visible_projects(session)


def test_a_token_older_than_the_limit_is_refused_even_with_the_right_key(wall):
    with request_of(wall["a"]) as session:
        stale = rls.context_parameters(wall["b"], issued_at_ms=int(time.time() * 1000) - rls.TOKEN_MAX_AGE_MS - 5000)
        assert "too old" in str(attempt(session, rls.ENTER_SQL, stale))
        assert wall["b"] not in visible_projects(session)


def test_ddl_that_would_lower_the_wall_is_refused(wall):
    with request_of(wall["a"]) as session:
        for statement in (
            "ALTER TABLE projects_project NO FORCE ROW LEVEL SECURITY",
            "ALTER TABLE projects_project DISABLE ROW LEVEL SECURITY",
            "DROP POLICY tenant_isolation ON projects_project",
            "CREATE POLICY open_door ON projects_project USING (true)",
            "ALTER POLICY tenant_isolation ON projects_project USING (true)",
            "TRUNCATE projects_project",
            "CREATE TABLE public.stash (x text)",
            f"CREATE OR REPLACE FUNCTION {rls.SCHEMA}.organization_id() RETURNS uuid "
            "LANGUAGE sql AS 'SELECT NULL::uuid'",
            "DROP TRIGGER taskhub_guard_user_privileges ON accounts_user",
            "ALTER ROLE CURRENT_USER BYPASSRLS",
            "INSERT INTO django_migrations (app, name, applied) VALUES ('x', 'y', now())",
        ):
            assert refused(attempt(session, statement)), statement
        assert visible_projects(session) == {wall["a"]}
    assert snapshot(wall["b"]) == wall["b_before"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT relforcerowsecurity FROM pg_class WHERE relname = 'projects_project'")
        assert cursor.fetchone()[0] is True


def test_writes_into_b_change_nothing(wall):
    with request_of(wall["a"]) as session:
        assert (
            attempt(session, "UPDATE projects_project SET name = 'owned' WHERE organization_id = %s", [wall["b"]]) == 0
        )
        assert attempt(session, "DELETE FROM projects_project WHERE organization_id = %s", [wall["b"]]) == 0
        moved = attempt(session, "UPDATE projects_project SET organization_id = %s", [wall["b"]])
        assert refused(moved), "moving A's rows into B must break the policy's WITH CHECK"
    assert snapshot(wall["b"]) == wall["b_before"]


def test_no_one_becomes_staff_or_superuser_through_the_app_role(wall):
    with request_of(wall["a"]) as session:
        for statement in (
            "UPDATE accounts_user SET is_superuser = true WHERE id = %s",
            "UPDATE accounts_user SET is_staff = true WHERE id = %s",
        ):
            assert "is_superuser/is_staff" in str(attempt(session, statement, [wall["a_owner"]])), statement
        inserted = attempt(
            session,
            "INSERT INTO accounts_user (id, password, is_superuser, username, first_name, last_name, email, "
            "is_staff, is_active, date_joined) VALUES (gen_random_uuid(), 'x', true, 'mallory', '', '', "
            "'m@example.com', true, true, now())",
        )
        assert refused(inserted)
        # Ordinary changes of a user still work for the app.
        assert attempt(session, "UPDATE accounts_user SET last_name = 'Lovelace' WHERE id = %s", [wall["a_owner"]]) == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM accounts_user WHERE is_superuser OR is_staff")
        assert cursor.fetchone()[0] == 0


def test_the_app_role_cannot_become_the_platform_or_the_owner(wall):
    names = dbroles.role_names()
    with request_of(wall["a"]) as session:
        for role in (names["platform"], names["owner"], "postgres"):
            assert refused(attempt(session, f'SET ROLE "{role}"')), role
            assert refused(attempt(session, f'SET SESSION AUTHORIZATION "{role}"')), role
        assert wall["b"] not in visible_projects(session)


def test_what_pg_stat_activity_shows_of_a_concurrent_request_of_b_is_worth_nothing(wall):
    """B's request, captured mid-flight: neither its SQL nor its context can be reused."""
    b_entered, b_may_finish = threading.Event(), threading.Event()
    b_seal: dict[str, str] = {}

    def request_of_b() -> None:
        with request_of(wall["b"]) as session:
            # Something of B's in the query text, and B's seal, as a leak would show them.
            session.execute("SELECT name FROM projects_project WHERE name = 'Bravo secret plans'")
            b_seal["seal"] = session.execute("SELECT current_setting('taskhub.seal')").fetchone()[0]
            b_entered.set()
            b_may_finish.wait(timeout=20)

    thread = threading.Thread(target=request_of_b)
    thread.start()
    try:
        assert b_entered.wait(timeout=20)
        with request_of(wall["a"]) as session:
            seen = session.execute(
                "SELECT coalesce(query, '') FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND usename = current_user AND datname = current_database()"
            ).fetchall()
            texts = [row[0] for row in seen]
            assert texts, "B's session should be listed"
            # track_activities is off for the app role (setup_database_roles): no statement text of B.
            assert not any("Bravo" in text or "taskhub_rls" in text for text in texts), texts
            for text in texts:
                if text.strip():
                    attempt(session, text)
            # Even a leaked seal of B's is bound to B's backend and transaction.
            attempt(session, "SELECT set_config('taskhub.organization_id', %s, true)", [wall["b"]])
            attempt(session, "SELECT set_config('taskhub.seal', %s, true)", [b_seal["seal"]])
            assert wall["b"] not in visible_projects(session)
    finally:
        b_may_finish.set()
        thread.join(timeout=20)
    assert snapshot(wall["b"]) == wall["b_before"]


def test_platform_paths_go_through_the_platform_role_and_see_every_tenant(wall):
    """A management command run with the production variables: bypass() uses the platform alias."""
    app = settings.TEST_APP_CREDENTIALS
    environment = child_environment(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        SECRET_KEY=settings.SECRET_KEY,
        DB_NAME=connection.settings_dict["NAME"],
        DB_HOST=str(app.get("HOST") or ""),
        DB_PORT=str(app.get("PORT") or "5432"),
        DB_USER=str(app["USER"]),
        DB_PASSWORD=str(app.get("PASSWORD") or ""),
        DB_PLATFORM_USER=dbroles.role_names()["platform"],
        DB_PLATFORM_PASSWORD=os.environ.get("DB_PLATFORM_PASSWORD", ""),
    )
    script = (
        "from django.db import connections\n"
        "from taskhub.core import rls\n"
        "from taskhub.projects.models import Project\n"
        "with rls.bypass('test'):\n"
        "    print(sorted({str(o) for o in Project.objects.values_list('organization_id', flat=True)}))\n"
        "    with connections['platform'].cursor() as c:\n"
        "        c.execute('SELECT current_user'); print(c.fetchone()[0])\n"
        "print(Project.objects.count())\n"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip() and "objects imported" not in line]
    assert lines[-3] == str(sorted([wall["a"], wall["b"]]))
    assert lines[-2] == dbroles.role_names()["platform"]
    # Outside bypass(), the app role with no tenant context sees no project at all.
    assert lines[-1] == "0"
