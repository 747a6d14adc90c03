"""The three PostgreSQL roles: owner (migrations), app (requests, the worker), platform (crossing tenants).

- **owner** (``DB_MIGRATION_USER``/``DB_MIGRATION_PASSWORD`` or ``DATABASE_MIGRATION_URL``)
  owns the schema, the tables and the ``taskhub_rls`` functions; ``manage.py migrate`` switches
  to it by itself (``as_owner``) and, once migrated, grants the other two what they need
  (``apply_grants``) and stores the tenant-context key (``rls.store_key``).
- **app** (``DB_USER``/``DB_PASSWORD`` or ``DATABASE_URL``): gunicorn and the worker. No
  superuser, no BYPASSRLS, owns nothing: SELECT/INSERT/UPDATE/DELETE on the tables, nothing
  on ``django_migrations`` but SELECT, nothing at all on the context key. A trigger refuses it
  any change of ``accounts_user.is_superuser``/``is_staff``.
- **platform** (``DB_PLATFORM_USER``/``DB_PLATFORM_PASSWORD`` or ``DATABASE_PLATFORM_URL``):
  BYPASSRLS, the ``platform`` alias that ``rls.bypass()`` routes to.

``manage.py setup_database_roles`` creates the roles from an admin connection
(``DATABASE_ADMIN_URL``). With only ``DB_USER`` set the three are one role (development):
``preflight`` says so, and production refuses it (``unsafe_runtime_role``) unless
``DB_ALLOW_OWNER_ROLE`` acknowledges it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from taskhub.core import rls

# Connection settings a role's credentials may replace; the database name never changes.
CREDENTIAL_KEYS = ("USER", "PASSWORD", "HOST", "PORT")


def role_names() -> dict[str, str]:
    """The login names of owner, app and platform; one name for all three with a single role."""
    return dict(settings.DATABASE_ROLE_NAMES)


def split() -> bool:
    """Whether owner, app and platform are three different roles."""
    names = role_names()
    return all(names.values()) and len({names["owner"], names["app"], names["platform"]}) == 3


@contextmanager
def as_owner(alias: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Connect ``alias`` as the owner role for the block (migrate), then as before."""
    credentials = settings.DATABASE_MIGRATION_CREDENTIALS
    connection = connections[alias]
    if alias != DEFAULT_DB_ALIAS or not credentials or connection.vendor != "postgresql":
        yield
        return
    saved = {key: connection.settings_dict.get(key) for key in CREDENTIAL_KEYS}
    connection.close()
    connection.settings_dict.update({key: credentials[key] for key in CREDENTIAL_KEYS if credentials.get(key)})
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)


# The functions the app and platform roles may call: the context's entry, its check, the getters.
CONTEXT_FUNCTIONS = (
    f"{rls.SCHEMA}.enter(text, text, text, text, bigint, text)",
    f"{rls.SCHEMA}.verified(text)",
    *(f"{rls.SCHEMA}.{name}()" for name in rls.VARIABLES),
)


# The trigger a table carries when its rows are evidence (the audit log): the app role may only
# SELECT and INSERT there, and the platform role may not UPDATE (the trigger, owned by the app
# that makes it, refuses the rest; taskhub/audit/database.py).
APPEND_ONLY_TRIGGER = "taskhub_append_only"


def _append_only_revokes(schema: str, app: str, platform: str) -> str:
    """One statement: take UPDATE, DELETE and TRUNCATE from the app on every append-only table (the
    catalog names them by their trigger), and UPDATE from the platform."""
    literal = schema.replace("'", "''")
    return f"""DO $$ DECLARE t regclass; BEGIN
        FOR t IN SELECT DISTINCT tg.tgrelid::regclass FROM pg_catalog.pg_trigger tg
                 JOIN pg_catalog.pg_class c ON c.oid = tg.tgrelid
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                 WHERE tg.tgname = '{APPEND_ONLY_TRIGGER}' AND n.nspname = '{literal}' LOOP
            EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %s FROM {app}', t);
            EXECUTE format('REVOKE UPDATE ON %s FROM {platform}', t);
        END LOOP;
    END $$"""  # noqa: S608 - the schema is quoted as a literal, the roles as identifiers


