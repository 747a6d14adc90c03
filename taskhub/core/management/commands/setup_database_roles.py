"""Create or update the owner, app and platform roles of one database (taskhub.core.dbroles).

Run it with an admin connection in ``DATABASE_ADMIN_URL`` (a superuser: only a superuser may
give the platform role BYPASSRLS on PostgreSQL 15) and the three roles' variables as the app
will have them::

    DATABASE_ADMIN_URL=postgres://postgres:...@db:5432/taskhub \\
    DB_NAME=taskhub DB_USER=taskhub_app DB_PASSWORD=... \\
    DB_MIGRATION_USER=taskhub_owner DB_MIGRATION_PASSWORD=... \\
    DB_PLATFORM_USER=taskhub_platform DB_PLATFORM_PASSWORD=... \\
    python manage.py setup_database_roles

Idempotent: each run sets every attribute, password and grant again, and prints what it did.
Existing tables owned by the app or platform role (a deployment from before the split) become
the owner's. Then ``manage.py migrate`` (as the owner) creates or updates the schema.
"""

from __future__ import annotations

from typing import Any

import dj_database_url
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from taskhub.core import dbroles, env, rls


def _ident(name: str) -> str:
    from psycopg import sql  # noqa: PLC0415 - PostgreSQL only

    return sql.Identifier(name).as_string(None)


