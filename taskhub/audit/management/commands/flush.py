"""Django's ``flush``, which empties every table, audit events included (tests, development).

The append-only trigger (taskhub/audit/database.py) refuses TRUNCATE of the audit table unless a
role that bypasses row-level security has set ``taskhub.audit_purge``; emptying the whole
database is such a case, so this sets it for the session while flush runs.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands.flush import Command as DjangoFlush
from django.db import DEFAULT_DB_ALIAS, connections

from taskhub.audit.database import PURGE_SETTING


class Command(DjangoFlush):
    def handle(self, **options: Any) -> None:
        connection = connections[options.get("database") or DEFAULT_DB_ALIAS]
        if connection.vendor != "postgresql":
            super().handle(**options)
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, 'on', false)", [PURGE_SETTING])
        try:
            super().handle(**options)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config(%s, '', false)", [PURGE_SETTING])
