"""Fixtures shared by every app's tests: two organizations, a user per role in each, clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import connection, connections
from django.db.backends.signals import connection_created
from rest_framework.test import APIClient

from taskhub.accounts.models import User
from taskhub.accounts.tokens import token_pair
from taskhub.core import dbroles, rls
from taskhub.organizations.models import Membership, Organization
from taskhub.tenancy.roles import Role
from tests.support import round_trips

# Every audit event the suite writes is checked for the secrets it handled (tests/support/audit_secrets.py).
pytest_plugins = ["tests.support.audit_secrets"]

PASSWORD = "correct-horse-battery-9"
# Statements a tenant request adds around its own queries inside a test's transaction:
# SAVEPOINT and RELEASE (BEGIN and COMMIT in production), plus the RLS set_config on PostgreSQL.
TENANT_REQUEST_OVERHEAD = 3 if connection.vendor == "postgresql" else 2


@dataclass
class Tenant:
    """An organization with one user per role."""

    organization: Organization
    users: dict[Role, User] = field(default_factory=dict)
    memberships: dict[Role, Membership] = field(default_factory=dict)

    @property
    def owner(self) -> User:
        return self.users[Role.OWNER]


# ``make test`` runs the suite in pytest-xdist workers, a module to a worker (--dist loadfile: a
# module's fixtures, like the end-to-end tests' private servers, start once), in collection
# order (--no-loadscope-reorder). These modules take the longest (a minute or more in CI's
# PostgreSQL pass): they start first, so no worker is left running one of them alone at the end.
SLOW_MODULES_FIRST = (
    "taskhub/core/tests/test_schemathesis_e2e.py",
    "taskhub/core/tests/test_nginx_e2e.py",
    "taskhub/organizations/tests/test_isolation_walk.py",
    "taskhub/organizations/tests/test_migrations_reversible.py",
    "tests/test_backup_restore.py",
    "taskhub/organizations/tests/test_pgbouncer_e2e.py",
    "taskhub/core/tests/test_swagger_ui_browser.py",
    "taskhub/core/tests/test_degradation.py",
    "taskhub/core/tests/test_compose_roles.py",
    "taskhub/accounts/tests/test_readme_walkthrough.py",
    "taskhub/core/tests/test_security_headers.py",
    "taskhub/organizations/tests/test_isolation_properties.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the tests of ``SLOW_MODULES_FIRST`` first, in that order; the rest keep theirs."""
    first = {module: rank for rank, module in enumerate(SLOW_MODULES_FIRST)}
    items.sort(key=lambda item: first.get(item.nodeid.split("::", 1)[0], len(first)))


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _raw(sql: str, parameters: list[object] | None = None) -> None:
    """Run ``sql`` on the test's connection without being counted as a query (or as a round trip)."""
    with round_trips.uncounted(), connection.connection.cursor() as cursor:
        cursor.execute(sql, parameters or [])


def _connected() -> bool:
    """Open the test's connection if this test may use the database; False when it may not."""
    try:
        connection.ensure_connection()
    except RuntimeError:  # pytest-django: this test has no database access
        return False
    return True


REQUEST_ROLE = settings.TEST_REQUEST_ROLE if connection.vendor == "postgresql" else ""
_in_request = False


def _become_app_role() -> None:
    """From here the connection acts as the app role, with no tenant context: a fresh request."""
    if REQUEST_ROLE:
        _raw(f"SET ROLE {connection.ops.quote_name(REQUEST_ROLE)}")
    if rls.enabled() and connection.in_atomic_block:
        _raw("SELECT " + ", ".join(f"set_config('taskhub.{name}', '', true)" for name in (*rls.VARIABLES, "seal")))


def _request_starts(environ: dict[str, str] | None = None, **kwargs: object) -> None:
    global _in_request  # noqa: PLW0603 - one test runs at a time in this process
    # The admin reads tenants through the platform alias in production: it stays platform here.
    if (environ or {}).get("PATH_INFO", "").startswith(settings.ADMIN_URL_PREFIX):
        return
    _in_request = True
    if _connected():
        _become_app_role()


def _request_ends(**kwargs: object) -> None:
    global _in_request  # noqa: PLW0603
    _in_request = False
    if REQUEST_ROLE and connection.connection is not None and _connected():
        _raw("RESET ROLE")


def _connection_created(sender: object, connection: object, **kwargs: object) -> None:
    # A connection opened in the middle of a request (after a closed one) is the app's too.
    if _in_request and REQUEST_ROLE and getattr(connection, "alias", None) == "default":
        with connection.connection.cursor() as cursor:  # type: ignore[attr-defined]
            cursor.execute(f"SET ROLE {connection.ops.quote_name(REQUEST_ROLE)}")  # type: ignore[attr-defined]


@contextmanager
def as_app_role() -> Iterator[None]:
    """Run the block as the app role, as a request would (the suite is the platform between requests)."""
    if not REQUEST_ROLE:
        yield
        return
    _raw(f"SET ROLE {connection.ops.quote_name(REQUEST_ROLE)}")
    try:
        yield
    finally:
        _raw("RESET ROLE")