class Command(BaseCommand):
    help = "Create or update the owner, app and platform database roles and their grants (DATABASE_ADMIN_URL)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database-name", help="the database to set up (default: the app's, DB_NAME)")
        parser.add_argument(
            "--owner-createdb",
            action="store_true",
            help="let the owner create databases: only where a test suite makes its own test database",
        )
        parser.add_argument(
            "--keep-activity-tracking",
            action="store_true",
            help="leave track_activities on for the app role (its sessions then read each other's SQL text)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        import psycopg  # noqa: PLC0415 - PostgreSQL only

        if not env.is_set("DATABASE_ADMIN_URL"):
            raise CommandError(
                "Set DATABASE_ADMIN_URL to a superuser connection, e.g. postgres://postgres:...@host/db."
            )
        default = settings.DATABASES["default"]
        if "postgresql" not in default["ENGINE"]:
            raise CommandError("The app's database is not PostgreSQL (set DB_NAME/DB_HOST or DATABASE_URL).")
        names = dict(settings.DATABASE_ROLE_NAMES)
        if not all(names.values()) or len(set(names.values())) != 3:
            raise CommandError(
                "Give three different roles: DB_USER (app), DB_MIGRATION_USER (owner), DB_PLATFORM_USER (platform); "
                f"got {names}."
            )
        passwords = {
            "app": default.get("PASSWORD") or "",
            "owner": (settings.DATABASE_MIGRATION_CREDENTIALS or {}).get("PASSWORD") or "",
            "platform": settings.DATABASES.get("platform", {}).get("PASSWORD") or "",
        }
        database = options["database_name"] or default["NAME"]
        admin = dj_database_url.parse(env.string("DATABASE_ADMIN_URL"))
        params: dict[str, Any] = {
            "host": admin.get("HOST") or default.get("HOST") or None,
            "port": admin.get("PORT") or default.get("PORT") or None,
            "user": admin.get("USER") or None,
            "password": admin.get("PASSWORD") or None,
            "connect_timeout": 10,
            "autocommit": True,
        }
        done: list[str] = []
        try:
            with psycopg.connect(dbname=admin.get("NAME") or "postgres", **params) as connection:
                self._roles(connection, names, passwords, options, done)
                exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
                if not exists:
                    connection.execute(f"CREATE DATABASE {_ident(database)} OWNER {_ident(names['owner'])}")
                    done.append(f"created database {database} owned by {names['owner']}")
            with psycopg.connect(dbname=database, **params) as connection:
                self._database(connection, database, names, done)
        except psycopg.Error as exc:
            raise CommandError(f"setup_database_roles failed: {' '.join(str(exc).split())}") from exc
        for line in done:
            self.stdout.write(line)
        self.stdout.write(
            self.style.SUCCESS(
                f"Roles ready in {database}: owner {names['owner']}, app {names['app']}, platform {names['platform']}. "
                "Next: python manage.py migrate (it connects as the owner)."
            )
        )

    def _roles(
        self, connection: Any, names: dict[str, str], passwords: dict[str, str], options: Any, done: list[str]
    ) -> None:
        superuser = connection.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
        attributes = {
            "owner": f"LOGIN NOSUPERUSER NOBYPASSRLS {'CREATEDB' if options['owner_createdb'] else 'NOCREATEDB'} "
            "NOCREATEROLE NOREPLICATION",
            "app": "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION",
            "platform": "LOGIN NOSUPERUSER BYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION",
        }
        for kind in ("owner", "app", "platform"):
            role = _ident(names[kind])
            if not connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [names[kind]]).fetchone():
                connection.execute(f"CREATE ROLE {role}")
                done.append(f"created role {names[kind]} ({kind})")
            connection.execute(f"ALTER ROLE {role} {attributes[kind]}")
            done.append(f"{kind} {names[kind]}: {attributes[kind]}")
            if passwords[kind]:
                # The password travels as a literal (ALTER ROLE takes no parameters); quote it.
                literal = connection.execute("SELECT quote_literal(%s)", [passwords[kind]]).fetchone()[0]
                connection.execute(f"ALTER ROLE {role} PASSWORD {literal}")
                done.append(f"{kind} {names[kind]}: password set")
        # The platform may act as the app (the test suite runs requests that way); never the reverse.
        for member in ("owner", "app"):
            granted = connection.execute(
                "SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
                "JOIN pg_roles u ON u.oid = m.member WHERE r.rolname = %s AND u.rolname = %s",
                [names["platform"], names[member]],
            ).fetchone()
            if granted:
                connection.execute(f"REVOKE {_ident(names['platform'])} FROM {_ident(names[member])}")
                done.append(f"revoked {names['platform']} from {names[member]}")
        connection.execute(f"GRANT {_ident(names['app'])} TO {_ident(names['platform'])}")
        done.append(f"platform {names['platform']} may SET ROLE {names['app']}")
        if options["keep_activity_tracking"]:
            return
        if superuser:
            # Other sessions of the same role can read each other's query text in pg_stat_activity;
            # with tracking off, SQL injected into one request cannot read another tenant's statements.
            connection.execute(f"ALTER ROLE {_ident(names['app'])} SET track_activities = off")
            done.append(f"app {names['app']}: track_activities off (its sessions cannot read each other's SQL)")
        else:
            done.append("warning: not a superuser, so track_activities stays on for the app role")

    def _database(self, connection: Any, database: str, names: dict[str, str], done: list[str]) -> None:
        owner, app, platform = (_ident(names[kind]) for kind in ("owner", "app", "platform"))
        db = _ident(database)
        schema = connection.execute("SELECT current_schema()").fetchone()[0]
        public = _ident(schema)
        statements = [
            # Everything the app or platform role owned (a deployment from before the split) is the owner's.
            f"REASSIGN OWNED BY {app}, {platform} TO {owner}",
            f"GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {owner}, {app}, {platform}",
            f"GRANT CREATE ON DATABASE {db} TO {owner}",
            f"REVOKE CREATE ON DATABASE {db} FROM {app}, {platform}",
            f"REVOKE CREATE ON SCHEMA {public} FROM PUBLIC",
            f"GRANT USAGE, CREATE ON SCHEMA {public} TO {owner}",
            f"GRANT USAGE ON SCHEMA {public} TO {app}, {platform}",
            f"REVOKE CREATE ON SCHEMA {public} FROM {app}, {platform}",
            # Tables the owner creates later are the app's and the platform's to use, never to alter.
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {public} "
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {public} "
            f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO {platform}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {public} "
            f"GRANT USAGE, SELECT ON SEQUENCES TO {app}, {platform}",
        ]
        statements += dbroles.grant_statements(
            schema=schema,
            app=names["app"],
            platform=names["platform"],
            quote=_ident,
            migrations_table=bool(
                connection.execute("SELECT to_regclass(%s)", [f"{schema}.django_migrations"]).fetchone()[0]
            ),
            context=bool(connection.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [rls.SCHEMA]).fetchone()),
        )
        for statement in statements:
            connection.execute(statement)
            done.append(statement)
