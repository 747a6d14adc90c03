"""Django's migrate, run as the owner role, then the grants and the tenant-context key.

With ``DB_MIGRATION_USER`` (or ``DATABASE_MIGRATION_URL``) set, the default database is
migrated as that role, whatever ``DB_USER`` says: the app's own role owns nothing and may not
run DDL (taskhub.core.dbroles). After the migrations the owner grants the app and platform
roles their privileges on every table (so a new table is covered at once) and stores the key
that verifies tenant contexts (taskhub.core.rls).
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import connections

from taskhub.core import dbroles, rls


class Command(DjangoMigrate):
    help = DjangoMigrate.help + " Runs as the owner role when DB_MIGRATION_USER or DATABASE_MIGRATION_URL is set."

    def handle(self, *args: Any, **options: Any) -> None:
        database = options["database"]
        with dbroles.as_owner(database):
            super().handle(*args, **options)
            if options.get("plan") or options.get("check_unapplied"):
                return
            connection = connections[database]
            granted = dbroles.apply_grants(connection)
            changed = rls.store_key(connection)
            if options["verbosity"] >= 1 and connection.vendor == "postgresql":
                names = dbroles.role_names()
                if granted:
                    self.stdout.write(
                        f"Granted {names['app']} and {names['platform']} their privileges as {names['owner']}."
                    )
                if changed:
                    self.stdout.write("Stored the tenant-context key (derived from SECRET_KEY).")