@contextmanager
def as_platform_role() -> Iterator[None]:
    """Inside a request, run the block as the platform role: what ``rls.bypass`` reaches in production."""
    if not REQUEST_ROLE:
        yield
        return
    _raw("RESET ROLE")
    try:
        with rls.bypass("test: the platform role inside a request"):
            yield
    finally:
        _raw(f"SET ROLE {connection.ops.quote_name(REQUEST_ROLE)}")


def connect_as(credentials: dict[str, Any], **options: Any) -> Any:
    """A psycopg autocommit connection to the test database as another role (USER, PASSWORD, HOST, PORT)."""
    import psycopg  # noqa: PLC0415 - PostgreSQL only

    return psycopg.connect(
        host=credentials.get("HOST") or connection.settings_dict["HOST"],
        port=credentials.get("PORT") or connection.settings_dict["PORT"],
        user=credentials["USER"],
        password=credentials.get("PASSWORD") or None,
        dbname=connection.settings_dict["NAME"],
        autocommit=True,
        **options,
    )


@pytest.fixture(autouse=True)
def _platform_view_between_requests(request):
    """On PostgreSQL, let test code read every tenant's rows, and run each request as production does.

    A test runs in one transaction that its requests share. Between requests the test body is
    the platform role (BYPASSRLS) so it can set up and check rows of any organization; every
    request runs as the app role with no tenant context, exactly like a fresh production
    transaction, so a request that forgets its tenant finds nothing.
    """
    request_started.connect(_request_starts)
    request_finished.connect(_request_ends)
    connection_created.connect(_connection_created)
    yield
    request_started.disconnect(_request_starts)
    request_finished.disconnect(_request_ends)
    connection_created.disconnect(_connection_created)


def _login_credentials() -> dict[str, object]:
    return {key: settings.DATABASES["default"].get(key) for key in dbroles.CREDENTIAL_KEYS}


_LOGIN = _login_credentials()


def _use(credentials: dict[str, object] | None) -> None:
    if not credentials:
        return
    for alias in connections:
        connections[alias].close()
    connection.settings_dict.update({key: value for key, value in credentials.items() if value is not None})


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings):
    """The test database is created and migrated by the owner role, as production migrates."""
    if connection.vendor == "postgresql":
        if not dbroles.split():
            pytest.exit(
                "The PostgreSQL suite needs the three database roles: set DB_MIGRATION_USER and DB_PLATFORM_USER "
                "(python manage.py setup_database_roles --owner-createdb creates them; .ci/run shows how).",
                returncode=2,
            )
        _use(settings.DATABASE_MIGRATION_CREDENTIALS)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """After the owner made the test database, the suite connects as the platform role; the owner drops it."""
    if connection.vendor != "postgresql":
        yield
        return
    with django_db_blocker.unblock():
        _use(_LOGIN)
    yield
    with django_db_blocker.unblock():
        _use(settings.DATABASE_MIGRATION_CREDENTIALS)


def _empty_job_queue() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE procrastinate_jobs, procrastinate_events, procrastinate_periodic_defers, procrastinate_workers"
        )


@pytest.fixture
def job_queue(settings, transactional_db):
    """Jobs go to an empty queue instead of running inline (PostgreSQL; taskhub.core.jobs).

    Committed for real, so a worker can see them; a database flush leaves procrastinate's tables
    alone, so they are emptied before and after.
    """
    settings.JOBS_INLINE = False
    _empty_job_queue()
    yield
    _empty_job_queue()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def make_user(db) -> Callable[..., User]:
    def make(username: str, email: str | None = None, password: str = PASSWORD) -> User:
        return User.objects.create_user(username=username, email=email or f"{username}@example.com", password=password)

    return make


def _tenant(make_user: Callable[..., User], name: str) -> Tenant:
    with rls.bypass("test fixture"):
        organization = Organization.objects.create(name=f"Org {name.upper()}", slug=f"org-{name}")
        tenant = Tenant(organization=organization)
        for role in Role:
            user = make_user(f"{role.value}-{name}")
            tenant.users[role] = user
            tenant.memberships[role] = Membership.objects.create(organization=organization, user=user, role=role)
    return tenant


@pytest.fixture
def tenant_a(make_user) -> Tenant:
    return _tenant(make_user, "a")


@pytest.fixture
def tenant_b(make_user) -> Tenant:
    return _tenant(make_user, "b")


@pytest.fixture
def client_for() -> Callable[[Membership], APIClient]:
    """Return an API client signed in as ``membership``'s user in its organization."""

    def make(membership: Membership) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair(membership)['access']}")
        return client

    return make


@pytest.fixture
def clients_a(tenant_a, client_for) -> dict[Role, APIClient]:
    return {role: client_for(membership) for role, membership in tenant_a.memberships.items()}


@pytest.fixture
def clients_b(tenant_b, client_for) -> dict[Role, APIClient]:
    return {role: client_for(membership) for role, membership in tenant_b.memberships.items()}