def grant_statements(
    *,
    schema: str,
    app: str,
    platform: str,
    quote: Callable[[str], str],
    migrations_table: bool = True,
    context: bool = True,
) -> list[str]:
    """The app's DML, the platform's, and the context functions, on every table in ``schema``.

    Run by the owner after every migrate (``apply_grants``) and by ``setup_database_roles``,
    which leaves out what does not exist yet (``migrations_table``, ``context``).
    """
    public, app, platform = quote(schema), quote(app), quote(platform)
    statements: list[str] = []
    for grantee, privileges in (
        (app, "SELECT, INSERT, UPDATE, DELETE"),
        (platform, "SELECT, INSERT, UPDATE, DELETE, TRUNCATE"),
    ):
        statements += [
            f"GRANT {privileges} ON ALL TABLES IN SCHEMA {public} TO {grantee}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {public} TO {grantee}",
        ]
    if migrations_table:
        # The app reads which migrations ran (the health check) and changes none of it.
        statements.append(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {public}.django_migrations FROM {app}")
    # After the grants on ALL TABLES, which gave them back.
    statements.append(_append_only_revokes(schema, app, platform))
    if context:
        statements += [
            # What the migration revoked, again: a restore with --no-acl (or a hand-made
            # function) must not leave the key or a context function open to PUBLIC.
            f"REVOKE ALL ON ALL TABLES IN SCHEMA {rls.SCHEMA} FROM PUBLIC",
            f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {rls.SCHEMA} FROM PUBLIC",
            f"GRANT USAGE ON SCHEMA {rls.SCHEMA} TO {app}, {platform}",
            f"GRANT EXECUTE ON FUNCTION {', '.join(CONTEXT_FUNCTIONS)} TO {app}, {platform}",
        ]
    return statements


def apply_grants(connection: Any) -> list[str]:
    """Grant app and platform their privileges on everything the owner has; return the statements run.

    Runs as the owner at the end of every ``migrate``, so a new table is covered the moment it
    exists. Nothing to do on SQLite or with a single role.
    """
    names = role_names()
    if connection.vendor != "postgresql" or not split():
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = cursor.fetchone()[0]
        statements = grant_statements(
            schema=schema, app=names["app"], platform=names["platform"], quote=connection.ops.quote_name
        )
        for statement in statements:
            cursor.execute(statement)
    return statements


@dataclass(frozen=True)
class RoleReport:
    """What a connected role could do to the tenant wall."""

    name: str
    superuser: bool
    bypassrls: bool
    owned_tenant_tables: list[str]
    can_become: list[str]

    @property
    def problems(self) -> list[str]:
        found = []
        if self.superuser:
            found.append("is a superuser (row-level security does not apply to it)")
        if self.bypassrls:
            found.append("has BYPASSRLS")
        if self.owned_tenant_tables:
            found.append(
                f"owns {len(self.owned_tenant_tables)} tenant tables (it could turn their row-level security off), "
                f"e.g. {self.owned_tenant_tables[0]}"
            )
        if self.can_become:
            found.append(f"can SET ROLE to {', '.join(self.can_become)}, which may lower the wall")
        return found


# A tenant table, as the catalog knows it: one with row-level security switched on or a policy
# on it (a policy survives DISABLE ROW LEVEL SECURITY, so a table whose wall was lowered still counts).
_TENANT_TABLE_SQL = (
    "(c.relrowsecurity OR EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)) AND c.relkind = 'r'"
)


def inspect_role(alias: str = DEFAULT_DB_ALIAS) -> RoleReport:
    """Describe the role ``alias`` connects as (the current user, after any SET ROLE).

    Tenant tables are read from the catalog, not from the models: core knows no product app,
    and the question is what the database would let this role do.
    """
    with connections[alias].cursor() as cursor:
        cursor.execute(
            """
            SELECT r.rolname, r.rolsuper, r.rolbypassrls,
                   coalesce((SELECT array_agg(c.relname::text ORDER BY c.relname)
                             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                             WHERE n.nspname = current_schema() AND TENANT_TABLE
                               AND pg_has_role(r.oid, c.relowner, 'MEMBER')), '{}'),
                   coalesce((SELECT array_agg(other.rolname::text ORDER BY other.rolname)
                             FROM pg_roles other
                             WHERE other.oid <> r.oid AND pg_has_role(r.oid, other.oid, 'MEMBER')
                               AND (other.rolsuper OR other.rolbypassrls OR EXISTS (
                                    SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                    WHERE n.nspname = current_schema() AND TENANT_TABLE
                                      AND c.relowner = other.oid))), '{}')
            FROM pg_roles r WHERE r.rolname = current_user
            """.replace("TENANT_TABLE", _TENANT_TABLE_SQL)
        )
        name, superuser, bypassrls, owned, can_become = cursor.fetchone()
    return RoleReport(name, bool(superuser), bool(bypassrls), list(owned), list(can_become))


def unsafe_runtime_role(alias: str = DEFAULT_DB_ALIAS) -> str | None:
    """Return why the app's runtime role could lower the tenant wall, or None when it cannot."""
    if connections[alias].vendor != "postgresql":
        return None
    report = inspect_role(alias)
    if not report.problems:
        return None
    return (
        f"The database role {report.name!r} that serves requests {'; '.join(report.problems)}. "
        "Run the app as a role that owns nothing and cannot bypass row-level security: "
        "python manage.py setup_database_roles (docs/runbook.md, 'Database roles'), then set DB_USER to its app "
        "role and DB_MIGRATION_USER to its owner. On a platform with a single role, set DB_ALLOW_OWNER_ROLE=True "
        "to accept that row-level security then guards only against a forgotten filter."
    )


def refuse_unsafe_runtime_role() -> None:
    """At startup in production: stop the process when the runtime role could lower the wall.

    An unreachable database is not this check's business (health says so); the process starts.
    """
    import logging  # noqa: PLC0415

    from django.db import DatabaseError  # noqa: PLC0415

    logger = logging.getLogger(__name__)
    try:
        problem = unsafe_runtime_role()
    except DatabaseError as exc:
        logger.warning("database role not checked at startup: %s", " ".join(str(exc).split()))
        return
    finally:
        connections[DEFAULT_DB_ALIAS].close()
    if problem is None:
        return
    if settings.DB_ALLOW_OWNER_ROLE:
        logger.warning("%s (accepted: DB_ALLOW_OWNER_ROLE=True)", problem)
        return
    raise SystemExit(problem)
